//! KUnit results: the guest log goes through `kunit.py parse`, the kernel's own KTAP parser.

use crate::command;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// Counts from `kunit.py`'s closing line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: u32,
    pub failed: u32,
    pub crashed: u32,
    pub skipped: u32,
    pub errors: u32,
}

impl Summary {
    pub fn total(&self) -> u32 {
        self.passed + self.failed + self.crashed + self.skipped
    }

    pub fn is_success(&self) -> bool {
        self.passed > 0 && self.failed == 0 && self.crashed == 0 && self.errors == 0
    }
}

/// Parses the guest log with `kunit.py parse`, shows its report, and returns the counts.
pub fn parse_log(tree: &Path, log: &Path) -> Result<Summary> {
    let script = tree.join("tools/testing/kunit/kunit.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg("parse")
        .arg(log)
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    let report = strip_ansi(&String::from_utf8_lossy(&out.stdout));
    print!("{report}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let summary = summary(&report).context("kunit.py printed no summary: did the suites run?")?;
    if !out.status.success() && summary.is_success() {
        bail!(
            "kunit.py parse failed ({}) although every case passed",
            out.status
        );
    }
    Ok(summary)
}

/// Reads `Ran 5 tests: passed: 4, failed: 1` (the last such line).
pub fn summary(report: &str) -> Option<Summary> {
    let line = report.lines().rev().find(|line| line.contains("Ran "))?;
    let counts = line.split_once("tests:")?.1;
    let mut summary = Summary::default();
    for part in counts.split(',') {
        let (name, count) = part.split_once(':')?;
        let count: u32 = count.trim().parse().ok()?;
        match name.trim() {
            "passed" => summary.passed = count,
            "failed" => summary.failed = count,
            "crashed" => summary.crashed = count,
            "skipped" => summary.skipped = count,
            "errors" => summary.errors = count,
            _ => return None,
        }
    }
    Some(summary)
}

/// Removes terminal colour sequences.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

/// Makes sure `kunit.py` can run (it is part of the tree; only python3 is needed).
pub fn check_available(tree: &Path) -> Result<()> {
    command::output(Command::new("python3").arg("--version")).map(drop)?;
    if !tree.join("tools/testing/kunit/kunit.py").exists() {
        bail!(
            "kunit.py is missing from {}: `cargo xtask overlay --pristine`",
            tree.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_lines_are_read() {
        let ok = summary("[12:00:00] Testing complete. Ran 5 tests: passed: 5\n").unwrap();
        assert_eq!(ok.passed, 5);
        assert!(ok.is_success());
        let bad = summary("Ran 6 tests: passed: 4, failed: 1, crashed: 1, errors: 2").unwrap();
        assert_eq!(
            (bad.failed, bad.crashed, bad.errors, bad.total()),
            (1, 1, 2, 6)
        );
        assert!(!bad.is_success());
    }

    #[test]
    fn no_summary_or_no_tests_is_not_success() {
        assert!(summary("no tests here").is_none());
        assert!(!Summary::default().is_success());
    }

    #[test]
    fn colours_are_removed() {
        assert_eq!(strip_ansi("\x1b[1;32mPASSED\x1b[0m x"), "PASSED x");
    }
}
