// SPDX-License-Identifier: GPL-2.0

//! The `bootsplash` KUnit suite: layouts, the BMP decoder on good and hostile data, the
//! picture chain, the options, and the splash itself on vkms (damage, pixels on screen,
//! mappings, handover).

use crate::bmp::{self, BmpError};
use crate::draw::{encode, Bar, FILL, TRACK};
use crate::options::{parse_colour, parse_progress, Colour, Progress};
use crate::picture::{self, Attempt, Refusal, Source};
use crate::scene::{PictureSize, Scene};
use crate::splash::{DeviceSplash, ProgressSource, Settings};
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{
    drm_client::{testing, Damage, Device, DeviceWatcher, Next, Watch},
    error::code::*,
    ktest::{CaseResult, Test},
    ktest_assert, ktest_assert_eq, ktest_hostile, ktest_suite,
    module_param::{Flag, ParamValue, RangedU32, Text},
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    time::Ktime,
};

/// The built-in picture's size and a few of its pixels (see `logo/make_logo.py`).
const LOGO: (u32, u32) = (160, 120);
const LOGO_BACKGROUND: u32 = 0x0010_1418;
const LOGO_FRAME: u32 = 0x00d8_dee6;
const LOGO_RING: u32 = 0x00f0_7c30;

fn area(x: u32, y: u32, width: u32, height: u32) -> Damage {
    Damage {
        x,
        y,
        width,
        height,
    }
}

fn inside(inner: &Damage, outer: &Damage) -> bool {
    inner.x >= outer.x
        && inner.y >= outer.y
        && inner.x + inner.width <= outer.x + outer.width
        && inner.y + inner.height <= outer.y + outer.height
}

/// The picture's drawn area in the framebuffer, clipped to the output.
fn picture_area(scene: &Scene) -> Option<Damage> {
    let placement = scene.picture?;
    let scale = i64::from(placement.scale);
    let left = placement.x.max(i64::from(scene.output.x));
    let top = placement.y.max(i64::from(scene.output.y));
    let right = (placement.x + i64::from(placement.width) * scale)
        .min(i64::from(scene.output.x + scene.output.width));
    let bottom = (placement.y + i64::from(placement.height) * scale)
        .min(i64::from(scene.output.y + scene.output.height));
    Some(area(
        u32::try_from(left).ok()?,
        u32::try_from(top).ok()?,
        u32::try_from(right - left).ok()?,
        u32::try_from(bottom - top).ok()?,
    ))
}

fn logo_size() -> Option<PictureSize> {
    Some(PictureSize {
        width: LOGO.0,
        height: LOGO.1,
        firmware_origin: None,
    })
}

/// Checks what every layout must satisfy: the bar inside the output and below the picture,
/// not over it, and a centred picture.
fn check_layout(test: &Test, scene: &Scene) -> CaseResult {
    ktest_assert!(test, inside(&scene.bar, &scene.output));
    ktest_assert!(test, scene.bar.width > 0 && scene.bar.height > 0);
    if let Some(picture) = picture_area(scene) {
        ktest_assert!(test, inside(&picture, &scene.output));
        ktest_assert!(test, scene.bar.y >= picture.y + picture.height);
    }
    Ok(())
}

fn layout_for_tiny_and_odd_modes(test: &Test) -> CaseResult {
    for ((width, height), scale) in [
        ((320, 200), 1),
        ((160, 120), 1),
        ((1366, 767), 3),
        ((799, 601), 2),
        ((41, 31), 1),
    ] {
        let scene = Scene::new(area(0, 0, width, height), logo_size());
        let placement = scene.picture.ok_or(EINVAL)?;
        ktest_assert_eq!(test, placement.scale, scale);
        if width >= LOGO.0 && height >= LOGO.1 + 12 {
            check_layout(test, &scene)?;
            // Centred to within the rounding of an odd difference.
            let left = placement.x;
            let right = i64::from(width) - left - i64::from(LOGO.0 * scale);
            ktest_assert!(test, (left - right).abs() <= 1);
        } else {
            // Larger than the output: clipped, centred, the bar still on screen.
            ktest_assert!(test, inside(&scene.bar, &scene.output));
            ktest_assert!(test, placement.x <= 0 || placement.y <= 0);
        }
    }
    Ok(())
}

fn layout_for_common_and_huge_modes(test: &Test) -> CaseResult {
    // Scale: the largest integer keeping the picture within half the output, at most 8.
    for ((width, height), scale) in [
        ((1024, 768), 3),
        ((1280, 800), 3),
        ((1920, 1080), 4),
        ((3840, 2160), 8),
        ((7680, 4320), 8),
    ] {
        let scene = Scene::new(area(0, 0, width, height), logo_size());
        ktest_assert_eq!(test, scene.picture.ok_or(EINVAL)?.scale, scale);
        check_layout(test, &scene)?;
    }
    // A second output, side by side, gets its own layout in its own part of the buffer.
    let right = Scene::new(area(1024, 0, 800, 600), logo_size());
    ktest_assert!(
        test,
        inside(&picture_area(&right).ok_or(EINVAL)?, &right.output)
    );
    ktest_assert!(test, right.bar.x >= 1024);
    Ok(())
}

fn firmware_logo_keeps_its_place(test: &Test) -> CaseResult {
    // OVMF's logo (193x58) at 1280x800: offsets 543/371, centred; the same mode keeps them.
    let bgrt = |x, y| {
        Some(PictureSize {
            width: 193,
            height: 58,
            firmware_origin: Some((x, y)),
        })
    };
    let same_mode = Scene::new(area(0, 0, 1280, 800), bgrt(543, 371));
    let placement = same_mode.picture.ok_or(EINVAL)?;
    ktest_assert_eq!(
        test,
        (placement.x, placement.y, placement.scale),
        (543, 371, 1)
    );
    // cirrus: the firmware drew at 800x600 (303/271), DRM switches to 1024x768: centred
    // again, never scaled, so it stays the firmware's size.
    let new_mode = Scene::new(area(0, 0, 1024, 768), bgrt(303, 271));
    let placement = new_mode.picture.ok_or(EINVAL)?;
    ktest_assert_eq!(
        test,
        (placement.x, placement.y, placement.scale),
        (415, 355, 1)
    );
    check_layout(test, &new_mode)?;
    Ok(())
}

/// A BMP file of `width` x `height` pixels at `bits` (24 or 32), uncompressed, bottom-up,
/// pixel (x, y) = `colour(x, y)`.
fn true_colour_bmp(
    width: u32,
    height: u32,
    bits: u16,
    colour: fn(u32, u32) -> u32,
) -> Result<KVec<u8>> {
    let stride = (width as usize * usize::from(bits) / 8).div_ceil(4) * 4;
    let mut file = bmp_headers(width, height, bits, 0, 0, stride * height as usize)?;
    for y in (0..height).rev() {
        let mut row = KVec::new();
        for x in 0..width {
            let [blue, green, red, _] = colour(x, y).to_le_bytes();
            row.extend_from_slice(&[blue, green, red], GFP_KERNEL)?;
            if bits == 32 {
                row.push(0, GFP_KERNEL)?;
            }
        }
        while row.len() < stride {
            row.push(0, GFP_KERNEL)?;
        }
        file.extend_from_slice(&row, GFP_KERNEL)?;
    }
    Ok(file)
}

/// The file and info headers of a BMP, with `palette` entries following.
fn bmp_headers(
    width: u32,
    height: u32,
    bits: u16,
    compression: u32,
    palette: u32,
    pixel_bytes: usize,
) -> Result<KVec<u8>> {
    let offset = 54 + palette * 4;
    let size = offset + u32::try_from(pixel_bytes)?;
    let mut file = KVec::new();
    for (bytes, len) in [
        (u32::from_le_bytes(*b"BM\0\0"), 2),
        (size, 4),
        (0, 4),
        (offset, 4),
        (40, 4),
        (width, 4),
        (height, 4),
        (1 | (u32::from(bits) << 16), 4),
        (compression, 4),
        (u32::try_from(pixel_bytes)?, 4),
        (2835, 4),
        (2835, 4),
        (palette, 4),
        (0, 4),
    ] {
        file.extend_from_slice(&bytes.to_le_bytes()[..len], GFP_KERNEL)?;
    }
    Ok(file)
}

fn gradient(x: u32, y: u32) -> u32 {
    (x * 40) << 16 | (y * 50) << 8 | 0x80
}

fn decoder_reads_good_input(test: &Test) -> CaseResult {
    for bits in [24, 32] {
        let file = true_colour_bmp(5, 3, bits, gradient)?;
        let image = bmp::decode(&file, 64).map_err(|_| EINVAL)?;
        ktest_assert_eq!(test, (image.width(), image.height()), (5, 3));
        for (x, y) in [(0, 0), (4, 0), (2, 1), (4, 2)] {
            ktest_assert_eq!(test, image.pixel(x, y), gradient(x, y));
        }
    }
    // The built-in picture: 8-bit RLE, bottom-up.
    let logo = bmp::decode(picture::BUILT_IN, picture::MAX_SIDE).map_err(|_| EINVAL)?;
    ktest_assert_eq!(test, (logo.width(), logo.height()), LOGO);
    ktest_assert_eq!(test, logo.pixel(0, 0), LOGO_BACKGROUND);
    ktest_assert_eq!(test, logo.pixel(12, 8), LOGO_FRAME);
    // The ring's left edge, 25 pixels left of its centre (80, 50).
    ktest_assert_eq!(test, logo.pixel(55, 50), LOGO_RING);
    ktest_assert!(test, picture::BUILT_IN.len() < 4096);
    Ok(())
}

/// Counts the prefixes of `file` the decoder accepts; each must fail cleanly.
fn accepted_prefixes(file: &[u8]) -> usize {
    (0..file.len())
        .filter(|&len| bmp::decode(&file[..len], picture::MAX_SIDE).is_ok())
        .count()
}

fn decoder_refuses_truncated_input(test: &Test) -> CaseResult {
    let true_colour = true_colour_bmp(7, 5, 24, gradient)?;
    ktest_assert_eq!(test, accepted_prefixes(&true_colour), 0);
    ktest_assert_eq!(test, accepted_prefixes(picture::BUILT_IN), 0);
    ktest_assert_eq!(
        test,
        bmp::decode(&true_colour[..60], 64).err(),
        Some(BmpError::Truncated)
    );
    let tried = true_colour.len() + picture::BUILT_IN.len();
    pr_info!("hostile inputs: truncated BMP files: {tried} tried, {tried} clean\n");
    Ok(())
}

fn decoder_refuses_oversized_input(test: &Test) -> CaseResult {
    // The header claims 70000 x 70000 in 70 bytes: refused before any allocation.
    let mut huge = bmp_headers(70000, 70000, 24, 0, 0, 16)?;
    huge.extend_from_slice(&[0; 16], GFP_KERNEL)?;
    ktest_assert_eq!(
        test,
        bmp::decode(&huge, picture::MAX_SIDE).err(),
        Some(BmpError::BadSize)
    );
    let mut negative = bmp_headers(4, 0x8000_0000, 24, 0, 0, 16)?;
    negative.extend_from_slice(&[0; 16], GFP_KERNEL)?;
    ktest_assert_eq!(
        test,
        bmp::decode(&negative, picture::MAX_SIDE).err(),
        Some(BmpError::BadSize)
    );
    let zero = true_colour_bmp(1, 1, 24, gradient)?;
    let mut zero_width = true_colour_bmp(1, 1, 24, gradient)?;
    zero_width[18..22].copy_from_slice(&0u32.to_le_bytes());
    ktest_assert_eq!(
        test,
        bmp::decode(&zero_width, 64).err(),
        Some(BmpError::BadSize)
    );
    // Within the file format but above the caller's limit.
    ktest_assert_eq!(test, bmp::decode(&zero, 0).err(), Some(BmpError::BadSize));
    Ok(())
}

fn decoder_refuses_corrupt_input(test: &Test) -> CaseResult {
    let mut not_bmp = true_colour_bmp(2, 2, 24, gradient)?;
    not_bmp[0] = b'X';
    ktest_assert_eq!(
        test,
        bmp::decode(&not_bmp, 64).err(),
        Some(BmpError::NotBmp)
    );
    let mut sixteen_bits = true_colour_bmp(2, 2, 24, gradient)?;
    sixteen_bits[28] = 16;
    ktest_assert_eq!(
        test,
        bmp::decode(&sixteen_bits, 64).err(),
        Some(BmpError::Unsupported)
    );
    // RLE8, 4x1 with 2 palette entries: a run longer than the row, then an index beyond the
    // palette, then no end marker.
    for (codes, expected) in [
        (&[5u8, 0, 0, 1][..], BmpError::Corrupt),
        (&[1, 7, 0, 1][..], BmpError::Corrupt),
        (&[4, 1][..], BmpError::Truncated),
        (&[0, 2, 9, 0, 0, 1][..], BmpError::Corrupt),
    ] {
        let mut file = bmp_headers(4, 1, 8, 1, 2, codes.len())?;
        file.extend_from_slice(&[0, 0, 0, 0, 255, 255, 255, 0], GFP_KERNEL)?;
        file.extend_from_slice(codes, GFP_KERNEL)?;
        ktest_assert_eq!(test, bmp::decode(&file, 64).err(), Some(expected));
    }
    // Every single-byte corruption of the built-in picture decodes or fails cleanly.
    let mut copy = KVVec::new();
    copy.extend_from_slice(picture::BUILT_IN, GFP_KERNEL)?;
    let (mut tried, mut refused) = (0, 0);
    let mut seed: u32 = 0x2545_f491;
    for at in 0..copy.len() {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let original = copy[at];
        copy[at] = original ^ (1u8 << ((seed >> 16) % 8));
        tried += 1;
        if bmp::decode(&copy, picture::MAX_SIDE).is_err() {
            refused += 1;
        }
        copy[at] = original;
    }
    // Clean: refused, or decoded within bounds (KASAN watches the debug kernel's run).
    pr_info!("hostile inputs: corrupted BMPs ({refused} refused): {tried} tried, {tried} clean\n");
    ktest_assert!(test, refused > 0);
    Ok(())
}

fn picture_chain_falls_back_in_order(test: &Test) -> CaseResult {
    let absent = || Err(Refusal::Absent);
    let corrupt = || Err(Refusal::Bad(BmpError::Corrupt));
    let missing = || Err(Refusal::Failed(-2));
    let built_in = picture::built_in;
    let mut reports = KVec::new();
    let attempts: [Attempt<'_>; 3] = [
        (Source::FirmwareLogo, &absent),
        (Source::File, &corrupt),
        (Source::BuiltIn, &built_in),
    ];
    let chosen = picture::choose(&attempts, &mut |source, refusal| {
        let _ = reports.push((source, refusal), GFP_KERNEL);
    });
    ktest_assert_eq!(test, chosen.source, Source::BuiltIn);
    ktest_assert_eq!(test, reports.len(), 1);
    ktest_assert_eq!(
        test,
        reports[0],
        (Source::File, Refusal::Bad(BmpError::Corrupt))
    );
    // Nothing good: the solid colour, every failure reported once.
    let attempts: [Attempt<'_>; 2] = [(Source::File, &missing), (Source::BuiltIn, &corrupt)];
    let mut count = 0;
    let chosen = picture::choose(&attempts, &mut |_, _| count += 1);
    ktest_assert_eq!(test, (chosen.source, count), (Source::SolidColour, 2));
    ktest_assert!(test, chosen.image.is_none());
    // The first good source wins, the later ones are not even tried.
    let attempts: [Attempt<'_>; 2] = [(Source::BuiltIn, &built_in), (Source::File, &corrupt)];
    let chosen = picture::choose(&attempts, &mut |_, _| count += 1);
    ktest_assert_eq!(test, (chosen.source, count), (Source::BuiltIn, 2));
    Ok(())
}

fn progress_parameter_parses(test: &Test) -> CaseResult {
    for (text, value) in [(&b"0"[..], 0), (b"42", 42), (b"100", 100), (b"0x10", 16)] {
        ktest_assert_eq!(test, parse_progress(text)?, value);
    }
    for text in [&b"101"[..], b"-1", b"", b"4x", b"99999999999"] {
        ktest_hostile!(test, parse_progress(text), EINVAL);
    }
    let progress = Progress::new();
    ktest_assert_eq!(test, progress.progress(), None);
    progress.parse(b"57")?;
    ktest_assert_eq!(test, progress.progress(), Some(57));
    ktest_hostile!(test, progress.parse(b"200"), EINVAL);
    ktest_assert_eq!(test, progress.progress(), Some(57));
    Ok(())
}

fn command_line_options_parse(test: &Test) -> CaseResult {
    for text in [&b"102030"[..], b"#102030", b"0x102030"] {
        ktest_assert_eq!(test, parse_colour(text)?, 0x0010_2030);
    }
    for text in [&b"10203"[..], b"#1020304", b"red", b"0x10203g", b""] {
        ktest_hostile!(test, parse_colour(text), EINVAL);
    }
    let colour = Colour::new(0x00ab_cdef);
    ktest_hostile!(test, colour.parse(b"nonsense"), EINVAL);
    ktest_assert_eq!(test, colour.get(), 0x00ab_cdef);
    let fps = RangedU32::new(30, 1, 240);
    for text in [&b"0"[..], b"241", b"fast", b""] {
        ktest_hostile!(test, fps.parse(text), EINVAL);
    }
    ktest_assert_eq!(test, fps.get(), 30);
    fps.parse(b"60")?;
    ktest_assert_eq!(test, fps.get(), 60);
    let enable = Flag::new(true);
    for (text, value) in [
        (&b"0"[..], false),
        (b"y", true),
        (b"off", false),
        (b"on", true),
    ] {
        enable.parse(text)?;
        ktest_assert_eq!(test, enable.get(), value);
    }
    ktest_hostile!(test, enable.parse(b"maybe"), EINVAL);
    let image: Text<8> = Text::new();
    ktest_hostile!(test, image.parse(b"too-long-name.bmp"), EINVAL);
    image.parse(b"a.bmp")?;
    let mut copy = [0u8; 8];
    ktest_assert_eq!(test, image.copy_to(&mut copy), Some(5));
    ktest_assert_eq!(test, copy[..6], *b"a.bmp\0");
    Ok(())
}

/// Progress that a case sets.
pub(crate) struct FixedProgress(Option<u32>);

impl ProgressSource for FixedProgress {
    fn progress(&self) -> Option<u32> {
        self.0
    }
}

pub(crate) static NO_PROGRESS: FixedProgress = FixedProgress(None);
static HALF_DONE: FixedProgress = FixedProgress(Some(50));

/// Runs `body` with a splash of the built-in picture on vkms; see [`with_splash_on`].
fn with_splash(
    test: &Test,
    progress: &'static FixedProgress,
    body: impl FnOnce(&Arc<DeviceSplash>) -> CaseResult,
) -> CaseResult {
    with_splash_on(test, b"vkms", progress, true, body)
}

/// Runs `body` with a splash of the built-in picture on the first device of `driver`, then
/// checks that the splash left nothing behind ([`testing::Footprint`]).
fn with_splash_on(
    test: &Test,
    driver: &[u8],
    progress: &'static FixedProgress,
    flips: bool,
    body: impl FnOnce(&Arc<DeviceSplash>) -> CaseResult,
) -> CaseResult {
    let device = testing::device_or_skip(test, driver)?;
    let before = testing::Footprint::settled(test, &device);
    let splash = start_splash(&device, progress, flips)?.ok_or(ENODEV)?;
    let result = body(&splash);
    splash.end();
    drop(splash);
    let after = before.after_releases(test, &device);
    result?;
    ktest_assert_eq!(test, after, before);
    Ok(())
}

/// Starts a splash of the built-in picture on `device`, not animated.
pub(crate) fn start_splash(
    device: &Device,
    progress: &'static FixedProgress,
    flips: bool,
) -> Result<Option<Arc<DeviceSplash>>> {
    let picture = Arc::new(picture::built_in().map_err(Refusal::errno)?, GFP_KERNEL)?;
    let settings = Settings {
        fps: 30,
        background: 0x0020_3040,
        flips,
    };
    DeviceSplash::start(device, picture, settings, progress, None)
}

/// The frame on screen, as the display reads it.
fn shown_frame(splash: &DeviceSplash) -> Result<(KVVec<u8>, u32)> {
    let (_, layout) = splash.current_scenes()?;
    let layout = layout.ok_or(ENODEV)?;
    let mut frame = KVVec::from_elem(0u8, layout.size(), GFP_KERNEL)?;
    let id = splash.read_shown(0, &mut frame)?;
    Ok((frame, id))
}

fn pixel_at(frame: &[u8], pitch: usize, x: u32, y: u32) -> u32 {
    let at = y as usize * pitch + x as usize * 4;
    frame.get(at..at + 4).map_or(u32::MAX, |bytes| {
        u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) & 0x00ff_ffff
    })
}

/// The pixels of the first output's picture that differ from the picture in `frame`.
fn wrong_picture_pixels(
    splash: &DeviceSplash,
    scene: &Scene,
    frame: &[u8],
    pitch: usize,
) -> Result<u32> {
    let image = splash.picture().image.as_ref().ok_or(EINVAL)?;
    let placement = scene.picture.ok_or(EINVAL)?;
    let picture = picture_area(scene).ok_or(EINVAL)?;
    let scale = i64::from(placement.scale);
    let mut wrong = 0;
    for y in picture.y..picture.y + picture.height {
        for x in picture.x..picture.x + picture.width {
            let source_x =
                u32::try_from((i64::from(x) - placement.x) / scale).map_err(|_| EINVAL)?;
            let source_y =
                u32::try_from((i64::from(y) - placement.y) / scale).map_err(|_| EINVAL)?;
            if pixel_at(frame, pitch, x, y) != image.pixel(source_x, source_y) {
                wrong += 1;
            }
        }
    }
    Ok(wrong)
}

fn splash_shows_the_picture_where_it_says(test: &Test) -> CaseResult {
    with_splash(test, &HALF_DONE, |splash| {
        let (scenes, layout) = splash.current_scenes()?;
        let layout = layout.ok_or(ENODEV)?;
        let (frame, id) = shown_frame(splash)?;
        ktest_assert_eq!(test, testing::scanned_out_id(splash.device()), id);
        let scene = scenes.first().ok_or(ENODEV)?;
        let wrong = wrong_picture_pixels(splash, scene, &frame, layout.pitch())?;
        ktest_assert_eq!(test, wrong, 0);
        // Background outside the picture and the bar, the bar at 50%.
        ktest_assert_eq!(test, pixel_at(&frame, layout.pitch(), 0, 0), 0x0020_3040);
        let bar = scene.bar;
        ktest_assert_eq!(test, pixel_at(&frame, layout.pitch(), bar.x, bar.y), FILL);
        ktest_assert_eq!(
            test,
            pixel_at(&frame, layout.pitch(), bar.x + bar.width - 1, bar.y),
            TRACK
        );
        Ok(())
    })
}

fn frames_damage_only_the_bar(test: &Test) -> CaseResult {
    with_splash(test, &NO_PROGRESS, |splash| {
        let (scenes, layout) = splash.current_scenes()?;
        let layout = layout.ok_or(ENODEV)?;
        // `start()` drew frame 0 into the first buffer and frame 1 into the second; frame 2
        // redraws the first one whole (the mode set of frame 0 may have cleared it); from
        // frame 3 on only the bar changes.
        ktest_assert_eq!(test, splash.frame(2), Next::Continue);
        for number in 3..7 {
            let (before, before_id) = shown_frame(splash)?;
            ktest_assert_eq!(test, splash.frame(number), Next::Continue);
            let (after, after_id) = shown_frame(splash)?;
            ktest_assert!(test, before_id != after_id);
            let damage = splash.last_damage()?;
            ktest_assert_eq!(test, damage.len(), scenes.len());
            for (area, scene) in damage.iter().zip(scenes.iter()) {
                ktest_assert_eq!(test, *area, scene.bar);
            }
            let (mut outside, mut inside_bar) = (0, 0);
            for y in 0..layout.height() {
                for x in 0..layout.width() {
                    if pixel_at(&before, layout.pitch(), x, y)
                        == pixel_at(&after, layout.pitch(), x, y)
                    {
                        continue;
                    }
                    if scenes
                        .iter()
                        .any(|scene| inside(&area(x, y, 1, 1), &scene.bar))
                    {
                        inside_bar += 1;
                    } else {
                        outside += 1;
                    }
                }
            }
            ktest_assert_eq!(test, outside, 0);
            ktest_assert!(test, inside_bar > 0);
        }
        Ok(())
    })
}

fn frames_reuse_their_mappings(test: &Test) -> CaseResult {
    const FRAMES: u64 = 40;
    with_splash(test, &NO_PROGRESS, |splash| {
        for number in 2..FRAMES + 2 {
            ktest_assert_eq!(test, splash.frame(number), Next::Continue);
        }
        let stats = splash.buffer_stats()?;
        ktest_assert_eq!(test, stats.len(), 2);
        let misses: u64 = stats.iter().map(|stats| stats.misses).sum();
        let hits: u64 = stats.iter().map(|stats| stats.hits).sum();
        // vkms: shmem, nothing moves; one mapping per buffer for all the frames.
        ktest_assert_eq!(test, misses, 2);
        // `start()` drew two frames, then `FRAMES` more: one access each.
        ktest_assert_eq!(test, hits + misses, FRAMES + 2);
        ktest_assert_eq!(test, splash.frames(), FRAMES + 2);
        Ok(())
    })
}

/// The sum of both framebuffers' counters: (misses, remaps, hits).
fn mapping_counts(splash: &DeviceSplash) -> Result<(u64, u64, u64)> {
    let stats = splash.buffer_stats()?;
    Ok(stats
        .iter()
        .fold((0, 0, 0), |(misses, remaps, hits), stats| {
            (
                misses + stats.misses,
                remaps + stats.remaps,
                hits + stats.hits,
            )
        }))
}

fn frames_on_video_memory_remap_only_when_moved(test: &Test) -> CaseResult {
    with_splash_on(test, b"bochs-drm", &NO_PROGRESS, true, |splash| {
        // Both buffers were drawn in system memory, then moved into video memory by the
        // display: one mapping each, and one remap each for that move.
        for number in 2..12 {
            ktest_assert_eq!(test, splash.frame(number), Next::Continue);
        }
        let (misses, remaps, hits) = mapping_counts(splash)?;
        ktest_assert_eq!(test, (misses, remaps), (4, 2));
        ktest_assert_eq!(test, hits + misses, 12);
        // Evict the back buffer, as memory pressure would: its next frame remaps once, and
        // once more after the display brought it back into video memory for its flip.
        let pins = splash.with_back_buffer(|fb| {
            let pins = testing::placement(fb)?.pins;
            testing::place(fb, false)?;
            Ok(pins)
        })?;
        ktest_assert_eq!(test, pins, 0);
        for number in 12..16 {
            ktest_assert_eq!(test, splash.frame(number), Next::Continue);
        }
        let (misses, remaps, hits) = mapping_counts(splash)?;
        ktest_assert_eq!(test, (misses, remaps), (6, 4));
        ktest_assert_eq!(test, hits + misses, 16);
        // The buffer that was evicted is back in video memory, where its flip put it.
        let in_vram = splash.with_back_buffer(|fb| Ok(testing::placement(fb)?.in_vram))?;
        ktest_assert!(test, in_vram);
        Ok(())
    })
}

/// Bursts of video memory pressure in [`pressure_mid_frame_keeps_the_picture`].
const PRESSURE_BURSTS: u32 = 12;
/// The size of a buffer pinned in video memory to make pressure, and at most how many.
const FILLER_SIZE: usize = 1 << 20;
const MAX_FILLERS: usize = 32;

/// Fills `device`'s video memory with pinned buffers, evicting whatever is idle, and keeps
/// them for `hold_ms`.
fn pressure_burst(test: &Test, device: &Device, hold_ms: u32) -> Result {
    let mut fillers = KVec::new();
    while fillers.len() < MAX_FILLERS {
        match testing::VramFiller::pin(device, FILLER_SIZE) {
            Ok(filler) => fillers.push(filler, GFP_KERNEL)?,
            Err(error) if error == ENOMEM => break,
            Err(error) => return Err(error),
        }
    }
    test.sleep_ms(hold_ms);
    Ok(())
}

fn pressure_mid_frame_keeps_the_picture(test: &Test) -> CaseResult {
    with_splash_on(test, b"bochs-drm", &HALF_DONE, true, |splash| {
        let (_, remaps_before, _) = mapping_counts(splash)?;
        let clock = splash.animate()?;
        let mut clean = 0;
        for burst in 0..PRESSURE_BURSTS {
            // At a different point of a frame each time: in the middle of its drawing (the
            // back buffer is pinned and stays), between its drawing and its flip (the flip
            // brings the buffer back), or between frames; held across some frames, which fail
            // to flip for want of video memory and are skipped.
            test.sleep_ms(5 + burst * 7);
            pressure_burst(test, splash.device(), burst % 4 * 20)?;
            if splash.is_active() {
                clean += 1;
            }
        }
        // Frames after the last burst put the picture back on screen.
        let frames = splash.frames();
        let mut waited = 0;
        while splash.frames() < frames + 3 && waited < HANDOVER_MS {
            test.sleep_ms(10);
            waited += 10;
        }
        clock.stop();
        pr_info!(
            "hostile inputs: video memory pressure during a bochs splash's frames ({} frames \
             skipped): {PRESSURE_BURSTS} tried, {clean} clean\n",
            splash.skipped_frames()
        );
        ktest_assert_eq!(test, clean, PRESSURE_BURSTS);
        ktest_assert_eq!(test, splash.ended_by(), None);
        ktest_assert!(test, splash.frames() >= frames + 3);
        // Pressure moved the back buffer out of video memory at least once; the next access
        // noticed and remapped.
        let (_, remaps, _) = mapping_counts(splash)?;
        ktest_assert!(test, remaps > remaps_before);
        // What the display scans out is the picture, pixel for pixel.
        let (scenes, layout) = splash.current_scenes()?;
        let layout = layout.ok_or(ENODEV)?;
        let (frame, id) = shown_frame(splash)?;
        ktest_assert_eq!(test, testing::scanned_out_id(splash.device()), id);
        let scene = scenes.first().ok_or(ENODEV)?;
        ktest_assert_eq!(
            test,
            wrong_picture_pixels(splash, scene, &frame, layout.pitch())?,
            0
        );
        Ok(())
    })
}

/// Starts a splash on every cirrus device it is told about, and keeps them.
#[pin_data]
struct CirrusSplashes {
    #[pin]
    started: Mutex<KVec<Arc<DeviceSplash>>>,
    calls: AtomicU32,
}

struct CirrusWatcher(Arc<CirrusSplashes>);

impl DeviceWatcher for CirrusWatcher {
    fn device_registered(&self, device: &Device) {
        self.0.calls.fetch_add(1, Ordering::Relaxed);
        if device.driver_name().as_bytes() != b"cirrus" {
            return;
        }
        let Ok(picture) = picture::built_in() else {
            return;
        };
        let settings = Settings {
            fps: 30,
            background: 0x0020_3040,
            flips: true,
        };
        let started = Arc::new(picture, GFP_KERNEL)
            .map_err(Error::from)
            .and_then(|picture| {
                let now = Some(Ktime::ktime_get());
                DeviceSplash::start(device, picture, settings, &NO_PROGRESS, now)
            });
        if let Ok(Some(splash)) = started {
            let _ = self.0.started.lock().push(splash, GFP_KERNEL);
        }
    }
}

fn watch_follows_devices_as_they_come_and_go(test: &Test) -> CaseResult {
    let device = testing::device_or_skip(test, b"cirrus")?;
    let splashes = Arc::pin_init(
        pin_init!(CirrusSplashes {
            started <- new_mutex!(KVec::new()),
            calls: AtomicU32::new(0),
        }),
        GFP_KERNEL,
    )?;
    let watch = Watch::new(CirrusWatcher(splashes.clone()))?;
    // The replay: every registered device once (vgem, vkms, bochs, cirrus at least).
    let replayed = splashes.calls.load(Ordering::Relaxed);
    ktest_assert!(test, replayed >= 4);
    ktest_assert_eq!(test, splashes.started.lock().len(), 1);
    let first = splashes.started.lock()[0].clone();
    ktest_assert!(test, first.is_active());
    // The device goes: its splash ends through the unregister callback.
    let unbound = testing::Unbound::unbind(&device)?;
    ktest_assert!(test, !first.is_active());
    drop(device);
    // It comes back as a new device: the watch hears of it once, and a new splash shows.
    unbound.rebind()?;
    ktest_assert_eq!(test, splashes.calls.load(Ordering::Relaxed), replayed + 1);
    let second = splashes.started.lock().get(1).cloned().ok_or(ENODEV)?;
    ktest_assert!(test, second.is_active());
    ktest_assert!(test, second.registered_at().is_some());
    ktest_assert_eq!(test, second.frame(2), Next::Continue);
    let (scenes, layout) = second.current_scenes()?;
    ktest_assert!(test, layout.is_some() && scenes.len() == 1);
    drop(watch);
    // No more calls once the watch is gone, whatever registers.
    let device = Device::find_by_driver(b"cirrus")?;
    let framebuffers = device.framebuffer_count();
    second.end();
    ktest_assert_eq!(test, device.framebuffer_count(), framebuffers - 2);
    drop((first, second));
    Ok(())
}

/// Unplugs in [`unplug_mid_animation_ends_cleanly`].
const UNPLUG_ROUNDS: u32 = 4;

/// Unbinds cirrus `delay_ms` into a splash's animation; returns whether the splash ended,
/// by the unregister callback or by a frame that met the unplug, and left nothing behind.
fn unplug_round(test: &Test, delay_ms: u32, flips: bool) -> Result<bool> {
    let device = Device::find_by_driver(b"cirrus")?;
    let held = testing::Census::settled(test);
    let splash = start_splash(&device, &NO_PROGRESS, flips)?.ok_or(ENODEV)?;
    let clock = splash.animate()?;
    test.sleep_ms(delay_ms);
    let unbound = testing::Unbound::unbind(&device)?;
    let ended = !splash.is_active() && matches!(splash.ended_by(), None | Some(ENODEV));
    clock.stop();
    drop((clock, splash));
    testing::wait_for_releases(test, || device.ref_count() <= 1);
    let left = device.ref_count() != 1 || testing::Census::now() != held;
    drop(device);
    unbound.rebind()?;
    Ok(ended && !left)
}

fn unplug_mid_animation_ends_cleanly(test: &Test) -> CaseResult {
    testing::device_or_skip(test, b"cirrus")?;
    let mut clean = 0;
    for round in 0..UNPLUG_ROUNDS {
        if unplug_round(test, 10 + round * 25, round % 2 == 0)? {
            clean += 1;
        }
    }
    pr_info!(
        "hostile inputs: unplugs of cirrus during a splash's animation: {UNPLUG_ROUNDS} tried, \
         {clean} clean\n"
    );
    ktest_assert_eq!(test, clean, UNPLUG_ROUNDS);
    // The driver is back, and a splash on its new device animates.
    with_splash_on(test, b"cirrus", &NO_PROGRESS, true, |splash| {
        ktest_assert_eq!(test, splash.frame(2), Next::Continue);
        Ok(())
    })
}

/// The RGB565 pixel at (`x`, `y`) of cirrus's video memory, scanning out a `pitch`-byte
/// RGB565 framebuffer.
fn cirrus_pixel(device: &Device, pitch: usize, x: u32, y: u32) -> Result<[u8; 2]> {
    let mut pixel = [0u8; 2];
    testing::read_vram(device, y as usize * pitch + x as usize * 2, &mut pixel)?;
    Ok(pixel)
}

fn in_place_frames_reach_the_display(test: &Test) -> CaseResult {
    with_splash_on(test, b"cirrus", &NO_PROGRESS, false, |splash| {
        let (scenes, layout) = splash.current_scenes()?;
        let layout = layout.ok_or(ENODEV)?;
        ktest_assert_eq!(test, layout.format(), kernel::drm_client::Format::Rgb565);
        ktest_assert_eq!(test, splash.buffer_stats()?.len(), 1);
        let scene = scenes.first().ok_or(ENODEV)?;
        let bar = scene.bar;
        let row = bar.y + bar.height / 2;
        for number in 2..6 {
            ktest_assert_eq!(test, splash.frame(number), Next::Continue);
            let damage = splash.last_damage()?;
            ktest_assert_eq!(test, damage.len(), 1);
            ktest_assert_eq!(test, damage[0], bar);
            // cirrus scans out of its own memory, which only the damage flush updates: the
            // bar there is this frame's, pixel for pixel.
            let phase = u32::try_from(number % 60).map_err(|_| EINVAL)?;
            let (start, len) = Bar::Sweep { phase, steps: 30 }.lit(bar.width);
            let mut wrong = 0;
            for x in 0..bar.width {
                let colour = if (start..start + len).contains(&x) {
                    FILL
                } else {
                    TRACK
                };
                let expected = encode(colour, layout.format());
                if cirrus_pixel(splash.device(), layout.pitch(), bar.x + x, row)? != expected[..2] {
                    wrong += 1;
                }
            }
            ktest_assert_eq!(test, wrong, 0);
        }
        // Outside the damage, what the first frames drew: the background.
        let corner = cirrus_pixel(splash.device(), layout.pitch(), 0, 0)?;
        let background = encode(0x0020_3040, layout.format());
        ktest_assert_eq!(test, corner, [background[0], background[1]]);
        Ok(())
    })
}

fn handover_stops_and_releases_everything(test: &Test) -> CaseResult {
    with_splash(test, &NO_PROGRESS, |splash| {
        ktest_assert_eq!(test, splash.frame(2), Next::Continue);
        let shown = testing::scanned_out_id(splash.device());
        ktest_assert!(test, shown != 0);
        let master = testing::MasterFile::open(splash.device())?;
        ktest_assert_eq!(test, splash.frame(3), Next::Stop);
        ktest_assert!(test, !splash.is_active());
        ktest_assert_eq!(test, splash.buffer_stats()?.len(), 0);
        // It does not come back: later frames stop at once, restores are declined.
        ktest_assert_eq!(test, splash.frame(4), Next::Stop);
        drop(master);
        ktest_assert_eq!(test, splash.frame(5), Next::Stop);
        ktest_assert!(test, !splash.is_active());
        Ok(())
    })
}

/// Rounds of [`master_comes_and_goes_while_animating`].
const MASTER_ROUNDS: u32 = 12;

/// How long a splash may take to notice a master: many frames at 30 a second, on a debug
/// kernel under TCG.
const HANDOVER_MS: u32 = 3000;

/// One round: a splash animates, user space takes the display `delay_ms` later (at a
/// different point of a frame each round), and gives it back.
fn master_round(test: &Test, device: &Device, delay_ms: u32, flips: bool) -> CaseResult {
    let splash = start_splash(device, &NO_PROGRESS, flips)?.ok_or(ENODEV)?;
    let ours = splash.framebuffer_ids()?;
    let clock = splash.animate()?;
    test.sleep_ms(delay_ms);
    let master = testing::MasterFile::open(device)?;
    let mut waited = 0;
    while splash.ended_by().is_none() && waited < HANDOVER_MS {
        test.sleep_ms(10);
        waited += 10;
    }
    // The frame that saw the master ended the splash with EBUSY, whatever it was doing, and
    // released everything.
    let ended: Result = splash.ended_by().map_or(Ok(()), Err);
    test.hostile_input(
        format_args!(
            "DRM master taken {delay_ms} ms into a {} splash's animation",
            if flips { "flipping" } else { "redrawing" }
        ),
        &ended,
        EBUSY,
    )?;
    ktest_assert_eq!(test, splash.framebuffer_ids()?.len(), 0);
    ktest_assert!(test, !ours.contains(&testing::scanned_out_id(device)));
    // Giving the display back asks the clients to restore: an ended splash declines, and its
    // animation does not come back.
    drop(master);
    ktest_assert!(test, !splash.is_active());
    ktest_assert!(test, !ours.contains(&testing::scanned_out_id(device)));
    clock.stop();
    Ok(())
}

fn master_comes_and_goes_while_animating(test: &Test) -> CaseResult {
    let device = testing::device_or_skip(test, b"vkms")?;
    let before = testing::Footprint::settled(test, &device);
    // A master already there: the splash does not start, and holds nothing.
    {
        let _master = testing::MasterFile::open(&device)?;
        let started = start_splash(&device, &NO_PROGRESS, true);
        test.hostile_input(
            format_args!("splash started under a DRM master"),
            &started,
            EBUSY,
        )?;
    }
    for round in 0..MASTER_ROUNDS {
        // Frames are 33 ms apart: 0, 7, 14, ... 77 ms lands in every part of one.
        master_round(test, &device, round * 7, round % 2 == 0)?;
        let after = before.after_releases(test, &device);
        ktest_assert_eq!(test, after, before);
    }
    Ok(())
}

fn bar_shows_progress_or_sweeps(test: &Test) -> CaseResult {
    ktest_assert_eq!(test, Bar::Progress(0).lit(200), (0, 0));
    ktest_assert_eq!(test, Bar::Progress(50).lit(200), (0, 100));
    ktest_assert_eq!(test, Bar::Progress(250).lit(200), (0, 200));
    let sweep = |phase| Bar::Sweep { phase, steps: 30 }.lit(200);
    ktest_assert_eq!(test, sweep(0), (0, 50));
    ktest_assert_eq!(test, sweep(30), (150, 50));
    ktest_assert_eq!(test, sweep(60), (0, 50));
    ktest_assert_eq!(test, sweep(15), sweep(45));
    // RGB565 packs 5-6-5 bits.
    ktest_assert_eq!(
        test,
        encode(0x00ff_ffff, kernel::drm_client::Format::Rgb565)[..2],
        [0xff, 0xff]
    );
    ktest_assert_eq!(
        test,
        encode(0x0000_ff00, kernel::drm_client::Format::Rgb565)[..2],
        [0xe0, 0x07]
    );
    Ok(())
}

ktest_suite!(
    bootsplash,
    [
        layout_for_tiny_and_odd_modes,
        layout_for_common_and_huge_modes,
        firmware_logo_keeps_its_place,
        decoder_reads_good_input,
        decoder_refuses_truncated_input,
        decoder_refuses_oversized_input,
        decoder_refuses_corrupt_input,
        picture_chain_falls_back_in_order,
        progress_parameter_parses,
        command_line_options_parse,
        bar_shows_progress_or_sweeps,
        splash_shows_the_picture_where_it_says,
        frames_damage_only_the_bar,
        frames_reuse_their_mappings,
        frames_on_video_memory_remap_only_when_moved,
        pressure_mid_frame_keeps_the_picture,
        watch_follows_devices_as_they_come_and_go,
        unplug_mid_animation_ends_cleanly,
        in_place_frames_reach_the_display,
        handover_stops_and_releases_everything,
        master_comes_and_goes_while_animating,
    ]
);
