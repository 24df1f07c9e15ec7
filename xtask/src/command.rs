//! Running external programs: quietly into a log with a progress line, or with plain output.

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How often a long step reports that it is still alive.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(20);

/// Runs `command` and fails with its name if it does not succeed.
pub fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot start {}", describe(command)))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(command));
    }
    Ok(())
}

/// Runs `command` and returns its standard output as text, failing if it does not succeed.
pub fn output(command: &mut Command) -> Result<String> {
    Ok(String::from_utf8_lossy(&output_bytes(command)?).into_owned())
}

/// Runs `command` and returns its standard output, failing if it does not succeed.
pub fn output_bytes(command: &mut Command) -> Result<Vec<u8>> {
    let out = command
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start {}", describe(command)))?;
    if !out.status.success() {
        bail!("{} failed ({})", describe(command), out.status);
    }
    Ok(out.stdout)
}

/// Runs a long `command` with its output going to `log`, printing a progress line every
/// [`PROGRESS_INTERVAL`] with the elapsed time and the latest line it printed. On failure, the
/// last lines of the log are shown.
pub fn run_logged(step: &str, command: &mut Command, log: &Path) -> Result<Duration> {
    let mut file = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", describe(command)))?;
    let (sender, lines) = mpsc::channel();
    let readers = [
        spawn_reader(child.stdout.take(), sender.clone()),
        spawn_reader(child.stderr.take(), sender),
    ];
    let start = Instant::now();
    let mut last_report = start;
    let mut latest = String::new();
    let mut count = 0usize;
    loop {
        match lines.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => {
                writeln!(file, "{line}")?;
                count += 1;
                latest = line;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if last_report.elapsed() >= PROGRESS_INTERVAL {
            last_report = Instant::now();
            eprintln!(
                "  {step}: {} elapsed, {count} lines, latest: {}",
                format_duration(start.elapsed()),
                latest.trim()
            );
        }
    }
    for reader in readers {
        let _ = reader.join();
    }
    let status = child.wait()?;
    let elapsed = start.elapsed();
    if !status.success() {
        print_tail(log, 40);
        bail!(
            "{step} failed ({status}) after {}; full log: {}",
            format_duration(elapsed),
            log.display()
        );
    }
    Ok(elapsed)
}

fn spawn_reader<R: std::io::Read + Send + 'static>(
    stream: Option<R>,
    sender: mpsc::Sender<String>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let Some(stream) = stream else { return };
        for line in BufReader::new(stream).lines().map_while(|line| line.ok()) {
            if sender.send(line).is_err() {
                return;
            }
        }
    })
}

/// Prints the last `count` lines of `log` to standard error.
pub fn print_tail(log: &Path, count: usize) {
    let Ok(text) = std::fs::read_to_string(log) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    eprintln!("--- last lines of {} ---", log.display());
    for line in &lines[lines.len().saturating_sub(count)..] {
        eprintln!("{line}");
    }
    eprintln!("---");
}

/// `12m05s` or `42s`.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds >= 60 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{seconds}s")
    }
}

fn describe(command: &Command) -> String {
    let program = command.get_program().to_string_lossy().into_owned();
    let args: Vec<String> = command
        .get_args()
        .take(3)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    format!("`{program} {}`", args.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(format_duration(Duration::from_secs(42)), "42s");
        assert_eq!(format_duration(Duration::from_secs(725)), "12m05s");
    }

    #[test]
    fn a_failing_command_is_an_error_naming_it() {
        let err = run(&mut Command::new("false")).unwrap_err();
        assert!(err.to_string().contains("`false"), "{err}");
    }

    #[test]
    fn logged_commands_keep_all_their_output() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        run_logged(
            "echo",
            Command::new("sh").args(["-c", "echo one; echo two >&2"]),
            &log,
        )
        .unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("one") && text.contains("two"), "{text}");
    }
}
