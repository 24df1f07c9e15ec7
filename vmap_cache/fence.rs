// SPDX-License-Identifier: GPL-2.0

//! A fence that signals when its owner says so.
//!
//! It stands for a device that has not finished with a buffer: attached to a buffer's
//! reservation object, it makes CPU accesses wait, as vgem's fences do for user space. Tests use
//! it to check that an access does not wait forever for a fence that never signals.
//!
//! C header: [`include/linux/dma-fence.h`](srctree/include/linux/dma-fence.h)

use super::{DmaBuf, Reserved};
use crate::{
    alloc::{flags::GFP_KERNEL, KBox},
    bindings,
    error::{to_result, Result},
    static_lock_class,
    types::Opaque,
};
use core::ptr::NonNull;

/// The fence and the lock it signals under, in one allocation.
///
/// `fence` comes first: the dma-fence core frees a fence without a `release` hook with
/// `kfree_rcu()` on the fence's address, which must therefore be the allocation's.
#[repr(C)]
struct FenceStorage {
    fence: Opaque<bindings::dma_fence>,
    lock: Opaque<bindings::spinlock_t>,
}

/// `dma_fence_ops.get_driver_name`: the name in fence debug output.
extern "C" fn driver_name(_fence: *mut bindings::dma_fence) -> *const crate::ffi::c_char {
    c"drm_vmap_client".as_ptr().cast()
}

/// `dma_fence_ops.get_timeline_name`.
extern "C" fn timeline_name(_fence: *mut bindings::dma_fence) -> *const crate::ffi::c_char {
    c"manual".as_ptr().cast()
}

static FENCE_OPS: bindings::dma_fence_ops = bindings::dma_fence_ops {
    get_driver_name: Some(driver_name),
    get_timeline_name: Some(timeline_name),
    // SAFETY: The remaining members are optional hooks and flags, for which zero means absent.
    ..unsafe { core::mem::zeroed() }
};

/// An unsignalled fence that its owner signals.
///
/// Dropping it signals the fence (nothing may wait forever on an abandoned fence) and drops the
/// owner's reference; the fence itself lives on while others hold references.
///
/// # Invariants
///
/// `fence` is an initialised fence of ours on which this value holds one reference.
pub struct ManualFence {
    fence: NonNull<bindings::dma_fence>,
}

// SAFETY: A fence is reference counted atomically and signalled under its own lock, so it may be
// used and dropped from any thread.
unsafe impl Send for ManualFence {}

// SAFETY: See `Send`; `&ManualFence` only signals and attaches, both serialised by the C side.
unsafe impl Sync for ManualFence {}

impl ManualFence {
    /// A new, unsignalled fence on a timeline of its own.
    pub fn new() -> Result<Self> {
        let storage = KBox::new(
            FenceStorage {
                fence: Opaque::uninit(),
                lock: Opaque::uninit(),
            },
            GFP_KERNEL,
        )?;
        let storage = KBox::into_raw(storage);
        // SAFETY: `storage` is a valid allocation we own; its fields are ours to initialise.
        let (fence, lock) = unsafe { ((*storage).fence.get(), (*storage).lock.get()) };
        // SAFETY: `lock` is valid memory for a spinlock; the name and key are static.
        unsafe {
            bindings::__spin_lock_init(
                lock,
                c"ManualFence".as_ptr().cast(),
                static_lock_class!().as_ptr(),
            )
        };
        // SAFETY: `dma_fence_context_alloc()` only hands out a number.
        let context = unsafe { bindings::dma_fence_context_alloc(1) };
        // SAFETY: `fence` is valid memory, `FENCE_OPS` is static and `lock` outlives the fence
        // (same allocation). From here on the allocation belongs to the fence's reference count,
        // whose release frees it with `kfree_rcu()` (see `FenceStorage`).
        unsafe { bindings::dma_fence_init(fence, &FENCE_OPS, lock, context, 1) };
        // INVARIANT: `dma_fence_init()` gave us the first reference.
        Ok(Self {
            // SAFETY: `fence` points into a live allocation, so it is not null.
            fence: unsafe { NonNull::new_unchecked(fence) },
        })
    }

    /// Adds the fence to `buf`'s reservation object as a write: CPU accesses in any direction
    /// wait for it.
    pub fn attach_as_writer(&self, buf: &DmaBuf) -> Result {
        let _reserved = Reserved::lock(buf)?;
        let resv = buf.resv();
        // SAFETY: This thread holds the reservation lock (`_reserved`).
        to_result(unsafe { bindings::dma_resv_reserve_fences(resv, 1) })?;
        // SAFETY: The lock is held, a slot is reserved, and the fence is alive; the reservation
        // object takes its own reference.
        unsafe {
            bindings::dma_resv_add_fence(
                resv,
                self.fence.as_ptr(),
                bindings::dma_resv_usage_DMA_RESV_USAGE_WRITE,
            )
        };
        Ok(())
    }

    /// Signals the fence; waiters wake up. Signalling twice is harmless.
    pub fn signal(&self) {
        // SAFETY: By the type invariant the fence is alive. The only error is "already
        // signalled", which is what we want.
        let _ = unsafe { bindings::dma_fence_signal(self.fence.as_ptr()) };
    }
}

impl Drop for ManualFence {
    fn drop(&mut self) {
        self.signal();
        // SAFETY: By the type invariant we hold one reference, dropped here.
        unsafe { bindings::dma_fence_put(self.fence.as_ptr()) };
    }
}
