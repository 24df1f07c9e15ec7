//! Booting the kernel in QEMU and collecting its serial console.
//!
//! The guest runs under TCG: on this machine kind a KVM guest was seen making no progress
//! although `/dev/kvm` exists, and TCG is fast enough for a boot and the suites. The console
//! goes to a log file and, with `--verbose`, to the terminal. A monitor socket lets the host take
//! a screenshot of the display.

use crate::command::format_duration;
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// What to boot, and how.
pub struct Guest<'a> {
    pub kernel: &'a Path,
    pub initramfs: &'a Path,
    /// Kernel command line parameters added to the console ones.
    pub parameters: &'a str,
    /// The argument `/init` receives (its mode).
    pub init_mode: &'a str,
    /// The guest log is written here.
    pub log: &'a Path,
    /// Give up after this long.
    pub timeout: Duration,
    /// Virtual CPUs.
    pub cpus: u32,
    /// Echo the console to the terminal.
    pub verbose: bool,
    /// The display hardware and firmware.
    pub machine: Machine,
    /// Show the display on this VNC display number (port 5900 + N, localhost only).
    pub vnc: Option<u16>,
}

/// The guest's displays and firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// qboot, a standard VGA (bochs) and a Cirrus VGA; screenshots show the standard VGA. The
    /// KUnit suites use both.
    StdAndCirrus,
    /// qboot and a standard VGA (bochs) alone.
    Std,
    /// SeaBIOS and a Cirrus VGA alone, so that screenshots show it.
    Cirrus,
    /// qboot and a virtio VGA (virtio-gpu), which shows pixels only after a resource flush, on
    /// the Q35 chipset (see [`Machine::chipset`]).
    Virtio,
    /// OVMF (UEFI) with a standard VGA: the firmware draws its logo and reports it in the ACPI
    /// BGRT, simpledrm takes over its framebuffer, then bochs replaces simpledrm.
    Uefi,
}

/// Debian's `ovmf` package: the firmware code, and the variable store copied for each boot.
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

impl Machine {
    /// QEMU's machine type. The virtio VGA is the only device here that raises interrupts
    /// (through its INTx pin: the kernel has no `PCI_MSI`), and on the i440FX chipset its
    /// interrupt is routed by an AML loop (`\_SB.PCI0._PRT` builds its 128 entries one by one).
    /// The debug kernel, which records a stack trace for each of the interpreter's allocations,
    /// runs that loop for 20 to 40 s under TCG: past ACPICA's 30 s loop timeout on a loaded host
    /// (`AE_AML_LOOP_TIMEOUT`; the device then has no interrupt, its command queue is never
    /// reclaimed, and the first client to fill it blocks for good), and often past the 21 s RCU
    /// stall timeout (a report that fails the run). Q35's routing table is a constant package,
    /// read in well under a second.
    fn chipset(self) -> &'static str {
        match self {
            Machine::Virtio => "q35",
            _ => "pc",
        }
    }

    /// The QEMU arguments for the firmware and the displays; `vars` is a writable copy of
    /// the OVMF variable store.
    fn arguments(self, vars: &Path) -> Vec<String> {
        let qboot = ["-bios", "qboot.rom"];
        let list: Vec<&str> = match self {
            // The Cirrus VGA is a second display that scans out of its own memory, copying
            // damaged areas. QEMU shows the first VGA only: cirrus unblanks through the legacy
            // VGA ports, which belong to the standard VGA, so tests read its video memory.
            Machine::StdAndCirrus => {
                [&qboot[..], &["-vga", "std", "-device", "cirrus-vga"]].concat()
            }
            // SeaBIOS, not qboot: its VGA BIOS turns on the Cirrus VGA's legacy I/O ports,
            // through which the DRM driver unblanks the display.
            Machine::Std => [&qboot[..], &["-vga", "std"]].concat(),
            Machine::Cirrus => vec!["-vga", "cirrus"],
            Machine::Virtio => [&qboot[..], &["-vga", "none", "-device", "virtio-vga"]].concat(),
            Machine::Uefi => vec!["-vga", "std"],
        };
        let mut arguments: Vec<String> = list.into_iter().map(String::from).collect();
        if self == Machine::Uefi {
            for (unit, file, readonly) in [(0, Path::new(OVMF_CODE), ",readonly=on"), (1, vars, "")]
            {
                arguments.push("-drive".into());
                arguments.push(format!(
                    "if=pflash,format=raw,unit={unit},file={}{readonly}",
                    file.display()
                ));
            }
        }
        arguments
    }
}

/// Called with each console line; returning `true` ends the wait early (QEMU is then stopped).
pub type LineHook<'a> = dyn FnMut(&str, &mut Monitor) -> Result<bool> + 'a;

/// The QEMU human monitor of a running guest.
pub struct Monitor {
    socket: PathBuf,
}

impl Monitor {
    /// Saves the display as a PNG file.
    pub fn screenshot(&mut self, png: &Path) -> Result<()> {
        self.command(&format!("screendump {} -f png", png.display()))?;
        // The monitor answers before the file is complete on a loaded host; wait for it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !png.metadata().is_ok_and(|meta| meta.len() > 0) {
            if Instant::now() > deadline {
                bail!("QEMU did not write the screenshot {}", png.display());
            }
            thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    fn command(&mut self, line: &str) -> Result<String> {
        let mut stream = UnixStream::connect(&self.socket).with_context(|| {
            format!("cannot reach the QEMU monitor at {}", self.socket.display())
        })?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        writeln!(stream, "{line}")?;
        thread::sleep(Duration::from_millis(500));
        let mut answer = vec![0u8; 4096];
        let read = stream.read(&mut answer).unwrap_or(0);
        Ok(String::from_utf8_lossy(&answer[..read]).into_owned())
    }
}

/// Boots `guest`, feeding console lines to `hook`, until the guest powers off, the hook says
/// stop, or the timeout passes (an error). Returns the whole console log.
pub fn boot(guest: &Guest<'_>, hook: &mut LineHook<'_>) -> Result<String> {
    let socket = guest.log.with_extension("monitor");
    let _ = std::fs::remove_file(&socket);
    let mut child = spawn(guest, &socket)?;
    let result = follow_console(guest, &mut child, &mut Monitor { socket }, hook);
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn spawn(guest: &Guest<'_>, socket: &Path) -> Result<Child> {
    let append = format!(
        "console=ttyS0 log_buf_len=16M panic=-1 {} -- {}",
        guest.parameters, guest.init_mode
    );
    let vars = guest.log.with_extension("ovmf-vars.fd");
    if guest.machine == Machine::Uefi {
        std::fs::copy(OVMF_VARS, &vars)
            .with_context(|| format!("cannot copy {OVMF_VARS} (run `cargo xtask setup`)"))?;
    }
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args(["-machine", guest.machine.chipset()])
        .args(["-accel", "tcg", "-m", "1024", "-smp"])
        .arg(guest.cpus.to_string())
        .args(["-nodefaults", "-no-reboot", "-serial", "stdio", "-display"])
        .arg(guest.vnc.map_or("none".to_string(), |number| {
            format!("vnc=127.0.0.1:{number}")
        }))
        .args(guest.machine.arguments(&vars))
        .arg("-monitor")
        .arg(format!("unix:{},server=on,wait=off", socket.display()))
        .arg("-kernel")
        .arg(guest.kernel)
        .arg("-initrd")
        .arg(guest.initramfs)
        .arg("-append")
        .arg(append)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    qemu.spawn()
        .context("cannot start qemu-system-x86_64 (run `cargo xtask setup`)")
}

fn follow_console(
    guest: &Guest<'_>,
    child: &mut Child,
    monitor: &mut Monitor,
    hook: &mut LineHook<'_>,
) -> Result<String> {
    let mut file = File::create(guest.log)?;
    let (sender, lines) = mpsc::channel();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let sender = sender.clone();
        thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(|line| line.ok()) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
    }
    drop(sender);
    let start = Instant::now();
    let mut log = String::new();
    loop {
        let remaining = guest
            .timeout
            .checked_sub(start.elapsed())
            .unwrap_or_default();
        match lines.recv_timeout(remaining.min(Duration::from_secs(1))) {
            Ok(line) => {
                let line = line.trim_end_matches('\r').to_string();
                writeln!(file, "{line}")?;
                if guest.verbose {
                    println!("{line}");
                }
                log.push_str(&line);
                log.push('\n');
                if hook(&line, monitor)? {
                    return Ok(log);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(log),
            Err(mpsc::RecvTimeoutError::Timeout) if start.elapsed() >= guest.timeout => {
                bail!(
                    "the guest did not finish within {}; console log: {}",
                    format_duration(guest.timeout),
                    guest.log.display()
                );
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}
