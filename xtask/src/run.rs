//! `cargo xtask run`: the main job. Builds the kernel, boots it in QEMU once per display
//! (standard VGA, Cirrus VGA, virtio-gpu, and the standard VGA under UEFI firmware), saves
//! screenshots of the boot splash at several moments, and checks them against what the splash
//! said it drew; then boots once more with our fbdev emulation and checks fbcon's text and a
//! pattern drawn through `mmap` after the splash handed over (`console_check.rs`).

use crate::paths::{Flavour, Paths};
use crate::qemu::{self, Guest, Machine};
use crate::splash_check::{self, FirstFrame, OutputLayout};
use crate::{build, console_check, guest_log, initramfs, setup};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

/// Console lines that come from our code.
const OUR_LOG_PREFIXES: &[&str] = &["bootsplash:", "drm_vmap_client"];

/// The progress `/init` reports (see `initramfs.rs`).
const REPORTED_PROGRESS: u32 = 60;

/// The built-in picture, which the screenshots are compared with.
const BUILT_IN_PICTURE: &str = "bootsplash/logo/logo.bmp";

/// Time between the screenshots of the animation, on top of the half second each takes:
/// several frames at 30 fps. The sweep goes back and forth once in 2 s, so two moments may
/// show the bar at the same place; three moments within 2 s cannot all do so.
const ANIMATION_GAP: Duration = Duration::from_millis(200);

/// Time for the splash to show the reported progress: a few frames.
const PROGRESS_DELAY: Duration = Duration::from_millis(500);

#[derive(clap::Args)]
pub struct Options {
    /// Boot only this display: std, cirrus, virtio or uefi, or `console` for our fbdev
    /// emulation after the splash (default: all five boots).
    #[arg(long, value_parser = ["std", "cirrus", "virtio", "uefi", "console"])]
    display: Option<String>,
    /// Show the guest's console while it runs.
    #[arg(long)]
    verbose: bool,
    /// Watch the display live on VNC display N (localhost:5900+N, e.g. `vncviewer :1`); the
    /// guest then runs its full ten minutes before the checks.
    #[arg(long, value_name = "N")]
    vnc: Option<u16>,
    /// Seconds each guest may take to boot.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Boot the debug kernel (config/debug.config: KASAN, kmemleak, lockdep, hung-task
    /// reports after 10 s), as the splash boots of `cargo xtask test --debug` do.
    #[arg(long)]
    debug: bool,
}

/// One boot: its machine, the DRM driver whose output QEMU shows, and a name for files.
pub struct Display {
    pub name: &'static str,
    pub machine: Machine,
    pub driver: &'static str,
    /// Kernel parameters of the boot.
    pub parameters: &'static str,
    /// The picture the splash must show.
    pub picture: Expected,
    /// A line the splash must log.
    pub log_line: Option<&'static str>,
}

/// The picture a boot's splash must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// The built-in picture (`bootsplash/logo/logo.bmp`).
    BuiltIn,
    /// The test picture from `/lib/firmware` (`initramfs::TEST_PICTURE`).
    TestFile,
    /// The firmware's boot logo, as the firmware drew it before the kernel started.
    FirmwareLogo,
}

pub const DISPLAYS: &[Display] = &[
    Display {
        name: "std",
        machine: Machine::StdAndCirrus,
        driver: "bochs-drm",
        parameters: "kunit.enable=0 printk.time=1",
        picture: Expected::BuiltIn,
        log_line: None,
    },
    Display {
        name: "cirrus",
        machine: Machine::Cirrus,
        driver: "cirrus",
        // The image file named on the command line, from the firmware loader.
        parameters: "kunit.enable=0 printk.time=1 bootsplash.image=bootsplash-test.bmp",
        picture: Expected::TestFile,
        log_line: None,
    },
    Display {
        name: "virtio",
        machine: Machine::Virtio,
        driver: "virtio_gpu",
        // A truncated image file: refused with one line, the built-in picture instead.
        parameters: "kunit.enable=0 printk.time=1 bootsplash.image=bootsplash-truncated.bmp",
        picture: Expected::BuiltIn,
        log_line: Some("bootsplash: image file refused: truncated"),
    },
    Display {
        name: "uefi",
        machine: Machine::Uefi,
        driver: "bochs-drm",
        // As on a PC whose native driver is a module in the initramfs: pci-stub holds the
        // standard VGA at boot, so simpledrm drives the firmware's framebuffer; /init then
        // binds bochs, which removes simpledrm and registers itself.
        parameters:
            "kunit.enable=0 printk.time=1 pci-stub.ids=1234:1111 xtask.late_driver=bochs-drm",
        picture: Expected::FirmwareLogo,
        log_line: None,
    },
];

pub fn run(paths: &Paths, options: &Options) -> Result<()> {
    setup::ensure_prerequisites()?;
    let flavour = Flavour::from_debug_flag(options.debug);
    let kernel = build::kernel(paths, flavour)?;
    let chosen: Vec<&Display> = DISPLAYS
        .iter()
        .filter(|display| {
            options
                .display
                .as_deref()
                .is_none_or(|name| name == display.name)
        })
        .collect();
    for display in chosen {
        let outcome = show_splash(
            paths,
            flavour,
            &kernel,
            display,
            options.timeout,
            options.verbose,
            options.vnc,
        )?;
        outcome.print();
    }
    if options
        .display
        .as_deref()
        .is_none_or(|name| name == "console")
    {
        let outcome =
            console_check::show_console(paths, flavour, &kernel, options.timeout, options.verbose)?;
        println!("console (our fbdev emulation after the splash): every check passed");
        println!("  {}", outcome.registered);
        for screenshot in &outcome.screenshots {
            println!("  screenshot: {}", screenshot.display());
        }
        println!("  console log: {}", outcome.log.display());
    }
    Ok(())
}

/// What one boot showed.
pub struct Outcome {
    name: &'static str,
    first_frames: Vec<FirstFrame>,
    /// Devices that went away (the firmware framebuffer's), and when their splash ended.
    endings: Vec<(u32, String, i64)>,
    /// Each device's registration, splash and C fbdev times, from printk timestamps.
    times: Vec<splash_check::DeviceTimes>,
    screenshots: Vec<PathBuf>,
    log: PathBuf,
    compared: usize,
}

impl Outcome {
    /// One line: what was checked, and each device's time to first frame.
    pub fn summary(&self) -> String {
        let frames: Vec<String> = self
            .first_frames
            .iter()
            .map(|frame| {
                let registration = frame
                    .after_registration_ms
                    .map_or("-".to_string(), |ms| format!("{ms} ms"));
                format!("{} {registration}", frame.driver)
            })
            .collect();
        format!(
            "{} picture pixels checked; first frames after registration: {}",
            self.compared,
            frames.join(", ")
        )
    }

    fn print(&self) {
        println!(
            "run: {} display: checks passed ({} picture pixels compared)",
            self.name, self.compared
        );
        for frame in &self.first_frames {
            let registration = frame
                .after_registration_ms
                .map_or("registered before the splash".to_string(), |ms| {
                    format!("{ms} ms after registration")
                });
            println!(
                "  card{} {}: {}x{} {}, {}: first frame {registration}, {} ms after boot",
                frame.card,
                frame.driver,
                frame.width,
                frame.height,
                frame.format,
                frame.picture,
                frame.after_boot_ms
            );
        }
        for (card, driver, ended) in &self.endings {
            let next = self
                .first_frames
                .iter()
                .find(|frame| frame.after_boot_ms >= *ended && &frame.driver != driver);
            if let Some(next) = next {
                println!(
                    "  card{card} {driver} went away at {ended} ms; the splash was back on {} \
                     {} ms later",
                    next.driver,
                    next.after_boot_ms - ended
                );
            }
        }
        for device in &self.times {
            let after = |ms: Option<i64>| {
                ms.map_or("-".to_string(), |ms| {
                    format!("{} ms", ms - device.registered_ms)
                })
            };
            println!(
                "  {} (printk times): splash's first frame {}, C fbdev's framebuffer {} after \
                 registration",
                device.driver,
                after(device.splash_ms),
                after(device.c_fbdev_ms)
            );
        }
        for screenshot in &self.screenshots {
            println!("  screenshot: {}", screenshot.display());
        }
        println!("  console log: {}", self.log.display());
    }
}

/// Boots `display`, takes the screenshots and checks them.
pub fn show_splash(
    paths: &Paths,
    flavour: Flavour,
    kernel: &Path,
    display: &Display,
    timeout: u64,
    verbose: bool,
    vnc: Option<u16>,
) -> Result<Outcome> {
    let output = paths.output();
    let image = initramfs::create(&paths.build(flavour), &output.join("initramfs"))?;
    let shot = |moment: &str| output.join(format!("splash-{}-{moment}.png", display.name));
    let (firmware, progress) = (shot("firmware"), shot("progress"));
    let moments = [shot("1"), shot("2"), shot("3")];
    for path in moments.iter().chain([&firmware, &progress]) {
        let _ = std::fs::remove_file(path);
    }
    let log = output.join(format!("guest-run-{}.log", display.name));
    eprintln!(
        "run: booting the kernel in QEMU (TCG) with the {} display{}",
        display.name,
        if display.machine == Machine::Uefi {
            " under OVMF"
        } else {
            ""
        }
    );
    let mut firmware_taken = false;
    let console = qemu::boot(
        &Guest {
            kernel,
            initramfs: &image,
            parameters: display.parameters,
            init_mode: "run",
            log: &log,
            // Watched, the guest runs until its init gives up after ten minutes.
            timeout: Duration::from_secs(if vnc.is_some() {
                timeout.max(700)
            } else {
                timeout
            }),
            cpus: 2,
            verbose,
            machine: display.machine,
            vnc,
        },
        &mut |line, monitor| {
            // The EFI stub's first words: the firmware's logo is still all there is.
            if display.machine == Machine::Uefi && !firmware_taken && line.contains("EFI stub") {
                monitor.screenshot(&firmware)?;
                firmware_taken = true;
            }
            if line.contains(initramfs::READY_MARKER) {
                for (index, moment) in moments.iter().enumerate() {
                    if index > 0 {
                        thread::sleep(ANIMATION_GAP);
                    }
                    monitor.screenshot(moment)?;
                }
            }
            if line.contains(initramfs::PROGRESS_MARKER) {
                thread::sleep(PROGRESS_DELAY);
                monitor.screenshot(&progress)?;
                if let Some(number) = vnc {
                    eprintln!(
                        "run: the {} display is on vnc://127.0.0.1:{} until the guest ends",
                        display.name,
                        5900 + u32::from(number)
                    );
                    return Ok(false);
                }
                return Ok(true);
            }
            Ok(false)
        },
    )?;
    let ours: Vec<&str> = console
        .lines()
        .filter(|line| OUR_LOG_PREFIXES.iter().any(|prefix| line.contains(prefix)))
        .collect();
    if verbose {
        for line in &ours {
            println!("  {line}");
        }
    }
    guest_log::fail_on_reports(&console)?;
    if console.contains("progress 101 was accepted") {
        bail!(
            "the splash accepted progress 101; console log: {}",
            log.display()
        );
    }
    let compared = check_screenshots(paths, &console, display, &firmware, &moments, &progress)
        .with_context(|| {
            format!(
                "the {} display's screenshots do not show the splash as it reported it \
                 (console log: {})",
                display.name,
                log.display()
            )
        })?;
    let mut screenshots = moments.to_vec();
    screenshots.push(progress);
    if firmware_taken {
        screenshots.insert(0, firmware);
    }
    Ok(Outcome {
        name: display.name,
        first_frames: splash_check::first_frames(&console),
        endings: splash_check::endings(&console),
        times: splash_check::device_times(&console),
        screenshots,
        log,
        compared,
    })
}

/// The checks of one boot's screenshots; returns how many picture pixels were compared.
fn check_screenshots(
    paths: &Paths,
    console: &str,
    display: &Display,
    firmware: &Path,
    moments: &[PathBuf; 3],
    progress: &Path,
) -> Result<usize> {
    let frames = splash_check::first_frames(console);
    let frame = frames
        .iter()
        .rev()
        .find(|frame| frame.driver == display.driver)
        .with_context(|| format!("the splash reported no first frame on {}", display.driver))?;
    let layout: OutputLayout = splash_check::layouts(console)
        .into_iter()
        .rev()
        .find(|layout| layout.card == frame.card && layout.index == 0)
        .context("the splash reported no layout")?;
    let mut shots = Vec::new();
    for path in moments.iter().map(PathBuf::as_path).chain([progress]) {
        if !path.exists() {
            bail!("no screenshot {} was taken", path.display());
        }
        shots.push(splash_check::load(path)?);
    }
    if let Some(line) = display.log_line {
        if !console.contains(line) {
            bail!("the splash did not log `{line}`");
        }
    }
    let source = match display.picture {
        Expected::BuiltIn => "built-in picture",
        Expected::TestFile => "image file",
        Expected::FirmwareLogo => "firmware boot logo (BGRT)",
    };
    if frame.picture != source {
        bail!("the splash showed the {}, not the {source}", frame.picture);
    }
    let (background, expected) = match display.picture {
        Expected::FirmwareLogo => (splash_check::FIRMWARE_BACKGROUND, None),
        Expected::BuiltIn => (
            splash_check::DEFAULT_BACKGROUND,
            Some(splash_check::load(&paths.repo.join(BUILT_IN_PICTURE))?),
        ),
        Expected::TestFile => (
            splash_check::DEFAULT_BACKGROUND,
            Some(initramfs::test_picture()),
        ),
    };
    // Every screenshot may show either of the two framebuffers: all must show the picture.
    let mut compared = 0;
    for shot in &shots {
        splash_check::check_output(shot, &layout, background)?;
        compared += match &expected {
            Some(expected) => splash_check::check_picture(shot, &layout, expected)?,
            None => {
                let before = splash_check::load(firmware)?;
                splash_check::check_firmware_logo(&before, shot, &layout)?
            }
        };
    }
    splash_check::check_animation(&shots[..3], &layout)?;
    splash_check::check_progress(&shots[3], &layout, REPORTED_PROGRESS)?;
    Ok(compared)
}
