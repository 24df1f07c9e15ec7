//! The reliability summary of a test run: the failures injected by the sweep suite
//! (`fault injection: <operation> #<n>: <errno N | absorbed>, <clean | leaked>`) and the hostile inputs
//! the suites tried (`hostile input: <what>: <errno N | accepted>, <clean | ...>`), as the guest
//! logged them. Any entry that is not clean fails the run.

use anyhow::{bail, Result};
use std::collections::BTreeMap;

/// Counts of one kind of entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub tried: usize,
    pub clean: usize,
}

/// What a run's log says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub faults: Tally,
    /// Injected failures per operation, in name order.
    pub operations: BTreeMap<String, usize>,
    pub hostile: Tally,
    /// Entries that were not clean, as logged.
    pub dirty: Vec<String>,
}

const FAULT: &str = "fault injection: ";
const HOSTILE: &str = "hostile input: ";
/// A batch: `hostile inputs: <what>: <N> tried, <M> clean`.
const HOSTILE_BATCH: &str = "hostile inputs: ";

impl Summary {
    /// Reads every entry of `console`.
    pub fn read(console: &str) -> Self {
        let mut summary = Summary::default();
        for line in console.lines() {
            if let Some(entry) = after(line, FAULT) {
                summary.faults.tried += 1;
                if let Some((operation, _)) = entry.split_once(" #") {
                    *summary.operations.entry(operation.to_owned()).or_default() += 1;
                }
                summary.count(entry, |summary| &mut summary.faults.clean);
            } else if let Some(entry) = after(line, HOSTILE) {
                summary.hostile.tried += 1;
                summary.count(entry, |summary| &mut summary.hostile.clean);
            } else if let Some(entry) = after(line, HOSTILE_BATCH) {
                summary.batch(entry);
            }
        }
        summary
    }

    fn count(&mut self, entry: &str, clean: fn(&mut Self) -> &mut usize) {
        if entry.ends_with(", clean") {
            *clean(self) += 1;
        } else {
            self.dirty.push(entry.to_owned());
        }
    }

    /// Adds a batch of hostile inputs; one that cannot be read counts as not clean.
    fn batch(&mut self, entry: &str) {
        let counts = entry.rsplit_once(": ").map(|(_, counts)| counts);
        let parsed = counts.and_then(|counts| {
            let (tried, clean) = counts.split_once(" tried, ")?;
            let clean = clean.strip_suffix(" clean")?;
            Some((tried.parse::<usize>().ok()?, clean.parse::<usize>().ok()?))
        });
        match parsed {
            Some((tried, clean)) if clean <= tried => {
                self.hostile.tried += tried;
                self.hostile.clean += clean;
                if clean < tried {
                    self.dirty.push(entry.to_owned());
                }
            }
            _ => self.dirty.push(entry.to_owned()),
        }
    }

    /// The summary line.
    pub fn line(&self) -> String {
        format!(
            "faults: {} injected, {} clean, {} leaked; hostile inputs: {} tried, {} clean",
            self.faults.tried,
            self.faults.clean,
            self.faults.tried - self.faults.clean,
            self.hostile.tried,
            self.hostile.clean
        )
    }

    /// Fails if an entry was not clean.
    pub fn check(&self) -> Result<()> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        bail!("{}; not clean:\n  {}", self.line(), self.dirty.join("\n  "))
    }
}

/// The entry after `prefix`, where the guest's log prefix may precede it.
fn after<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let at = line.find(prefix)?;
    Some(line[at + prefix.len()..].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
[    5.1] vmap_client_faults: fault injection: vgem buffer, export, vmap #1: errno -12, clean
[    5.2] vmap_client_faults: fault injection: vgem buffer, export, vmap #2: absorbed, clean
[    5.3] vmap_client_faults: fault sweep: vgem buffer, export, vmap: 2 point(s) failed
[    6.0] vmap_client_faults: fault injection: mode set #1: errno -12, clean
[    7.0]     # hostile input: width 0: errno -22, clean
[    8.0] bootsplash: hostile inputs: truncated BMP files (3 refused): 40 tried, 40 clean
";

    #[test]
    fn entries_are_counted_by_kind_and_operation() {
        let summary = Summary::read(LOG);
        assert_eq!(summary.faults, Tally { tried: 3, clean: 3 });
        assert_eq!(
            summary.hostile,
            Tally {
                tried: 41,
                clean: 41
            }
        );
        assert_eq!(summary.operations["vgem buffer, export, vmap"], 2);
        assert_eq!(
            summary.line(),
            "faults: 3 injected, 3 clean, 0 leaked; hostile inputs: 41 tried, 41 clean"
        );
        assert!(summary.check().is_ok());
    }

    #[test]
    fn other_lines_with_a_colon_are_no_entries() {
        let summary = Summary::read("pid_max: default: 32768 minimum: 301\n");
        assert_eq!(summary, Summary::default());
    }

    #[test]
    fn a_batch_with_a_dirty_input_fails_the_run() {
        let summary = Summary::read("hostile inputs: odd files: 5 tried, 4 clean\n");
        assert_eq!(summary.hostile, Tally { tried: 5, clean: 4 });
        assert!(summary.check().is_err());
        assert!(Summary::read("hostile inputs: odd files: many\n")
            .check()
            .is_err());
    }

    #[test]
    fn a_leak_fails_the_run() {
        let log = format!("{LOG}fault injection: flip #4: errno -12, leaked\n");
        let summary = Summary::read(&log);
        assert_eq!(summary.faults.tried - summary.faults.clean, 1);
        let error = summary.check().unwrap_err().to_string();
        assert!(error.contains("flip #4: errno -12, leaked"), "{error}");
    }
}
