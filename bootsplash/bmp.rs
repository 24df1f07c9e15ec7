// SPDX-License-Identifier: GPL-2.0

//! A BMP decoder for the splash's pictures, written for untrusted input.
//!
//! It reads what firmware and image tools write: uncompressed 24 and 32 bits per pixel (the
//! ACPI BGRT logo is a 24-bit one), and 8-bit palette images, plain or run-length encoded
//! (`BI_RLE8`, how the built-in picture is stored). Every offset and size is checked against the
//! data before it is used, dimensions are bounded before anything is allocated, and a run that
//! would leave the picture ends the decoding with an error: hostile files get a reason, never
//! a read out of bounds.

use kernel::{alloc::KVVec, prelude::*};

/// Why a BMP file was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BmpError {
    /// The data ends before a header, the palette or the pixels it announces.
    Truncated,
    /// No `BM` signature, or a header size no BMP version has.
    NotBmp,
    /// A valid BMP in a form this decoder does not read (bit depth, compression, masks).
    Unsupported,
    /// Wider or taller than the limit, or zero pixels.
    BadSize,
    /// Pixel data that contradicts the header: a run leaving the picture, a palette index
    /// beyond the palette, a missing end marker.
    Corrupt,
    /// No memory for the pixels.
    NoMemory,
}

impl BmpError {
    /// The reason, for the one log line a refused picture gets.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            BmpError::Truncated => "truncated",
            BmpError::NotBmp => "not a BMP file",
            BmpError::Unsupported => "unsupported BMP variant",
            BmpError::BadSize => "empty or too large",
            BmpError::Corrupt => "corrupt pixel data",
            BmpError::NoMemory => "out of memory",
        }
    }
}

/// A decoded picture: `0x00RRGGBB` pixels, rows from the top.
///
/// # Invariants
///
/// `width` and `height` are non-zero and `pixels.len() == width * height`.
pub(crate) struct Image {
    width: u32,
    height: u32,
    pixels: KVVec<u32>,
}

impl Image {
    /// Width in pixels.
    pub(crate) fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub(crate) fn height(&self) -> u32 {
        self.height
    }

    /// Row `y`, `width` pixels; empty past the last row.
    pub(crate) fn row(&self, y: u32) -> &[u32] {
        let width = self.width as usize;
        let start = (y as usize).saturating_mul(width);
        self.pixels.get(start..start + width).unwrap_or(&[])
    }

    #[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
    /// The pixel at (`x`, `y`), black outside the picture.
    pub(crate) fn pixel(&self, x: u32, y: u32) -> u32 {
        self.row(y).get(x as usize).copied().unwrap_or(0)
    }
}

/// `BI_RGB`, `BI_RLE8` and `BI_BITFIELDS` of the BMP format.
const BI_RGB: u32 = 0;
const BI_RLE8: u32 = 1;
const BI_BITFIELDS: u32 = 3;

/// The file header is 14 bytes; the info header at least 40 (`BITMAPINFOHEADER`).
const FILE_HEADER: usize = 14;
const INFO_HEADER: usize = 40;

/// Little-endian reads that fail instead of reading past the data.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u16(&self, at: usize) -> Result<u16, BmpError> {
        let bytes = self.0.get(at..at + 2).ok_or(BmpError::Truncated)?;
        Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&self, at: usize) -> Result<u32, BmpError> {
        let bytes = self.0.get(at..at + 4).ok_or(BmpError::Truncated)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn i32(&self, at: usize) -> Result<i32, BmpError> {
        Ok(self.u32(at)? as i32)
    }
}

/// What the headers say.
struct Header {
    width: u32,
    height: u32,
    top_down: bool,
    bits: u16,
    compression: u32,
    pixels_at: usize,
    palette_at: usize,
    palette_len: usize,
}

fn parse_header(data: &Bytes<'_>, max_side: u32) -> Result<Header, BmpError> {
    if data.0.get(..2) != Some(b"BM") {
        return Err(BmpError::NotBmp);
    }
    let pixels_at = data.u32(10)? as usize;
    let info_size = data.u32(FILE_HEADER)? as usize;
    if !matches!(info_size, 40 | 52 | 56 | 108 | 124) {
        return Err(BmpError::NotBmp);
    }
    let width = data.i32(FILE_HEADER + 4)?;
    let height = data.i32(FILE_HEADER + 8)?;
    let bits = data.u16(FILE_HEADER + 14)?;
    let compression = data.u32(FILE_HEADER + 16)?;
    let colours_used = data.u32(FILE_HEADER + 32)? as usize;
    let top_down = height < 0;
    let (width, height) = (width.unsigned_abs(), height.unsigned_abs());
    if width == 0 || height == 0 || width > max_side || height > max_side {
        return Err(BmpError::BadSize);
    }
    let palette_len = match bits {
        8 if colours_used == 0 => 256,
        8 if colours_used <= 256 => colours_used,
        8 => return Err(BmpError::Corrupt),
        _ => 0,
    };
    Ok(Header {
        width,
        height,
        top_down,
        bits,
        compression,
        pixels_at,
        palette_at: FILE_HEADER + info_size,
        palette_len,
    })
}

/// Decodes `data`, refusing pictures wider or taller than `max_side` pixels.
pub(crate) fn decode(data: &[u8], max_side: u32) -> Result<Image, BmpError> {
    let data = Bytes(data);
    if data.0.len() < FILE_HEADER + INFO_HEADER {
        return Err(BmpError::Truncated);
    }
    let header = parse_header(&data, max_side)?;
    let mut image = blank(header.width, header.height)?;
    match (header.bits, header.compression) {
        (24, BI_RGB) | (32, BI_RGB) => decode_true_colour(&data, &header, &mut image)?,
        (32, BI_BITFIELDS) => {
            check_standard_masks(&data)?;
            decode_true_colour(&data, &header, &mut image)?;
        }
        (8, BI_RGB) => decode_palette(&data, &header, &mut image)?,
        (8, BI_RLE8) if !header.top_down => decode_rle8(&data, &header, &mut image)?,
        _ => return Err(BmpError::Unsupported),
    }
    Ok(image)
}

fn blank(width: u32, height: u32) -> Result<Image, BmpError> {
    let len = (width as usize)
        .checked_mul(height as usize)
        .ok_or(BmpError::BadSize)?;
    let pixels = KVVec::from_elem(0u32, len, GFP_KERNEL).map_err(|_| BmpError::NoMemory)?;
    // INVARIANT: Both dimensions were checked non-zero; `len` is their product.
    Ok(Image {
        width,
        height,
        pixels,
    })
}

/// 32-bit `BI_BITFIELDS` is read only with the masks of XRGB8888.
fn check_standard_masks(data: &Bytes<'_>) -> Result<(), BmpError> {
    let masks = (
        data.u32(FILE_HEADER + 40)?,
        data.u32(FILE_HEADER + 44)?,
        data.u32(FILE_HEADER + 48)?,
    );
    if masks != (0x00ff_0000, 0x0000_ff00, 0x0000_00ff) {
        return Err(BmpError::Unsupported);
    }
    Ok(())
}

/// The row of the picture that file row `file_row` holds.
fn picture_row(header: &Header, file_row: u32) -> u32 {
    if header.top_down {
        file_row
    } else {
        header.height - 1 - file_row
    }
}

/// The byte range of file row `file_row` of `stride` bytes, checked against the data.
fn file_row<'a>(
    data: &Bytes<'a>,
    header: &Header,
    stride: usize,
    file_row: u32,
) -> Result<&'a [u8], BmpError> {
    let start = stride
        .checked_mul(file_row as usize)
        .and_then(|offset| offset.checked_add(header.pixels_at))
        .ok_or(BmpError::Truncated)?;
    let end = start.checked_add(stride).ok_or(BmpError::Truncated)?;
    data.0.get(start..end).ok_or(BmpError::Truncated)
}

/// Rows are padded to four bytes.
fn stride(width: u32, bits: u16) -> Result<usize, BmpError> {
    let bits = (width as usize)
        .checked_mul(usize::from(bits))
        .ok_or(BmpError::BadSize)?;
    Ok(bits.div_ceil(32) * 4)
}

fn decode_true_colour(
    data: &Bytes<'_>,
    header: &Header,
    image: &mut Image,
) -> Result<(), BmpError> {
    let bytes_per_pixel = usize::from(header.bits / 8);
    let stride = stride(header.width, header.bits)?;
    let width = header.width as usize;
    for row in 0..header.height {
        let source = file_row(data, header, stride, row)?;
        let start = picture_row(header, row) as usize * width;
        let target = &mut image.pixels[start..start + width];
        for (pixel, bgr) in target.iter_mut().zip(source.chunks_exact(bytes_per_pixel)) {
            *pixel = rgb(bgr[2], bgr[1], bgr[0]);
        }
    }
    Ok(())
}

/// The palette's entries as `0x00RRGGBB`; entries are stored blue, green, red, reserved.
fn palette(data: &Bytes<'_>, header: &Header) -> Result<KVec<u32>, BmpError> {
    let end = header
        .palette_at
        .checked_add(header.palette_len * 4)
        .ok_or(BmpError::Truncated)?;
    if end > header.pixels_at {
        return Err(BmpError::Corrupt);
    }
    let bytes = data
        .0
        .get(header.palette_at..end)
        .ok_or(BmpError::Truncated)?;
    let mut colours =
        KVec::with_capacity(header.palette_len, GFP_KERNEL).map_err(|_| BmpError::NoMemory)?;
    for bgr in bytes.chunks_exact(4) {
        let colour = rgb(bgr[2], bgr[1], bgr[0]);
        colours
            .push(colour, GFP_KERNEL)
            .map_err(|_| BmpError::NoMemory)?;
    }
    Ok(colours)
}

fn rgb(red: u8, green: u8, blue: u8) -> u32 {
    (u32::from(red) << 16) | (u32::from(green) << 8) | u32::from(blue)
}

fn colour(palette: &[u32], index: u8) -> Result<u32, BmpError> {
    palette
        .get(usize::from(index))
        .copied()
        .ok_or(BmpError::Corrupt)
}

fn decode_palette(data: &Bytes<'_>, header: &Header, image: &mut Image) -> Result<(), BmpError> {
    let palette = palette(data, header)?;
    let stride = stride(header.width, 8)?;
    let width = header.width as usize;
    for row in 0..header.height {
        let source = file_row(data, header, stride, row)?;
        let start = picture_row(header, row) as usize * width;
        for (pixel, &index) in image.pixels[start..start + width].iter_mut().zip(source) {
            *pixel = colour(&palette, index)?;
        }
    }
    Ok(())
}

/// `BI_RLE8`: runs of one index, literal stretches, and escapes for the end of a line, the end
/// of the picture and a jump. Pixels no run covers keep palette entry 0.
fn decode_rle8(data: &Bytes<'_>, header: &Header, image: &mut Image) -> Result<(), BmpError> {
    let palette = palette(data, header)?;
    let background = colour(&palette, 0)?;
    image
        .pixels
        .iter_mut()
        .for_each(|pixel| *pixel = background);
    let codes = data.0.get(header.pixels_at..).ok_or(BmpError::Truncated)?;
    let mut cursor = Rle8Cursor {
        image,
        header,
        x: 0,
        file_row: 0,
    };
    let mut at = 0;
    loop {
        let pair = codes.get(at..at + 2).ok_or(BmpError::Truncated)?;
        at += 2;
        match (pair[0], pair[1]) {
            (0, 0) => cursor.next_line(1, 0)?,
            (0, 1) => return Ok(()),
            (0, 2) => {
                let jump = codes.get(at..at + 2).ok_or(BmpError::Truncated)?;
                at += 2;
                cursor.jump(u32::from(jump[0]), u32::from(jump[1]))?;
            }
            (0, count) => {
                let count = usize::from(count);
                let literal = codes.get(at..at + count).ok_or(BmpError::Truncated)?;
                for &index in literal {
                    cursor.put(colour(&palette, index)?)?;
                }
                // Literal stretches are padded to 16 bits.
                at += count + count % 2;
            }
            (count, index) => {
                let colour = colour(&palette, index)?;
                for _ in 0..count {
                    cursor.put(colour)?;
                }
            }
        }
    }
}

/// Where the next RLE8 pixel goes.
struct Rle8Cursor<'a> {
    image: &'a mut Image,
    header: &'a Header,
    x: u32,
    file_row: u32,
}

impl Rle8Cursor<'_> {
    fn put(&mut self, colour: u32) -> Result<(), BmpError> {
        if self.x >= self.header.width || self.file_row >= self.header.height {
            return Err(BmpError::Corrupt);
        }
        let y = picture_row(self.header, self.file_row);
        let index = y as usize * self.header.width as usize + self.x as usize;
        *self.image.pixels.get_mut(index).ok_or(BmpError::Corrupt)? = colour;
        self.x += 1;
        Ok(())
    }

    fn next_line(&mut self, rows: u32, x: u32) -> Result<(), BmpError> {
        // The end-of-line escape after the last row is allowed (before end-of-bitmap).
        self.file_row = self.file_row.checked_add(rows).ok_or(BmpError::Corrupt)?;
        if self.file_row > self.header.height {
            return Err(BmpError::Corrupt);
        }
        self.x = x;
        Ok(())
    }

    fn jump(&mut self, right: u32, down: u32) -> Result<(), BmpError> {
        let x = self.x.checked_add(right).ok_or(BmpError::Corrupt)?;
        if x > self.header.width {
            return Err(BmpError::Corrupt);
        }
        self.next_line(down, x)
    }
}
