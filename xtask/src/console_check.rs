//! The console boot: fbdev emulation over the layer (`vmap_fbdev`) after the splash.
//!
//! The guest boots with C's emulation off and ours on, on the standard VGA. `/init` takes DRM
//! master and lets it go (the splash ends), writes text to the console (fbcon takes it over,
//! on bochs's `/dev/fbN`), and runs `fbtool`, which draws a pattern through `mmap` and returns
//! from `fsync()`. A screenshot after each step must show, to the pixel, the text's block of
//! full-block characters on black, and then the pattern.

use crate::paths::{Flavour, Paths};
use crate::qemu::{self, Guest, Machine};
use crate::{guest_log, initramfs, splash_check};
use anyhow::{bail, Context, Result};
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The boot's kernel parameters: our emulation instead of C's.
pub const PARAMETERS: &str =
    "kunit.enable=0 printk.time=1 drm_kms_helper.fbdev_emulation=0 vmap_fbdev.enable=1";

/// fbcon's colour for plain text (palette entry 7).
const TEXT: Rgb<u8> = Rgb([0xaa, 0xaa, 0xaa]);

/// The full blocks `/init` writes on the first line, and the font's cell (8x16: the only
/// font fbcon picks at 1280x800 with the fonts the kernel has).
const BLOCKS: u32 = 10;
const CELL: (u32, u32) = (8, 16);

/// What the console boot showed.
pub struct Outcome {
    pub screenshots: Vec<PathBuf>,
    pub log: PathBuf,
    /// The `/dev/fbN` line the emulation logged for bochs.
    pub registered: String,
}

/// Boots the console guest, takes the screenshots and checks them.
pub fn show_console(
    paths: &Paths,
    flavour: Flavour,
    kernel: &Path,
    timeout: u64,
    verbose: bool,
) -> Result<Outcome> {
    let output = paths.output();
    let image = initramfs::create(&paths.build(flavour), &output.join("initramfs"))?;
    let text_shot = output.join("console-text.png");
    let pattern_shot = output.join("console-pattern.png");
    for path in [&text_shot, &pattern_shot] {
        let _ = std::fs::remove_file(path);
    }
    let log = output.join("guest-run-console.log");
    eprintln!("run: booting the kernel in QEMU (TCG) with our fbdev emulation on the std display");
    let console = qemu::boot(
        &Guest {
            kernel,
            initramfs: &image,
            parameters: PARAMETERS,
            init_mode: "console",
            log: &log,
            timeout: Duration::from_secs(timeout),
            cpus: 2,
            verbose,
            machine: Machine::StdAndCirrus,
            vnc: None,
        },
        &mut |line, monitor| {
            if line.contains(initramfs::CONSOLE_MARKER) {
                monitor.screenshot(&text_shot)?;
            }
            if line.contains(initramfs::PATTERN_MARKER) {
                monitor.screenshot(&pattern_shot)?;
            }
            Ok(line.contains(initramfs::UNPLUG_MARKER))
        },
    )?;
    guest_log::fail_on_reports(&console)?;
    check(&console, &text_shot, &pattern_shot)
        .with_context(|| format!("the console boot; console log: {}", log.display()))?;
    let registered = console
        .lines()
        .find(|line| line.contains("vmap_fbdev: bochs-drm: fb"))
        .unwrap_or_default()
        .trim()
        .to_string();
    Ok(Outcome {
        screenshots: vec![text_shot, pattern_shot],
        log,
        registered,
    })
}

/// The checks of the boot's log and screenshots.
fn check(console: &str, text_shot: &Path, pattern_shot: &Path) -> Result<()> {
    if !console.contains("vmap_fbdev: bochs-drm: fb") {
        bail!("our fbdev emulation registered no framebuffer for bochs");
    }
    if console.contains("bochs-drmdrmfb") {
        bail!("C's fbdev emulation registered a framebuffer although it was switched off");
    }
    if !console.contains(initramfs::MASTER_MARKER) {
        bail!("/init could not take DRM master on bochs");
    }
    if !console.contains("bochs-drm: user space took the display; splash ended") {
        bail!("the splash did not end when user space took DRM master");
    }
    for (path, marker) in [
        (text_shot, initramfs::CONSOLE_MARKER),
        (pattern_shot, initramfs::PATTERN_MARKER),
    ] {
        if !path.exists() {
            bail!(
                "no screenshot {} (did /init print `{marker}`?)",
                path.display()
            );
        }
    }
    let text = splash_check::load(text_shot)?;
    check_text(&text).context("the screenshot of the console's text")?;
    let pattern = splash_check::load(pattern_shot)?;
    check_text(&pattern).context("the screenshot after fbtool drew (the text)")?;
    check_pattern(&pattern).context("the screenshot after fbtool drew (the pattern)")?;
    check_unplug(console)
}

/// bochs unbound with its `/dev/fbN` open and mapped: the read failed with `ENODEV`, writes
/// through the mapping got `SIGBUS` (a page mapped before and one never touched), a new `mmap`
/// failed with `ENODEV`, `fsync()` did no harm (the guest log check finds no report), the last
/// close freed it, and binding bochs again registered a new one.
fn check_unplug(console: &str) -> Result<()> {
    let step = |name: &str| {
        console
            .lines()
            .find_map(|line| line.split_once(&format!("xtask-init: unplug: {name}: ")))
            .map(|(_, result)| result.trim())
            .with_context(|| format!("fbtool did not report its {name} after the unplug"))
    };
    let read = step("read")?;
    if read != "No such device" {
        bail!("a read of the open /dev/fbN after the unplug gave {read:?}, not ENODEV");
    }
    for page in ["mapped page", "new page"] {
        let written = step(&format!("{page} written"))?;
        if written != "SIGBUS" {
            bail!("a write to a {page} of the mapping after the unplug {written}, not SIGBUS");
        }
    }
    let mmap = step("mmap")?;
    if mmap != "No such device" {
        bail!("mmap() of the open /dev/fbN after the unplug gave {mmap:?}, not ENODEV");
    }
    let fsync = step("fsync")?;
    if fsync != "ok" {
        bail!("fsync() of the open /dev/fbN after the unplug gave {fsync:?}");
    }
    let registrations = console.matches("vmap_fbdev: bochs-drm: fb").count();
    if registrations != 2 {
        bail!("bochs's framebuffer was registered {registrations} times, not twice (boot, rebind)");
    }
    if !console.contains(initramfs::UNPLUG_MARKER) {
        bail!("/init did not finish the unplug");
    }
    Ok(())
}

/// The first line's blocks in fbcon's text colour, and below the text a black screen: fbcon
/// drew the whole console, the splash is gone.
fn check_text(shot: &RgbImage) -> Result<()> {
    let (width, height) = CELL;
    for y in 0..height {
        for x in 0..BLOCKS * width {
            let pixel = *shot.get_pixel(x, y);
            if pixel != TEXT {
                bail!("pixel ({x}, {y}) of the full blocks is {pixel:?}, not {TEXT:?}");
            }
        }
    }
    let (box_x, box_y, box_width, box_height) = initramfs::PATTERN_BOX;
    let in_box = |x: u32, y: u32| {
        (box_x..box_x + box_width).contains(&x) && (box_y..box_y + box_height).contains(&y)
    };
    // Lines 1 and 2 hold text and the cursor; from line 4 down, only black (and the pattern).
    let lit = (4 * height..shot.height())
        .flat_map(|y| (0..shot.width()).map(move |x| (x, y)))
        .filter(|&(x, y)| !in_box(x, y) && *shot.get_pixel(x, y) != Rgb([0, 0, 0]))
        .count();
    if lit > 0 {
        bail!("{lit} pixels below the console's text are not black (the splash still shows?)");
    }
    Ok(())
}

/// The pattern fbtool drew, pixel for pixel (see `xtask/guest/fbtool.c`).
fn check_pattern(shot: &RgbImage) -> Result<()> {
    let (x0, y0, width, height) = initramfs::PATTERN_BOX;
    let mut wrong = 0;
    let mut first = None;
    for y in 0..height {
        for x in 0..width {
            let expected = Rgb([
                (x * 255 / (width - 1)) as u8,
                (y * 255 / (height - 1)) as u8,
                0x80,
            ]);
            let pixel = *shot.get_pixel(x0 + x, y0 + y);
            if pixel != expected {
                wrong += 1;
                first.get_or_insert((x0 + x, y0 + y, pixel, expected));
            }
        }
    }
    if let Some((x, y, pixel, expected)) = first {
        bail!(
            "{wrong} pattern pixels differ; the first, ({x}, {y}), is {pixel:?}, not {expected:?}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console_image() -> RgbImage {
        let mut image = RgbImage::new(1280, 800);
        for y in 0..CELL.1 {
            for x in 0..BLOCKS * CELL.0 {
                image.put_pixel(x, y, TEXT);
            }
        }
        image
    }

    #[test]
    fn text_and_pattern_pass_when_drawn() {
        let mut image = console_image();
        assert!(check_text(&image).is_ok());
        let (x0, y0, width, height) = initramfs::PATTERN_BOX;
        for y in 0..height {
            for x in 0..width {
                let red = (x * 255 / (width - 1)) as u8;
                let green = (y * 255 / (height - 1)) as u8;
                image.put_pixel(x0 + x, y0 + y, Rgb([red, green, 0x80]));
            }
        }
        assert!(check_text(&image).is_ok());
        assert!(check_pattern(&image).is_ok());
    }

    #[test]
    fn a_missing_block_a_leftover_splash_or_a_wrong_pattern_fail() {
        let mut image = console_image();
        image.put_pixel(5, 5, Rgb([0, 0, 0]));
        assert!(check_text(&image).is_err());
        let mut image = console_image();
        image.put_pixel(700, 700, Rgb([0x10, 0x14, 0x18]));
        assert!(check_text(&image).is_err());
        assert!(check_pattern(&console_image()).is_err());
    }
}
