// SPDX-License-Identifier: GPL-2.0

//! Where the splash draws on one output: the picture, centred and integer-scaled (or where the
//! firmware drew it), and the progress bar below it, the only part that animates.

use kernel::drm_client::Damage;

/// The largest integer scale for pictures; a 7680x4320 output gets a 193-pixel logo at 8x.
const MAX_SCALE: u32 = 8;

/// A picture's size and, for the firmware's logo, where the firmware drew it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PictureSize {
    /// Width in pixels.
    pub(crate) width: u32,
    /// Height in pixels.
    pub(crate) height: u32,
    /// The firmware's offsets, for its own logo (ACPI BGRT).
    pub(crate) firmware_origin: Option<(u32, u32)>,
}

/// Where a picture lands: its top-left corner, which may be left of or above the output for
/// a picture larger than it (the drawing clips), and its scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    /// Left edge in framebuffer pixels.
    pub(crate) x: i64,
    /// Top edge in framebuffer pixels.
    pub(crate) y: i64,
    /// The picture's width, before scaling.
    pub(crate) width: u32,
    /// The picture's height, before scaling.
    pub(crate) height: u32,
    /// Each picture pixel becomes `scale` x `scale` framebuffer pixels.
    pub(crate) scale: u32,
}

/// The splash's layout on one output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scene {
    /// The part of the framebuffer the output shows.
    pub(crate) output: Damage,
    /// The picture, if there is one.
    pub(crate) picture: Option<Placement>,
    /// The progress bar: all that changes from one frame to the next.
    pub(crate) bar: Damage,
}

impl Scene {
    /// The layout for `output` (an area of the framebuffer) showing `picture`.
    pub(crate) fn new(output: Damage, picture: Option<PictureSize>) -> Self {
        let picture = picture.map(|picture| place_picture(&output, &picture));
        let bar = place_bar(&output, picture.as_ref());
        Self {
            output,
            picture,
            bar,
        }
    }
}

/// The firmware's logo stays where the firmware drew it if the output's mode is the firmware's
/// (the offsets centre it horizontally, as firmware does); everything else is centred at the
/// largest integer scale that keeps it within half the output each way.
fn place_picture(output: &Damage, picture: &PictureSize) -> Placement {
    let (width, height) = (i64::from(output.width), i64::from(output.height));
    if let Some((x, y)) = picture.firmware_origin {
        let (x, y) = (i64::from(x), i64::from(y));
        let centred = (2 * x + i64::from(picture.width) - width).abs() <= 1;
        let fits = y + i64::from(picture.height) <= height;
        if centred && fits {
            return Placement {
                x: i64::from(output.x) + x,
                y: i64::from(output.y) + y,
                width: picture.width,
                height: picture.height,
                scale: 1,
            };
        }
    }
    let scale = if picture.firmware_origin.is_some() {
        1
    } else {
        let across = output.width / 2 / picture.width.max(1);
        let down = output.height / 2 / picture.height.max(1);
        across.min(down).clamp(1, MAX_SCALE)
    };
    let drawn_width = i64::from(picture.width) * i64::from(scale);
    let drawn_height = i64::from(picture.height) * i64::from(scale);
    Placement {
        x: i64::from(output.x) + (width - drawn_width) / 2,
        y: i64::from(output.y) + (height - drawn_height) / 2,
        width: picture.width,
        height: picture.height,
        scale,
    }
}

/// The bar is a quarter of the output wide, below the picture with a gap of a twentieth of the
/// output's height, or at three quarters of the height when there is no room below it.
fn place_bar(output: &Damage, picture: Option<&Placement>) -> Damage {
    let width = (output.width / 4).max(output.width.min(16));
    let height = (output.height / 120).clamp(output.height.min(4), output.height);
    let room = i64::from(output.height - height);
    let mut top = i64::from(output.height / 4 * 3);
    if let Some(placement) = picture {
        let bottom = placement.y - i64::from(output.y)
            + i64::from(placement.height) * i64::from(placement.scale);
        let below = bottom + i64::from(output.height / 20);
        if (0..=room).contains(&below) {
            top = below;
        }
    }
    let top = u32::try_from(top.clamp(0, room)).unwrap_or(0);
    Damage {
        x: output.x + (output.width - width) / 2,
        y: output.y + top,
        width,
        height,
    }
}
