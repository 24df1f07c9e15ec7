// SPDX-License-Identifier: GPL-2.0

//! Accesses to buffers that may move between them: pinned for each access, never in between.
//!
//! Two kinds of exporter move buffers in 6.12, and the cache learns of their moves in two ways:
//!
//! - A TTM buffer object (the GEM VRAM helpers: bochs) is moved by TTM whenever it is neither
//!   pinned nor reserved, and nobody is told; its exporter keeps its own kernel mapping until the
//!   move (`drm_gem_vram_vunmap()` defers the unmap, `drm_gem_vram_bo_driver_move_notify()` does
//!   it, warning if a vmap is still counted). So the cache holds no mapping between accesses: each
//!   access pins the object where it is (`ttm_bo_pin()`) and takes the exporter's mapping
//!   (`dma_buf_vmap()`), which costs a counter increment while the object has not moved, and ends
//!   by giving both back. A mapping that differs from the last access's means the object moved.
//! - A dynamic exporter (amdgpu, xe, the test exporter) tells its dynamic importers before it
//!   moves a buffer (`dma_buf_move_notify()`), with the reservation lock held, and never moves a
//!   pinned one. The cache attaches as such an importer and holds its mapping between accesses;
//!   the notification drops it and the next access maps again. Each access pins the buffer
//!   (`dma_buf_pin()`), so a move requested meanwhile waits until the access ends.
//!
//! The state lives under the buffer's reservation lock, not the cache's mutex: the exporter's
//! notification arrives with the reservation lock held, and the cache's lock order (its mutex
//! before the reservation lock) forbids taking the mutex there.

use super::{
    attachment::Attachment,
    ledger::{self, Held},
    DmaBuf, Reserved,
};
use crate::{bindings, error::Result};
use core::{cell::UnsafeCell, ptr::NonNull};

/// What the cache knows of a movable buffer's mapping.
#[derive(Default)]
pub(super) struct MovableMap {
    /// For a dynamic exporter, the mapping held between accesses. For a TTM object, the mapping
    /// the last access got: compared with the next one, never used after its access.
    pub(super) map: Option<bindings::iosys_map>,
    /// Accesses that hold the buffer pinned.
    pub(super) pinned: u32,
    /// The exporter announced a move that dropped `map`.
    pub(super) moved: bool,
    /// Drop `map` when the last pinned access ends.
    pub(super) stale: bool,
}

impl MovableMap {
    /// Gives the held mapping up: returns it for the caller to undo now, or, while accesses
    /// hold the buffer pinned, marks it stale for the last of them to drop.
    pub(super) fn give_up(&mut self) -> Option<bindings::iosys_map> {
        if self.pinned > 0 {
            self.stale = self.map.is_some();
            None
        } else {
            self.map.take()
        }
    }

    /// Counts one pinned access as ended; returns the held mapping if it was given up while
    /// accesses were open and this was the last of them.
    fn end_one(&mut self) -> Option<bindings::iosys_map> {
        self.pinned = self.pinned.saturating_sub(1);
        if self.pinned == 0 && core::mem::take(&mut self.stale) {
            self.map.take()
        } else {
            None
        }
    }
}

/// A [`MovableMap`] protected by the buffer's reservation lock.
pub(super) struct ResvCell(UnsafeCell<MovableMap>);

// SAFETY: The content is only reached with the buffer's reservation lock held (see `with`), which
// serialises every thread.
unsafe impl Send for ResvCell {}

// SAFETY: See `Send`.
unsafe impl Sync for ResvCell {}

impl ResvCell {
    pub(super) fn new() -> Self {
        Self(UnsafeCell::new(MovableMap::default()))
    }

    /// Runs `f` on the state.
    ///
    /// # Safety
    ///
    /// The caller holds the buffer's reservation lock, and `f` calls nothing that may reach the
    /// exporter (which could call back into `move_notify`, and so into this state).
    pub(super) unsafe fn with<R>(&self, f: impl FnOnce(&mut MovableMap) -> R) -> R {
        // SAFETY: The reservation lock is held and `f` does not re-enter (caller), so this is
        // the only reference to the state.
        f(unsafe { &mut *self.0.get() })
    }
}

/// How an access found the mapping.
#[derive(Clone, Copy)]
pub(super) enum Found {
    /// As the last access left it.
    Cached,
    /// A new mapping; `moved` if the buffer moved since the last one.
    Mapped { moved: bool },
}

/// How a movable buffer is held in place during an access.
enum Keeper {
    /// A TTM buffer object, alive as long as the cache's dma-buf.
    Ttm(NonNull<bindings::ttm_buffer_object>),
    /// A dynamic exporter, through the cache's attachment.
    Dynamic(Attachment),
}

/// A movable buffer's keeper and mapping state.
///
/// # Invariants
///
/// The state in `cell` describes the buffer whose reservation lock protects it; for a TTM
/// object, `bo` is the buffer's object. `cell` outlives the attachment, whose `move_notify`
/// reaches it.
pub(super) struct Movable {
    /// Declared before `cell`: the attachment is detached before the cell is freed.
    keeper: Keeper,
    cell: core::pin::Pin<crate::alloc::KBox<ResvCell>>,
}

// SAFETY: The object pointer is only used with the reservation lock held, and the attachment is
// `Send`.
unsafe impl Send for Movable {}

// SAFETY: Every use of the state goes through the reservation lock.
unsafe impl Sync for Movable {}

impl Movable {
    /// The keeper for `buf` if its exporter may move it, `None` if it stays where mapped.
    pub(super) fn for_buffer(buf: &DmaBuf) -> Result<Option<Self>> {
        use super::dma_buf::Mobility;
        let cell = crate::alloc::KBox::pin(ResvCell::new(), crate::alloc::flags::GFP_KERNEL)?;
        let keeper = match buf.mobility() {
            Mobility::Stays => return Ok(None),
            Mobility::Ttm(bo) => Keeper::Ttm(bo),
            Mobility::Dynamic => Keeper::Dynamic(Attachment::new(buf, &cell)?),
        };
        // INVARIANT: `bo` is `buf`'s object, and the attachment reaches `cell`, which it does
        // not outlive (field order).
        Ok(Some(Self { keeper, cell }))
    }

    /// Pins the buffer where it is and returns a mapping valid until [`Self::end`].
    pub(super) fn begin(&self, buf: &DmaBuf) -> Result<(bindings::iosys_map, Found)> {
        let reserved = Reserved::lock(buf)?;
        self.pin(&reserved)?;
        let mapped = match self.keeper {
            Keeper::Ttm(_) => self.map_for_access(&reserved),
            Keeper::Dynamic(_) => self.held_map(&reserved),
        };
        match mapped {
            Ok(mapped) => {
                // SAFETY: Locked above; the closure only counts.
                unsafe { self.cell.with(|state| state.pinned += 1) };
                Ok(mapped)
            }
            Err(error) => {
                self.unpin(&reserved);
                Err(error)
            }
        }
    }

    /// Ends an access that [`Self::begin`] opened with `map`.
    pub(super) fn end(&self, buf: &DmaBuf, map: bindings::iosys_map) {
        let reserved = Reserved::lock_uninterruptible(buf);
        if let Keeper::Ttm(_) = self.keeper {
            // SAFETY: `map` is the access's own mapping from `map_for_access()`.
            unsafe { reserved.vunmap(map) };
        }
        // SAFETY: Locked above; the closure only updates the state.
        let stale = unsafe { self.cell.with(MovableMap::end_one) };
        if let (Some(stale), Keeper::Dynamic(_)) = (stale, &self.keeper) {
            // SAFETY: The held mapping, taken out of the state, is ours to undo.
            unsafe { reserved.vunmap(stale) };
        }
        // Last: a dynamic exporter may carry out a move it deferred, notifying us.
        self.unpin(&reserved);
    }

    /// Drops the held mapping now, or when the last access ends. Returns whether one was held
    /// and whether accesses are open.
    pub(super) fn invalidate(&self, buf: &DmaBuf) -> (bool, bool) {
        let reserved = Reserved::lock_uninterruptible(buf);
        let held = matches!(self.keeper, Keeper::Dynamic(_));
        // SAFETY: Locked above; the closure only updates the state.
        let (had_map, open, to_drop) = unsafe {
            self.cell.with(|state| {
                let had_map = held && state.map.is_some();
                let open = state.pinned > 0;
                if !held {
                    // A TTM object's mapping is the exporter's: forget it, so that the next
                    // access counts as a new mapping.
                    state.map = None;
                    (false, open, None)
                } else {
                    (had_map, open, state.give_up())
                }
            })
        };
        if let Some(map) = to_drop {
            // SAFETY: The held mapping, taken out of the state, is ours to undo.
            unsafe { reserved.vunmap(map) };
        }
        (had_map, open)
    }

    /// The dynamic exporter's mapping, held between accesses, or a new one.
    fn held_map(&self, reserved: &Reserved<'_>) -> Result<(bindings::iosys_map, Found)> {
        // SAFETY: Locked by the caller; the closure only reads.
        if let Some(map) = unsafe { self.cell.with(|state| state.map) } {
            return Ok((map, Found::Cached));
        }
        let map = reserved.vmap()?;
        // SAFETY: As above; the closure only updates the state.
        let moved = unsafe {
            self.cell.with(|state| {
                state.map = Some(map);
                core::mem::take(&mut state.moved)
            })
        };
        Ok((map, Found::Mapped { moved }))
    }

    /// The TTM exporter's mapping for one access, compared with the last access's.
    fn map_for_access(&self, reserved: &Reserved<'_>) -> Result<(bindings::iosys_map, Found)> {
        let map = reserved.vmap()?;
        // SAFETY: Locked by the caller; the closure only compares and records.
        let found = unsafe {
            self.cell.with(|state| {
                let found = match state.map {
                    Some(last) if same_map(&last, &map) => Found::Cached,
                    last => Found::Mapped {
                        moved: last.is_some(),
                    },
                };
                state.map = Some(map);
                found
            })
        };
        Ok((map, found))
    }

    fn pin(&self, reserved: &Reserved<'_>) -> Result {
        match &self.keeper {
            Keeper::Ttm(bo) => {
                // SAFETY: `bo` is the locked buffer's object (type invariant), alive while the
                // dma-buf is; `ttm_bo_pin()` wants the reservation lock, which is held.
                unsafe { bindings::ttm_bo_pin(bo.as_ptr()) };
                ledger::took(Held::Pin);
                Ok(())
            }
            Keeper::Dynamic(attachment) => attachment.pin(reserved),
        }
    }

    fn unpin(&self, reserved: &Reserved<'_>) {
        match &self.keeper {
            Keeper::Ttm(bo) => {
                // SAFETY: As in `pin`; this undoes one pin taken there.
                unsafe { bindings::ttm_bo_unpin(bo.as_ptr()) };
                ledger::gave_back(Held::Pin);
            }
            Keeper::Dynamic(attachment) => attachment.unpin(reserved),
        }
    }

    /// Drops the held mapping; no access may be open. Returns whether one was held.
    pub(super) fn release(&self, buf: &DmaBuf) -> bool {
        self.invalidate(buf).0
    }
}

/// Whether two mappings point at the same memory (`iosys_map_is_equal()`).
fn same_map(lhs: &bindings::iosys_map, rhs: &bindings::iosys_map) -> bool {
    // SAFETY: Both are valid `iosys_map` values; the helper only compares them.
    unsafe { bindings::iosys_map_is_equal(lhs, rhs) }
}
