//! The guest's initramfs: a static busybox and an `/init` that finishes the run.
//!
//! KUnit's built-in suites run before init. `/init` then, when kmemleak is built in, asks for a
//! scan and prints the report, and either powers off (tests) or announces that the display is
//! ready and waits for the host to take its screenshot (main job). The archive is written by the
//! kernel's own `usr/gen_init_cpio`, built with the kernel.

use crate::command;
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian's busybox-static installs its binary.
const BUSYBOX: &str = "/bin/busybox";

/// Printed by `/init` when the guest has finished booting and drawing.
pub const READY_MARKER: &str = "xtask-init: ready";

/// Printed by `/init` (main job) once it has set the splash's progress, with the value read
/// back.
pub const PROGRESS_MARKER: &str = "xtask-init: progress";

/// Printed around the kmemleak report.
pub const KMEMLEAK_BEGIN: &str = "xtask-init: kmemleak report begin";
pub const KMEMLEAK_END: &str = "xtask-init: kmemleak report end";

const INIT_SCRIPT: &str = r#"#!/bin/sh
# /init of the test guest. Its first argument is the mode: test or run.
# Everything the host reads goes through /dev/kmsg: printk emits each record whole, where a
# plain echo to the console can be split by a kernel message printed at the same moment.
log() { echo "$*" > /dev/kmsg; }
busybox mount -t proc proc /proc
busybox mount -t sysfs sysfs /sys
busybox mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
leaks=/sys/kernel/debug/kmemleak
if [ -e "$leaks" ]; then
	# kmemleak reports only objects older than 5 s, and the suites have just run. Two scans:
	# an object allocated just before the first may look unreferenced once.
	busybox sleep 6
	echo scan > "$leaks"; busybox sleep 1; echo scan > "$leaks"
	log "@KMEMLEAK_BEGIN@"
	while IFS= read -r line; do log "kmemleak: $line"; done < "$leaks"
	log "@KMEMLEAK_END@"
fi
# A display held back by pci-stub gets its native driver now, as if loaded as a module.
late_driver=$(busybox sed -n 's/.*xtask.late_driver=\([^ ]*\).*/\1/p' /proc/cmdline)
for device in /sys/bus/pci/drivers/pci-stub/0000:*; do
	[ -n "$late_driver" ] && [ -e "$device" ] || continue
	id=${device##*/}
	log "xtask-init: binding $id to $late_driver"
	echo "$id" > /sys/bus/pci/drivers/pci-stub/unbind
	echo "$late_driver" > "/sys/bus/pci/devices/$id/driver_override"
	echo "$id" > /sys/bus/pci/drivers_probe
done
log "@READY_MARKER@ (mode $1)"
if [ "$1" = run ]; then
	# The host screenshots the sweeping bar twice, then init scripts report progress, as
	# `plymouth system-update --progress` would.
	busybox sleep 4
	echo 60 > /sys/module/bootsplash/parameters/progress
	log "@PROGRESS_MARKER@ $(busybox cat /sys/module/bootsplash/parameters/progress)"
	if echo 101 > /sys/module/bootsplash/parameters/progress 2>/dev/null; then
		log "xtask-init: progress 101 was accepted"
	fi
	busybox sleep 600
fi
busybox poweroff -f
"#;

/// Splash pictures in the guest's `/lib/firmware/`, for `bootsplash.image=`: a good 24-bit
/// BMP, and the same file cut short.
pub const TEST_PICTURE: &str = "bootsplash-test.bmp";
pub const TRUNCATED_PICTURE: &str = "bootsplash-truncated.bmp";

/// Writes the initramfs into `dir`, using the kernel build's `gen_init_cpio`.
pub fn create(build_dir: &Path, dir: &Path) -> Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let init = dir.join("init.sh");
    fs::write(&init, init_script())?;
    let pictures = write_test_pictures(dir)?;
    let list = dir.join("initramfs.list");
    fs::write(&list, cpio_list(&init, &pictures))?;
    let generator = build_dir.join("usr/gen_init_cpio");
    let archive = command::output_bytes(Command::new(&generator).arg(&list))
        .with_context(|| format!("{} is built with the kernel", generator.display()))?;
    let image = dir.join("initramfs.cpio");
    fs::write(&image, archive)?;
    Ok(image)
}

fn init_script() -> String {
    INIT_SCRIPT
        .replace("@KMEMLEAK_BEGIN@", KMEMLEAK_BEGIN)
        .replace("@KMEMLEAK_END@", KMEMLEAK_END)
        .replace("@READY_MARKER@", READY_MARKER)
        .replace("@PROGRESS_MARKER@", PROGRESS_MARKER)
}

/// The test picture: colour bands and a diagonal, so that a misplaced or mis-scaled copy
/// differs from it.
pub fn test_picture() -> image::RgbImage {
    image::RgbImage::from_fn(120, 90, |x, y| {
        if x == y {
            image::Rgb([0xff, 0xff, 0xff])
        } else {
            let band = (x / 20) as u8;
            image::Rgb([band * 40, 0x90, 0xff - (y as u8) * 2])
        }
    })
}

/// Writes the test pictures into `dir`; returns their paths by guest name.
fn write_test_pictures(dir: &Path) -> Result<Vec<(&'static str, PathBuf)>> {
    let good = dir.join(TEST_PICTURE);
    test_picture()
        .save_with_format(&good, image::ImageFormat::Bmp)
        .with_context(|| format!("cannot write {}", good.display()))?;
    let bytes = fs::read(&good)?;
    let truncated = dir.join(TRUNCATED_PICTURE);
    fs::write(&truncated, &bytes[..bytes.len() / 2])?;
    Ok(vec![(TEST_PICTURE, good), (TRUNCATED_PICTURE, truncated)])
}

/// The `gen_init_cpio` description of the archive.
fn cpio_list(init: &Path, pictures: &[(&str, PathBuf)]) -> String {
    let mut list = format!(
        "dir /dev 0755 0 0\n\
         nod /dev/console 0600 0 0 c 5 1\n\
         nod /dev/kmsg 0600 0 0 c 1 11\n\
         dir /bin 0755 0 0\n\
         file /bin/busybox {BUSYBOX} 0755 0 0\n\
         slink /bin/sh /bin/busybox 0777 0 0\n\
         dir /proc 0755 0 0\n\
         dir /sys 0755 0 0\n\
         file /init {} 0755 0 0\n\
         dir /lib 0755 0 0\n\
         dir /lib/firmware 0755 0 0\n",
        init.display()
    );
    for (name, path) in pictures {
        list += &format!("file /lib/firmware/{name} {} 0644 0 0\n", path.display());
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_prints_the_markers_the_host_waits_for() {
        let script = init_script();
        assert!(script.contains(READY_MARKER) && script.contains(KMEMLEAK_END));
        assert!(!script.contains('@'), "a placeholder was left: {script}");
        // Markers go through the kernel log, never straight to the console.
        assert!(!script.contains("echo \"xtask-init"), "{script}");
    }

    #[test]
    fn the_archive_holds_busybox_and_init() {
        let list = cpio_list(
            Path::new("/tmp/init.sh"),
            &[(TEST_PICTURE, PathBuf::from("/tmp/t.bmp"))],
        );
        assert!(list.contains("file /lib/firmware/bootsplash-test.bmp /tmp/t.bmp 0644"));
        assert!(list.contains("file /init /tmp/init.sh 0755"));
        assert!(list.contains("file /bin/busybox /bin/busybox"));
        assert!(list.contains("nod /dev/kmsg 0600 0 0 c 1 11"));
    }
}
