//! The guest's initramfs: a static busybox and an `/init` that finishes the run.
//!
//! KUnit's built-in suites run before init. `/init` then, when kmemleak is built in, asks for a
//! scan and prints the report, and either powers off (tests) or announces that the display is
//! ready and waits for the host to take its screenshot (main job). The archive is written by the
//! kernel's own `usr/gen_init_cpio`, built with the kernel.

use crate::command;
use anyhow::{bail, Context, Result};
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

/// Printed by `/init` (tests) after loading and unloading the splash built as a module, with
/// what the devices held before, while it was loaded and after.
pub const MODULE_MARKER: &str = "xtask-init: module:";

/// Printed by `/init` (console mode) once user space took DRM master and let it go.
pub const MASTER_MARKER: &str = "xtask-init: master taken and released";

/// Printed by `/init` (console mode) once text was written to the console.
pub const CONSOLE_MARKER: &str = "xtask-init: console text written";

/// Printed by `/init` (console mode) once fbtool drew its pattern and `fsync()` returned.
pub const PATTERN_MARKER: &str = "xtask-init: pattern drawn";

/// Printed by `/init` (console mode) after bochs was unbound with its `/dev/fbN` open, the
/// file closed and the driver bound again, with the framebuffer devices that exist then.
pub const UNPLUG_MARKER: &str = "xtask-init: unplug done; framebuffers:";

/// Where fbtool draws its pattern: x, y, width, height.
pub const PATTERN_BOX: (u32, u32, u32, u32) = (320, 200, 256, 128);

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
busybox mount -t tmpfs tmpfs /tmp
# A task blocked this long is reported with its stack (and fails the run).
[ -w /proc/sys/kernel/hung_task_timeout_secs ] && echo 10 > /proc/sys/kernel/hung_task_timeout_secs
busybox mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
# A splash built as a module is loaded as modprobe would load it, with the command line's
# bootsplash.* options. In the test run its KUnit suite runs as it loads; it is then loaded
# again to draw on the displays that exist, and unloaded while it animates: what it held must
# be gone (framebuffers on every device, dma-bufs).
splash_module=/lib/modules/bootsplash.ko
splash_options() {
	for word in $(busybox cat /proc/cmdline); do
		case "$word" in bootsplash.*) echo "${word#bootsplash.}" ;; esac
	done
}
held() {
	fbs=$(busybox cat /sys/kernel/debug/dri/*/framebuffer 2>/dev/null | busybox grep -c '^framebuffer\[')
	bufs=$(busybox sed -n 's/^Total \([0-9]*\) objects.*/\1/p' /sys/kernel/debug/dma_buf/bufinfo)
	echo "framebuffers $fbs dma-bufs ${bufs:-none}"
}
if [ -e "$splash_module" ] && [ "$1" = test ]; then
	busybox insmod "$splash_module" enable=0 || log "xtask-init: module: loading failed"
	busybox rmmod bootsplash || log "xtask-init: module: unloading failed"
	before=$(held)
	# KUnit runs a module's suites at every load: not again, and not beside a live splash.
	echo xtask-no-suite > /sys/module/kunit/parameters/filter_glob
	busybox insmod "$splash_module" $(splash_options) enable=1 || log "xtask-init: module: loading failed"
	busybox sleep 2
	loaded=$(held)
	busybox rmmod bootsplash || log "xtask-init: module: unloading failed"
	log "@MODULE_MARKER@ before loading: $before; loaded: $loaded; after unloading: $(held)"
elif [ -e "$splash_module" ]; then
	busybox insmod "$splash_module" $(splash_options) || log "xtask-init: module: loading failed"
fi
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
if [ "$1" = console ]; then
	# fbdev emulation after the splash, on the standard VGA (bochs): user space takes DRM
	# master and lets it go (the splash ends), fbcon takes the console when text reaches it,
	# then a program draws through mmap and fsync.
	busybox sleep 2
	node() { # /dev path, sysfs device directory
		busybox mkdir -p "${1%/*}"
		[ -e "$1" ] || busybox mknod "$1" c $(busybox tr : ' ' < "$2/dev")
	}
	driver_of() { busybox basename "$(busybox readlink "$1/device/driver")"; }
	fb=; card=
	for dir in /sys/class/graphics/fb*; do
		[ "$(driver_of "$dir")" = bochs-drm ] && fb=/dev/${dir##*/} && node "$fb" "$dir"
	done
	for dir in /sys/class/drm/card*; do
		case ${dir##*/} in *-*) continue ;; esac
		[ "$(driver_of "$dir")" = bochs-drm ] && card=/dev/dri/${dir##*/} && node "$card" "$dir"
	done
	log "xtask-init: console on ${fb:-no fb}, display ${card:-no card}"
	/bin/fbtool master "$card" 300 && log "@MASTER_MARKER@"
	/bin/fbtool con2fb "$fb" 1 || log "xtask-init: con2fb failed"
	[ -e /dev/tty1 ] || busybox mknod /dev/tty1 c 4 1
	# Line 1: ten full blocks (U+2588), which the check finds as a solid rectangle.
	printf '\342\226\210\342\226\210\342\226\210\342\226\210\342\226\210' > /dev/tty1
	printf '\342\226\210\342\226\210\342\226\210\342\226\210\342\226\210\r\n' > /dev/tty1
	printf 'fbcon on vmap_fbdev\r\n' > /dev/tty1
	busybox sleep 1
	log "@CONSOLE_MARKER@"
	busybox sleep 3
	# fsync() returns once deferred I/O handed the pages over; the flush follows within a
	# frame (see Documentation/gpu/fbdev.rst).
	/bin/fbtool pattern "$fb" @PATTERN_BOX@ && busybox usleep 100000 && log "@PATTERN_MARKER@"
	busybox sleep 3
	# Unplug with the device open: reads fail with ENODEV, the last close frees it. Another
	# framebuffer keeps a console (tty2 on vkms's), so fbcon moves to it: when the last
	# framebuffer with consoles goes, 6.12's fbcon re-arms its deferred takeover, whose work
	# may run on the framebuffer being unregistered after its mode list was freed (a NULL
	# dereference in fbcon_switch(), which this test ran into about one time in three).
	for dir in /sys/class/graphics/fb*; do
		other=/dev/${dir##*/}
		[ "$other" != "$fb" ] && node "$other" "$dir" && /bin/fbtool con2fb "$other" 2 && break
	done
	pci=$(busybox basename "$(busybox readlink "/sys/class/graphics/${fb#/dev/}/device")")
	exec 3<> "$fb"
	echo "$pci" > /sys/bus/pci/drivers/bochs-drm/unbind
	if busybox dd bs=16 count=1 <&3 > /dev/null 2>/tmp/read-error; then
		log "xtask-init: unplug: a read of the open $fb succeeded"
	else
		log "xtask-init: unplug: a read of the open $fb failed: $(busybox cat /tmp/read-error)"
	fi
	exec 3<&-
	echo "$pci" > /sys/bus/pci/drivers/bochs-drm/bind
	busybox sleep 1
	log "@UNPLUG_MARKER@ $(busybox ls /sys/class/graphics | busybox tr '\n' ' ')"
	busybox sleep 600
fi
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
    let mut entries = cpio_list(&init, &pictures);
    let fbtool = build_fbtool(dir)?;
    entries += &format!("file /bin/fbtool {} 0755 0 0\n", fbtool.display());
    if let Some(module) = splash_module(build_dir)? {
        entries += &format!(
            "dir /lib/modules 0755 0 0\nfile /lib/modules/bootsplash.ko {} 0644 0 0\n",
            module.display()
        );
    }
    fs::write(&list, entries)?;
    let generator = build_dir.join("usr/gen_init_cpio");
    let archive = command::output_bytes(Command::new(&generator).arg(&list))
        .with_context(|| format!("{} is built with the kernel", generator.display()))?;
    let image = dir.join("initramfs.cpio");
    fs::write(&image, archive)?;
    Ok(image)
}

/// The splash's module, when the kernel in `build_dir` builds it as one.
pub fn splash_module(build_dir: &Path) -> Result<Option<PathBuf>> {
    let config = fs::read_to_string(build_dir.join(".config"))
        .with_context(|| format!("no kernel configuration in {}", build_dir.display()))?;
    if !config
        .lines()
        .any(|line| line == "CONFIG_DRM_VMAP_BOOTSPLASH=m")
    {
        return Ok(None);
    }
    let module = build_dir.join(SPLASH_MODULE);
    if !module.exists() {
        bail!("{} is not built: run cargo xtask build", module.display());
    }
    Ok(Some(module))
}

/// The source of the guest's fbtool, in the checkout.
const FBTOOL_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/guest/fbtool.c");

/// Builds fbtool, static, into `dir`.
fn build_fbtool(dir: &Path) -> Result<PathBuf> {
    let binary = dir.join("fbtool");
    command::run(
        Command::new("clang")
            .args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&binary)
            .arg(FBTOOL_SOURCE),
    )
    .context("cannot build the guest's fbtool (Debian's libc6-dev has the static C library)")?;
    Ok(binary)
}

/// Where kbuild puts the splash's module.
const SPLASH_MODULE: &str = "drivers/gpu/drm/vmap_client/bootsplash/bootsplash.ko";

fn init_script() -> String {
    INIT_SCRIPT
        .replace("@KMEMLEAK_BEGIN@", KMEMLEAK_BEGIN)
        .replace("@KMEMLEAK_END@", KMEMLEAK_END)
        .replace("@READY_MARKER@", READY_MARKER)
        .replace("@PROGRESS_MARKER@", PROGRESS_MARKER)
        .replace("@MODULE_MARKER@", MODULE_MARKER)
        .replace("@MASTER_MARKER@", MASTER_MARKER)
        .replace("@CONSOLE_MARKER@", CONSOLE_MARKER)
        .replace("@PATTERN_MARKER@", PATTERN_MARKER)
        .replace("@UNPLUG_MARKER@", UNPLUG_MARKER)
        .replace(
            "@PATTERN_BOX@",
            &format!(
                "{} {} {} {}",
                PATTERN_BOX.0, PATTERN_BOX.1, PATTERN_BOX.2, PATTERN_BOX.3
            ),
        )
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
         dir /tmp 0755 0 0\n\
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
