// SPDX-License-Identifier: GPL-2.0

//! The `vmap_fbdev` KUnit suite: fbcon's drawing operations called through the registered
//! `fb_info` reach what bochs and cirrus scan out, inside the damage only, through one warm
//! mapping.

use crate::console::{flush_rate, merged, Console, ConsoleRef, REFRESH};
use kernel::{
    drm_client::{testing, Damage, Device, Format, Framebuffer, Output},
    error::code::*,
    fbdev::{live_devices, testing::OpenFbDevice, FbDevice, FbHandler},
    ktest::{CaseResult, Test},
    ktest_assert, ktest_assert_eq, ktest_hostile, ktest_suite,
    prelude::*,
    sync::Arc,
    vmap_cache::Direction,
};

fn area(x: u32, y: u32, width: u32, height: u32) -> Damage {
    Damage {
        x,
        y,
        width,
        height,
    }
}

/// A byte that no drawing of the cases produces.
const MARKER: u8 = 0x5a;

/// Palette colour 1: pure red.
const RED: u32 = 1;

/// Runs `body` with the emulation on the first device of `driver`, shown as fbcon would show
/// it; checks that it left nothing behind ([`testing::Footprint`]).
fn with_console_on(
    test: &Test,
    driver: &[u8],
    body: impl FnOnce(&Arc<ConsoleRef>, &Device) -> CaseResult,
) -> CaseResult {
    let device = testing::device_or_skip(test, driver)?;
    let before = testing::Footprint::settled(test, &device);
    let console = Console::start(&device)?.ok_or(ENODEV)?;
    let result = match console.set_par() {
        Ok(()) => body(&console, &device),
        Err(error) => Err(error.into()),
    };
    console.stop();
    drop(console);
    let after = before.after_releases(test, &device);
    result?;
    ktest_assert_eq!(test, after, before);
    Ok(())
}

/// Reads the pixel at (`x`, `y`) as the display scans it out: cirrus from its video memory
/// (which only damage flushes update), other devices through their own mapping of `fb`.
fn shown_pixel(device: &Device, fb: &Framebuffer, x: u32, y: u32) -> Result<u32> {
    let layout = fb.layout();
    let bytes = layout.format().bytes_per_pixel();
    let mut pixel = [0u8; 4];
    if device.driver_name().as_bytes() == b"cirrus" {
        let pitch = layout.width() as usize * bytes;
        testing::read_vram(
            device,
            y as usize * pitch + x as usize * bytes,
            &mut pixel[..bytes],
        )?;
    } else {
        let offset = y as usize * layout.pitch() + x as usize * bytes;
        testing::read_as_display(fb, offset, &mut pixel[..bytes])?;
    }
    Ok(u32::from_le_bytes(pixel))
}

/// Red as a pixel of `format`.
fn red(format: Format) -> u32 {
    match format {
        Format::Rgb565 => 0xf800,
        Format::Xrgb8888 => 0x00ff_0000,
    }
}

/// Paints the whole framebuffer with [`MARKER`] behind the emulation's back, so that a flush
/// that copies more than its damage shows.
fn paint_marker(fb: &Framebuffer) -> Result {
    let mut user = fb.vmap()?;
    let size = fb.layout().size();
    let mut access = user.begin_access(Direction::Write)?;
    access.memory().fill(0, size, MARKER)
}

/// The byte at (`x`, `y`) of `fb`'s memory, as the device maps it.
fn fb_byte(fb: &Framebuffer, x: u32, y: u32) -> Result<u32> {
    let layout = fb.layout();
    let mut byte = [0u8];
    let offset = y as usize * layout.pitch() + x as usize * layout.format().bytes_per_pixel();
    testing::read_as_display(fb, offset, &mut byte)?;
    Ok(u32::from(byte[0]))
}

/// A look at the registered device and its framebuffer, returning up to four values.
type Probe<'a> = &'a dyn Fn(&FbDevice<ConsoleRef>, &Framebuffer) -> Result<[u32; 4]>;

fn drawing_reaches_the_display_inside_the_damage(test: &Test, driver: &[u8]) -> CaseResult {
    with_console_on(test, driver, |console, device| {
        let console = console.clone();
        let active = |f: Probe<'_>| console.console().with_active(|fbdev, _, fb| f(fbdev, fb));
        let format = console
            .console()
            .with_active(|_, shadow, _| Ok(shadow.layout().format()))?;
        active(&|fbdev, fb| {
            fbdev.set_colour(RED, 0xffff, 0, 0)?;
            paint_marker(fb)?;
            fbdev.fill_rect(area(40, 30, 24, 16), RED)?;
            Ok([0; 4])
        })?;
        console.flush_now();
        let [first, last, _, _] = active(&|_, fb| {
            Ok([
                shown_pixel(device, fb, 40, 30)?,
                shown_pixel(device, fb, 63, 45)?,
                0,
                0,
            ])
        })?;
        ktest_assert_eq!(test, first, red(format));
        ktest_assert_eq!(test, last, red(format));
        // Outside the damage the flush copied nothing: the marker is still there.
        let outside = active(&|_, fb| {
            Ok([
                fb_byte(fb, 39, 30)?,
                fb_byte(fb, 64, 45)?,
                fb_byte(fb, 40, 46)?,
                fb_byte(fb, 40, 29)?,
            ])
        })?;
        ktest_assert_eq!(test, outside, [u32::from(MARKER); 4]);
        // copyarea: the red block, copied down and right.
        active(&|fbdev, _| {
            fbdev.copy_area((40, 30), area(100, 80, 24, 16))?;
            Ok([0; 4])
        })?;
        console.flush_now();
        let copied = active(&|_, fb| {
            Ok([
                shown_pixel(device, fb, 100, 80)?,
                shown_pixel(device, fb, 123, 95)?,
                fb_byte(fb, 99, 80)?,
                fb_byte(fb, 124, 95)?,
            ])
        })?;
        ktest_assert_eq!(
            test,
            copied,
            [
                red(format),
                red(format),
                u32::from(MARKER),
                u32::from(MARKER)
            ]
        );
        // imageblit: an 8x2 glyph, left half set, in red on colour 0 (black).
        active(&|fbdev, _| {
            fbdev.blit_glyph(area(200, 150, 8, 2), &[0xf0, 0xf0], RED, 0)?;
            Ok([0; 4])
        })?;
        console.flush_now();
        let blitted = active(&|_, fb| {
            Ok([
                shown_pixel(device, fb, 200, 150)?,
                shown_pixel(device, fb, 207, 151)?,
                fb_byte(fb, 208, 150)?,
                fb_byte(fb, 200, 152)?,
            ])
        })?;
        ktest_assert_eq!(
            test,
            blitted,
            [red(format), 0, u32::from(MARKER), u32::from(MARKER)]
        );
        Ok(())
    })
}

fn drawing_reaches_bochs(test: &Test) -> CaseResult {
    drawing_reaches_the_display_inside_the_damage(test, b"bochs-drm")
}

fn drawing_reaches_cirrus(test: &Test) -> CaseResult {
    drawing_reaches_the_display_inside_the_damage(test, b"cirrus")
}

fn flushes_reuse_one_mapping(test: &Test) -> CaseResult {
    with_console_on(test, b"cirrus", |console, _| {
        let (before, flushes_before) = console.console().stats()?;
        for step in 0..8u32 {
            console.console().with_active(|fbdev, _, _| {
                fbdev.fill_rect(area(step * 10, 0, 8, 8), RED)?;
                Ok(())
            })?;
            console.flush_now();
        }
        let (after, flushes) = console.console().stats()?;
        ktest_assert_eq!(test, flushes - flushes_before, 8);
        // One mapping for the buffer's life (made when it was first shown), then hits only.
        ktest_assert_eq!(test, after.misses, 1);
        ktest_assert_eq!(test, after.misses, before.misses);
        ktest_assert_eq!(test, after.hits - before.hits, 8);
        ktest_assert_eq!(test, after.remaps, 0);
        Ok(())
    })
}

fn handover_to_a_master_and_back(test: &Test) -> CaseResult {
    with_console_on(test, b"bochs-drm", |console, device| {
        let console = console.clone();
        let active = |f: Probe<'_>| console.console().with_active(|fbdev, _, fb| f(fbdev, fb));
        let format = console
            .console()
            .with_active(|_, shadow, _| Ok(shadow.layout().format()))?;
        active(&|fbdev, _| {
            fbdev.set_colour(RED, 0xffff, 0, 0)?;
            fbdev.fill_rect(area(0, 0, 16, 16), RED)?;
            Ok([0; 4])
        })?;
        console.flush_now();
        let (_, shown_flushes) = console.console().stats()?;
        let shown = active(&|_, fb| Ok([shown_pixel(device, fb, 0, 0)?, fb.id(), 0, 0]))?;
        ktest_assert_eq!(test, shown[0], red(format));
        ktest_assert_eq!(test, testing::scanned_out_id(device), shown[1]);
        // User space takes the display: fbcon keeps drawing into the shadow, nothing reaches
        // the framebuffer.
        let master = testing::MasterFile::open(device)?;
        active(&|fbdev, _| {
            fbdev.fill_rect(area(300, 200, 16, 16), RED)?;
            Ok([0; 4])
        })?;
        console.flush_now();
        let (_, flushes) = console.console().stats()?;
        ktest_assert_eq!(test, flushes, shown_flushes);
        let hidden = active(&|_, fb| Ok([shown_pixel(device, fb, 300, 200)?, 0, 0, 0]))?;
        ktest_assert!(test, hidden[0] != red(format));
        // The last close restores the clients: the emulation shows the shadow again, with
        // what fbcon drew meanwhile.
        drop(master);
        let back = active(&|_, fb| {
            Ok([
                shown_pixel(device, fb, 300, 200)?,
                shown_pixel(device, fb, 0, 0)?,
                fb.id(),
                0,
            ])
        })?;
        ktest_assert_eq!(test, back[0], red(format));
        ktest_assert_eq!(test, back[1], red(format));
        ktest_assert_eq!(test, testing::scanned_out_id(device), back[2]);
        Ok(())
    })
}

fn unplug_with_the_device_open(test: &Test) -> CaseResult {
    let device = testing::device_or_skip(test, b"bochs-drm")?;
    let live = live_devices();
    let census = testing::Census::settled(test);
    let console = Console::start(&device)?.ok_or(ENODEV)?;
    console.set_par()?;
    let index = console.console().index().ok_or(ENODEV)?;
    let file = OpenFbDevice::open(index)?;
    ktest_assert!(test, file.is_registered());
    ktest_assert_eq!(test, live_devices(), live + 1);
    // The driver goes while /dev/fbN is open: the device's unregistration ends the
    // emulation, the file keeps the fb_info, and file operations now fail with ENODEV.
    let unbound = testing::Unbound::unbind(&device)?;
    drop(device);
    let ended = console.console().index().is_none();
    ktest_assert!(test, ended);
    ktest_assert!(test, !file.is_registered());
    ktest_assert_eq!(test, live_devices(), live + 1);
    // Drawing through it still lands in the shadow, and flushes nothing.
    file.fill_rect(area(0, 0, 64, 64), RED)?;
    console.flush_now();
    let stats = console.console().stats();
    ktest_assert_eq!(test, stats.err(), Some(ENODEV));
    ktest_hostile!(test, file.fill_rect(area(u32::MAX, 0, 64, 64), RED), EINVAL);
    // The last close destroys it.
    drop(file);
    ktest_assert_eq!(test, live_devices(), live);
    console.stop();
    drop(console);
    // The driver binds again, and a new device appears.
    unbound.rebind()?;
    testing::device_or_skip(test, b"bochs-drm")?;
    // Nothing of the old device's emulation is left on any device.
    testing::wait_for_releases(test, || testing::Census::now() == census);
    ktest_assert_eq!(test, testing::Census::now(), census);
    Ok(())
}

fn drawing_off_the_screen_is_refused(test: &Test) -> CaseResult {
    with_console_on(test, b"cirrus", |console, _| {
        let console = console.console();
        let (width, height) = console
            .with_active(|_, shadow, _| Ok((shadow.layout().width(), shadow.layout().height())))?;
        let fill = |at: Damage, colour: u32| {
            console.with_active(|fbdev, _, _| fbdev.fill_rect(at, colour))
        };
        let copy = |from: (u32, u32), to: Damage| {
            console.with_active(|fbdev, _, _| fbdev.copy_area(from, to))
        };
        let right = area(width - 4, 0, 8, 8);
        test.hostile_input(
            format_args!("fb_fillrect across the right edge"),
            &fill(right, RED),
            EINVAL,
        )?;
        let below = area(0, height, 1, 1);
        test.hostile_input(
            format_args!("fb_fillrect below the screen"),
            &fill(below, RED),
            EINVAL,
        )?;
        let tall = area(0, 0, 8, u32::MAX);
        test.hostile_input(
            format_args!("fb_fillrect of height u32::MAX"),
            &fill(tall, RED),
            EINVAL,
        )?;
        test.hostile_input(
            format_args!("fb_fillrect in colour 16"),
            &fill(area(0, 0, 8, 8), 16),
            EINVAL,
        )?;
        let source = copy((width, 0), area(0, 0, 8, 8));
        test.hostile_input(
            format_args!("fb_copyarea from off the screen"),
            &source,
            EINVAL,
        )?;
        let overflow = copy((0, 0), area(u32::MAX, 0, 8, 8));
        test.hostile_input(format_args!("fb_copyarea to x u32::MAX"), &overflow, EINVAL)?;
        let glyph = console
            .with_active(|fbdev, _, _| fbdev.blit_glyph(area(width - 1, 0, 8, 1), &[0xff], 1, 0));
        test.hostile_input(
            format_args!("fb_imageblit across the right edge"),
            &glyph,
            EINVAL,
        )?;
        // The screen's last pixel is on it.
        fill(area(width - 8, height - 8, 8, 8), RED)?;
        Ok(())
    })
}

/// The display goes and comes back (a hotplug each time): the console flushes at the rate of
/// the outputs found, probes for modes that fit its framebuffer, and shows it again with what
/// was drawn meanwhile.
fn hotplug_shows_the_console_again(test: &Test) -> CaseResult {
    with_console_on(test, b"vkms", |console, device| {
        let outputs = console.console().outputs()?;
        let refresh = outputs.first().ok_or(ENODEV)?.refresh;
        // vkms's preferred mode is 1024x768 at 60 Hz.
        ktest_assert_eq!(test, refresh, 60);
        ktest_assert_eq!(test, console.flush_rate(), refresh);
        let shown = console.console().with_active(|fbdev, _, fb| {
            fbdev.set_colour(RED, 0xffff, 0, 0)?;
            Ok(fb.id())
        })?;
        let disconnected = testing::set_connected(device, false);
        let rate_without_outputs = console.flush_rate();
        let drawn = console
            .console()
            .with_active(|fbdev, _, _| fbdev.fill_rect(area(16, 16, 8, 8), RED));
        testing::set_connected(device, true)?;
        disconnected?;
        drawn?;
        ktest_assert_eq!(test, rate_without_outputs, REFRESH);
        ktest_assert_eq!(test, console.flush_rate(), refresh);
        ktest_assert_eq!(test, testing::scanned_out_id(device), shown);
        console.flush_now();
        let pixel = console.console().with_active(|_, _, fb| {
            shown_pixel(device, fb, 20, 20).map(|pixel| (pixel, red(fb.layout().format())))
        })?;
        ktest_assert_eq!(test, pixel.0, pixel.1);
        Ok(())
    })
}

fn flush_rate_is_the_fastest_refresh(test: &Test) -> CaseResult {
    let output = |refresh| Output {
        crtc_id: 1,
        width: 640,
        height: 480,
        x: 0,
        y: 0,
        connectors: 1,
        refresh,
    };
    ktest_assert_eq!(test, flush_rate(&[]), REFRESH);
    ktest_assert_eq!(test, flush_rate(&[output(0)]), REFRESH);
    ktest_assert_eq!(test, flush_rate(&[output(75), output(0), output(144)]), 144);
    ktest_assert_eq!(test, flush_rate(&[output(30)]), 30);
    Ok(())
}

fn damage_merges_without_a_lock(test: &Test) -> CaseResult {
    ktest_assert_eq!(test, merged(&[]), None);
    ktest_assert_eq!(
        test,
        merged(&[area(10, 20, 5, 5), area(0, 40, 2, 2)]),
        Some(area(0, 20, 15, 22))
    );
    // Empty and out-of-range areas add nothing.
    ktest_assert_eq!(test, merged(&[area(3, 3, 0, 9)]), None);
    ktest_assert_eq!(test, merged(&[area(70000, 0, 1, 1)]), None);
    ktest_assert!(test, merged(&[area(0, 0, 65535, 65535)]).is_some());
    Ok(())
}

ktest_suite!(
    vmap_fbdev,
    [
        damage_merges_without_a_lock,
        drawing_off_the_screen_is_refused,
        drawing_reaches_bochs,
        drawing_reaches_cirrus,
        flushes_reuse_one_mapping,
        flush_rate_is_the_fastest_refresh,
        handover_to_a_master_and_back,
        hotplug_shows_the_console_again,
        unplug_with_the_device_open,
    ]
);
