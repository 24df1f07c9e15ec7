//! `cargo xtask test`: every test this project has, and a non-zero exit on any failure.
//!
//! In order: set-up, the tooling's host tests, the kernel build (with Clippy), the static
//! checks, the KUnit suites in QEMU parsed by `kunit.py`, and the guest log read for warnings,
//! lockdep, KASAN and kmemleak reports; then the harness's self-check, and one boot per display
//! whose boot-splash screenshots are checked pixel for pixel.

use crate::paths::{Flavour, Paths};
use crate::qemu::{self, Guest, Machine};
use crate::{
    build, command, console_check, guest_log, initramfs, kunit, lint, reliability, run, series,
    setup,
};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Options {
    /// Build and boot the debug kernel (config/debug.config: KASAN, kmemleak, debug objects,
    /// UBSAN, failure injection) instead.
    #[arg(long)]
    debug: bool,
    /// Run only the KUnit suites matching this glob (kunit.filter_glob).
    #[arg(long)]
    filter: Option<String>,
    /// Skip the static checks.
    #[arg(long)]
    no_lint: bool,
    /// Show the guest's console while it runs.
    #[arg(long)]
    verbose: bool,
    /// Seconds the guest may take to boot and run the suites.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
}

pub fn run(paths: &Paths, options: &Options) -> Result<()> {
    let start = Instant::now();
    let flavour = Flavour::from_debug_flag(options.debug);
    setup::ensure_prerequisites()?;
    eprintln!("test: host tests of the tooling");
    command::run(
        Command::new("cargo")
            .args(["test", "--quiet", "--manifest-path"])
            .arg(paths.repo.join("xtask/Cargo.toml")),
    )?;
    let kernel = build::kernel(paths, flavour)?;
    if !options.no_lint {
        lint::all(paths, flavour)?;
        eprintln!("test: the patch series (git am, checkpatch, identical to the overlay)");
        series::write_and_check(paths, &paths.output().join("series"))?;
    }
    kunit::check_available(&paths.tree())?;
    let image = initramfs::create(&paths.build(flavour), &paths.output().join("initramfs"))?;
    let (summary, problems, reliability) = run_suites(paths, options, flavour, &kernel, &image)?;
    let verdict = judge(&summary, &problems).and_then(|()| reliability.check());
    if verdict.is_ok() && options.filter.is_none() {
        self_check(paths, options, &kernel, &image)?;
        splash_boots(paths, options, flavour, &kernel)?;
    }
    eprintln!(
        "test: {} KUnit cases ran; finished in {}",
        summary.total(),
        command::format_duration(start.elapsed())
    );
    // Last, so that the run's closing lines are the counts.
    println!("{}", reliability.line());
    println!(
        "kunit: {} passed, {} failed, {} skipped",
        summary.passed,
        summary.failed + summary.crashed,
        summary.skipped
    );
    verdict
}

/// Boots once per display with the boot splash on and checks its screenshots, as `cargo xtask
/// run` does: the picture pixel for pixel, the animation confined to the bar, the progress.
fn splash_boots(paths: &Paths, options: &Options, flavour: Flavour, kernel: &Path) -> Result<()> {
    for display in run::DISPLAYS {
        let outcome = run::show_splash(
            paths,
            flavour,
            kernel,
            display,
            options.timeout,
            options.verbose,
            None,
        )?;
        eprintln!(
            "test: splash on the {} display: {}",
            display.name,
            outcome.summary()
        );
    }
    let outcome =
        console_check::show_console(paths, flavour, kernel, options.timeout, options.verbose)?;
    eprintln!(
        "test: console: our fbdev emulation after the splash showed fbcon's text and an mmap \
         pattern ({})",
        outcome.registered
    );
    Ok(())
}

/// How long a guest that reported a hang may go on printing (more reports, KUnit's own timeout
/// of the case) before it is stopped.
const HANG_GRACE: Duration = Duration::from_secs(60);

/// Fails on a failed case, and on a run that does not match the expected list.
fn judge(summary: &kunit::Summary, problems: &[String]) -> Result<()> {
    if !summary.is_success() {
        bail!("KUnit reported failures: {summary:?}");
    }
    if !problems.is_empty() {
        bail!(
            "the run does not match kunit/expected-cases.txt:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(())
}

fn run_suites(
    paths: &Paths,
    options: &Options,
    flavour: Flavour,
    kernel: &Path,
    image: &Path,
) -> Result<(kunit::Summary, Vec<String>, reliability::Summary)> {
    let log = paths.output().join("guest-test.log");
    // The suites draw on the displays themselves; the boot splash would compete with them.
    let mut parameters =
        String::from("kunit.enable=1 bootsplash.enable=0 drm_kms_helper.fbdev_emulation=0");
    if let Some(glob) = &options.filter {
        parameters += &format!(" kunit.filter_glob={glob}");
    }
    eprintln!("test: booting the kernel in QEMU (TCG) to run the KUnit suites");
    let started = Instant::now();
    let guest = suite_guest(options, kernel, image, &parameters, &log);
    // A deadlock never lets the guest finish: stop at its report, a minute after it, rather
    // than at the timeout; the log check then shows it.
    let mut hung_since: Option<Instant> = None;
    let console = qemu::boot(
        &Guest {
            verbose: options.verbose,
            ..guest
        },
        &mut |line, _| {
            if hung_since.is_none() && guest_log::reports_a_hang(line) {
                eprintln!("test: the guest reports a deadlock or a hung task; stopping it soon");
                hung_since = Some(Instant::now());
            }
            Ok(hung_since.is_some_and(|since| since.elapsed() > HANG_GRACE))
        },
    )?;
    eprintln!(
        "test: guest finished in {}; console log: {}",
        command::format_duration(started.elapsed()),
        log.display()
    );
    let (summary, cases) = kunit::parse_log(&paths.tree(), &log, true)?;
    check_guest_log(&console, flavour)?;
    if initramfs::built_module(&paths.build(flavour), initramfs::SPLASH_MODULE)?.is_some()
        && options.filter.is_none()
    {
        let report = check_module_unload(&console)
            .with_context(|| format!("the splash module; console log: {}", log.display()))?;
        eprintln!("test: splash module: {report}");
    }
    let expected_list = paths.repo.join("kunit/expected-cases.txt");
    let expected = std::fs::read_to_string(&expected_list)
        .with_context(|| format!("cannot read {}", expected_list.display()))?;
    let reliability = reliability::Summary::read(&console);
    for (operation, injected) in &reliability.operations {
        eprintln!(
            "test: failure injection: {operation}: {injected} fault point(s), each failed once"
        );
    }
    let problems = kunit::unexpected(
        &expected,
        &cases,
        options.filter.as_deref(),
        flavour == Flavour::Debug,
    )?;
    Ok((summary, problems, reliability))
}

/// The harness's own test: boots once more with `drm_vmap_client_fail_on_purpose=1`, under
/// which the suite `drm_vmap_client_harness` fails its one case, and fails unless the harness
/// sees exactly that failure.
fn self_check(paths: &Paths, options: &Options, kernel: &Path, image: &Path) -> Result<()> {
    let log = paths.output().join("guest-self-check.log");
    eprintln!("test: self-check: booting with a case that fails on purpose");
    let parameters = "kunit.enable=1 bootsplash.enable=0 drm_kms_helper.fbdev_emulation=0 \
                      kunit.filter_glob=drm_vmap_client_harness drm_vmap_client_fail_on_purpose=1";
    qemu::boot(
        &suite_guest(options, kernel, image, parameters, &log),
        &mut |_, _| Ok(false),
    )?;
    let (summary, cases) = kunit::parse_log(&paths.tree(), &log, false)?;
    let failed_on_purpose = cases.len() == 1
        && cases[0].case == "fails_when_told_to"
        && cases[0].status != "PASS"
        && summary.failed == 1;
    if !failed_on_purpose {
        bail!(
            "self-check: the case that fails on purpose was not reported as failing \
             ({summary:?}); the harness cannot be trusted, see {}",
            log.display()
        );
    }
    let console =
        std::fs::read_to_string(&log).with_context(|| format!("cannot read {}", log.display()))?;
    let error_found = guest_log::reports(&console)
        .iter()
        .any(|report| report.excerpt.contains("failing on purpose"));
    if !error_found {
        bail!(
            "self-check: the deliberate case's pr_err was not found among the guest log's \
             reports; error-level messages would pass unnoticed, see {}",
            log.display()
        );
    }
    eprintln!("test: self-check: the deliberate failure and its error message were reported");
    Ok(())
}

/// The guest that runs the suites: TCG, 2 CPUs, `/init` in test mode, console not echoed.
fn suite_guest<'a>(
    options: &Options,
    kernel: &'a Path,
    image: &'a Path,
    parameters: &'a str,
    log: &'a Path,
) -> Guest<'a> {
    Guest {
        kernel,
        initramfs: image,
        parameters,
        init_mode: "test",
        log,
        timeout: Duration::from_secs(options.timeout),
        cpus: 2,
        verbose: false,
        machine: Machine::StdAndCirrus,
        vnc: None,
    }
}

/// What the devices held, from `/init`'s module line: framebuffers, dma-bufs.
#[derive(Debug, PartialEq, Eq)]
struct Held {
    framebuffers: u32,
    dma_bufs: u32,
}

impl Held {
    /// Reads `framebuffers N dma-bufs M`.
    fn parse(text: &str) -> Option<Held> {
        let mut words = text.split_whitespace();
        let framebuffers = (words.next()? == "framebuffers")
            .then(|| words.next()?.parse().ok())
            .flatten()?;
        let dma_bufs = (words.next()? == "dma-bufs")
            .then(|| words.next()?.parse().ok())
            .flatten()?;
        Some(Held {
            framebuffers,
            dma_bufs,
        })
    }
}

/// Checks the splash loaded as a module after the displays registered, and unloaded while it
/// animated: it drew on the devices that existed, its exit ended every splash, and what it held
/// (framebuffers, dma-bufs) is gone. Returns a line describing it.
fn check_module_unload(console: &str) -> Result<String> {
    if console.contains("xtask-init: module: loading failed")
        || console.contains("xtask-init: module: unloading failed")
    {
        bail!("/init could not load or unload the module");
    }
    let line = console
        .lines()
        .find_map(|line| {
            line.split_once(initramfs::MODULE_MARKER)
                .map(|(_, rest)| rest)
        })
        .context("/init did not report loading and unloading the splash module")?;
    let moment = |name: &str| -> Result<Held> {
        line.split(';')
            .find_map(|part| part.trim().strip_prefix(name))
            .and_then(Held::parse)
            .with_context(|| format!("no `{name}` counts in `{line}`"))
    };
    let before = moment("before loading:")?;
    let loaded = moment("loaded:")?;
    let after = moment("after unloading:")?;
    if loaded.framebuffers <= before.framebuffers || loaded.dma_bufs <= before.dma_bufs {
        bail!("the module drew on no display that existed before it: {line}");
    }
    if after != before {
        bail!("unloading the module left something behind: {line}");
    }
    let ended = console
        .lines()
        .find_map(|line| {
            let rest = line.split_once("bootsplash: unloading: ")?.1;
            rest.split_whitespace().next()?.parse::<u32>().ok()
        })
        .context("the module's exit did not report the splashes it ended")?;
    if ended == 0 {
        bail!("the module's exit found no splash on screen");
    }
    Ok(format!(
        "loaded after the displays, drew on them ({} framebuffers, {} dma-bufs), unloaded while \
         animating: {ended} splash(es) ended, {} framebuffers and {} dma-bufs left as before",
        loaded.framebuffers - before.framebuffers,
        loaded.dma_bufs - before.dma_bufs,
        after.framebuffers,
        after.dma_bufs
    ))
}

/// Fails on any report in the guest log, and on a missing kmemleak scan in a debug run.
fn check_guest_log(console: &str, flavour: Flavour) -> Result<()> {
    guest_log::fail_on_reports(console)?;
    if flavour == Flavour::Debug && !guest_log::kmemleak_scanned(console) {
        bail!("the debug run ended without a kmemleak scan");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "xtask-init: module: before loading: framebuffers 0 dma-bufs 0; \
                        loaded: framebuffers 4 dma-bufs 4; after unloading: framebuffers 0 \
                        dma-bufs 0\nbootsplash: unloading: 2 splash(es) ended, every animation \
                        stopped\n";

    #[test]
    fn an_unload_that_releases_everything_passes() {
        let report = check_module_unload(GOOD).unwrap();
        assert!(report.contains("2 splash(es) ended"), "{report}");
    }

    #[test]
    fn an_unload_that_leaves_a_buffer_fails() {
        let leaky = GOOD.replace(
            "after unloading: framebuffers 0",
            "after unloading: framebuffers 1",
        );
        assert!(check_module_unload(&leaky).is_err());
        let idle = GOOD.replace(
            "loaded: framebuffers 4 dma-bufs 4",
            "loaded: framebuffers 0 dma-bufs 0",
        );
        assert!(check_module_unload(&idle).is_err());
        assert!(check_module_unload("no module line\n").is_err());
    }
}
