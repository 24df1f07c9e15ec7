// SPDX-License-Identifier: GPL-2.0

//! What the layer holds at this moment: references to GEM objects and dma-bufs, dynamic
//! attachments, pins, mappings and framebuffers.
//!
//! Each is counted where the layer takes it and where it gives it back, so that a test can
//! compare the [`Holdings`] before and after anything it does: a reference kept on an error
//! path, a pin never undone or a mapping left behind shows up as a difference, whatever the C
//! side does with its own references.

use core::sync::atomic::{AtomicUsize, Ordering};

/// A kind of thing the layer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// A reference to a GEM object (`ARef<GemObject>`).
    GemReference,
    /// A reference to a dma-buf (`ARef<DmaBuf>`).
    DmaBufReference,
    /// A dynamic attachment to a dma-buf.
    Attachment,
    /// A pin through such an attachment.
    Pin,
    /// A mapping from `dma_buf_vmap()`.
    Mapping,
    /// A framebuffer the layer created.
    Framebuffer,
}

const KINDS: usize = 6;

static COUNTS: [AtomicUsize; KINDS] = [const { AtomicUsize::new(0) }; KINDS];

impl Held {
    fn counter(self) -> &'static AtomicUsize {
        &COUNTS[self as usize]
    }
}

/// Counts one more `kind` held.
pub(crate) fn took(kind: Held) {
    kind.counter().fetch_add(1, Ordering::Relaxed);
}

/// Counts one `kind` given back.
pub(crate) fn gave_back(kind: Held) {
    kind.counter().fetch_sub(1, Ordering::Relaxed);
}

/// What the layer holds, all clients and devices together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Holdings {
    /// References to GEM objects.
    pub gem_references: usize,
    /// References to dma-bufs.
    pub dma_buf_references: usize,
    /// Dynamic attachments to dma-bufs.
    pub attachments: usize,
    /// Pins held through them.
    pub pins: usize,
    /// Mappings of dma-bufs.
    pub mappings: usize,
    /// Framebuffers.
    pub framebuffers: usize,
}

/// What the layer holds now.
pub fn holdings() -> Holdings {
    let count = |kind: Held| kind.counter().load(Ordering::Relaxed);
    Holdings {
        gem_references: count(Held::GemReference),
        dma_buf_references: count(Held::DmaBufReference),
        attachments: count(Held::Attachment),
        pins: count(Held::Pin),
        mappings: count(Held::Mapping),
        framebuffers: count(Held::Framebuffer),
    }
}
