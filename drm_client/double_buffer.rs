// SPDX-License-Identifier: GPL-2.0

//! Two framebuffers shown in turn, so that an animation never shows a half-drawn frame.

use super::{Allocator, Client, Damage, Format, Framebuffer, FramebufferVmap, Layout};
use crate::{
    error::{Error, Result},
    sync::Arc,
    vmap_cache::{Direction, Mapping},
};

/// A front framebuffer on screen and a back one to draw into; [`DoubleBuffer::flip`] swaps
/// them.
///
/// The flip is a blocking atomic commit: when it returns, the old front buffer is no longer
/// scanned out, so drawing into it (the new back buffer) cannot tear the picture.
///
/// # Invariants
///
/// `back` is 0 or 1, and `users[i]` is a user of `buffers[i]`'s cached mapping.
pub struct DoubleBuffer {
    /// Declared first so that the users withdraw before their framebuffers go.
    users: [FramebufferVmap; 2],
    buffers: [Framebuffer; 2],
    back: usize,
}

impl DoubleBuffer {
    /// Allocates two framebuffers of the same size and format from `allocator`.
    ///
    /// Fails as [`Framebuffer::new`] does.
    pub fn new(
        client: &Arc<Client>,
        allocator: Allocator,
        width: u32,
        height: u32,
        format: Format,
    ) -> Result<Self> {
        let first = Framebuffer::new(client, allocator, width, height, format)?;
        let second = Framebuffer::new(client, allocator, width, height, format)?;
        let users = [first.vmap()?, second.vmap()?];
        // INVARIANT: `users` follow `buffers`, and the first buffer is drawn first.
        Ok(Self {
            users,
            buffers: [first, second],
            back: 0,
        })
    }

    /// Where both framebuffers' memory comes from (see [`Framebuffer::allocator`]).
    pub fn allocator(&self) -> Allocator {
        self.buffers[0].allocator()
    }

    /// Why the framebuffers are not vgem's, when vgem was asked for first (see
    /// [`Framebuffer::vgem_refusal`]).
    pub fn vgem_refusal(&self) -> Option<Error> {
        self.buffers[0].vgem_refusal()
    }

    /// The geometry of both framebuffers.
    pub fn layout(&self) -> &Layout {
        self.buffers[0].layout()
    }

    /// The framebuffer to draw into.
    pub fn back(&self) -> &Framebuffer {
        &self.buffers[self.back]
    }

    /// The framebuffer shown by the last flip.
    pub fn front(&self) -> &Framebuffer {
        &self.buffers[1 - self.back]
    }

    /// Draws into the back buffer in one CPU access, then flushes it whole.
    ///
    /// Fails with what `draw` or the access returns (`ENODEV` after unplug, `ETIMEDOUT` if the
    /// buffer's fences do not signal).
    pub fn draw(&mut self, draw: impl FnOnce(&mut Mapping<'_>) -> Result) -> Result {
        {
            let mut access = self.users[self.back].begin_access(Direction::Write)?;
            draw(&mut access.memory())?;
        }
        self.buffers[self.back].flush_all()
    }

    /// Draws into the back buffer in one CPU access, then flushes only `damage`, the areas
    /// `draw` changed.
    ///
    /// Fails as [`DoubleBuffer::draw`] does, and as [`Framebuffer::flush`] for a damage area
    /// outside the buffer.
    pub fn draw_damage(
        &mut self,
        draw: impl FnOnce(&mut Mapping<'_>) -> Result,
        damage: &[Damage],
    ) -> Result {
        {
            let mut access = self.users[self.back].begin_access(Direction::Write)?;
            draw(&mut access.memory())?;
        }
        damage
            .iter()
            .try_for_each(|area| self.buffers[self.back].flush_damage(area))
    }

    /// Shows the back buffer on every output and makes the old front buffer the back one.
    ///
    /// Returns how many outputs show it; fails as [`Client::show`] does, and then swaps
    /// nothing.
    pub fn flip(&mut self) -> Result<usize> {
        let back = &self.buffers[self.back];
        let lit = back.client().show(back)?;
        // INVARIANT: `back` stays 0 or 1.
        self.back = 1 - self.back;
        Ok(lit)
    }
}
