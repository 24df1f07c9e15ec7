// SPDX-License-Identifier: GPL-2.0

//! The animations running, so that the splash can end them all before its code goes away.
//!
//! An animation keeps itself alive: its frame clock's queued work holds it until a frame
//! returns [`Next::Stop`](kernel::drm_client::Next::Stop). Built in, nothing more is needed.
//! A module's exit must not return while one of its frames may still run, so every clock is
//! kept here too, and [`Running::end_all`] stops each one (waiting for a frame in progress)
//! and ends its splash. A clock whose splash has ended is dropped when the next one is added,
//! after waiting for its last frame: until then the ended splash keeps the memory of its
//! device (not the device, which it has left).

use crate::splash::Animation;
use kernel::{
    drm_client::FrameClock,
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};

/// A running animation.
type Clock = Arc<FrameClock<Animation>>;

/// Every animation started and not yet known to have ended.
#[pin_data]
pub(crate) struct Running {
    #[pin]
    clocks: Mutex<KVec<Clock>>,
}

impl Running {
    /// No animation yet.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            clocks <- new_mutex!(KVec::new()),
        })
    }

    /// Keeps `clock` until [`Running::end_all`]; on failure (no memory) the clock is stopped
    /// and its splash ended, so that nothing runs untracked.
    pub(crate) fn add(&self, clock: Clock) -> Result {
        let mut clocks = self.clocks.lock();
        let mut kept = match KVec::with_capacity(clocks.len() + 1, GFP_KERNEL) {
            Ok(kept) => kept,
            Err(error) => {
                drop(clocks);
                stop(&clock);
                return Err(error.into());
            }
        };
        for old in core::mem::take(&mut *clocks) {
            if old.handler().0.is_active() {
                keep(&mut kept, old);
            } else {
                // Its last frame ended it: wait for that frame to return, then let it go.
                old.stop();
            }
        }
        keep(&mut kept, clock);
        *clocks = kept;
        Ok(())
    }

    /// Stops every animation and ends its splash; returns how many were still on screen.
    ///
    /// When this returns, none of their frames runs and none will.
    pub(crate) fn end_all(&self) -> usize {
        let clocks = core::mem::take(&mut *self.clocks.lock());
        let mut on_screen = 0;
        for clock in &clocks {
            if clock.handler().0.is_active() {
                on_screen += 1;
            }
            stop(clock);
        }
        on_screen
    }
}

/// Pushes `clock` into `kept`, whose capacity was reserved; stops it should that fail anyway.
fn keep(kept: &mut KVec<Clock>, clock: Clock) {
    if let Err(error) = kept.push(clock.clone(), GFP_KERNEL) {
        pr_warn!(
            "animation stopped: error {}\n",
            Error::from(error).to_errno()
        );
        stop(&clock);
    }
}

/// Stops `clock`, waiting for a frame in progress, and ends its splash.
fn stop(clock: &Clock) {
    clock.stop();
    clock.handler().0.end();
}
