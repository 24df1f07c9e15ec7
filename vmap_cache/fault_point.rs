// SPDX-License-Identifier: GPL-2.0

//! Fault points of the layer's own, before the C calls that can fail.
//!
//! The failure injection sweeps (syzkaller's fail-nth, `kernel::drm_client::fault_sweep`) fail
//! the allocations a task makes, one after the other. Many calls of the layer fail without
//! allocating: a pin that finds no room, a commit that the atomic check refuses, a lock wait
//! that a signal ends. Each such call is preceded by a [`fault_point`], which the task's
//! fail-nth counts like an allocation and which, when its turn comes, fails with the errno the
//! call itself would return. Kernels without `CONFIG_FAULT_INJECTION` have no fault points.
//!
//! C header: [`include/linux/fault-inject.h`](srctree/include/linux/fault-inject.h)

use crate::error::{Error, Result};

/// Fails with `errno` if the current task's fail-nth chose this point; see the module
/// documentation.
#[inline]
pub(crate) fn fault_point(errno: Error) -> Result {
    #[cfg(CONFIG_FAULT_INJECTION)]
    // SAFETY: The helper only reads and updates the current task's fail-nth counter.
    if unsafe { crate::bindings::drm_vmap_client_call_fails() } {
        return Err(errno);
    }
    #[cfg(not(CONFIG_FAULT_INJECTION))]
    let _ = errno;
    Ok(())
}
