// SPDX-License-Identifier: GPL-2.0

//! The `bootsplash_faults` KUnit suite: failure injection over the splash's own entry points.
//!
//! The layer's operations are swept by `drm_vmap_client_faults`; this sweeps what the splash
//! does with them: decoding its picture, laying out the outputs, registering its client,
//! allocating, drawing and showing its framebuffers, and animating. Every allocation of the
//! task fails in turn ([`sweep`]), and after each run nothing may be left behind. Built only
//! into the debug kernel's splash module, which `/init` loads once sleeping allocations are
//! fault points.

use crate::splash::DeviceSplash;
use crate::tests::{start_splash, NO_PROGRESS};
use kernel::{
    drm_client::{fault_sweep::sweep, testing, Device},
    ktest::{CaseResult, Test},
    ktest_suite,
    prelude::*,
    sync::Arc,
};

/// Frames the splash animates in each run, after the two that its start draws.
const FRAMES: u64 = 2;

/// A splash that ends when dropped, after the sweep has disarmed the failure injection.
///
/// Ending it removes framebuffers that are on screen, and `drm_framebuffer_remove()` turns the
/// plane off with an atomic commit: if that commit cannot allocate its state, the DRM core
/// warns and the plane keeps the framebuffer until the next commit. Nothing of ours can fail
/// there, and nothing can be done about it, so the teardown is not a fault point of the sweep.
struct Ending(Arc<DeviceSplash>);

impl Drop for Ending {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// Starts a splash on `device` and animates [`FRAMES`] frames; fails with the error that
/// ended it early, if any. A frame skipped for want of memory counts as animated.
fn start_and_animate(device: &Device, flips: bool) -> Result<Ending> {
    let splash = Ending(start_splash(device, &NO_PROGRESS, flips)?.ok_or(ENODEV)?);
    for number in 2..2 + FRAMES {
        splash.0.frame(number);
    }
    match splash.0.ended_by() {
        Some(error) => Err(error),
        None => Ok(splash),
    }
}

fn start_and_animate_on_bochs(test: &Test) -> CaseResult {
    let device = testing::device_or_skip(test, b"bochs-drm")?;
    sweep(test, &device, "splash start and frames on bochs", || {
        start_and_animate(&device, true)
    })
}

ktest_suite!(bootsplash_faults, [start_and_animate_on_bochs]);
