// SPDX-License-Identifier: GPL-2.0

//! A dma-buf's reservation lock, held for the life of a guard, and what may only be done with
//! it held.
//!
//! C header: [`include/linux/dma-resv.h`](srctree/include/linux/dma-resv.h)

use super::{
    fault_point,
    ledger::{self, Held},
    DmaBuf,
};
use crate::{
    bindings,
    error::{code::*, to_result, Result},
};

/// The reservation lock of a dma-buf, taken without an acquire context (the C helpers pass
/// none) and released on drop.
///
/// Holding it keeps every exporter from moving the buffer: TTM and dynamic exporters move a
/// buffer only with its reservation lock held.
///
/// # Invariants
///
/// This thread holds the reservation lock of `buf`.
pub(crate) struct Reserved<'a> {
    buf: &'a DmaBuf,
}

impl<'a> Reserved<'a> {
    /// Takes the lock; fails with `EINTR` on a signal.
    pub(crate) fn lock(buf: &'a DmaBuf) -> Result<Self> {
        fault_point(EINTR)?;
        // SAFETY: The dma-buf, and so its reservation object, is alive.
        to_result(unsafe { bindings::dma_resv_lock_interruptible(buf.resv()) })?;
        // INVARIANT: Locked above.
        Ok(Self { buf })
    }

    /// Takes the lock, waiting through signals: for paths that must not fail, such as ending
    /// an access.
    pub(crate) fn lock_uninterruptible(buf: &'a DmaBuf) -> Self {
        // SAFETY: The dma-buf is alive. Without an acquire context the lock cannot fail with
        // `EDEADLK`, and it does not return on signals.
        let _ = unsafe { bindings::dma_resv_lock(buf.resv()) };
        // INVARIANT: Locked above.
        Self { buf }
    }

    /// Maps the whole buffer (`dma_buf_vmap()`); the caller must hand the result to
    /// [`Self::vunmap`] under the lock.
    pub(crate) fn vmap(&self) -> Result<bindings::iosys_map> {
        let mut map = bindings::iosys_map::default();
        fault_point(EIO)?;
        // SAFETY: The lock is held (type invariant); `map` is a valid out parameter.
        to_result(unsafe { bindings::dma_buf_vmap(self.buf.as_raw(), &mut map) })?;
        ledger::took(Held::Mapping);
        Ok(map)
    }

    /// Undoes one [`Self::vmap`].
    ///
    /// # Safety
    ///
    /// `map` must be a mapping of this buffer returned by [`Self::vmap`] (under this or an
    /// earlier hold of the lock) and not unmapped since.
    pub(crate) unsafe fn vunmap(&self, mut map: bindings::iosys_map) {
        // SAFETY: The lock is held, and the caller passes a live mapping of the buffer, which
        // is the one `dma_buf_vunmap()` checks for.
        unsafe { bindings::dma_buf_vunmap(self.buf.as_raw(), &mut map) };
        ledger::gave_back(Held::Mapping);
    }

    #[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
    /// The dma-buf core's count of live maps.
    pub(crate) fn vmap_count(&self) -> u32 {
        // SAFETY: The lock, held, protects `vmapping_counter`.
        unsafe { (*self.buf.as_raw()).vmapping_counter }
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        // SAFETY: This thread holds the lock (type invariant).
        unsafe { bindings::dma_resv_unlock(self.buf.resv()) };
    }
}
