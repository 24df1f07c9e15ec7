// SPDX-License-Identifier: GPL-2.0

//! Framebuffer geometry: pixel formats, pitch and size, and pixel rectangles as byte ranges.
//!
//! Every size is computed with overflow checks before anything is allocated, so absurd
//! dimensions get an errno instead of a wrapped size.
//!
//! C header: [`include/uapi/drm/drm_fourcc.h`](srctree/include/uapi/drm/drm_fourcc.h)

use super::MAX_BUFFER_SIZE;
use crate::{
    error::{code::*, Result},
    vmap_cache::Rect,
};

/// `fourcc_code()` of `drm_fourcc.h`.
const fn fourcc(code: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*code)
}

/// The pixel formats client framebuffers use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `DRM_FORMAT_XRGB8888`: 32 bits per pixel, `0x00RRGGBB` little-endian.
    Xrgb8888,
    /// `DRM_FORMAT_RGB565`: 16 bits per pixel.
    Rgb565,
}

impl Format {
    /// The format with DRM fourcc `code`; `EINVAL` for any other.
    pub fn from_fourcc(code: u32) -> Result<Self> {
        match code {
            c if c == fourcc(b"XR24") => Ok(Format::Xrgb8888),
            c if c == fourcc(b"RG16") => Ok(Format::Rgb565),
            _ => Err(EINVAL),
        }
    }

    /// The DRM fourcc code.
    pub fn fourcc(self) -> u32 {
        match self {
            Format::Xrgb8888 => fourcc(b"XR24"),
            Format::Rgb565 => fourcc(b"RG16"),
        }
    }

    /// Bytes per pixel.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            Format::Xrgb8888 => 4,
            Format::Rgb565 => 2,
        }
    }
}

/// The geometry of a framebuffer in memory.
///
/// # Invariants
///
/// `width` and `height` are non-zero, `pitch >= width * bytes_per_pixel` and
/// `size == pitch * height <= MAX_BUFFER_SIZE`, all without overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    width: u32,
    height: u32,
    format: Format,
    pitch: usize,
    size: usize,
}

impl Layout {
    /// The layout of a `width` x `height` framebuffer in `format`, rows packed.
    ///
    /// Fails with `EINVAL` for a zero dimension and `E2BIG` if the buffer would be larger than
    /// [`MAX_BUFFER_SIZE`] (or not even representable).
    pub fn new(width: u32, height: u32, format: Format) -> Result<Self> {
        Self::with_pitch(width, height, format, packed_row(width, format)?)
    }

    /// The layout of a `width` x `height` framebuffer in `format` whose rows are `pitch` bytes
    /// apart, as a driver's `dumb_create` may align them.
    ///
    /// Fails as [`Layout::new`] does, and with `EINVAL` if a row does not fit in `pitch`.
    pub fn with_pitch(width: u32, height: u32, format: Format, pitch: usize) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(EINVAL);
        }
        if pitch < packed_row(width, format)? {
            return Err(EINVAL);
        }
        let size = usize::try_from(height)
            .ok()
            .and_then(|height| height.checked_mul(pitch))
            .ok_or(E2BIG)?;
        if size > MAX_BUFFER_SIZE {
            return Err(E2BIG);
        }
        // INVARIANT: Checked above.
        Ok(Self {
            width,
            height,
            format,
            pitch,
            size,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixel format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Bytes from one row to the next.
    pub fn pitch(&self) -> usize {
        self.pitch
    }

    /// Bytes of the whole framebuffer.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The bytes of the `width` x `height` pixel rectangle at (`x`, `y`), for
    /// [`Mapping::write_rect`](crate::vmap_cache::Mapping::write_rect) and damage flushes.
    ///
    /// Fails with `EINVAL` for an empty rectangle and `ERANGE` if it leaves the framebuffer.
    pub fn rect(&self, x: u32, y: u32, width: u32, height: u32) -> Result<Rect> {
        if width == 0 || height == 0 {
            return Err(EINVAL);
        }
        let right = x.checked_add(width).ok_or(ERANGE)?;
        let bottom = y.checked_add(height).ok_or(ERANGE)?;
        if right > self.width || bottom > self.height {
            return Err(ERANGE);
        }
        let cpp = self.format.bytes_per_pixel();
        // By the type invariant, every product below is at most `size` and cannot overflow.
        Ok(Rect {
            offset: to_usize(y)? * self.pitch + to_usize(x)? * cpp,
            pitch: self.pitch,
            row_len: to_usize(width)? * cpp,
            rows: to_usize(height)?,
        })
    }
}

/// The bytes of one row of `width` pixels in `format`; `E2BIG` if not representable.
fn packed_row(width: u32, format: Format) -> Result<usize> {
    usize::try_from(width)
        .ok()
        .and_then(|width| width.checked_mul(format.bytes_per_pixel()))
        .ok_or(E2BIG)
}

fn to_usize(value: u32) -> Result<usize> {
    usize::try_from(value).map_err(|_| ERANGE)
}
