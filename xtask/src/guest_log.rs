//! Reading the guest's kernel log as a test result.
//!
//! A KUnit case that triggers a kernel warning still reports `ok`, so the log itself is checked:
//! any warning, BUG, oops, lockdep or KASAN report, Rust panic or kmemleak finding fails the run.

use crate::initramfs::{ERROR_LEVEL_MARKER, KMEMLEAK_BEGIN, KMEMLEAK_END};
use anyhow::{bail, Result};

/// Lines that open a report, and what kind of report they open.
const REPORT_STARTS: &[(&str, &str)] = &[
    ("WARNING:", "warning"),
    ("BUG:", "BUG"),
    ("Oops", "oops"),
    ("Kernel panic", "panic"),
    ("general protection fault", "general protection fault"),
    ("KASAN:", "KASAN report"),
    ("UBSAN:", "UBSAN report"),
    ("possible circular locking dependency", "lockdep report"),
    ("possible recursive locking", "lockdep report"),
    ("inconsistent lock state", "lockdep report"),
    ("DEBUG_LOCKS_WARN_ON", "lockdep report"),
    ("INFO: task", "hung task"),
    ("panicked at", "Rust panic"),
    ("Call Trace:", "stack trace"),
    ("unreferenced object", "kmemleak report"),
    ("memory leak detector disabled", "kmemleak disabled itself"),
    ("*ERROR*", "DRM error"),
];

/// How many lines of a report are shown.
const REPORT_LINES: usize = 40;

/// One problem found in the log.
#[derive(Debug)]
pub struct Report {
    pub kind: &'static str,
    /// The report's first lines.
    pub excerpt: String,
}

/// Every report in `log`. A stack trace that belongs to a report already found is not repeated.
///
/// Inside a failure injection sweep (the [`SWEEP_SUITES`]) two kinds of report
/// are what an injected failure is expected to print, and are excused: the allocator's own
/// warning with its stack (`page allocation failure`, `vmalloc error`), and the dma-buf core's
/// `WARN_ON_ONCE()` when an exporter's vmap fails (`dma_buf_vmap()`). Anything else there, a
/// lockdep or KASAN report, another warning, counts.
pub fn reports(log: &str) -> Vec<Report> {
    let lines: Vec<&str> = log.lines().collect();
    let mut found: Vec<Report> = Vec::new();
    let mut covered_until = 0;
    let mut in_sweep = false;
    for (index, line) in lines.iter().enumerate() {
        if begins_sweep(line) {
            in_sweep = true;
        } else if in_sweep && ends_sweep(line) {
            in_sweep = false;
        }
        let Some(kind) = classify(line) else { continue };
        if index < covered_until {
            continue;
        }
        let end = (index + REPORT_LINES).min(lines.len());
        if in_sweep && expected_of_injection(&lines[index.saturating_sub(5)..=index]) {
            // The excused report's stack is not reported on its own either.
            covered_until = end_of_stack(&lines, index);
            continue;
        }
        covered_until = end;
        found.push(Report {
            kind,
            excerpt: lines[index..end].join("\n"),
        });
    }
    found
}

/// The failure injection suites: the layer's, the splash's and the fbdev emulation's.
const SWEEP_SUITES: &[&str] = &[
    "drm_vmap_client_faults",
    "bootsplash_faults",
    "vmap_fbdev_faults",
];

/// Whether `line` is a sweep suite's KTAP header (`# Subtest: <suite>`).
fn begins_sweep(line: &str) -> bool {
    line.split_once("# Subtest: ")
        .is_some_and(|(_, suite)| SWEEP_SUITES.contains(&suite.trim_end()))
}

/// Whether `line` is a sweep suite's result line (`ok 2 <suite>`).
fn ends_sweep(line: &str) -> bool {
    let content = line.trim_start();
    (content.starts_with("ok ") || content.starts_with("not ok "))
        && content
            .rsplit_once(' ')
            .is_some_and(|(_, suite)| SWEEP_SUITES.contains(&suite))
}

/// How many lines an excused report may span at most.
const EXCUSED_LINES: usize = 60;

/// The line after the end of the stack trace that starts at or after `start`.
fn end_of_stack(lines: &[&str], start: usize) -> usize {
    let limit = (start + EXCUSED_LINES).min(lines.len());
    (start..limit)
        .find(|&at| lines[at].contains("</TASK>") || lines[at].contains("---[ end trace"))
        .map_or(limit, |at| at + 1)
}

/// Whether the report starting at the last of `lines` (with up to five lines before it) is
/// one an injected failure prints.
fn expected_of_injection(lines: &[&str]) -> bool {
    let Some(start) = lines.last() else {
        return false;
    };
    let allocator_warned = lines
        .iter()
        .any(|line| line.contains("page allocation failure:") || line.contains("vmalloc error:"));
    let exporter_vmap_failed = start.contains("WARNING:")
        && start.contains("drivers/dma-buf/dma-buf.c")
        && start.contains(" dma_buf_vmap+");
    allocator_warned || exporter_vmap_failed
}

fn classify(line: &str) -> Option<&'static str> {
    if error_of_ours(line) {
        return Some("error message of ours (pr_err)");
    }
    REPORT_STARTS
        .iter()
        .find(|(pattern, _)| line.contains(pattern))
        .map(|(_, kind)| *kind)
}

/// The prefixes of our code's messages: the kernel crate (`kernel::drm_client`,
/// `kernel::vmap_cache`, `kernel::fbdev`) and our modules.
const OUR_PREFIXES: &[&str] = &[
    "rust_kernel:",
    "vmap_client_kunit:",
    "vmap_client_faults:",
    "bootsplash:",
    "vmap_fbdev:",
];

/// Whether `line` is `/init`'s copy of an error-level message (pr_err or worse) of our code:
/// the console shows messages without their level, so `/init` lists them from the raw ring
/// buffer at the end of the boot.
fn error_of_ours(line: &str) -> bool {
    let Some((_, raw)) = line.split_once(ERROR_LEVEL_MARKER) else {
        return false;
    };
    // `<3>[    1.234567] text`: the level, the timestamp if printk has them, the message.
    let raw = raw.trim_start();
    let text = raw
        .strip_prefix('<')
        .and_then(|rest| rest.split_once('>'))
        .map_or(raw, |(_, text)| text);
    let text = match text.strip_prefix('[') {
        Some(stamped) => stamped.split_once("] ").map_or(text, |(_, text)| text),
        None => text,
    };
    OUR_PREFIXES.iter().any(|prefix| text.starts_with(prefix))
}

/// Shows every report in `log` and fails if there is any.
pub fn fail_on_reports(log: &str) -> Result<()> {
    let found = reports(log);
    for report in &found {
        eprintln!("guest log: {}:\n{}\n", report.kind, report.excerpt);
    }
    if !found.is_empty() {
        bail!("the guest log has {} report(s) (shown above)", found.len());
    }
    Ok(())
}

/// Whether `line` reports that the guest cannot finish: a deadlock lockdep found, or a task
/// blocked past the hung-task timeout.
pub fn reports_a_hang(line: &str) -> bool {
    line.contains("*** DEADLOCK ***")
        || (line.contains("INFO: task ") && line.contains(" blocked for more than "))
}

/// Whether the log shows a completed kmemleak scan (only with the debug configuration).
pub fn kmemleak_scanned(log: &str) -> bool {
    log.contains(KMEMLEAK_BEGIN) && log.contains(KMEMLEAK_END)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_failures_are_excused_inside_the_sweep_only() {
        let allocation =
            "kunit_try_catch: vmalloc error: size 16384, vm_struct allocation failed\n\
                          CPU: 1 UID: 0 PID: 83 Comm: kunit_try_catch\nCall Trace:\n <TASK>\n </TASK>\n";
        let warn = "WARNING: CPU: 0 PID: 71 at ../drivers/dma-buf/dma-buf.c:1540 dma_buf_vmap+0x2a2/0x390\n\
                    Call Trace:\n </TASK>\n---[ end trace 0000000000000000 ]---\n";
        let lockdep = "WARNING: possible circular locking dependency detected\n";
        let sweep = format!(
            "    # Subtest: drm_vmap_client_faults\n{allocation}{warn}{lockdep}\
             ok 9 drm_vmap_client_faults\n"
        );
        let found = reports(&sweep);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].excerpt.contains("circular locking"));
        // The same outside the sweep is reported.
        assert_eq!(reports(allocation).len(), 1);
        assert_eq!(reports(warn).len(), 1);
        let after = format!(
            "    # Subtest: drm_vmap_client_faults\nok 9 drm_vmap_client_faults\n{allocation}"
        );
        assert_eq!(reports(&after).len(), 1);
        // The splash's sweep is one too; the splash's other suite is not.
        let splash_sweep =
            format!("    # Subtest: bootsplash_faults\n{allocation}ok 2 bootsplash_faults\n");
        assert!(reports(&splash_sweep).is_empty());
        let splash = format!("    # Subtest: bootsplash\n{allocation}ok 1 bootsplash\n");
        assert_eq!(reports(&splash).len(), 1);
    }

    #[test]
    fn deadlocks_and_hung_tasks_are_hangs() {
        assert!(reports_a_hang(" *** DEADLOCK ***"));
        assert!(reports_a_hang(
            "INFO: task kunit_try_catch:82 blocked for more than 10 seconds."
        ));
        assert!(!reports_a_hang(
            "WARNING: possible recursive locking detected"
        ));
    }

    #[test]
    fn error_level_messages_of_ours_are_reports() {
        let ours = format!(
            "{ERROR_LEVEL_MARKER} <3>[   12.5] vmap_client_kunit: 2 outputs where one was expected"
        );
        let found = reports(&ours);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, "error message of ours (pr_err)");
        // Without printk timestamps.
        let unstamped = format!("{ERROR_LEVEL_MARKER} <3>bootsplash: frame 4 failed");
        assert_eq!(reports(&unstamped).len(), 1);
        // C's errors are for their own checks (DRM's `*ERROR*` is one of those).
        let theirs = format!("{ERROR_LEVEL_MARKER} <3>[    1.0] ata1: failed to resume link");
        assert!(reports(&theirs).is_empty());
        // Our modules' informational lines are not errors.
        assert!(reports("[   12.5] bootsplash: frame 4 skipped (error -12)").is_empty());
    }

    #[test]
    fn a_clean_log_has_no_reports() {
        let log = "[    0.1] Linux version 6.12\n    ok 1 pattern_roundtrip\nxtask-init: ready\n";
        assert!(reports(log).is_empty());
    }

    #[test]
    fn a_warning_and_its_stack_trace_are_one_report() {
        let log = "[ 1.0] ------------[ cut here ]------------\n\
                   [ 1.0] WARNING: CPU: 0 PID: 1 at drivers/dma-buf/dma-buf.c:1540 dma_buf_vmap\n\
                   [ 1.0] Call Trace:\n[ 1.0]  <TASK>\n";
        let found = reports(log);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, "warning");
        assert!(found[0].excerpt.contains("Call Trace:"));
    }

    #[test]
    fn lockdep_kasan_panics_and_leaks_are_reports() {
        for (line, kind) in [
            (
                "WARNING: possible circular locking dependency detected",
                "warning",
            ),
            ("BUG: KASAN: slab-use-after-free in foo", "BUG"),
            (
                "rust_kernel: panicked at rust/kernel/x.rs:1:1:",
                "Rust panic",
            ),
            (
                "unreferenced object 0xffff888003a0c000 (size 64):",
                "kmemleak report",
            ),
            ("Kernel panic - not syncing: VFS", "panic"),
        ] {
            let found = reports(line);
            assert_eq!(found.len(), 1, "{line}");
            assert_eq!(found[0].kind, kind, "{line}");
        }
    }

    #[test]
    fn separate_reports_are_each_found() {
        let mut log = String::from("WARNING: first\n");
        log += &"filler\n".repeat(REPORT_LINES);
        log += "BUG: second\n";
        assert_eq!(reports(&log).len(), 2);
    }
}
