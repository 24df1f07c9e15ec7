// SPDX-License-Identifier: GPL-2.0

//! A delayed work item that owns a reference to the `Arc` it is embedded in while it is
//! pending: what [`FrameClock`](super::FrameClock) and [`Throttle`](super::Throttle) share.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)

use crate::{bindings, sync::Arc, time::Jiffies, types::Opaque};
use core::ptr;

/// Queues `work`, a field of `*this`, on the unbound workqueue after `delay` jiffies, handing
/// `this` to it; returns whether it was queued (if it was pending already, `this` is dropped).
///
/// # Safety
///
/// `work` is an initialised delayed work item inside the `T` that `this` points at, whose
/// function takes the reference back with `Arc::from_raw()`.
pub(super) unsafe fn queue<T>(
    work: &Opaque<bindings::delayed_work>,
    this: Arc<T>,
    delay: Jiffies,
) -> bool {
    let raw = Arc::into_raw(this);
    // SAFETY: `work` is initialised and lives as long as the reference the queue now owns (the
    // caller's guarantee).
    let queued = unsafe { bindings::drm_vmap_client_queue_delayed_work(work.get(), delay) };
    if !queued {
        // SAFETY: Not queued, so the reference taken above is still ours.
        drop(unsafe { Arc::from_raw(raw) });
    }
    queued
}

/// Cancels `work`, a field of `owner`, waiting for a run in progress; if it was pending, drops
/// the reference it owned.
///
/// # Safety
///
/// `work` is an initialised delayed work item inside `owner`, an `Arc`'s data, queued only
/// through [`queue`].
pub(super) unsafe fn cancel<T>(work: &Opaque<bindings::delayed_work>, owner: &T) {
    // SAFETY: `work` is initialised (the caller's guarantee); cancelling waits for a run.
    if unsafe { bindings::cancel_delayed_work_sync(work.get()) } {
        // SAFETY: The pending work owned a reference, taken by `queue` with `Arc::into_raw()`
        // of an `Arc` whose data is `owner`.
        drop(unsafe { Arc::from_raw(ptr::from_ref(owner)) });
    }
}
