// SPDX-License-Identifier: GPL-2.0

//! A boot splash drawn by an in-kernel DRM client, written only against safe abstractions.
//!
//! From its initcall on, it watches for KMS devices and draws on each one as it registers
//! (those present already, those probed later, the native driver that replaces the firmware
//! framebuffer's device): a picture (the firmware's boot logo, an image file, or the built-in
//! one), centred on every output, and a progress bar that sweeps at a steady rate until user
//! space reports progress in `/sys/module/bootsplash/parameters/progress`. When user space
//! takes the display (DRM master) the splash ends and releases everything it held.
//!
//! Options: `bootsplash.enable=0` turns it off, `bootsplash.image=<file>` names a BMP for the
//! firmware loader, `bootsplash.color=RRGGBB` sets the background, `bootsplash.fps=<1..240>`
//! the animation's rate (30 by default), and `bootsplash.progress=<0..100>` the progress.

mod bmp;
mod draw;
#[cfg(CONFIG_DRM_VMAP_CLIENT_FAULT_TEST)]
mod faults;
mod options;
mod picture;
mod running;
mod scene;
mod splash;
#[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
mod tests;

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    drm_client::{Allocator, Device, DeviceWatcher, Watch, MAX_FPS},
    module_param,
    module_param::{Flag, RangedU32, Text},
    new_mutex,
    prelude::*,
    str::CStr,
    sync::{Arc, Mutex},
    time::Ktime,
};
use options::{Colour, Progress, DEFAULT_COLOUR};
use picture::{Picture, Refusal, Source};
use running::Running;
use splash::{DeviceSplash, Settings};

module! {
    type: Bootsplash,
    name: "bootsplash",
    author: "drm-vmap-client developers",
    description: "Boot splash on the Rust in-kernel DRM client API",
    license: "GPL",
}

/// The longest image file name, with its NUL.
const IMAGE_NAME: usize = 64;

static ENABLE: Flag = Flag::new(true);
module_param!(PARAM_ENABLE, "bootsplash", "enable", ENABLE, 0o444);
static IMAGE: Text<IMAGE_NAME> = Text::new();
module_param!(PARAM_IMAGE, "bootsplash", "image", IMAGE, 0o444);
static COLOUR: Colour = Colour::new(DEFAULT_COLOUR);
module_param!(PARAM_COLOUR, "bootsplash", "color", COLOUR, 0o444);
static FPS: RangedU32 = RangedU32::new(30, 1, MAX_FPS);
module_param!(PARAM_FPS, "bootsplash", "fps", FPS, 0o444);
static PROGRESS: Progress = Progress::new();
module_param!(PARAM_PROGRESS, "bootsplash", "progress", PROGRESS, 0o644);

struct Bootsplash {
    watch: Option<Pin<KBox<Watch<Watcher>>>>,
}

impl kernel::Module for Bootsplash {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if !ENABLE.get() {
            pr_info!("disabled on the command line\n");
            return Ok(Bootsplash { watch: None });
        }
        let shared = Arc::pin_init(
            pin_init!(Shared {
                picture <- new_mutex!(None),
                watching: AtomicBool::new(false),
                running <- Running::new(),
            }),
            GFP_KERNEL,
        )?;
        let watch = Watch::new(Watcher(shared.clone()))?;
        shared.watching.store(true, Ordering::Release);
        Ok(Bootsplash { watch: Some(watch) })
    }
}

impl Drop for Bootsplash {
    /// Unloading the module (a built-in splash never ends this way): no new splash, then every
    /// running one ended, each frame in progress waited for, before the code goes away.
    fn drop(&mut self) {
        let Some(watch) = self.watch.take() else {
            return;
        };
        let shared = watch.watcher().0.clone();
        // Unwatching waits for a device's registration in progress to finish starting a splash.
        drop(watch);
        let ended = shared.running.end_all();
        pr_info!("unloading: {ended} splash(es) ended, every animation stopped\n");
    }
}

/// What every device's splash shares.
#[pin_data]
struct Shared {
    /// Chosen once, for the first device that displays.
    #[pin]
    picture: Mutex<Option<Arc<Picture>>>,
    /// Set once the devices registered before the splash started were replayed.
    watching: AtomicBool,
    /// Every animation, for the module's exit to stop.
    #[pin]
    running: Running,
}

/// Starts a splash on every KMS device as it registers.
struct Watcher(Arc<Shared>);

impl DeviceWatcher for Watcher {
    fn device_registered(&self, device: &Device) {
        // A device replayed by `Watch::new()` was registered before we watched.
        let registered_at = self
            .0
            .watching
            .load(Ordering::Acquire)
            .then(Ktime::ktime_get);
        let result = self.picture(device).and_then(|picture| {
            // Around the firmware's logo, the firmware's black, so that the change from
            // firmware to kernel cannot be seen.
            let background = if picture.source == Source::FirmwareLogo && !COLOUR.is_set() {
                0
            } else {
                COLOUR.get()
            };
            let settings = Settings {
                fps: FPS.get(),
                background,
                flips: true,
            };
            DeviceSplash::start(device, picture, settings, &PROGRESS, registered_at)
        });
        match result {
            Ok(Some(splash)) => announce(&splash, &self.0.running),
            Ok(None) => {}
            Err(error) => pr_warn!(
                "no splash on {}: error {}\n",
                device.driver_name(),
                error.to_errno()
            ),
        }
    }
}

impl Watcher {
    /// The picture, chosen on the first call.
    fn picture(&self, device: &Device) -> Result<Arc<Picture>> {
        let mut chosen = self.0.picture.lock();
        if let Some(picture) = chosen.as_ref() {
            return Ok(picture.clone());
        }
        let mut name = [0u8; IMAGE_NAME];
        let name = match IMAGE.copy_to(&mut name) {
            Some(len) => Some(CStr::from_bytes_with_nul(&name[..=len])?),
            None => None,
        };
        let file = || picture::file(device, name);
        let attempts: [picture::Attempt<'_>; 3] = [
            (Source::FirmwareLogo, &picture::firmware_logo),
            (Source::File, &file),
            (Source::BuiltIn, &picture::built_in),
        ];
        let picture = picture::choose(&attempts, &mut |source, refusal| match refusal {
            Refusal::Bad(error) => pr_warn!("{} refused: {}\n", source.name(), error.reason()),
            Refusal::Failed(errno) => pr_warn!("{} not loaded: error {errno}\n", source.name()),
            Refusal::Absent => {}
        });
        let picture = Arc::new(picture, GFP_KERNEL)?;
        *chosen = Some(picture.clone());
        Ok(picture)
    }
}

/// Logs the splash's first frame and starts its animation.
fn announce(splash: &Arc<DeviceSplash>, running: &Running) {
    let now = Ktime::ktime_get();
    let (allocator, vgem_refusal, flips, (width, height)) = splash.describe();
    let since_registration = match splash.registered_at() {
        Some(at) => kernel::time::ktime_ms_delta(now, at),
        None => -1,
    };
    let device = splash.device();
    pr_info!(
        "card{} ({}): {width}x{height} {:?} splash of the {} on {} output(s), {} buffers, {}; \
         first frame {} ms after registration, {} ms after boot\n",
        device.primary_minor().unwrap_or(u32::MAX),
        device.driver_name(),
        device.preferred_format(),
        splash.picture().source.name(),
        splash.outputs_lit(),
        match allocator {
            Allocator::Vgem => "vgem, imported",
            Allocator::Device | Allocator::VgemOrDevice => "device dumb",
        },
        if flips {
            "page flips"
        } else {
            "redrawn in place"
        },
        since_registration,
        now.to_ms(),
    );
    log_layout(splash);
    if let Some(error) = vgem_refusal {
        // virtio-gpu in 6.12 imports no foreign dma-buf (ENODEV); bochs imports none at all.
        pr_info!(
            "card{} ({}): vgem buffers not importable (error {}), the device's own are used\n",
            device.primary_minor().unwrap_or(u32::MAX),
            device.driver_name(),
            error.to_errno()
        );
    }
    // The frame clock's queued work keeps the splash; it stops when the splash ends, or when
    // the module's exit stops it.
    let result = match splash.animate() {
        Ok(clock) => running.add(clock),
        Err(error) => {
            // Untracked, it could outlive the module's code.
            splash.end();
            Err(error)
        }
    };
    if let Err(error) = result {
        pr_warn!("no animation, splash ended: error {}\n", error.to_errno());
    }
}

/// Logs where each output's picture and bar are, so that a screenshot can be checked against
/// them.
fn log_layout(splash: &DeviceSplash) {
    let Ok((scenes, _)) = splash.current_scenes() else {
        return;
    };
    let minor = splash.device().primary_minor().unwrap_or(u32::MAX);
    for (index, scene) in scenes.iter().enumerate() {
        let output = &scene.output;
        let bar = &scene.bar;
        let (x, y, scale, width, height) = scene.picture.map_or((0, 0, 0, 0, 0), |picture| {
            (
                picture.x,
                picture.y,
                picture.scale,
                picture.width,
                picture.height,
            )
        });
        pr_info!(
            "card{minor} output {index}: {}x{}+{}+{}, picture {width}x{height}{x:+}{y:+} \
             scale {scale}, bar {}x{}+{}+{}\n",
            output.width,
            output.height,
            output.x,
            output.y,
            bar.width,
            bar.height,
            bar.x,
            bar.y,
        );
    }
}
