// SPDX-License-Identifier: GPL-2.0

//! A steady frame rate for animations, on a delayed work item.
//!
//! An animation must not draw in an initcall or a callback of the DRM core: those hold locks
//! and delay the boot. A [`FrameClock`] calls its [`FrameHandler`] on the unbound system
//! workqueue at fixed deadlines, `start + n * period`, so the rate does not drift with the time
//! a frame takes. A frame that ends after the next deadline makes the clock skip the deadlines it
//! missed instead of queueing frames behind one another.
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
    time::{Jiffies, Ktime},
    try_pin_init,
    types::Opaque,
};
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// Nanoseconds per second.
const NSEC_PER_SEC: u64 = 1_000_000_000;

/// The highest rate a clock runs at; more is pointless for a console-era display path.
pub const MAX_FPS: u32 = 240;

/// What a [`FrameHandler`] wants after a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Call again at the next deadline.
    Continue,
    /// Do not call again.
    Stop,
}

/// The work a [`FrameClock`] does at each deadline.
pub trait FrameHandler: Send + Sync {
    /// Draws frame `number` (0 first); a worker calls it, never two at once.
    fn frame(&self, number: u64) -> Next;
}

/// Calls a [`FrameHandler`] at a fixed rate until it or [`FrameClock::stop`] says stop.
///
/// # Invariants
///
/// `work` is initialised with `FrameClock::run` as its function. While it is queued, the
/// queue owns one reference to the `Arc` holding the clock, taken with `Arc::into_raw()`.
#[pin_data]
pub struct FrameClock<T: FrameHandler> {
    #[pin]
    work: Opaque<bindings::delayed_work>,
    period_ns: u64,
    /// When frame 0 was queued, in `ktime_get()` nanoseconds.
    started_ns: AtomicI64,
    next_frame: AtomicU64,
    stopping: AtomicBool,
    handler: T,
}

// SAFETY: The work item is only touched through the workqueue API, which synchronises itself;
// the rest is atomic or the handler, which is `Send + Sync`.
unsafe impl<T: FrameHandler> Send for FrameClock<T> {}

// SAFETY: See `Send`.
unsafe impl<T: FrameHandler> Sync for FrameClock<T> {}

impl<T: FrameHandler> FrameClock<T> {
    /// A clock calling `handler` `fps` times a second, not started.
    ///
    /// Fails with `EINVAL` unless `1 <= fps <= MAX_FPS`.
    pub fn new(handler: T, fps: u32) -> Result<Arc<Self>> {
        if fps == 0 || fps > MAX_FPS {
            return Err(EINVAL);
        }
        Arc::pin_init(
            Self::idle(handler, NSEC_PER_SEC / u64::from(fps)),
            GFP_KERNEL,
        )
    }

    fn idle(handler: T, period_ns: u64) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            work <- Opaque::ffi_init(|slot: *mut bindings::delayed_work| {
                // SAFETY: `slot` is valid for writes; the helper initialises all of it. The
                // name and the lockdep class are statics.
                unsafe {
                    bindings::drm_vmap_client_init_delayed_work(
                        slot,
                        Some(Self::run),
                        crate::c_str!("(work_completion)FrameClock").as_char_ptr(),
                        crate::static_lock_class!().as_ptr(),
                    )
                };
            }),
            period_ns,
            started_ns: AtomicI64::new(0),
            next_frame: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            handler,
        })
    }

    /// The handler.
    pub fn handler(&self) -> &T {
        &self.handler
    }

    /// The time between two frames, in nanoseconds.
    pub fn period_ns(&self) -> u64 {
        self.period_ns
    }

    /// Queues the first frame, to run at once; `EBUSY` if the clock runs or ran already.
    pub fn start(self: &Arc<Self>) -> Result {
        if self.stopping.load(Ordering::Acquire) || self.next_frame.load(Ordering::Acquire) != 0 {
            return Err(EBUSY);
        }
        self.started_ns
            .store(Ktime::ktime_get().to_ns(), Ordering::Release);
        if !self.queue(self.clone(), 0) {
            return Err(EBUSY);
        }
        Ok(())
    }

    /// Stops the clock: when this returns, no frame runs and none will.
    ///
    /// Must not be called from [`FrameHandler::frame`], which returns [`Next::Stop`] instead
    /// (the call would wait for itself).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        // SAFETY: `work` is initialised (type invariant), inside this clock, an `Arc`'s data,
        // and queued only through `owned_work::queue`. Requeueing fails while it cancels.
        unsafe { owned_work::cancel(&self.work, self) };
    }

    /// Queues `this` to run after `delay` jiffies, handing its reference to the queue; returns
    /// whether it was queued (if not, the reference is dropped).
    fn queue(&self, this: Arc<Self>, delay: Jiffies) -> bool {
        // SAFETY: `work` is initialised (type invariant) inside `*this`, and `run` takes the
        // reference back.
        unsafe { owned_work::queue(&self.work, this, delay) }
    }

    /// The delay from now until the deadline of the first frame not yet missed, and its number.
    fn next_deadline(&self, after: u64) -> (Jiffies, u64) {
        let started = self.started_ns.load(Ordering::Acquire);
        let elapsed = u64::try_from(Ktime::ktime_get().to_ns() - started).unwrap_or(0);
        let due = elapsed / self.period_ns + 1;
        let frame = due.max(after + 1);
        let wait_ns = (frame * self.period_ns).saturating_sub(elapsed);
        // SAFETY: A pure conversion.
        let delay = unsafe { bindings::nsecs_to_jiffies(wait_ns) };
        (delay, frame)
    }

    /// `work_struct.func`: runs one frame and queues the next.
    ///
    /// # Safety
    ///
    /// Only the workqueue calls this, for the `work` of a clock whose reference it owns.
    unsafe extern "C" fn run(work: *mut bindings::work_struct) {
        // SAFETY: `work` is the first member of a `delayed_work`, which is the transparent
        // `work` field of a clock (type invariant).
        let clock = unsafe {
            let delayed = crate::container_of!(work, bindings::delayed_work, work);
            crate::container_of!(delayed, Self, work)
        };
        // SAFETY: The queue owned a reference to the clock, which we take back (invariant).
        let clock = unsafe { Arc::from_raw(clock) };
        let number = clock.next_frame.load(Ordering::Acquire);
        if clock.stopping.load(Ordering::Acquire) || clock.handler.frame(number) == Next::Stop {
            clock.stopping.store(true, Ordering::Release);
            return;
        }
        let (delay, next) = clock.next_deadline(number);
        clock.next_frame.store(next, Ordering::Release);
        if !clock.stopping.load(Ordering::Acquire) {
            clock.queue(clock.clone(), delay);
        }
    }
}
