// SPDX-License-Identifier: GPL-2.0

//! Scheduling for the helpers a test starts (work items, threads).

use crate::bindings;

/// Lets other tasks run if one is waiting for this CPU (`cond_resched()`).
///
/// A test that keeps work items busy in a loop calls this every round: on a kernel built
/// without involuntary preemption (`PREEMPT_NONE`, the default of many distributions), a loop
/// that never sleeps keeps its CPU from the test's own thread, the timers it waits on and RCU,
/// until the RCU stall detector fires.
pub fn cond_resched() {
    // SAFETY: `cond_resched()` may sleep; callers run in process context (a test case or a
    // work item) with no spinlock held, since they could not loop on sleeping calls otherwise.
    unsafe { bindings::cond_resched() };
}
