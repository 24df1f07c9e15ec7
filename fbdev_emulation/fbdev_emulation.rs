// SPDX-License-Identifier: GPL-2.0

//! fbdev emulation (`/dev/fbN`, fbcon) written only against the safe in-kernel client layer.
//!
//! For every KMS device, as it registers, it registers `/dev/fbN` whose pixels live in a
//! system-memory shadow; fbcon and `write()` draw there, `mmap` users too (deferred I/O), and
//! the damaged rows reach the device's framebuffer through its dma-buf's cached mapping, at most
//! once per frame. It replaces C's emulation on a kernel built with both:
//! `drm_kms_helper.fbdev_emulation=0 vmap_fbdev.enable=1`.
//!
//! With the boot splash, the splash comes first: the emulation shows its framebuffer only
//! when fbcon takes the console or a user sets the mode, and at restore, which the splash
//! declines once it has ended.

mod console;
#[cfg(all(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST, CONFIG_FAULT_INJECTION))]
mod faults;
#[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
mod tests;

use console::Console;
use kernel::{
    drm_client::{Device, DeviceWatcher, Watch},
    module_param,
    module_param::Flag,
    prelude::*,
};

module! {
    type: VmapFbdev,
    name: "vmap_fbdev",
    author: "drm-vmap-client developers",
    description: "fbdev emulation on the Rust in-kernel DRM client API",
    license: "GPL",
}

static ENABLE: Flag = Flag::new(false);
module_param!(PARAM_ENABLE, "vmap_fbdev", "enable", ENABLE, 0o444);

struct VmapFbdev {
    _watch: Option<Pin<KBox<Watch<Watcher>>>>,
}

impl kernel::Module for VmapFbdev {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if !ENABLE.get() {
            return Ok(VmapFbdev { _watch: None });
        }
        Ok(VmapFbdev {
            _watch: Some(Watch::new(Watcher)?),
        })
    }
}

/// Starts the emulation on every KMS device as it registers.
///
/// Nothing keeps the emulations here: each one's client holds it, and it ends, releasing
/// everything, when its device is unregistered.
struct Watcher;

impl DeviceWatcher for Watcher {
    fn device_registered(&self, device: &Device) {
        match Console::start(device) {
            Ok(Some(console)) => pr_info!(
                "{}: fb{} registered\n",
                device.driver_name(),
                console.console().index().unwrap_or(u32::MAX)
            ),
            Ok(None) => {}
            Err(error) => pr_warn!(
                "no fbdev on {}: error {}\n",
                device.driver_name(),
                error.to_errno()
            ),
        }
    }
}
