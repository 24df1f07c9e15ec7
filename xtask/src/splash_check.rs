//! Checks of the boot splash against screenshots: the picture is where the splash said it drew
//! it, pixel for pixel; two moments of the animation differ only inside the progress bar; the
//! bar shows the progress user space reported.
//!
//! The splash logs, for every device, its first frame and, for every output, where the picture
//! and the bar are (`bootsplash/bootsplash.rs`); these checks read those lines back.

use anyhow::{bail, Context, Result};
use image::{Rgb, RgbImage};
use std::path::Path;

/// Largest difference per channel between what the splash drew and the screenshot: RGB565
/// keeps 5 or 6 bits of each channel.
const TOLERANCE: u8 = 8;

/// The background of the splash when `bootsplash.color` is not given, and the bar's colours
/// (`bootsplash/options.rs`, `bootsplash/draw.rs`).
const BACKGROUND: u32 = 0x10_14_18;
const TRACK: u32 = 0x30_38_44;
const FILL: u32 = 0xe0_e6_ee;

/// A rectangle in framebuffer pixels; a picture's may start left of or above the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: i64,
    pub y: i64,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    fn contains(&self, x: i64, y: i64) -> bool {
        x >= self.x
            && y >= self.y
            && x < self.x + i64::from(self.width)
            && y < self.y + i64::from(self.height)
    }
}

/// What the splash reported about a device's first frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstFrame {
    pub card: u32,
    pub driver: String,
    pub width: u32,
    pub height: u32,
    pub format: String,
    pub picture: String,
    /// Milliseconds from the device's registration, if it registered after the splash started.
    pub after_registration_ms: Option<i64>,
    pub after_boot_ms: i64,
}

/// Where the splash drew on one output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLayout {
    pub card: u32,
    pub index: u32,
    pub output: Rect,
    /// The picture's unscaled size and top-left corner, and its scale.
    pub picture: Option<(Rect, u32)>,
    pub bar: Rect,
}

/// Every first-frame line of the console.
pub fn first_frames(console: &str) -> Vec<FirstFrame> {
    console.lines().filter_map(parse_first_frame).collect()
}

/// Milliseconds after boot at which the splash of each unregistered device ended, with the
/// device's card number: `bootsplash: card2 (simpledrm): device unregistered, splash ended 1733
/// ms after boot`.
pub fn endings(console: &str) -> Vec<(u32, String, i64)> {
    console
        .lines()
        .filter_map(|line| {
            let rest = line.split("bootsplash: card").nth(1)?;
            let (card, rest) = rest.split_once(" (")?;
            let (driver, rest) = rest.split_once("): device unregistered, splash ended ")?;
            let ms = rest.split_whitespace().next()?.parse().ok()?;
            Some((card.parse().ok()?, driver.to_string(), ms))
        })
        .collect()
}

/// One device's times in a boot with printk timestamps (`printk.time=1`), in milliseconds
/// after boot: its registration, the splash's first frame on it, and the registration of C's
/// fbdev emulation on it (`fb0: bochs-drmdrmfb frame buffer device`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceTimes {
    pub driver: String,
    pub registered_ms: i64,
    pub splash_ms: Option<i64>,
    pub c_fbdev_ms: Option<i64>,
}

/// The printk timestamp of a line, in milliseconds.
fn timestamp_ms(line: &str) -> Option<i64> {
    let stamp = line
        .trim_start()
        .strip_prefix('[')?
        .split(']')
        .next()?
        .trim();
    let (seconds, micros) = stamp.split_once('.')?;
    Some(seconds.parse::<i64>().ok()? * 1000 + micros.parse::<i64>().ok()? / 1000)
}

/// The times of every device the console shows registering, in order.
pub fn device_times(console: &str) -> Vec<DeviceTimes> {
    let mut devices: Vec<DeviceTimes> = Vec::new();
    for line in console.lines() {
        let Some(ms) = timestamp_ms(line) else {
            continue;
        };
        if let Some(rest) = line.split("[drm] Initialized ").nth(1) {
            let driver = rest.split_whitespace().next().unwrap_or_default();
            devices.push(DeviceTimes {
                driver: driver.to_string(),
                registered_ms: ms,
                splash_ms: None,
                c_fbdev_ms: None,
            });
        } else if let Some(frame) = parse_first_frame(line) {
            if let Some(device) = devices.iter_mut().rev().find(|d| d.driver == frame.driver) {
                device.splash_ms.get_or_insert(ms);
            }
        } else if line.contains(" frame buffer device") {
            let id = line
                .split("[drm] fb")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().nth(1));
            let driver = id
                .and_then(|id| id.strip_suffix("drmfb"))
                .unwrap_or_default();
            if let Some(device) = devices.iter_mut().rev().find(|d| d.driver == driver) {
                device.c_fbdev_ms.get_or_insert(ms);
            }
        }
    }
    devices
}

/// Every output-layout line of the console.
pub fn layouts(console: &str) -> Vec<OutputLayout> {
    console.lines().filter_map(parse_layout).collect()
}

/// `bootsplash: card2 (bochs-drm): 1280x800 Xrgb8888 splash of the built-in picture on 1
/// output(s), ...; first frame 41 ms after registration, 1113 ms after boot`
fn parse_first_frame(line: &str) -> Option<FirstFrame> {
    let rest = line.split("bootsplash: card").nth(1)?;
    let (card, rest) = rest.split_once(" (")?;
    let (driver, rest) = rest.split_once("): ")?;
    let mut words = rest.split_whitespace();
    let (width, height) = words.next()?.split_once('x')?;
    let format = words.next()?.to_string();
    let picture = rest.split(" splash of the ").nth(1)?.split(" on ").next()?;
    let timing = rest.split("first frame ").nth(1)?;
    let (registration, boot) = timing.split_once(" ms after registration, ")?;
    let after_boot = boot.split_whitespace().next()?;
    let after_registration: i64 = registration.parse().ok()?;
    Some(FirstFrame {
        card: card.parse().ok()?,
        driver: driver.to_string(),
        width: width.parse().ok()?,
        height: height.parse().ok()?,
        format,
        picture: picture.to_string(),
        after_registration_ms: (after_registration >= 0).then_some(after_registration),
        after_boot_ms: after_boot.parse().ok()?,
    })
}

/// `bootsplash: card2 output 0: 1280x800+0+0, picture 160x120+400+220 scale 3, bar
/// 320x6+480+620`
fn parse_layout(line: &str) -> Option<OutputLayout> {
    let rest = line.split("bootsplash: card").nth(1)?;
    let (card, rest) = rest.split_once(" output ")?;
    let (index, rest) = rest.split_once(": ")?;
    let mut parts = rest.split(", ");
    let output = parse_geometry(parts.next()?)?;
    let picture = parts.next()?.strip_prefix("picture ")?;
    let (geometry, scale) = picture.split_once(" scale ")?;
    let scale: u32 = scale.parse().ok()?;
    let bar = parse_geometry(parts.next()?.strip_prefix("bar ")?)?;
    Some(OutputLayout {
        card: card.parse().ok()?,
        index: index.parse().ok()?,
        output,
        picture: (scale > 0).then_some((parse_geometry(geometry)?, scale)),
        bar,
    })
}

/// `WxH+X+Y`, where X and Y may be negative (`-20`).
fn parse_geometry(text: &str) -> Option<Rect> {
    let (width, rest) = text.split_once('x')?;
    let split = rest.find(['+', '-'])?;
    let (height, offsets) = rest.split_at(split);
    let second = offsets[1..].find(['+', '-'])? + 1;
    let (x, y) = offsets.split_at(second);
    Some(Rect {
        x: x.parse().ok()?,
        y: y.parse().ok()?,
        width: width.parse().ok()?,
        height: height.parse().ok()?,
    })
}

/// Reads a screenshot or picture file as RGB.
pub fn load(path: &Path) -> Result<RgbImage> {
    Ok(image::open(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .to_rgb8())
}

fn rgb(colour: u32) -> Rgb<u8> {
    let [_, red, green, blue] = colour.to_be_bytes();
    Rgb([red, green, blue])
}

fn close(a: &Rgb<u8>, b: &Rgb<u8>) -> bool {
    a.0.iter()
        .zip(b.0.iter())
        .all(|(a, b)| a.abs_diff(*b) <= TOLERANCE)
}

fn pixel(shot: &RgbImage, x: i64, y: i64) -> Option<&Rgb<u8>> {
    let (x, y) = (u32::try_from(x).ok()?, u32::try_from(y).ok()?);
    (x < shot.width() && y < shot.height()).then(|| shot.get_pixel(x, y))
}

/// The default background, and the firmware's black around its own logo.
pub const DEFAULT_BACKGROUND: u32 = BACKGROUND;
pub const FIRMWARE_BACKGROUND: u32 = 0;

/// The screenshot shows output `layout` whole: same size, `background` where nothing is drawn.
pub fn check_output(shot: &RgbImage, layout: &OutputLayout, background: u32) -> Result<()> {
    let (width, height) = (layout.output.width, layout.output.height);
    if (shot.width(), shot.height()) != (width, height) {
        bail!(
            "the screenshot is {}x{}, the splash's output {width}x{height}: the display shows \
             something else",
            shot.width(),
            shot.height()
        );
    }
    let corner = pixel(shot, 0, 0).context("empty screenshot")?;
    if !close(corner, &rgb(background)) {
        bail!(
            "the top-left pixel is {:?}, not the splash's background",
            corner.0
        );
    }
    Ok(())
}

/// Compares the picture's pixels on screen with `expected`, drawn at the layout's place and
/// scale; returns how many pixels were compared.
pub fn check_picture(shot: &RgbImage, layout: &OutputLayout, expected: &RgbImage) -> Result<usize> {
    let Some((place, scale)) = layout.picture else {
        bail!("the splash drew no picture");
    };
    if (expected.width(), expected.height()) != (place.width, place.height) {
        bail!(
            "the splash drew a {}x{} picture, the expected one is {}x{}",
            place.width,
            place.height,
            expected.width(),
            expected.height()
        );
    }
    let scale = i64::from(scale);
    let (mut compared, mut wrong) = (0, Vec::new());
    for y in place.y..place.y + i64::from(place.height) * scale {
        for x in place.x..place.x + i64::from(place.width) * scale {
            if !layout.output.contains(x, y) {
                continue;
            }
            let Some(seen) = pixel(shot, x - layout.output.x, y - layout.output.y) else {
                continue;
            };
            let want = expected.get_pixel(
                u32::try_from((x - place.x) / scale)?,
                u32::try_from((y - place.y) / scale)?,
            );
            compared += 1;
            if !close(seen, want) && wrong.len() < 5 {
                wrong.push(format!("({x},{y}) is {:?}, not {:?}", seen.0, want.0));
            }
        }
    }
    if !wrong.is_empty() {
        bail!(
            "the picture on screen differs from the source: {}",
            wrong.join("; ")
        );
    }
    if compared == 0 {
        bail!("the picture is entirely off screen");
    }
    Ok(compared)
}

/// Moments of the animation differ inside the bar, and nowhere else; returns how many pixels
/// of the bar changed between the first moment and the others.
pub fn check_animation(moments: &[RgbImage], layout: &OutputLayout) -> Result<usize> {
    let Some((first, later)) = moments.split_first() else {
        bail!("no screenshots of the animation");
    };
    let mut inside = 0;
    for other in later {
        inside += changed_inside_bar(first, other, layout)?;
    }
    if inside == 0 {
        bail!("the bar did not move between the screenshots: the animation is not running");
    }
    Ok(inside)
}

fn changed_inside_bar(first: &RgbImage, second: &RgbImage, layout: &OutputLayout) -> Result<usize> {
    if first.dimensions() != second.dimensions() {
        bail!("the screenshots differ in size");
    }
    let (mut inside, mut outside) = (0, Vec::new());
    for (x, y, a) in first.enumerate_pixels() {
        let b = second.get_pixel(x, y);
        if a == b {
            continue;
        }
        let (fx, fy) = (
            i64::from(x) + layout.output.x,
            i64::from(y) + layout.output.y,
        );
        if layout.bar.contains(fx, fy) {
            inside += 1;
        } else if outside.len() < 5 {
            outside.push(format!("({fx},{fy})"));
        }
    }
    if !outside.is_empty() {
        bail!(
            "the animation changed pixels outside the bar: {}",
            outside.join(", ")
        );
    }
    Ok(inside)
}

/// The bar shows `percent`: lit from its left end to that fraction, the track after it; the
/// pixels on both sides of the boundary are checked, so the fraction is exact to a pixel.
pub fn check_progress(shot: &RgbImage, layout: &OutputLayout, percent: u32) -> Result<()> {
    let bar = layout.bar;
    let lit = i64::from(bar.width * percent / 100);
    let row = bar.y - layout.output.y + i64::from(bar.height / 2);
    let left = bar.x - layout.output.x;
    let mut samples = vec![];
    if lit > 0 {
        samples.extend([(left, FILL, "lit"), (left + lit - 1, FILL, "lit")]);
    }
    if lit < i64::from(bar.width) {
        samples.extend([
            (left + lit, TRACK, "unlit"),
            (left + i64::from(bar.width) - 1, TRACK, "unlit"),
        ]);
    }
    for (x, colour, what) in samples {
        let seen = pixel(shot, x, row).context("the bar is off screen")?;
        if !close(seen, &rgb(colour)) {
            bail!(
                "at {percent}% the {what} part of the bar is {:?} at x={x}, not {colour:06x}",
                seen.0
            );
        }
    }
    Ok(())
}

/// The firmware's logo, in the screenshot taken before the kernel drew, is on the same pixels
/// after the splash's first frame: the change cannot be seen.
pub fn check_firmware_logo(
    before: &RgbImage,
    after: &RgbImage,
    layout: &OutputLayout,
) -> Result<usize> {
    let Some((place, _)) = layout.picture else {
        bail!("the splash drew no picture");
    };
    let mut logo = RgbImage::new(place.width, place.height);
    let mut colours = std::collections::HashSet::new();
    for (x, y, target) in logo.enumerate_pixels_mut() {
        let seen = pixel(before, place.x + i64::from(x), place.y + i64::from(y))
            .context("the firmware's logo is off its screen")?;
        colours.insert(seen.0);
        *target = *seen;
    }
    if colours.len() < 3 {
        bail!("the firmware screenshot shows no logo where the BGRT says it is");
    }
    check_picture(after, layout, &logo)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "\
[    1.113] bootsplash: card2 (bochs-drm): 1280x800 Xrgb8888 splash of the built-in picture on \
1 output(s), device dumb buffers, page flips; first frame 41 ms after registration, 1113 ms \
after boot
[    1.114] bootsplash: card2 output 0: 1280x800+0+0, picture 160x120+400+220 scale 3, bar \
320x6+480+620
[    1.200] bootsplash: card0 (simpledrm): 800x600 Xrgb8888 splash of the firmware boot logo \
(BGRT) on 1 output(s), vgem, imported buffers, page flips; first frame -1 ms after \
registration, 900 ms after boot
[    1.201] bootsplash: card0 output 0: 320x200+0+0, picture 193x58-20+71 scale 1, bar \
80x4+120+150
";

    #[test]
    fn times_the_splash_against_c_fbdev() {
        let console = "\
[    1.100000] [drm] Initialized bochs-drm 1.0.0 for 0000:00:02.0 on minor 2
[    1.141000] bootsplash: card2 (bochs-drm): 1280x800 Xrgb8888 splash of the built-in picture \
on 1 output(s), device dumb buffers, page flips; first frame 41 ms after registration, 1141 ms \
after boot
[    1.563000] bochs-drm 0000:00:02.0: [drm] fb0: bochs-drmdrmfb frame buffer device
";
        let times = device_times(console);
        assert_eq!(
            times,
            vec![DeviceTimes {
                driver: "bochs-drm".into(),
                registered_ms: 1100,
                splash_ms: Some(1141),
                c_fbdev_ms: Some(1563),
            }]
        );
    }

    #[test]
    fn reads_first_frames_and_layouts() {
        let frames = first_frames(CONSOLE);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].driver, "bochs-drm");
        assert_eq!((frames[0].width, frames[0].height), (1280, 800));
        assert_eq!(frames[0].after_registration_ms, Some(41));
        assert_eq!(frames[1].picture, "firmware boot logo (BGRT)");
        assert_eq!(frames[1].after_registration_ms, None);
        let layouts = layouts(CONSOLE);
        assert_eq!(layouts.len(), 2);
        assert_eq!(
            layouts[0].picture,
            Some((
                Rect {
                    x: 400,
                    y: 220,
                    width: 160,
                    height: 120
                },
                3
            ))
        );
        assert_eq!(layouts[1].picture.map(|(rect, _)| rect.x), Some(-20));
        assert_eq!(layouts[1].bar.width, 80);
        let ended = endings(
            "[ 1.7] bootsplash: card2 (simpledrm): device unregistered, splash ended 1733 ms after boot",
        );
        assert_eq!(ended, vec![(2, "simpledrm".to_string(), 1733)]);
    }

    fn splash(layout: &OutputLayout, logo: &RgbImage, lit: u32) -> RgbImage {
        let mut shot =
            RgbImage::from_pixel(layout.output.width, layout.output.height, rgb(BACKGROUND));
        let (place, scale) = layout.picture.unwrap();
        for (x, y, target) in shot.enumerate_pixels_mut() {
            let (x, y) = (i64::from(x), i64::from(y));
            let (px, py) = (
                (x - place.x) / i64::from(scale),
                (y - place.y) / i64::from(scale),
            );
            if x >= place.x
                && y >= place.y
                && px < i64::from(logo.width())
                && py < i64::from(logo.height())
            {
                *target = *logo.get_pixel(px as u32, py as u32);
            } else if layout.bar.contains(x, y) {
                let lit_end = layout.bar.x + i64::from(layout.bar.width * lit / 100);
                *target = rgb(if x < lit_end { FILL } else { TRACK });
            }
        }
        shot
    }

    #[test]
    fn accepts_the_splash_and_refuses_other_pictures() {
        let layout = layouts(CONSOLE)[0];
        let logo = RgbImage::from_fn(160, 120, |x, y| Rgb([x as u8, y as u8, 0x80]));
        let shot = splash(&layout, &logo, 60);
        check_output(&shot, &layout, DEFAULT_BACKGROUND).unwrap();
        assert_eq!(check_picture(&shot, &layout, &logo).unwrap(), 480 * 360);
        check_progress(&shot, &layout, 60).unwrap();
        assert!(check_progress(&shot, &layout, 20).is_err());
        let mut moved = logo.clone();
        moved.put_pixel(10, 10, Rgb([0xff, 0, 0]));
        assert!(check_picture(&shot, &layout, &moved).is_err());
        let other = splash(&layout, &logo, 61);
        let same = shot.clone();
        assert!(
            check_animation(&[shot.clone(), same.clone(), other.clone()], &layout).unwrap() > 0
        );
        assert!(check_animation(&[shot.clone(), same], &layout).is_err());
        let mut outside = other.clone();
        outside.put_pixel(5, 5, Rgb([0, 0, 0]));
        assert!(check_animation(&[shot.clone(), other, outside], &layout).is_err());
        let blank = RgbImage::new(1280, 800);
        assert!(check_output(&blank, &layout, DEFAULT_BACKGROUND).is_err());
    }
}
