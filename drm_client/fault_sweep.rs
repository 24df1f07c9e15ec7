// SPDX-License-Identifier: GPL-2.0

//! Failure injection sweeps for the KUnit suites of the layer and of its clients.
//!
//! [`sweep`] runs one operation again and again, failing the first fault point it passes,
//! then the second, and so on, as syzkaller's fail-nth does, until three runs in a row pass
//! fewer points than the one they were to fail (the number of points varies a little between
//! runs: a slab that needs a new page, a cache that is warm). After every run it checks that
//! nothing was left behind ([`Footprint`]): the layer's holdings and every device's GEM objects,
//! GEM mappings and TTM pins, the device's references and framebuffers, the fbdev devices of
//! the layer. A run whose failure was injected may fail with any errno or absorb the failure (a
//! fallback); the runs that were not injected must succeed.
//!
//! The fault points are every allocation of the task (failslab, fail_page_alloc), in Rust and
//! in the C it calls, once user space has made sleeping allocations fault points in debugfs;
//! so the suites that sweep are modules, loaded after that. Each injected failure is logged as
//! `fault injection: <operation> #<n>: <errno N or absorbed>, <clean or leaked>`, for `cargo
//! xtask test` to sum.

use super::{testing::Footprint, Device};
use crate::{
    error::Result,
    ktest::{CaseResult, Test},
    ktest_assert_eq,
    prelude::*,
};
use core::panic::Location;

/// Failure injection on the current task, as syzkaller does it through
/// `/proc/thread-self/fail-nth`: every fault point the task passes (failslab, fail_page_alloc)
/// counts down, and the chosen one fails.
///
/// Which allocations are fault points is set in debugfs (`failslab/ignore-gfp-wait`,
/// `fail_page_alloc/min-order`, ...); by default, allocations that may sleep are not.
pub mod fail_nth {
    use crate::bindings;

    /// Makes the `nth` next fault point of the current task fail (`1` for the next one).
    pub fn arm(nth: u32) {
        // SAFETY: Only sets the current task's counter.
        unsafe { bindings::drm_vmap_client_test_fail_nth(nth) };
    }

    /// Disarms; returns whether the failure was injected since [`arm`].
    pub fn disarm() -> bool {
        // SAFETY: Only reads and clears the current task's counter.
        unsafe { bindings::drm_vmap_client_test_fail_nth_left() == 0 }
    }
}

/// The most fault points one operation may pass; a sweep that goes on longer fails.
pub const MAX_POINTS: u32 = 4000;

/// How many runs in a row must pass fewer fault points than the one to fail before a sweep
/// ends: one short run does not prove that the points after it were all tried.
const SHORT_RUNS_TO_END: u32 = 3;

/// Runs `op` on `device` with its first fault point failing, then its second, and so on; see
/// the module documentation. `name` names the operation in the log.
#[track_caller]
pub fn sweep<T>(
    test: &Test,
    device: &Device,
    name: &str,
    mut op: impl FnMut() -> Result<T>,
) -> CaseResult {
    let caller = Location::caller();
    let before = Footprint::settled(test, device);
    let mut nth = 1;
    let mut short_runs = 0;
    while nth <= MAX_POINTS {
        fail_nth::arm(nth);
        let result = op();
        let injected = fail_nth::disarm();
        let error = result.as_ref().err().copied();
        drop(result);
        let after = before.after_releases(test, device);
        if !injected {
            // Fewer than `nth` points: the run went through uninjected, and must have worked.
            ktest_assert_eq!(test, error, None);
            ktest_assert_eq!(test, after, before);
            short_runs += 1;
            if short_runs == SHORT_RUNS_TO_END {
                pr_info!(
                    "fault sweep: {name}: {} point(s) failed in turn, then it succeeded\n",
                    nth - 1
                );
                return Ok(());
            }
            continue;
        }
        short_runs = 0;
        let clean = if after == before { "clean" } else { "leaked" };
        match error {
            Some(error) => pr_info!(
                "fault injection: {name} #{nth}: errno {}, {clean}\n",
                error.to_errno()
            ),
            None => pr_info!("fault injection: {name} #{nth}: absorbed, {clean}\n"),
        }
        ktest_assert_eq!(test, after, before);
        nth += 1;
    }
    Err(test.fail(
        caller,
        format_args!("{name}: more than {MAX_POINTS} fault points"),
    ))
}
