//! The fbdev A/B: one benchmark kernel booted with C's fbdev emulation and with ours
//! (`vmap_fbdev`), on bochs (C's ttm flavour: a shadow blitted through a per-flush mapping) and
//! on cirrus (C's shmem flavour: fbcon draws into the buffer, mapped once for its life).
//!
//! Each boot holds the display back on pci-stub until `/init` has set kprobe events (see
//! `initramfs.rs`), binds the driver, and writes the same megabyte of text to the console
//! [`FBDEV_BURSTS`] times. The guest sums the trace into one line: the time from
//! `drm_dev_register()` to the first damage flush, and per burst its duration, the flushes and
//! their damaged pixels, and the mapping requests and reservation locks taken meanwhile.

use crate::initramfs::{FBDEV_BENCH_MARKER, FBDEV_BURSTS};
use crate::qemu::{self, Guest, Machine};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// A display of the A/B and the C flavour its driver uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Display {
    Bochs,
    Cirrus,
}

impl Display {
    fn name(self) -> &'static str {
        match self {
            Display::Bochs => "bochs",
            Display::Cirrus => "cirrus",
        }
    }

    /// C's fbdev emulation for this driver in 6.12.
    fn c_flavour(self) -> &'static str {
        match self {
            Display::Bochs => "ttm",
            Display::Cirrus => "shmem",
        }
    }

    fn machine(self) -> Machine {
        match self {
            Display::Bochs => Machine::Std,
            Display::Cirrus => Machine::Cirrus,
        }
    }

    /// The PCI ID pci-stub holds back, and the driver `/init` binds instead.
    fn pci_id_and_driver(self) -> (&'static str, &'static str) {
        match self {
            Display::Bochs => ("1234:1111", "bochs-drm"),
            Display::Cirrus => ("1013:00b8", "cirrus"),
        }
    }
}

/// Whose fbdev emulation a boot runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Emulation {
    C,
    Ours,
}

impl Emulation {
    /// The command line that enables this emulation and not the other.
    fn parameters(self) -> &'static str {
        match self {
            Emulation::C => "drm_kms_helper.fbdev_emulation=1 vmap_fbdev.enable=0",
            Emulation::Ours => "drm_kms_helper.fbdev_emulation=0 vmap_fbdev.enable=1",
        }
    }
}

/// What the trace counted over one burst of console text.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Burst {
    /// From the first byte written to the last `write()` returning.
    pub burst_us: u64,
    /// From the end of the burst to its last flush.
    pub drain_us: u64,
    pub flushes: u64,
    /// Damaged pixels, summed over the flushes.
    pub pixels: u64,
    /// Mapping requests at the dma-buf level (`dma_buf_vmap*()`).
    pub dmabuf_vmaps: u64,
    /// Mapping requests at the GEM level (`drm_gem_vmap*()`): every request to a GEM exporter,
    /// the client's and the display's.
    pub gem_vmaps: u64,
    /// Of those, the display's commit (`drm_gem_fb_vmap()`, a shadow plane's access).
    pub display_vmaps: u64,
    /// New page-table mappings (`vmap()`, `ttm_bo_vmap()`).
    pub new_vmaps: u64,
    /// Reservation locks: ww-mutex acquisitions without an acquire context.
    pub resv_locks: u64,
}

/// One boot's line, as the guest printed it.
#[derive(Clone, Debug, PartialEq)]
struct Counted {
    driver: String,
    bits_per_pixel: u64,
    registration_to_output_us: u64,
    bursts: Vec<Burst>,
}

/// One row of the A/B table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub device: &'static str,
    /// `C (ttm)`, `C (shmem)` or `vmap_fbdev`.
    pub emulation: String,
    pub registration_to_output_ms: f64,
    /// The median burst.
    pub burst_ms: f64,
    pub drain_ms: f64,
    pub flushes_per_burst: f64,
    pub bytes_copied_per_flush: f64,
    pub dmabuf_vmaps_per_flush: f64,
    pub gem_vmaps_per_flush: f64,
    pub display_vmaps_per_flush: f64,
    pub new_vmaps_per_flush: f64,
    pub resv_locks_per_flush: f64,
    /// GEM-level mapping requests per burst, the display's included.
    pub gem_vmaps_per_burst: f64,
    pub bursts: Vec<Burst>,
}

/// Boots the four cases and returns their rows, C before ours for each display.
pub fn run(
    kernel: &Path,
    initramfs: &Path,
    output: &Path,
    options: &super::Options,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for display in [Display::Bochs, Display::Cirrus] {
        for emulation in [Emulation::C, Emulation::Ours] {
            eprintln!(
                "bench: fbdev A/B on {} with {} emulation: booting, {FBDEV_BURSTS} bursts of 1 MiB \
                 of console text (minutes under TCG)",
                display.name(),
                if emulation == Emulation::C { "C's" } else { "our" },
            );
            let counted = boot(kernel, initramfs, output, options, display, emulation)?;
            let row = row(display, emulation, &counted)?;
            eprintln!(
                "bench: {} {}: first output {:.1} ms after registration, burst {:.0} ms, \
                 {:.0} flushes",
                row.device,
                row.emulation,
                row.registration_to_output_ms,
                row.burst_ms,
                row.flushes_per_burst
            );
            rows.push(row);
        }
    }
    Ok(rows)
}

fn boot(
    kernel: &Path,
    initramfs: &Path,
    output: &Path,
    options: &super::Options,
    display: Display,
    emulation: Emulation,
) -> Result<Counted> {
    let log = output.join(format!(
        "guest-fbdev-{}-{}.log",
        display.name(),
        if emulation == Emulation::C {
            "c"
        } else {
            "ours"
        }
    ));
    let (pci_id, driver) = display.pci_id_and_driver();
    let console = qemu::boot(
        &Guest {
            kernel,
            initramfs,
            parameters: &format!(
                "kunit.enable=0 bootsplash.enable=0 fbcon=nodefer,map:1 {} \
                 pci-stub.ids={pci_id} xtask.late_driver={driver}",
                emulation.parameters()
            ),
            init_mode: "fbdev-bench",
            log: &log,
            timeout: Duration::from_secs(options.timeout),
            cpus: super::MAIN_CPUS,
            verbose: options.verbose,
            machine: display.machine(),
            vnc: None,
        },
        &mut |line, _| Ok(line.contains(FBDEV_BENCH_MARKER)),
    )?;
    crate::guest_log::fail_on_reports(&console)?;
    let counted = console
        .lines()
        .find_map(|line| {
            line.find(FBDEV_BENCH_MARKER)
                .map(|at| &line[at + FBDEV_BENCH_MARKER.len()..])
        })
        .with_context(|| {
            format!(
                "the guest printed no fbdev count; console log: {}",
                log.display()
            )
        })
        .and_then(parse)?;
    if counted.driver != driver {
        bail!(
            "fb1 belongs to {:?}, not {driver}: fbcon wrote elsewhere; console log: {}",
            counted.driver,
            log.display()
        );
    }
    Ok(counted)
}

/// Reads `driver=D bpp=N registration_to_output_us=N burst1=key:N,... burst2=...`.
fn parse(line: &str) -> Result<Counted> {
    let mut counted = Counted {
        driver: String::new(),
        bits_per_pixel: 0,
        registration_to_output_us: 0,
        bursts: Vec::new(),
    };
    for field in line.split_whitespace() {
        let (key, value) = field
            .split_once('=')
            .with_context(|| format!("expected key=value, found {field:?} in {line:?}"))?;
        match key {
            "driver" => counted.driver = value.to_owned(),
            "bpp" => counted.bits_per_pixel = number(value)?,
            "registration_to_output_us" => counted.registration_to_output_us = number(value)?,
            burst if burst.starts_with("burst") => counted.bursts.push(parse_burst(value)?),
            _ => bail!("unknown field {key:?} in {line:?}"),
        }
    }
    if counted.bursts.len() != FBDEV_BURSTS as usize || counted.bits_per_pixel == 0 {
        bail!("expected {FBDEV_BURSTS} bursts and a pixel size in {line:?}");
    }
    Ok(counted)
}

fn parse_burst(text: &str) -> Result<Burst> {
    let mut burst = Burst::default();
    for pair in text.split(',') {
        let (key, value) = pair
            .split_once(':')
            .with_context(|| format!("expected key:value, found {pair:?}"))?;
        let value = number(value)?;
        match key {
            "burst_us" => burst.burst_us = value,
            "drain_us" => burst.drain_us = value,
            "flushes" => burst.flushes = value,
            "pixels" => burst.pixels = value,
            "dmabuf_vmaps" => burst.dmabuf_vmaps = value,
            "gem_vmaps" => burst.gem_vmaps = value,
            "display_vmaps" => burst.display_vmaps = value,
            "new_vmaps" => burst.new_vmaps = value,
            "resv_locks" => burst.resv_locks = value,
            _ => bail!("unknown burst field {key:?}"),
        }
    }
    if burst.burst_us == 0 || burst.flushes == 0 {
        bail!("a burst took no time or flushed nothing: {text:?}");
    }
    Ok(burst)
}

fn number(text: &str) -> Result<u64> {
    text.parse()
        .with_context(|| format!("expected a count, found {text:?}"))
}

/// The table's row for one boot: medians of time, counts per flush summed over the bursts.
fn row(display: Display, emulation: Emulation, counted: &Counted) -> Result<Row> {
    let sum = |field: fn(&Burst) -> u64| counted.bursts.iter().map(field).sum::<u64>() as f64;
    let flushes = sum(|b| b.flushes);
    if flushes == 0.0 {
        bail!("no flush in any burst");
    }
    // The client's own copy per flush: C's ttm flavour and ours copy the damaged rectangle from
    // the shadow into the framebuffer; C's shmem flavour draws into the buffer and copies
    // nothing (the plane's copy into video memory, identical for both, is not counted).
    let copies = !(emulation == Emulation::C && display == Display::Cirrus);
    let bytes_per_pixel = counted.bits_per_pixel as f64 / 8.0;
    Ok(Row {
        device: display.name(),
        emulation: match emulation {
            Emulation::C => format!("C ({})", display.c_flavour()),
            Emulation::Ours => "vmap_fbdev".to_owned(),
        },
        registration_to_output_ms: counted.registration_to_output_us as f64 / 1e3,
        burst_ms: median(counted.bursts.iter().map(|b| b.burst_us)) / 1e3,
        drain_ms: median(counted.bursts.iter().map(|b| b.drain_us)) / 1e3,
        flushes_per_burst: flushes / counted.bursts.len() as f64,
        bytes_copied_per_flush: if copies {
            sum(|b| b.pixels) * bytes_per_pixel / flushes
        } else {
            0.0
        },
        dmabuf_vmaps_per_flush: sum(|b| b.dmabuf_vmaps) / flushes,
        gem_vmaps_per_flush: sum(|b| b.gem_vmaps) / flushes,
        display_vmaps_per_flush: sum(|b| b.display_vmaps) / flushes,
        new_vmaps_per_flush: sum(|b| b.new_vmaps) / flushes,
        resv_locks_per_flush: sum(|b| b.resv_locks) / flushes,
        gem_vmaps_per_burst: sum(|b| b.gem_vmaps) / counted.bursts.len() as f64,
        bursts: counted.bursts.clone(),
    })
}

fn median(values: impl Iterator<Item = u64>) -> f64 {
    let mut values: Vec<u64> = values.collect();
    values.sort_unstable();
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2] as f64,
        n => (values[n / 2 - 1] + values[n / 2]) as f64 / 2.0,
    }
}

/// Prints the table and, per display, how our console throughput compares with C's.
pub fn print_table(rows: &[Row]) {
    println!();
    println!(
        "fbdev A/B: one kernel, C's emulation against vmap_fbdev; {FBDEV_BURSTS} bursts of 1 MiB \
         of text each; per flush: over all bursts"
    );
    println!(
        "{:<7} {:<11} {:>9} {:>9} {:>7} {:>8} {:>9} {:>7} {:>7} {:>8} {:>6} {:>6} {:>9}",
        "device",
        "emulation",
        "1st out",
        "burst",
        "drain",
        "flushes",
        "bytes/fl",
        "dmabuf",
        "gem",
        "display",
        "new",
        "resv",
        "gem/burst"
    );
    for r in rows {
        println!(
            "{:<7} {:<11} {:>6.1} ms {:>6.0} ms {:>4.0} ms {:>8.1} {:>9.0} {:>7.2} {:>7.2} {:>8.2} {:>6.2} {:>6.2} {:>9.0}",
            r.device,
            r.emulation,
            r.registration_to_output_ms,
            r.burst_ms,
            r.drain_ms,
            r.flushes_per_burst,
            r.bytes_copied_per_flush,
            r.dmabuf_vmaps_per_flush,
            r.gem_vmaps_per_flush,
            r.display_vmaps_per_flush,
            r.new_vmaps_per_flush,
            r.resv_locks_per_flush,
            r.gem_vmaps_per_burst
        );
    }
    for pair in rows.chunks(2) {
        if let [c, ours] = pair {
            println!(
                "{}: console throughput, vmap_fbdev / {}: {:.2}",
                c.device,
                c.emulation,
                c.burst_ms / ours.burst_ms
            );
        }
    }
}

/// Writes the rows, with every burst, to `fbdev.json` in `dir`.
pub fn write(dir: &Path, rows: &[Row]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("fbdev.json");
    std::fs::write(&path, serde_json::to_string_pretty(rows)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "driver=bochs-drm bpp=32 registration_to_output_us=52340 \
        burst1=burst_us:900000,drain_us:15000,flushes:60,pixels:47185920,dmabuf_vmaps:0,gem_vmaps:0,display_vmaps:0,new_vmaps:0,resv_locks:120 \
        burst2=burst_us:1000000,drain_us:16000,flushes:62,pixels:48758784,dmabuf_vmaps:0,gem_vmaps:0,display_vmaps:0,new_vmaps:0,resv_locks:124 \
        burst3=burst_us:950000,drain_us:14000,flushes:58,pixels:45613056,dmabuf_vmaps:0,gem_vmaps:0,display_vmaps:0,new_vmaps:0,resv_locks:116";

    #[test]
    fn the_guest_line_becomes_a_row_per_flush() {
        let counted = parse(LINE).unwrap();
        assert_eq!(counted.driver, "bochs-drm");
        assert_eq!(counted.bursts.len(), 3);
        let row = row(Display::Bochs, Emulation::Ours, &counted).unwrap();
        assert_eq!(row.burst_ms, 950.0);
        assert_eq!(row.flushes_per_burst, 60.0);
        assert_eq!(row.resv_locks_per_flush, 2.0);
        // 141557760 pixels over 180 flushes, 4 bytes each.
        assert_eq!(row.bytes_copied_per_flush, 3145728.0);
        assert_eq!(row.registration_to_output_ms, 52.34);
    }

    #[test]
    fn c_shmem_copies_nothing_itself() {
        let counted = parse(LINE).unwrap();
        let row = row(Display::Cirrus, Emulation::C, &counted).unwrap();
        assert_eq!(row.bytes_copied_per_flush, 0.0);
        assert_eq!(row.emulation, "C (shmem)");
    }

    #[test]
    fn a_short_or_broken_line_is_an_error() {
        assert!(parse("driver=bochs-drm bpp=32 registration_to_output_us=1").is_err());
        assert!(parse(&LINE.replace("flushes:60", "flushes:x")).is_err());
        assert!(parse(&LINE.replace("flushes:60", "flushes:0")).is_err());
        assert!(parse(&format!("{LINE} surprise=1")).is_err());
    }
}
