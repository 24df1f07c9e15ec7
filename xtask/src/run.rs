//! `cargo xtask run`: the main job. Builds the kernel, boots it in QEMU with a display, shows
//! what our code printed in the guest, and saves a screenshot of the display.

use crate::paths::{Flavour, Paths};
use crate::qemu::{self, Guest};
use crate::{build, guest_log, initramfs, screenshot, setup};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::time::Duration;

/// The driver of the display QEMU takes the screenshot of (the standard VGA).
const SCREENSHOT_DRIVER: &str = "bochs-drm";

/// Console lines that come from our code.
const OUR_LOG_PREFIXES: &[&str] = &["bootsplash:", "drm_vmap_client"];

#[derive(clap::Args)]
pub struct Options {
    /// Where to save the screenshot (default: target/xtask/screenshot.png).
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// Show the guest's console while it runs.
    #[arg(long)]
    verbose: bool,
    /// Seconds the guest may take to boot.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

pub fn run(paths: &Paths, options: &Options) -> Result<()> {
    setup::ensure_prerequisites()?;
    let kernel = build::kernel(paths, Flavour::Standard)?;
    let output = paths.output();
    let image = initramfs::create(&paths.build(Flavour::Standard), &output.join("initramfs"))?;
    let screenshot = options
        .screenshot
        .clone()
        .unwrap_or_else(|| output.join("screenshot.png"));
    let _ = std::fs::remove_file(&screenshot);
    let log = output.join("guest-run.log");
    eprintln!("run: booting the kernel in QEMU (TCG) with a standard VGA and a Cirrus VGA");
    let console = qemu::boot(
        &Guest {
            kernel: &kernel,
            initramfs: &image,
            parameters: "kunit.enable=0",
            init_mode: "run",
            log: &log,
            timeout: Duration::from_secs(options.timeout),
            cpus: 2,
            verbose: options.verbose,
        },
        &mut |line, monitor| {
            if !line.contains(initramfs::READY_MARKER) {
                return Ok(false);
            }
            monitor.screenshot(&screenshot)?;
            Ok(true)
        },
    )?;
    report(&console, &log, &screenshot)
}

fn report(console: &str, log: &std::path::Path, screenshot: &std::path::Path) -> Result<()> {
    let ours: Vec<&str> = console
        .lines()
        .filter(|line| OUR_LOG_PREFIXES.iter().any(|prefix| line.contains(prefix)))
        .collect();
    println!("run: what our code printed in the guest:");
    for line in &ours {
        println!("  {line}");
    }
    guest_log::fail_on_reports(console)?;
    if ours.is_empty() {
        bail!(
            "our code left no trace in the guest log ({})",
            log.display()
        );
    }
    if !screenshot.exists() {
        bail!("no screenshot was saved; console log: {}", log.display());
    }
    let size = screenshot::splash_size(console, SCREENSHOT_DRIVER).with_context(|| {
        format!(
            "the splash did not report the standard VGA ({SCREENSHOT_DRIVER}); console log: {}",
            log.display()
        )
    })?;
    let picture = screenshot::check_shows_splash(screenshot, size)?;
    println!(
        "run: screenshot saved to {}: the {}x{} splash, {} colours",
        screenshot.display(),
        picture.width,
        picture.height,
        picture.colours
    );
    println!("run: console log at {}", log.display());
    Ok(())
}
