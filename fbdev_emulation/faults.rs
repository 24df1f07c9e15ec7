// SPDX-License-Identifier: GPL-2.0

//! The `vmap_fbdev_faults` KUnit suite: failure injection over the emulation's own entry point.
//!
//! The layer's operations are swept by `drm_vmap_client_faults`; this sweeps what the emulation
//! does with them when a device registers: its client, the output probe, the shadow, the
//! framebuffer it shows, the fbdev registration, and fbcon's first mode set ([`sweep`]). The
//! emulation is built in, and its suites run before user space can make allocations that may
//! sleep fault points in debugfs: at boot the fault points are the layer's own (before each C
//! call that can fail without allocating) and the allocations that cannot sleep. `/init` then
//! runs the suite again through KUnit's debugfs (`/sys/kernel/debug/kunit/vmap_fbdev_faults/
//! run`), once every allocation is a fault point. Debug kernels only
//! (`CONFIG_FAULT_INJECTION`).

use crate::console::{Console, ConsoleRef};
use kernel::{
    drm_client::{fault_sweep::sweep, testing, Device},
    fbdev::FbHandler,
    ktest::{CaseResult, Test},
    ktest_suite,
    prelude::*,
    sync::Arc,
};

/// An emulation that stops when dropped, after the sweep has disarmed the failure injection
/// (see `bootsplash_faults` for why the teardown is no fault point).
struct Stopping(Arc<ConsoleRef>);

impl Drop for Stopping {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Starts the emulation on `device` and sets its mode, as fbcon does when it takes the console.
fn start_and_set_mode(device: &Device) -> Result<Stopping> {
    let console = Stopping(Console::start(device)?.ok_or(ENODEV)?);
    console.0.set_par()?;
    Ok(console)
}

fn start_on_vkms(test: &Test) -> CaseResult {
    let device = testing::device_or_skip(test, b"vkms")?;
    sweep(
        test,
        &device,
        "fbdev emulation start and mode set on vkms",
        || start_and_set_mode(&device),
    )
}

ktest_suite!(vmap_fbdev_faults, [start_on_vkms]);
