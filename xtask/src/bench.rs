//! `cargo xtask bench`: boots the production-configured benchmark kernel, runs the benchmark
//! suite, and writes its table (CSV, JSON) and a chart of the ratios that matter (PNG).
//!
//! The suite prints one line per measurement (`drm_vmap_client_bench: measured <backend> <W>x<H>
//! <op> median_ns=<n> p99_ns=<n> samples=<n>`); everything is measured in one boot, so the ratios
//! compare numbers taken on the same host at the same time.

use crate::build;
use crate::command::format_duration;
use crate::guest_log;
use crate::initramfs;
use crate::kunit;
use crate::paths::{Flavour, Paths};
use crate::qemu::{self, Guest, Machine};
use crate::setup;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

mod chart;
mod fbdev;
mod ratios;

pub use ratios::Ratio;

/// Options of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct Options {
    /// Seconds the guest may take to boot and measure.
    #[arg(long, default_value_t = 1800)]
    timeout: u64,
    /// Show the guest's console while it runs.
    #[arg(long)]
    verbose: bool,
    /// Only the fbdev A/B (C's emulation against ours, four boots), not the KUnit suite.
    #[arg(long)]
    fbdev_only: bool,
}

/// The line prefix of a measurement in the guest log.
const PREFIX: &str = "drm_vmap_client_bench: measured ";

/// One measurement of the suite.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measurement {
    /// The guest's CPU count.
    pub cpus: u32,
    pub backend: String,
    pub width: u32,
    pub height: u32,
    pub op: String,
    pub median_ns: u64,
    pub p99_ns: u64,
    pub samples: u32,
}

/// Everything one run produced, as written to `bench.json`.
#[derive(Serialize)]
struct Report<'a> {
    kernel_config: &'static str,
    accelerator: &'static str,
    guest_cpus: u32,
    measurements: &'a [Measurement],
    ratios: &'a [Ratio],
}

/// The guest's CPUs in the main run; the CPU-scaling probe adds runs with these others.
const MAIN_CPUS: u32 = 2;
const PROBE_CPUS: [u32; 2] = [1, 4];

pub fn run(paths: &Paths, options: &Options) -> Result<()> {
    let start = Instant::now();
    setup::ensure_prerequisites()?;
    let kernel = build::kernel(paths, Flavour::Bench)?;
    kunit::check_available(&paths.tree())?;
    let output = paths.output();
    let image = initramfs::create(&paths.build(Flavour::Bench), &output.join("initramfs"))?;
    if options.fbdev_only {
        let rows = fbdev::run(&kernel, &image, &output, options)?;
        fbdev::print_table(&rows);
        fbdev::write(&output, &rows)?;
        eprintln!(
            "bench: done in {}; table in {}",
            format_duration(start.elapsed()),
            output.join("fbdev.json").display()
        );
        return Ok(());
    }
    let boot = |cpus: u32, scale: u32| -> Result<Vec<Measurement>> {
        let log = output.join(format!("guest-bench-{cpus}cpu.log"));
        eprintln!(
            "bench: booting the benchmark kernel in QEMU (TCG, {cpus} CPUs); this takes minutes"
        );
        let console = qemu::boot(
            &Guest {
                kernel: &kernel,
                initramfs: &image,
                parameters: &format!(
                    "kunit.enable=1 bootsplash.enable=0 drm_kms_helper.fbdev_emulation=0 \
                     kunit.filter_glob=drm_vmap_client_bench \
                     drm_vmap_client_bench={scale}"
                ),
                init_mode: "test",
                log: &log,
                timeout: Duration::from_secs(options.timeout),
                cpus,
                verbose: options.verbose,
                machine: Machine::StdAndCirrus,
                vnc: None,
            },
            &mut |line, _| {
                if let Some(at) = line.find(PREFIX) {
                    eprintln!("bench: {cpus} CPU(s): {}", &line[at + PREFIX.len()..]);
                }
                Ok(false)
            },
        )?;
        let (summary, _) = kunit::parse_log(&paths.tree(), &log, true)?;
        guest_log::fail_on_reports(&console)?;
        if !summary.is_success() {
            bail!(
                "the benchmark suite failed: {summary:?}; console log: {}",
                log.display()
            );
        }
        let mut measurements = parse(&console)?;
        for measurement in &mut measurements {
            measurement.cpus = cpus;
        }
        Ok(measurements)
    };
    let mut measurements = boot(MAIN_CPUS, 1)?;
    let ratios = ratios::compute(&measurements);
    for cpus in PROBE_CPUS {
        measurements.extend(boot(cpus, 2)?);
    }
    let rows = fbdev::run(&kernel, &image, &output, options)?;
    print_table(&measurements, &ratios);
    fbdev::print_table(&rows);
    write_outputs(&output, &measurements, &ratios)?;
    fbdev::write(&output, &rows)?;
    eprintln!(
        "bench: done in {}; table in {}",
        format_duration(start.elapsed()),
        output.join("bench.csv").display()
    );
    Ok(())
}

/// Every measurement line in `console`.
pub fn parse(console: &str) -> Result<Vec<Measurement>> {
    let measurements: Vec<Measurement> = console
        .lines()
        .filter_map(|line| line.find(PREFIX).map(|at| &line[at + PREFIX.len()..]))
        .map(parse_line)
        .collect::<Result<_>>()?;
    if measurements.is_empty() {
        bail!("the guest printed no measurement: did the benchmark suite run?");
    }
    Ok(measurements)
}

fn parse_line(line: &str) -> Result<Measurement> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [backend, size, op, median, p99, samples] = fields[..] else {
        bail!(
            "a measurement line has {} fields, not 6: {line:?}",
            fields.len()
        );
    };
    let (width, height) = size
        .split_once('x')
        .with_context(|| format!("no WxH size in {line:?}"))?;
    Ok(Measurement {
        cpus: MAIN_CPUS,
        backend: backend.to_owned(),
        width: width.parse()?,
        height: height.parse()?,
        op: op.to_owned(),
        median_ns: value(median, "median_ns")?,
        p99_ns: value(p99, "p99_ns")?,
        samples: u32::try_from(value(samples, "samples")?)?,
    })
}

fn value(field: &str, name: &str) -> Result<u64> {
    let text = field
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('='))
        .with_context(|| format!("expected {name}=N, found {field:?}"))?;
    Ok(text.parse()?)
}

fn print_table(measurements: &[Measurement], ratios: &[Ratio]) {
    println!(
        "{:>4} {:<14} {:>9}  {:<24} {:>12} {:>12} {:>7}",
        "cpus", "backend", "size", "operation", "median", "p99", "samples"
    );
    for m in measurements {
        println!(
            "{:>4} {:<14} {:>9}  {:<24} {:>12} {:>12} {:>7}",
            m.cpus,
            m.backend,
            format!("{}x{}", m.width, m.height),
            m.op,
            human(m.median_ns),
            human(m.p99_ns),
            m.samples
        );
    }
    println!();
    println!("kernel: production configuration (no lockdep, no KASAN); QEMU TCG; ratios at {MAIN_CPUS} CPUs");
    println!("{:<58} {:>12}", "ratio", "value");
    for ratio in ratios {
        println!("{:<58} {:>12.1}", ratio.name, ratio.value);
    }
}

/// Nanoseconds in the unit that reads best.
fn human(ns: u64) -> String {
    match ns {
        0..=9_999 => format!("{ns} ns"),
        10_000..=9_999_999 => format!("{:.1} us", ns as f64 / 1e3),
        _ => format!("{:.2} ms", ns as f64 / 1e6),
    }
}

fn write_outputs(dir: &Path, measurements: &[Measurement], ratios: &[Ratio]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut csv = csv::Writer::from_path(dir.join("bench.csv"))?;
    for m in measurements {
        csv.serialize(m)?;
    }
    csv.flush()?;
    let report = Report {
        kernel_config: "production (config/bench.config: no lockdep, no KASAN, no kmemleak)",
        accelerator: "TCG",
        guest_cpus: MAIN_CPUS,
        measurements,
        ratios,
    };
    std::fs::write(
        dir.join("bench.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    chart::draw(&dir.join("bench.png"), ratios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurement_lines_are_read_wherever_they_stand() {
        let console = "[    3.1] vmap_client_kunit: drm_vmap_client_bench: measured vgem \
                       640x480 cached_access median_ns=812 p99_ns=1900 samples=200\n\
                       # drm_vmap_client_bench: pass:4 fail:0 skip:0 total:4\n";
        let found = parse(console).unwrap();
        assert_eq!(
            found,
            [Measurement {
                cpus: MAIN_CPUS,
                backend: "vgem".into(),
                width: 640,
                height: 480,
                op: "cached_access".into(),
                median_ns: 812,
                p99_ns: 1900,
                samples: 200,
            }]
        );
    }

    #[test]
    fn a_malformed_line_is_an_error_and_no_line_too() {
        let short = "drm_vmap_client_bench: measured vgem 640x480 op median_ns=1";
        let error = parse(short).unwrap_err().to_string();
        assert!(error.contains("has 4 fields"), "{error}");
        let no_size = "drm_vmap_client_bench: measured vgem 640 op median_ns=1 p99_ns=2 samples=1";
        let error = parse(no_size).unwrap_err().to_string();
        assert!(error.contains("no WxH size"), "{error}");
        assert!(parse("nothing here").is_err());
    }
}
