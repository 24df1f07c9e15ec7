// SPDX-License-Identifier: GPL-2.0

//! Bounds-checked access to mapped buffer memory, system or I/O.
//!
//! C header: [`include/linux/iosys-map.h`](srctree/include/linux/iosys-map.h)

use crate::{
    bindings,
    error::{code::*, Result},
};
use core::{ffi::c_void, marker::PhantomData, ops::Range};

/// A rectangle of rows in a buffer: `rows` rows of `row_len` bytes, starting at `offset`, each
/// `pitch` bytes after the previous one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// Where the first row starts, in bytes.
    pub offset: usize,
    /// Bytes from the start of one row to the start of the next.
    pub pitch: usize,
    /// Bytes per row.
    pub row_len: usize,
    /// Number of rows.
    pub rows: usize,
}

impl Rect {
    /// The bytes from the first row's start to the last row's end, checked: `EINVAL` for an
    /// empty rectangle or rows that overlap (`pitch < row_len`), `ERANGE` on overflow.
    pub(crate) fn span(&self) -> Result<usize> {
        if self.row_len == 0 || self.rows == 0 || self.pitch < self.row_len {
            return Err(EINVAL);
        }
        (self.rows - 1)
            .checked_mul(self.pitch)
            .and_then(|start| start.checked_add(self.row_len))
            .ok_or(ERANGE)
    }

    /// The byte ranges of the rows, relative to `offset`.
    fn row_ranges(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        (0..self.rows).map(|row| row * self.pitch..row * self.pitch + self.row_len)
    }
}

/// A view of `len` bytes of mapped buffer memory (`struct iosys_map`).
///
/// The memory may be shared with devices and other CPUs, and may be I/O memory, so the view never
/// hands out Rust references into it: every access copies through the `iosys_map` helpers, which
/// use the I/O accessors for I/O memory. Every range is checked against the mapped length.
///
/// # Invariants
///
/// `map` addresses at least `len` bytes of memory that stay mapped for `'a`.
pub struct Mapping<'a> {
    map: bindings::iosys_map,
    len: usize,
    _mapped: PhantomData<&'a mut ()>,
}

impl Mapping<'_> {
    /// Wraps `len` bytes mapped at `map`.
    ///
    /// # Safety
    ///
    /// `map` must address at least `len` bytes of memory that stay mapped for the lifetime of the
    /// returned view, and no one else may use this mapping during that time through Rust
    /// references.
    pub unsafe fn new(map: bindings::iosys_map, len: usize) -> Self {
        // INVARIANT: The caller guarantees that `map` addresses `len` mapped bytes.
        Self {
            map,
            len,
            _mapped: PhantomData,
        }
    }

    /// The length of the view in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the view is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the memory is I/O memory.
    pub fn is_iomem(&self) -> bool {
        self.map.is_iomem
    }

    /// Copies `src` into the memory at `offset`.
    ///
    /// Fails with `EINVAL` for an empty `src` and `ERANGE` if it does not fit.
    pub fn write(&mut self, offset: usize, src: &[u8]) -> Result {
        let range = self.range(offset, src.len())?;
        // SAFETY: `range` lies within the mapped length (type invariant), and `src` is valid for
        // reads of its length.
        unsafe {
            bindings::iosys_map_memcpy_to(
                &mut self.map,
                range.start,
                src.as_ptr().cast::<c_void>(),
                src.len(),
            )
        };
        Ok(())
    }

    /// Copies memory at `offset` into `dst`.
    ///
    /// Fails with `EINVAL` for an empty `dst` and `ERANGE` if it does not fit.
    pub fn read(&self, offset: usize, dst: &mut [u8]) -> Result {
        let range = self.range(offset, dst.len())?;
        // SAFETY: `range` lies within the mapped length (type invariant), and `dst` is valid for
        // writes of its length.
        unsafe {
            bindings::iosys_map_memcpy_from(
                dst.as_mut_ptr().cast::<c_void>(),
                &self.map,
                range.start,
                dst.len(),
            )
        };
        Ok(())
    }

    /// Sets `len` bytes at `offset` to `value`.
    ///
    /// Fails with `EINVAL` for `len == 0` and `ERANGE` if the range does not fit.
    pub fn fill(&mut self, offset: usize, len: usize, value: u8) -> Result {
        let range = self.range(offset, len)?;
        // SAFETY: `range` lies within the mapped length (type invariant).
        unsafe { bindings::iosys_map_memset(&mut self.map, range.start, value.into(), len) };
        Ok(())
    }

    /// Copies the rows of `src`, `src_pitch` bytes apart, into `rect`.
    ///
    /// The whole rectangle is checked before anything is written: `ERANGE` if it does not fit
    /// the view, `EINVAL` if it is empty, its rows overlap, or `src` is too short for it.
    pub fn write_rect(&mut self, rect: Rect, src: &[u8], src_pitch: usize) -> Result {
        let source = self.check_rect(rect, src.len(), src_pitch)?;
        for (to, from) in rect.row_ranges().zip(source.row_ranges()) {
            self.write(rect.offset + to.start, src.get(from).ok_or(EINVAL)?)?;
        }
        Ok(())
    }

    /// Copies `rect` into the rows of `dst`, `dst_pitch` bytes apart.
    ///
    /// Checked as [`Mapping::write_rect`] is, before anything is read.
    pub fn read_rect(&self, rect: Rect, dst: &mut [u8], dst_pitch: usize) -> Result {
        let target = self.check_rect(rect, dst.len(), dst_pitch)?;
        for (from, to) in rect.row_ranges().zip(target.row_ranges()) {
            self.read(rect.offset + from.start, dst.get_mut(to).ok_or(EINVAL)?)?;
        }
        Ok(())
    }

    /// Checks `rect` against the view, and the same rows `pitch` apart in a slice of `len`
    /// bytes; returns the slice's rectangle.
    fn check_rect(&self, rect: Rect, len: usize, pitch: usize) -> Result<Rect> {
        self.range(rect.offset, rect.span()?)?;
        let packed = Rect {
            offset: 0,
            pitch,
            ..rect
        };
        if packed.span()? > len {
            return Err(EINVAL);
        }
        Ok(packed)
    }

    /// Checks that `len` bytes at `offset` are a non-empty range inside the view.
    fn range(&self, offset: usize, len: usize) -> Result<Range<usize>> {
        if len == 0 {
            return Err(EINVAL);
        }
        let end = offset.checked_add(len).ok_or(ERANGE)?;
        if end > self.len {
            return Err(ERANGE);
        }
        Ok(offset..end)
    }
}
