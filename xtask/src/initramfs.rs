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

/// Printed by `/init` (fbdev A/B mode) with what the trace counted; see `bench::fbdev`.
pub const FBDEV_BENCH_MARKER: &str = "xtask-init: fbdev-bench:";

/// The bursts of console text in each fbdev A/B boot.
pub const FBDEV_BURSTS: u32 = 3;

/// Printed by `/init` before it powers off, once per message of error level or worse in the
/// ring buffer, with the raw message (`<3>text`, or `<3>[    1.234567] text` with printk
/// timestamps).
pub const ERROR_LEVEL_MARKER: &str = "xtask-init: error-level message:";

/// Printed around the kmemleak report.
pub const KMEMLEAK_BEGIN: &str = "xtask-init: kmemleak report begin";
pub const KMEMLEAK_END: &str = "xtask-init: kmemleak report end";

const INIT_SCRIPT: &str = r#"#!/bin/sh
# /init of the test guest. Its first argument is the mode: test or run.
# Everything the host reads goes through /dev/kmsg: printk emits each record whole, where a
# plain echo to the console can be split by a kernel message printed at the same moment.
log() { echo "$*" > /dev/kmsg; }
# Sums the fbdev A/B trace (see start_counting): the time from the first drm_dev_register()
# to the first flush, then per burst its duration, the time its last flush came after it, and
# the events from its beginning to the next burst's.
summary='
{
	for (i = 1; i <= NF && $i !~ /^[0-9]+[.][0-9]+:$/; i++);
	if (i > NF) next;
	t = substr($i, 1, length($i) - 1) * 1000000; event = $(i + 1);
}
event == "registering:" && !registered { registered = t }
event ~ /^flush/ && registered && !first { first = t }
event == "tracing_mark_write:" && $(i + 2) == "burst-begin" { burst = $(i + 3) + 0; begin[burst] = t }
event == "tracing_mark_write:" && $(i + 2) == "burst-end" { end[burst] = t }
!burst { next }
event ~ /^flush/ {
	delete rect;
	for (f = i + 2; f <= NF; f++) { split($f, kv, "="); rect[kv[1]] = kv[2] }
	if ("w" in rect) { w = rect["w"]; h = rect["h"] }
	else { w = rect["x2"] - rect["x1"]; h = rect["y2"] - rect["y1"] }
	# The C damage worker may run with nothing left to flush (an empty clip): not a flush.
	if (w <= 0 || h <= 0) next;
	flushes[burst]++; pixels[burst] += w * h; last[burst] = t;
}
event ~ /vmap(_unlocked)?:$/ || event ~ /^resv_lock/ {
	sub(/_unlocked:$|_intr:$|:$/, "", event); sub(/^new_ttm_vmap$/, "new_vmap", event);
	count[burst, event]++;
}
END {
	printf "registration_to_output_us=%.0f", first - registered;
	for (b = 1; b <= burst; b++)
		printf " burst%d=burst_us:%.0f,drain_us:%.0f,flushes:%.0f,pixels:%.0f,dmabuf_vmaps:%.0f,gem_vmaps:%.0f,display_vmaps:%.0f,new_vmaps:%.0f,resv_locks:%.0f",
			b, end[b] - begin[b], (last[b] > end[b] ? last[b] - end[b] : 0), flushes[b], pixels[b],
			count[b, "dmabuf_vmap"], count[b, "gem_vmap"], count[b, "display_vmap"],
			count[b, "new_vmap"], count[b, "resv_lock"];
	printf "\n";
}'
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
# In the debug kernel's test run, sleeping allocations of every order become fault points for
# the failure injection sweeps, quietly (each injected failure is logged by its suite). Only a
# task that arms fail-nth sees a failure.
faults_module=/lib/modules/vmap_client_faults.ko
if [ -e "$faults_module" ] && [ "$1" = test ]; then
	for attr in failslab fail_page_alloc; do
		echo N > /sys/kernel/debug/$attr/ignore-gfp-wait
		echo 0 > /sys/kernel/debug/$attr/verbose
	done
	echo N > /sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem
	echo 0 > /sys/kernel/debug/fail_page_alloc/min-order
	# A sweep case runs an operation hundreds of times while insmod waits for it: longer than
	# a deadlock needs to be reported (lockdep reports one at once in any case).
	echo 120 > /proc/sys/kernel/hung_task_timeout_secs
fi
suite_filter=$(busybox cat /sys/module/kunit/parameters/filter_glob 2>/dev/null)
[ "$suite_filter" = "(null)" ] && suite_filter=
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
# The failure injection sweeps (debug kernel) run as their modules load, under the command
# line's suite filter: the layer's, and the splash's own (bootsplash_faults, in the splash
# module's test load above).
if [ -e "$faults_module" ] && [ "$1" = test ]; then
	# No newline: the parameter keeps it, and the glob would match no suite.
	echo -n "${suite_filter:-*}" > /sys/module/kunit/parameters/filter_glob
	log "xtask-init: faults: loading the failure injection sweep (filter ${suite_filter:-*})"
	busybox insmod "$faults_module" || log "xtask-init: faults: loading failed"
	busybox rmmod vmap_client_faults || log "xtask-init: faults: unloading failed"
	# The fbdev emulation is built in: its sweep ran at boot, when allocations that may sleep
	# were no fault points yet. KUnit's debugfs runs it again now, as a KTAP document of its own.
	rerun=/sys/kernel/debug/kunit/vmap_fbdev_faults/run
	case vmap_fbdev_faults in
	${suite_filter:-*})
		if [ -e "$rerun" ]; then
			log "KTAP version 1"
			log "1..1"
			echo run > "$rerun"
		fi
		;;
	esac
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
# The fbdev A/B boots count, through kprobe events, what an emulation does from the driver's
# registration on: its damage flushes (C's fb_dirty helper or our Framebuffer::flush(), with
# their rectangle), mapping
# requests at each level (dma-buf, GEM, TTM) and reservation locks, that is ww-mutex
# acquisitions without an acquire context (modeset locks always have one on these paths).
# The probes are set before the driver binds; the bursts are marked in the trace.
tracing=/sys/kernel/tracing
probe() {
	echo "$1" >> $tracing/kprobe_events || log "xtask-init: fbdev-bench: cannot set the probe: $1"
}
start_counting() {
	busybox mount -t tracefs tracefs $tracing
	echo 16384 > $tracing/buffer_size_kb
	probe 'p:xtask/registering drm_dev_register'
	rect='x1=+0($arg2):u16 y1=+2($arg2):u16 x2=+4($arg2):u16 y2=+6($arg2):u16'
	probe "p:xtask/flush_ttm drm_fbdev_ttm_helper_fb_dirty $rect"
	probe "p:xtask/flush_shmem drm_fbdev_shmem_helper_fb_dirty $rect"
	# Ours: kernel::drm_client::Framebuffer::flush(&self, x, y, width, height).
	ours=$(busybox sed -n 's/.* \(_R[^ ]*11Framebuffer5flush\)$/\1/p' /proc/kallsyms)
	probe "p:xtask/flush_ours $ours x=\$arg2:u32 y=\$arg3:u32 w=\$arg4:u32 h=\$arg5:u32"
	# Mapping requests at the dma-buf and GEM levels (the locked variants are inlined into the
	# unlocked ones, so each request is counted once per level), those of the display's own
	# commit (a shadow plane's framebuffer access), and new page-table mappings.
	probe 'p:xtask/dmabuf_vmap dma_buf_vmap'
	probe 'p:xtask/dmabuf_vmap_unlocked dma_buf_vmap_unlocked'
	probe 'p:xtask/gem_vmap drm_gem_vmap'
	probe 'p:xtask/gem_vmap_unlocked drm_gem_vmap_unlocked'
	probe 'p:xtask/display_vmap drm_gem_fb_vmap'
	probe 'p:xtask/new_vmap vmap'
	probe 'p:xtask/new_ttm_vmap ttm_bo_vmap'
	probe 'p:xtask/resv_lock ww_mutex_lock ctx=$arg2:u64'
	probe 'p:xtask/resv_lock_intr ww_mutex_lock_interruptible ctx=$arg2:u64'
	echo 'ctx == 0' > $tracing/events/xtask/resv_lock/filter
	echo 'ctx == 0' > $tracing/events/xtask/resv_lock_intr/filter
	echo 1 > $tracing/events/xtask/enable
	echo 1 > $tracing/tracing_on
}
[ "$1" = fbdev-bench ] && start_counting
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
	/bin/fbtool unplug "$fb" /sys/bus/pci/drivers/bochs-drm/unbind "$pci" > /tmp/unplug 2>&1 ||
		log "xtask-init: unplug: fbtool failed"
	while IFS= read -r line; do log "xtask-init: $line"; done < /tmp/unplug
	echo "$pci" > /sys/bus/pci/drivers/bochs-drm/bind
	busybox sleep 1
	log "@UNPLUG_MARKER@ $(busybox ls /sys/class/graphics | busybox tr '\n' ' ')"
	busybox sleep 600
fi
if [ "$1" = fbdev-bench ]; then
	# vkms's framebuffer is fb0; the display's, bound late, is fb1, and fbcon took the console
	# as it registered (fbcon=nodefer map:1). The same megabyte of text is written to it
	# @BURSTS@ times; each burst is marked in the trace, and its flushes are counted until the
	# next begins, so that the damage it left is included.
	fb=/sys/class/graphics/fb1
	for wait in 1 2 3 4 5 6 7 8 9 10; do [ -e $fb ] && break; busybox sleep 1; done
	busybox sleep 2
	echo 0 > /sys/class/graphics/fbcon/cursor_blink
	[ -e /dev/tty1 ] || busybox mknod /dev/tty1 c 4 1
	busybox yes 'xtask fbdev burst: the quick brown fox jumps over the lazy dog 0123456789' |
		busybox head -c 1048576 > /tmp/text
	for burst in $(busybox seq @BURSTS@); do
		echo "burst-begin $burst" > $tracing/trace_marker
		busybox cat /tmp/text > /dev/tty1
		echo "burst-end $burst" > $tracing/trace_marker
		busybox sleep 2
	done
	echo 0 > $tracing/tracing_on
	driver=$(busybox basename "$(busybox readlink $fb/device/driver)")
	log "@FBDEV_BENCH_MARKER@ driver=$driver bpp=$(busybox cat $fb/bits_per_pixel) $(busybox awk "$summary" $tracing/trace)"
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
# Messages of error level or worse (pr_err), whose level the console does not show: the raw
# ring buffer (log_buf_len=16M keeps the whole boot) has it. `cargo xtask` fails the run on
# those of our code.
busybox dmesg -r -s 16777216 | busybox grep '^<[0-3]>' | while IFS= read -r line; do
	log "@ERROR_LEVEL@ $line"
done
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
    let modules: Vec<PathBuf> = [SPLASH_MODULE, FAULTS_MODULE]
        .into_iter()
        .map(|module| built_module(build_dir, module))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    if !modules.is_empty() {
        entries += "dir /lib/modules 0755 0 0\n";
    }
    for module in modules {
        let name = module
            .file_name()
            .context("a module path has a file name")?;
        entries += &format!(
            "file /lib/modules/{} {} 0644 0 0\n",
            name.to_string_lossy(),
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

/// A module of ours and the option that builds it.
pub struct OurModule {
    option: &'static str,
    path: &'static str,
}

/// The splash, a module in the debug kernel.
pub const SPLASH_MODULE: OurModule = OurModule {
    option: "CONFIG_DRM_VMAP_BOOTSPLASH",
    path: "drivers/gpu/drm/vmap_client/bootsplash/bootsplash.ko",
};

/// The failure injection sweep, built in the debug kernel only.
pub const FAULTS_MODULE: OurModule = OurModule {
    option: "CONFIG_DRM_VMAP_CLIENT_FAULT_TEST",
    path: "drivers/gpu/drm/vmap_client/kunit/suites/vmap_client_faults.ko",
};

/// `module`'s file, when the kernel in `build_dir` builds it as a module.
pub fn built_module(build_dir: &Path, module: OurModule) -> Result<Option<PathBuf>> {
    let config = fs::read_to_string(build_dir.join(".config"))
        .with_context(|| format!("no kernel configuration in {}", build_dir.display()))?;
    let wanted = format!("{}=m", module.option);
    if !config.lines().any(|line| line == wanted) {
        return Ok(None);
    }
    let module = build_dir.join(module.path);
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

fn init_script() -> String {
    INIT_SCRIPT
        .replace("@KMEMLEAK_BEGIN@", KMEMLEAK_BEGIN)
        .replace("@KMEMLEAK_END@", KMEMLEAK_END)
        .replace("@ERROR_LEVEL@", ERROR_LEVEL_MARKER)
        .replace("@READY_MARKER@", READY_MARKER)
        .replace("@PROGRESS_MARKER@", PROGRESS_MARKER)
        .replace("@MODULE_MARKER@", MODULE_MARKER)
        .replace("@MASTER_MARKER@", MASTER_MARKER)
        .replace("@CONSOLE_MARKER@", CONSOLE_MARKER)
        .replace("@PATTERN_MARKER@", PATTERN_MARKER)
        .replace("@UNPLUG_MARKER@", UNPLUG_MARKER)
        .replace("@FBDEV_BENCH_MARKER@", FBDEV_BENCH_MARKER)
        .replace("@BURSTS@", &FBDEV_BURSTS.to_string())
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
    fn init_is_a_valid_shell_script() {
        let dir = std::env::temp_dir().join(format!("xtask-init-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let script = dir.join("init.sh");
        fs::write(&script, init_script()).unwrap();
        // The guest's shell is busybox's; a syntax error makes init exit and the kernel panic.
        let status = Command::new(BUSYBOX)
            .args(["sh", "-n"])
            .arg(&script)
            .status()
            .unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert!(status.success(), "busybox sh -n rejects /init");
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
