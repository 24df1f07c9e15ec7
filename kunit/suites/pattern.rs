// SPDX-License-Identifier: GPL-2.0

//! A test pattern that fills a framebuffer and is checked wherever the pixels can be read: the
//! client's mapping, or the display's own view.

use kernel::{
    alloc::{flags::GFP_KERNEL, KVec},
    drm_client::Layout,
    error::Result,
    vmap_cache::Mapping,
};

/// The byte at `offset` of the test pattern: not periodic in any power of two.
pub(crate) fn pattern_byte(offset: usize, seed: usize) -> u8 {
    ((offset + seed) % 251) as u8
}

/// Fills every row of a framebuffer of `layout` with the pattern for `seed`.
pub(crate) fn draw_pattern(memory: &mut Mapping<'_>, layout: &Layout, seed: usize) -> Result {
    let mut row = row_buffer(layout)?;
    for y in 0..layout.height() {
        let start = layout.rect(0, y, layout.width(), 1)?.offset;
        for (i, byte) in row.iter_mut().enumerate() {
            *byte = pattern_byte(start + i, seed);
        }
        memory.write(start, &row)?;
    }
    Ok(())
}

/// Whether every row of a framebuffer of `layout`, as `read_row(offset, row)` reads it, holds
/// the pattern for `seed`.
pub(crate) fn holds_pattern(
    layout: &Layout,
    seed: usize,
    mut read_row: impl FnMut(usize, &mut [u8]) -> Result,
) -> Result<bool> {
    let mut row = row_buffer(layout)?;
    for y in 0..layout.height() {
        let start = layout.rect(0, y, layout.width(), 1)?.offset;
        read_row(start, &mut row)?;
        if row
            .iter()
            .enumerate()
            .any(|(i, byte)| *byte != pattern_byte(start + i, seed))
        {
            return Ok(false);
        }
    }
    Ok(true)
}

fn row_buffer(layout: &Layout) -> Result<KVec<u8>> {
    let row_len = layout.rect(0, 0, layout.width(), 1)?.row_len;
    Ok(KVec::from_elem(0u8, row_len, GFP_KERNEL)?)
}
