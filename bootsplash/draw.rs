// SPDX-License-Identifier: GPL-2.0

//! Drawing the splash into a framebuffer's mapping, in the framebuffer's pixel format.
//!
//! Everything is drawn a row at a time: a row is converted once into the framebuffer's format
//! and written with one copy, which suits video memory (write-combined, slow to read) as well
//! as system memory.

use crate::bmp::Image;
use crate::scene::{Placement, Scene};
use kernel::{
    drm_client::{Damage, Format, Layout},
    prelude::*,
    vmap_cache::Mapping,
};

/// Colours, `0x00RRGGBB`.
pub(crate) const TRACK: u32 = 0x0030_3844;
/// The filled part of the bar, and the sweeping segment while no progress is reported.
pub(crate) const FILL: u32 = 0x00e0_e6ee;

/// A colour in `format`, as the bytes of one pixel (the first `bytes_per_pixel()` count).
pub(crate) fn encode(colour: u32, format: Format) -> [u8; 4] {
    match format {
        Format::Xrgb8888 => colour.to_le_bytes(),
        Format::Rgb565 => {
            let red = (colour >> 19) & 0x1f;
            let green = (colour >> 10) & 0x3f;
            let blue = (colour >> 3) & 0x1f;
            let pixel = u16::try_from((red << 11) | (green << 5) | blue).unwrap_or(0);
            let [low, high] = pixel.to_le_bytes();
            [low, high, 0, 0]
        }
    }
}

/// A framebuffer being drawn in one CPU access.
pub(crate) struct Canvas<'a, 'b> {
    memory: &'a mut Mapping<'b>,
    layout: Layout,
    /// One row of pixels in the framebuffer's format, reused.
    row: KVec<u8>,
}

impl<'a, 'b> Canvas<'a, 'b> {
    /// A canvas on `memory`, a framebuffer of geometry `layout`.
    pub(crate) fn new(memory: &'a mut Mapping<'b>, layout: Layout) -> Result<Self> {
        let row = KVec::from_elem(0u8, layout.pitch(), GFP_KERNEL)?;
        Ok(Self {
            memory,
            layout,
            row,
        })
    }

    /// Fills `area` with `colour`.
    pub(crate) fn fill(&mut self, area: &Damage, colour: u32) -> Result {
        if area.width == 0 || area.height == 0 {
            return Ok(());
        }
        let rect = self.layout.rect(area.x, area.y, area.width, area.height)?;
        let pixel = encode(colour, self.layout.format());
        let size = self.layout.format().bytes_per_pixel();
        let row = self.row.get_mut(..rect.row_len).ok_or(EINVAL)?;
        for chunk in row.chunks_exact_mut(size) {
            chunk.copy_from_slice(&pixel[..size]);
        }
        for index in 0..rect.rows {
            self.memory
                .write(rect.offset + index * rect.pitch, &self.row[..rect.row_len])?;
        }
        Ok(())
    }

    /// Draws `image` as `placement` says, clipped to `clip`.
    pub(crate) fn picture(
        &mut self,
        image: &Image,
        placement: &Placement,
        clip: &Damage,
    ) -> Result {
        let Some(visible) = visible_part(image, placement, clip) else {
            return Ok(());
        };
        let size = self.layout.format().bytes_per_pixel();
        let scale = i64::from(placement.scale);
        for y in visible.y..visible.y + visible.height {
            let source_y = (i64::from(y) - placement.y) / scale;
            let source = image.row(u32::try_from(source_y).map_err(|_| EINVAL)?);
            let row = self
                .row
                .get_mut(..visible.width as usize * size)
                .ok_or(EINVAL)?;
            for (index, pixel) in row.chunks_exact_mut(size).enumerate() {
                let x = i64::from(visible.x) + i64::try_from(index).map_err(|_| EINVAL)?;
                let source_x = usize::try_from((x - placement.x) / scale).map_err(|_| EINVAL)?;
                let colour = source.get(source_x).copied().unwrap_or(0);
                pixel.copy_from_slice(&encode(colour, self.layout.format())[..size]);
            }
            let rect = self.layout.rect(visible.x, y, visible.width, 1)?;
            self.memory.write(rect.offset, &self.row[..rect.row_len])?;
        }
        Ok(())
    }

    /// Draws the whole scene of one output: background, picture, bar at `filled`.
    pub(crate) fn scene(
        &mut self,
        scene: &Scene,
        image: Option<&Image>,
        background: u32,
        bar: &Bar,
    ) -> Result {
        self.fill(&scene.output, background)?;
        if let (Some(image), Some(placement)) = (image, scene.picture.as_ref()) {
            self.picture(image, placement, &scene.output)?;
        }
        self.bar(scene, bar)
    }

    /// Draws the bar of `scene`: the track, then the lit part.
    pub(crate) fn bar(&mut self, scene: &Scene, bar: &Bar) -> Result {
        self.fill(&scene.bar, TRACK)?;
        let (start, len) = bar.lit(scene.bar.width);
        let lit = Damage {
            x: scene.bar.x + start,
            width: len,
            ..scene.bar
        };
        self.fill(&lit, FILL)
    }
}

/// The framebuffer pixels a placed picture covers inside `clip`.
fn visible_part(image: &Image, placement: &Placement, clip: &Damage) -> Option<Damage> {
    let scale = i64::from(placement.scale);
    let left = placement.x.max(i64::from(clip.x));
    let top = placement.y.max(i64::from(clip.y));
    let right = (placement.x + i64::from(image.width()) * scale)
        .min(i64::from(clip.x) + i64::from(clip.width));
    let bottom = (placement.y + i64::from(image.height()) * scale)
        .min(i64::from(clip.y) + i64::from(clip.height));
    if right <= left || bottom <= top {
        return None;
    }
    Some(Damage {
        x: u32::try_from(left).ok()?,
        y: u32::try_from(top).ok()?,
        width: u32::try_from(right - left).ok()?,
        height: u32::try_from(bottom - top).ok()?,
    })
}

/// What the bar shows in one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bar {
    /// Progress reported from user space, in percent.
    Progress(u32),
    /// No progress reported: a segment a quarter of the bar long sweeps back and forth;
    /// `phase` counts steps of 1/`steps` of a sweep.
    Sweep {
        /// The step of the current sweep, `0..2 * steps`.
        phase: u32,
        /// Steps in one sweep.
        steps: u32,
    },
}

impl Bar {
    /// The lit part of a bar `width` pixels long: its start and length.
    pub(crate) fn lit(&self, width: u32) -> (u32, u32) {
        match *self {
            Bar::Progress(percent) => (0, width * percent.min(100) / 100),
            Bar::Sweep { phase, steps } => {
                let steps = steps.max(1);
                let segment = (width / 4).max(1).min(width);
                let travel = width - segment;
                let step = phase % (2 * steps);
                let along = if step < steps { step } else { 2 * steps - step };
                let start = u32::try_from(u64::from(travel) * u64::from(along) / u64::from(steps))
                    .unwrap_or(0);
                (start, segment)
            }
        }
    }
}
