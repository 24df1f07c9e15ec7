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

    /// Adds the counts of another run.
    pub fn add(&mut self, other: &Summary) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.crashed += other.crashed;
        self.skipped += other.skipped;
        self.errors += other.errors;
    }

    pub fn is_success(&self) -> bool {
        self.passed > 0 && self.failed == 0 && self.crashed == 0 && self.errors == 0
    }
}

/// One case's result, as `kunit.py` read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseStatus {
    pub suite: String,
    pub case: String,
    /// `PASS`, `FAIL`, `SKIP`, ...
    pub status: String,
}

/// Parses the guest log with `kunit.py parse`, shows its report if `show`, and returns the
/// counts and every case's result.
///
/// The executor's suites make one KTAP document; each module loaded later with suites in it
/// (the splash, in the debug kernel) prints its own, which `kunit.py` would ignore after the
/// first: each document is parsed on its own and the results are added up.
pub fn parse_log(tree: &Path, log: &Path, show: bool) -> Result<(Summary, Vec<CaseStatus>)> {
    let text =
        std::fs::read_to_string(log).with_context(|| format!("cannot read {}", log.display()))?;
    let documents = ktap_documents(&without_lines_inside_headers(&text));
    let mut total = Summary::default();
    let mut all_cases = Vec::new();
    // A document that plans no test (the built-in suites' with a filter that selects a
    // module's suite only: `1..0`) is no failure; one that planned tests is parsed, crashed
    // or not.
    let documents: Vec<&String> = documents.iter().filter(|doc| !plans_nothing(doc)).collect();
    if documents.is_empty() {
        bail!("no KUnit results in {}: did the suites run?", log.display());
    }
    for (index, document) in documents.iter().enumerate() {
        let part = log.with_extension(format!("ktap{index}.log"));
        std::fs::write(&part, document)?;
        let (summary, cases) = parse_document(tree, &part, show)?;
        total.add(&summary);
        all_cases.extend(cases);
    }
    Ok((total, all_cases))
}

/// `line` without the kernel's `[    1.234567] ` timestamp, if it has one.
fn without_timestamp(line: &str) -> &str {
    line.strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
        .map_or(line, |(_, content)| content)
}

/// Whether a KTAP document's top-level plan is `1..0`.
fn plans_nothing(document: &str) -> bool {
    document.lines().any(|line| {
        let content = without_timestamp(line);
        content.trim_end() == "1..0"
    })
}

/// Drops kernel messages printed between a suite's `KTAP version 1` line and its `# Subtest:`
/// line: another CPU's printk (a clocksource switch, for one) can land there, and kunit.py then
/// takes the header for a nameless test and numbers every later suite wrong.
pub fn without_lines_inside_headers(text: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut in_header = false;
    for line in text.lines() {
        let content = without_timestamp(line).trim();
        if content == "KTAP version 1" {
            in_header = true;
        } else if in_header {
            if !(content.starts_with("# Subtest:") || content.starts_with("1..")) {
                continue;
            }
            in_header = false;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

/// Splits a log at each top-level `KTAP version 1` line after the first; the first part keeps
/// what came before it.
pub fn ktap_documents(text: &str) -> Vec<String> {
    let mut documents = vec![String::new()];
    let mut seen_header = false;
    for line in text.lines() {
        let content = without_timestamp(line);
        if content.trim_end() == "KTAP version 1" {
            if seen_header {
                documents.push(String::new());
            }
            seen_header = true;
        }
        if let Some(document) = documents.last_mut() {
            document.push_str(line);
            document.push('\n');
        }
    }
    documents
}

/// [`parse_log`] for a log with one KTAP document.
fn parse_document(tree: &Path, log: &Path, show: bool) -> Result<(Summary, Vec<CaseStatus>)> {
    let script = tree.join("tools/testing/kunit/kunit.py");
    let json = log.with_extension("kunit.json");
    let _ = std::fs::remove_file(&json);
    let out = Command::new("python3")
        .arg(&script)
        .arg("parse")
        .arg(format!("--json={}", json.display()))
        .arg(log)
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    let report = strip_ansi(&String::from_utf8_lossy(&out.stdout));
    if show {
        print!("{report}");
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
    let summary = summary(&report).context("kunit.py printed no summary: did the suites run?")?;
    if !out.status.success() && summary.is_success() {
        bail!(
            "kunit.py parse failed ({}) although every case passed",
            out.status
        );
    }
    let cases = case_statuses(
        &std::fs::read_to_string(&json)
            .with_context(|| format!("kunit.py wrote no results to {}", json.display()))?,
    )?;
    Ok((summary, cases))
}

/// The cases in `kunit.py`'s JSON results (suites are its `sub_groups`).
pub fn case_statuses(json: &str) -> Result<Vec<CaseStatus>> {
    #[derive(serde::Deserialize)]
    struct Group {
        name: String,
        #[serde(default)]
        sub_groups: Vec<Group>,
        #[serde(default)]
        test_cases: Vec<Case>,
    }
    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        status: String,
    }
    fn collect(group: &Group, cases: &mut Vec<CaseStatus>) {
        for case in &group.test_cases {
            cases.push(CaseStatus {
                suite: group.name.clone(),
                case: case.name.clone(),
                status: case.status.clone(),
            });
        }
        for sub in &group.sub_groups {
            collect(sub, cases);
        }
    }
    let root: Group = serde_json::from_str(json).context("kunit.py's JSON results")?;
    let mut cases = Vec::new();
    collect(&root, &mut cases);
    Ok(cases)
}

/// Checks the run against the expected list (`suite case` lines, `debug: suite case` for cases
/// of the debug kernel only; `#` comments): every expected case of a suite that `filter`
/// selects must have passed, and no case may be missing from the list. Returns one line per
/// problem.
pub fn unexpected(
    expected: &str,
    cases: &[CaseStatus],
    filter: Option<&str>,
    debug: bool,
) -> Result<Vec<String>> {
    let pattern = glob::Pattern::new(filter.unwrap_or("*"))
        .with_context(|| format!("--filter {filter:?} is not a glob"))?;
    let listed: Vec<(&str, &str)> = expected
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| match line.strip_prefix("debug:") {
            Some(rest) if debug => Some(rest.trim()),
            Some(_) => None,
            None => Some(line),
        })
        .filter_map(|line| line.split_once(' '))
        .collect();
    let mut problems = Vec::new();
    for &(suite, case) in listed.iter().filter(|(suite, _)| pattern.matches(suite)) {
        // A suite may run twice (a built-in one run again through KUnit's debugfs): every run
        // must pass.
        let runs: Vec<&CaseStatus> = cases
            .iter()
            .filter(|c| c.suite == suite && c.case == case)
            .collect();
        if runs.is_empty() {
            problems.push(format!("{suite} {case}: expected, but it did not run"));
        }
        for c in runs.iter().filter(|c| c.status != "PASS") {
            problems.push(format!("{suite} {case}: {} (expected to pass)", c.status));
        }
    }
    for c in cases {
        if !listed.contains(&(c.suite.as_str(), c.case.as_str())) {
            problems.push(format!(
                "{} {}: ran, but is not in kunit/expected-cases.txt",
                c.suite, c.case
            ));
        }
    }
    Ok(problems)
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
    fn a_module_s_suites_are_a_document_of_their_own() {
        let log = "boot\nKTAP version 1\n1..1\n    KTAP version 1\nok 1 a\n\
                   Run /init\n[ 9.1] KTAP version 1\n1..1\nok 1 b\n";
        let documents = ktap_documents(log);
        assert_eq!(documents.len(), 2, "{documents:?}");
        assert!(documents[0].starts_with("boot\n") && documents[0].contains("ok 1 a"));
        assert!(documents[1].starts_with("[ 9.1] KTAP") && documents[1].contains("ok 1 b"));
        assert_eq!(ktap_documents("no tests\n").len(), 1);
    }

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

#[cfg(test)]
mod header_tests {
    use super::*;

    #[test]
    fn a_message_inside_a_suite_header_is_dropped() {
        let log = "KTAP version 1\n1..1\n    KTAP version 1\ntsc: switched\n    # Subtest: a\n\
                   other: kept\n    1..1\n    ok 1 x\nok 1 a\n";
        let cleaned = without_lines_inside_headers(log);
        assert!(!cleaned.contains("tsc"), "{cleaned}");
        assert!(cleaned.contains("other: kept"), "{cleaned}");
        assert_eq!(cleaned.lines().count(), log.lines().count() - 1);
    }
}

#[cfg(test)]
mod expected_tests {
    use super::*;

    fn case(suite: &str, case: &str, status: &str) -> CaseStatus {
        CaseStatus {
            suite: suite.into(),
            case: case.into(),
            status: status.into(),
        }
    }

    const LIST: &str = "# comment\nsuite_a one\nsuite_a two\nsuite_b three\n";

    #[test]
    fn a_complete_passing_run_matches() {
        let run = [
            case("suite_a", "one", "PASS"),
            case("suite_a", "two", "PASS"),
            case("suite_b", "three", "PASS"),
        ];
        assert!(unexpected(LIST, &run, None, false).unwrap().is_empty());
    }

    #[test]
    fn missing_skipped_and_unlisted_cases_are_problems() {
        let run = [
            case("suite_a", "one", "SKIPPED"),
            case("suite_b", "three", "PASS"),
            case("suite_b", "four", "PASS"),
        ];
        let problems = unexpected(LIST, &run, None, false).unwrap();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("suite_a one: SKIPPED"));
        assert!(problems[1].starts_with("suite_a two: expected, but it did not run"));
        assert!(problems[2].starts_with("suite_b four: ran, but is not in"));
    }

    #[test]
    fn debug_cases_are_expected_of_the_debug_kernel_only() {
        let list = format!("{LIST}debug: suite_c five\n");
        let run = [
            case("suite_a", "one", "PASS"),
            case("suite_a", "two", "PASS"),
            case("suite_b", "three", "PASS"),
        ];
        assert!(unexpected(&list, &run, None, false).unwrap().is_empty());
        let problems = unexpected(&list, &run, None, true).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("suite_c five: expected"));
    }

    #[test]
    fn every_run_of_a_case_must_pass() {
        let run = [
            case("suite_a", "one", "PASS"),
            case("suite_a", "two", "PASS"),
            case("suite_b", "three", "PASS"),
            case("suite_b", "three", "FAIL"),
        ];
        let problems = unexpected(LIST, &run, None, false).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("suite_b three: FAIL"));
    }

    #[test]
    fn a_filter_only_expects_the_suites_it_selects() {
        let run = [case("suite_b", "three", "PASS")];
        assert!(unexpected(LIST, &run, Some("suite_b*"), false)
            .unwrap()
            .is_empty());
        assert_eq!(unexpected(LIST, &run, None, false).unwrap().len(), 2);
    }

    #[test]
    fn kunit_py_json_is_read_with_its_suites() {
        let json = r#"{"name": "KUnit Test Group", "test_cases": [], "sub_groups": [
            {"name": "suite_a", "sub_groups": [], "test_cases": [
                {"name": "one", "status": "PASS"}, {"name": "two", "status": "SKIP"}]}]}"#;
        let cases = case_statuses(json).unwrap();
        assert_eq!(
            cases,
            [
                case("suite_a", "one", "PASS"),
                case("suite_a", "two", "SKIP")
            ]
        );
    }
}
