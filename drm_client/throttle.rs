// SPDX-License-Identifier: GPL-2.0

//! Work that runs soon after it is asked for, but never more often than a given rate.
//!
//! fbdev emulation gets damage in bursts (fbcon draws glyph by glyph, `write()` in pieces)
//! and from contexts that must not sleep. [`Throttle::kick`] may be called from any context
//! and as often as wanted: it queues one run, at the earliest one period after the previous
//! run started, so a burst of damage costs one flush per period.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)

use super::owned_work;
use crate::{
    alloc::flags::GFP_KERNEL,
    bindings,
    error::{code::*, Result},
    init::PinInit,
    prelude::*,
    sync::Arc,
    time::Ktime,
    try_pin_init,
    types::Opaque,
};
use core::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// What a [`Throttle`] runs.
pub trait Throttled: Send + Sync {
    /// Does the work asked for since the last run; a worker calls it, never two at once.
    fn run(&self);
}

/// A delayed work item that runs a [`Throttled`] handler at most once per period.
///
/// # Invariants
///
/// `work` is initialised with `Throttle::<T>::run` as its function. While the work is pending
/// it owns one reference to the throttle, taken with `Arc::into_raw()`.
#[pin_data]
pub struct Throttle<T: Throttled> {
    #[pin]
    work: Opaque<bindings::delayed_work>,
    /// The shortest time between the starts of two runs; changed by [`Throttle::set_rate`].
    period_ns: AtomicI64,
    /// When the last run started, in `ktime_get()` nanoseconds.
    last_run_ns: AtomicI64,
    stopping: AtomicBool,
    #[pin]
    handler: T,
}

// SAFETY: The work item is only touched through the workqueue API, which synchronises itself;
// the rest is atomic or the handler, which is `Send + Sync`.
unsafe impl<T: Throttled> Send for Throttle<T> {}

// SAFETY: See `Send`.
unsafe impl<T: Throttled> Sync for Throttle<T> {}

impl<T: Throttled> Throttle<T> {
    /// A throttle running `handler` at most `rate` times a second; `EINVAL` for a rate of 0.
    pub fn new(handler: impl PinInit<T>, rate: u32) -> Result<Arc<Self>> {
        Arc::pin_init(Self::idle(handler, period_of(rate)?), GFP_KERNEL)
    }

    /// Runs the handler at most `rate` times a second from now on (a display's refresh rate
    /// known only once its outputs are probed); `EINVAL` for a rate of 0. A run already queued
    /// keeps its time.
    pub fn set_rate(&self, rate: u32) -> Result {
        self.period_ns.store(period_of(rate)?, Ordering::Relaxed);
        Ok(())
    }

    /// How many runs a second the throttle allows at most.
    pub fn rate(&self) -> u32 {
        let period_ns = self.period_ns.load(Ordering::Relaxed).max(1);
        u32::try_from(NSEC_PER_SEC / period_ns).unwrap_or(u32::MAX)
    }

    fn idle(handler: impl PinInit<T>, period_ns: i64) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            work <- Opaque::ffi_init(|slot: *mut bindings::delayed_work| {
                // SAFETY: `slot` is valid for writes; the helper initialises all of it. The
                // name and the lockdep class are statics.
                unsafe {
                    bindings::drm_vmap_client_init_delayed_work(
                        slot,
                        Some(Self::run),
                        crate::c_str!("(work_completion)Throttle").as_char_ptr(),
                        crate::static_lock_class!().as_ptr(),
                    )
                };
            }),
            period_ns: AtomicI64::new(period_ns),
            last_run_ns: AtomicI64::new(i64::MIN / 2),
            stopping: AtomicBool::new(false),
            handler <- handler,
        })
    }

    /// The handler.
    pub fn handler(&self) -> &T {
        &self.handler
    }

    /// Asks for a run: one is queued unless one is pending already. Never sleeps; does nothing
    /// once the throttle is stopped.
    pub fn kick(self: &Arc<Self>) {
        if self.stopping.load(Ordering::Acquire) {
            return;
        }
        let due = self.last_run_ns.load(Ordering::Acquire) + self.period_ns.load(Ordering::Relaxed);
        let wait_ns = u64::try_from(due - Ktime::ktime_get().to_ns()).unwrap_or(0);
        // SAFETY: A pure conversion.
        let delay = unsafe { bindings::nsecs_to_jiffies(wait_ns) };
        // SAFETY: `work` is initialised (type invariant) inside the throttle, and `run` takes
        // the reference back.
        unsafe { owned_work::queue(&self.work, self.clone(), delay) };
    }

    /// Runs a pending run now and waits for it (`fsync`, tests); returns whether one was
    /// pending or running.
    pub fn flush(&self) -> bool {
        // SAFETY: `work` is initialised (type invariant); flushing waits for the run, which
        // releases the queue's reference itself.
        unsafe { bindings::flush_delayed_work(self.work.get()) }
    }

    /// Stops the throttle: when this returns, no run is in progress and none will start.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        // SAFETY: `work` is initialised (type invariant), inside this throttle, an `Arc`'s data,
        // and queued only through `owned_work::queue`.
        unsafe { owned_work::cancel(&self.work, self) };
    }

    /// `work_struct.func`: one run.
    ///
    /// # Safety
    ///
    /// Only the workqueue calls this, for the `work` of a throttle whose reference it owns.
    unsafe extern "C" fn run(work: *mut bindings::work_struct) {
        // SAFETY: `work` is the first member of a `delayed_work`, which is the transparent
        // `work` field of a throttle (type invariant).
        let throttle = unsafe {
            let delayed = crate::container_of!(work, bindings::delayed_work, work);
            crate::container_of!(delayed, Self, work)
        };
        // SAFETY: The queue owned a reference to the throttle, which we take back (invariant).
        let throttle = unsafe { Arc::from_raw(throttle) };
        if throttle.stopping.load(Ordering::Acquire) {
            return;
        }
        throttle
            .last_run_ns
            .store(Ktime::ktime_get().to_ns(), Ordering::Release);
        throttle.handler.run();
    }
}

/// Nanoseconds in a second.
const NSEC_PER_SEC: i64 = 1_000_000_000;

/// The period of `rate` runs a second; `EINVAL` for 0.
fn period_of(rate: u32) -> Result<i64> {
    if rate == 0 {
        return Err(EINVAL);
    }
    Ok(NSEC_PER_SEC / i64::from(rate))
}
