// SPDX-License-Identifier: GPL-2.0

//! A dynamic attachment through which a cache pins a buffer and hears that it moves.
//!
//! The cache imports nothing for a device: it attaches only to be told, through
//! `move_notify`, that the exporter is about to move the buffer, and to pin the buffer for the
//! length of an access. The attachment is never mapped for DMA.
//!
//! C header: [`include/linux/dma-buf.h`](srctree/include/linux/dma-buf.h)

use super::{
    fault_point,
    ledger::{self, Held},
    movable::ResvCell,
    DmaBuf, Reserved,
};
use crate::{
    bindings,
    error::{code::*, from_err_ptr, to_result, Result},
};
use core::{
    ffi::c_void,
    pin::Pin,
    ptr::{self, NonNull},
};

/// `dma_buf_attach_ops.move_notify`: the exporter is about to move the buffer.
///
/// Called with the buffer's reservation lock held. The held mapping is dropped here, so that
/// the exporter can move the memory; an access cannot be open, since each one pins the buffer,
/// but if the exporter notifies anyway the mapping is only marked stale and dropped when the
/// last access ends.
///
/// # Safety
///
/// `attach` is an attachment made by [`Attachment::new`], whose `importer_priv` is the cache's
/// live [`ResvCell`], and the caller holds the buffer's reservation lock.
unsafe extern "C" fn move_notify(attach: *mut bindings::dma_buf_attachment) {
    // SAFETY: The attachment is alive while the exporter notifies it (caller).
    let (cell, dmabuf) = unsafe { ((*attach).importer_priv, (*attach).dmabuf) };
    // SAFETY: `importer_priv` is the cache's cell, which outlives the attachment (caller).
    let cell = unsafe { &*cell.cast::<ResvCell>() };
    // SAFETY: The reservation lock is held (caller); the closure only updates the state.
    let dropped = unsafe {
        cell.with(|state| {
            state.moved |= state.map.is_some();
            state.give_up()
        })
    };
    if let Some(mut map) = dropped {
        // SAFETY: The lock is held, and `map` is the cache's live mapping of this buffer,
        // taken out of its state.
        unsafe { bindings::dma_buf_vunmap(dmabuf, &mut map) };
        ledger::gave_back(Held::Mapping);
    }
}

static IMPORTER_OPS: bindings::dma_buf_attach_ops = bindings::dma_buf_attach_ops {
    allow_peer2peer: false,
    move_notify: Some(move_notify),
};

/// A dynamic attachment of a cache to its buffer; detached when dropped.
///
/// # Invariants
///
/// `attach` is a live dynamic attachment of `buf` made with [`IMPORTER_OPS`].
pub(super) struct Attachment {
    buf: NonNull<bindings::dma_buf>,
    attach: NonNull<bindings::dma_buf_attachment>,
}

// SAFETY: Attaching, pinning and detaching may be done from any thread; the dma-buf core and the
// reservation lock serialise them.
unsafe impl Send for Attachment {}

// SAFETY: See `Send`; `&Attachment` only pins and unpins under the reservation lock.
unsafe impl Sync for Attachment {}

impl Attachment {
    /// Attaches to `buf`, with `cell` as the state that `move_notify` updates.
    ///
    /// The attaching device is the CPU (CPU 0's device): the mapping is for the CPU, and no
    /// device DMA-maps the attachment. Fails with `ENODEV` if that device does not exist.
    pub(super) fn new(buf: &DmaBuf, cell: &Pin<crate::alloc::KBox<ResvCell>>) -> Result<Self> {
        // SAFETY: `get_cpu_device()` only looks the device up; CPU 0 cannot be unplugged.
        let cpu = unsafe { bindings::get_cpu_device(0) };
        if cpu.is_null() {
            return Err(ENODEV);
        }
        let priv_ = ptr::from_ref::<ResvCell>(cell).cast_mut().cast::<c_void>();
        // An exporter may refuse the importer (its `attach` op).
        fault_point(EBUSY)?;
        // SAFETY: The dma-buf and the device are alive, the ops are static, and `priv_` points
        // at the pinned cell, which the caller keeps alive until the attachment is dropped.
        let attach = from_err_ptr(unsafe {
            bindings::dma_buf_dynamic_attach(buf.as_raw(), cpu, &IMPORTER_OPS, priv_)
        })?;
        let attach = NonNull::new(attach).ok_or(ENOMEM)?;
        ledger::took(Held::Attachment);
        // INVARIANT: A dynamic attachment with our ops, made above.
        Ok(Self {
            // SAFETY: `as_raw()` is never null.
            buf: unsafe { NonNull::new_unchecked(buf.as_raw()) },
            attach,
        })
    }

    /// Pins the buffer where it is (`dma_buf_pin()`).
    pub(super) fn pin(&self, _reserved: &Reserved<'_>) -> Result {
        // No room where the exporter pins (video memory full).
        fault_point(ENOSPC)?;
        // SAFETY: The attachment is live and dynamic (type invariant), and the reservation lock
        // is held, as the witness shows.
        to_result(unsafe { bindings::dma_buf_pin(self.attach.as_ptr()) })?;
        ledger::took(Held::Pin);
        Ok(())
    }

    /// Undoes one [`Self::pin`]; the exporter may then carry out a move it deferred.
    pub(super) fn unpin(&self, _reserved: &Reserved<'_>) {
        // SAFETY: As in `pin`; the caller undoes a pin it took.
        unsafe { bindings::dma_buf_unpin(self.attach.as_ptr()) };
        ledger::gave_back(Held::Pin);
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // SAFETY: The attachment is live (type invariant) and the dma-buf alive: the cache that
        // owns the attachment holds a reference. The detach takes the reservation lock itself.
        unsafe { bindings::dma_buf_detach(self.buf.as_ptr(), self.attach.as_ptr()) };
        ledger::gave_back(Held::Attachment);
    }
}
