// SPDX-License-Identifier: GPL-2.0

//! dma-buf references and whole-buffer kernel mappings.
//!
//! C header: [`include/linux/dma-buf.h`](srctree/include/linux/dma-buf.h)

use super::{
    fault_point,
    ledger::{self, Held},
    Direction, Mapping,
};
use crate::{
    bindings,
    error::{code::*, to_result, Error, Result},
    time::Jiffies,
    types::{ARef, AlwaysRefCounted, Opaque},
};
use core::ptr::NonNull;

/// A dma-buf (`struct dma_buf`).
///
/// A dma-buf is a file: its reference count is the file's, and its release may be deferred to
/// the delayed-fput work when the last reference goes from a kernel thread.
///
/// # Invariants
///
/// Instances are always reference counted: a `&DmaBuf` is valid while some reference is held.
#[repr(transparent)]
pub struct DmaBuf(Opaque<bindings::dma_buf>);

// SAFETY: A dma-buf's reference count is atomic and its exporter-facing API may be called from
// any thread, so references can be sent to and shared with other threads.
unsafe impl Send for DmaBuf {}

// SAFETY: See `Send`: every operation used through `&DmaBuf` serialises itself (the
// reservation lock or the dma-buf core's own locking).
unsafe impl Sync for DmaBuf {}

// SAFETY: `get_dma_buf()` and `dma_buf_put()` take and drop a reference on the dma-buf's file,
// which keeps the dma-buf alive while it is non-zero.
unsafe impl AlwaysRefCounted for DmaBuf {
    fn inc_ref(&self) {
        // SAFETY: By the type invariant the dma-buf is alive, so it may gain a reference.
        unsafe { bindings::get_dma_buf(self.as_raw()) };
        ledger::took(Held::DmaBufReference);
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        ledger::gave_back(Held::DmaBufReference);
        // SAFETY: The caller owns the reference being dropped.
        unsafe { bindings::dma_buf_put(obj.as_ptr().cast()) };
    }
}

impl DmaBuf {
    /// Takes over a reference to `buf` that C code handed over (an export, for one).
    ///
    /// # Safety
    ///
    /// `buf` is a live dma-buf, and the caller owns one reference to it, which it gives up.
    pub unsafe fn adopt(buf: NonNull<bindings::dma_buf>) -> ARef<Self> {
        ledger::took(Held::DmaBufReference);
        // SAFETY: `DmaBuf` is a transparent wrapper of `struct dma_buf`; the reference is the
        // caller's, given up.
        unsafe { ARef::from_raw(buf.cast::<Self>()) }
    }

    /// The C `struct dma_buf`.
    pub fn as_raw(&self) -> *mut bindings::dma_buf {
        self.0.get()
    }

    /// The size of the buffer in bytes, fixed when it was exported.
    pub fn size(&self) -> usize {
        // SAFETY: By the type invariant the dma-buf is alive; `size` never changes after export.
        unsafe { (*self.as_raw()).size }
    }

    /// Maps the whole buffer into the kernel's address space until the guard drops.
    ///
    /// Takes the reservation lock (`dma_buf_vmap_unlocked()`). The dma-buf core counts nested
    /// maps: a buffer that is mapped already returns the same address without a new mapping.
    ///
    /// Only for buffers that stay where a mapping of them points (shmem, DMA memory): fails
    /// with `EOPNOTSUPP` for a buffer its exporter may move, whose mapping is valid only while
    /// the buffer is pinned. Map those through a [`VmapCache`](super::VmapCache), which pins
    /// them for each access.
    pub fn vmap(&self) -> Result<Vmap> {
        if !matches!(self.mobility(), Mobility::Stays) {
            return Err(EOPNOTSUPP);
        }
        let map = self.vmap_raw()?;
        // INVARIANT: `map` is what `dma_buf_vmap_unlocked()` returned for `self`, of which the
        // guard holds a reference.
        Ok(Vmap {
            buf: self.into(),
            map,
        })
    }

    /// What keeps the buffer's memory where a kernel mapping of it points.
    pub(crate) fn mobility(&self) -> Mobility {
        // SAFETY: By the type invariant the dma-buf is alive; `ops` is set at export.
        if unsafe { bindings::dma_buf_is_dynamic(self.as_raw()) } {
            return Mobility::Dynamic;
        }
        // SAFETY: As above; the helper only compares the exporter's function pointers.
        let bo = unsafe { bindings::drm_vmap_client_ttm_of_dma_buf(self.as_raw()) };
        match NonNull::new(bo) {
            Some(bo) => Mobility::Ttm(bo),
            None => Mobility::Stays,
        }
    }

    /// Maps the whole buffer; the caller must hand the result to [`Self::vunmap_raw`].
    pub(crate) fn vmap_raw(&self) -> Result<bindings::iosys_map> {
        let mut map = bindings::iosys_map::default();
        // An exporter that cannot map the buffer now (no address space, a busy device).
        fault_point(EIO)?;
        // SAFETY: By the type invariant the dma-buf is alive; `map` is a valid out parameter.
        to_result(unsafe { bindings::dma_buf_vmap_unlocked(self.as_raw(), &mut map) })?;
        ledger::took(Held::Mapping);
        Ok(map)
    }

    /// Undoes one [`Self::vmap_raw`].
    ///
    /// # Safety
    ///
    /// `map` must be a mapping returned by [`Self::vmap_raw`] for `self` that has not been
    /// unmapped yet.
    pub(crate) unsafe fn vunmap_raw(&self, mut map: bindings::iosys_map) {
        // SAFETY: The caller passes a live mapping of `self`, the one `dma_buf_vunmap()` checks
        // for, so its `BUG_ON()`s cannot trigger.
        unsafe { bindings::dma_buf_vunmap_unlocked(self.as_raw(), &mut map) };
        ledger::gave_back(Held::Mapping);
    }

    /// Waits, for at most `timeout_jiffies`, for the fences a CPU access in `direction` must
    /// wait for. Interruptible.
    ///
    /// Fails with `ETIMEDOUT` if they did not signal in time and `ERESTARTSYS` on a signal.
    pub(crate) fn wait_fences(&self, direction: Direction, timeout_jiffies: Jiffies) -> Result {
        // SAFETY: The dma-buf, and so its reservation object, is alive. No lock is held; the
        // wait takes what it needs.
        let left = unsafe {
            bindings::dma_resv_wait_timeout(
                self.resv(),
                direction.resv_usage(),
                true,
                timeout_jiffies,
            )
        };
        match left {
            0 => Err(ETIMEDOUT),
            left if left < 0 => Err(Error::from_errno(i32::try_from(left).unwrap_or(-1))),
            _ => Ok(()),
        }
    }

    /// Prepares the buffer for CPU access in `direction` (`dma_buf_begin_cpu_access()`), after
    /// the caller's bounded wait for the fences ([`Self::wait_fences`]).
    ///
    /// For an exporter without a `begin_cpu_access` hook (GEM's PRIME helpers, vgem among them)
    /// the core would only wait for the same fences again, without a limit: that wait is
    /// skipped, which saves the warm path a second scan of the fences and keeps a fence added
    /// since the bounded wait from stalling the access for good. Must be called without the
    /// reservation lock; may wait for fences.
    pub(crate) fn begin_cpu_access(&self, direction: Direction) -> Result {
        if self.ops().begin_cpu_access.is_none() {
            return Ok(());
        }
        // The exporter's wait for its fences, ended by a signal.
        fault_point(EINTR)?;
        // SAFETY: The dma-buf is alive and no reservation lock is held by this thread.
        to_result(unsafe { bindings::dma_buf_begin_cpu_access(self.as_raw(), direction.into()) })
    }

    /// Ends a CPU access begun with [`Self::begin_cpu_access`] in the same direction; nothing to
    /// do for an exporter without an `end_cpu_access` hook.
    pub(crate) fn end_cpu_access(&self, direction: Direction) -> Result {
        if self.ops().end_cpu_access.is_none() {
            return Ok(());
        }
        // SAFETY: The dma-buf is alive and no reservation lock is held by this thread.
        to_result(unsafe { bindings::dma_buf_end_cpu_access(self.as_raw(), direction.into()) })
    }

    /// The exporter's operations.
    fn ops(&self) -> &bindings::dma_buf_ops {
        // SAFETY: By the type invariant the dma-buf is alive; `ops` is set at export to the
        // exporter's operations, which outlive every dma-buf they were exported with and are
        // never changed.
        unsafe { &*(*self.as_raw()).ops }
    }

    #[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
    /// How many maps of the buffer are live (the dma-buf core's own count).
    ///
    /// A snapshot for tests and statistics, read under the reservation lock.
    pub fn vmap_count(&self) -> Result<u32> {
        let reserved = super::Reserved::lock(self)?;
        Ok(reserved.vmap_count())
    }

    pub(crate) fn resv(&self) -> *mut bindings::dma_resv {
        // SAFETY: By the type invariant the dma-buf is alive; `resv` is set at export.
        unsafe { (*self.as_raw()).resv }
    }
}

/// What keeps a buffer's memory where a kernel mapping of it points, as its exporter decides.
pub(crate) enum Mobility {
    /// The mapping holds the memory (shmem pages, DMA memory): it stays until unmapped.
    Stays,
    /// A TTM buffer object (GEM VRAM helpers): TTM moves it whenever it is neither pinned nor
    /// reserved, and its exporter announces nothing. The object lives as long as the dma-buf.
    Ttm(NonNull<bindings::ttm_buffer_object>),
    /// A dynamic exporter: it moves the buffer when it is not pinned, after telling its dynamic
    /// importers through `move_notify`.
    Dynamic,
}

/// A kernel virtual mapping of a whole dma-buf, undone when dropped.
///
/// The guard holds a reference to the dma-buf: even if it is leaked (`mem::forget`), the
/// dma-buf is then never released, so its release cannot find a mapping left behind.
///
/// # Invariants
///
/// `map` is the mapping `dma_buf_vmap()` returned for `buf` and has not been unmapped; `buf`
/// stays where `map` points (`Mobility::Stays`).
pub struct Vmap {
    buf: ARef<DmaBuf>,
    map: bindings::iosys_map,
}

impl Vmap {
    /// The mapped memory, for as long as the guard is borrowed.
    pub fn memory(&mut self) -> Mapping<'_> {
        // SAFETY: By the type invariant `map` maps the whole buffer, `size()` bytes, and it stays
        // mapped while `self` is borrowed.
        unsafe { Mapping::new(self.map, self.buf.size()) }
    }

    /// Whether the mapping is I/O memory (`iosys_map.is_iomem`).
    pub fn is_iomem(&self) -> bool {
        self.map.is_iomem
    }
}

impl Drop for Vmap {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `map` is the live mapping of `buf`.
        unsafe { self.buf.vunmap_raw(self.map) };
    }
}

#[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
/// Completes the release of dma-bufs whose last reference was dropped from a kernel thread.
///
/// A dma-buf is a file, and a kernel thread's final `fput()` is deferred to a work item. Tests
/// call this before checking that everything they created is gone.
pub fn flush_deferred_releases() {
    // SAFETY: `flush_delayed_fput()` has no preconditions; it may sleep, as callers may.
    unsafe { bindings::flush_delayed_fput() };
}
