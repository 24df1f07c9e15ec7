// SPDX-License-Identifier: GPL-2.0

//! A boot splash drawn by an in-kernel DRM client, written only against safe abstractions.
//!
//! At boot it allocates the splash buffer on vgem, maps it through the buffer's in-kernel
//! dma-buf, paints the background and a centred panel, and checks what it painted. Putting the
//! buffer on a display through a KMS device is the next step of the client API
//! (`kernel::drm_client`).

use kernel::{
    drm_client::{vgem, Format, GemObject, Layout},
    prelude::*,
    vmap_cache::Mapping,
};

module! {
    type: Bootsplash,
    name: "bootsplash",
    author: "drm-vmap-client developers",
    description: "Boot splash on the Rust in-kernel DRM client API",
    license: "GPL",
}

/// Splash size in pixels.
const WIDTH: u32 = 640;
const HEIGHT: u32 = 480;

/// Colours, `0x00RRGGBB`: a dark blue background and a lighter panel.
const BACKGROUND: u32 = 0x0018_2b4a;
const PANEL: u32 = 0x0050_7cb0;

/// The panel's size in pixels.
const PANEL_WIDTH: u32 = 240;
const PANEL_HEIGHT: u32 = 60;

/// Pixels painted per copy.
const CHUNK_PIXELS: usize = 64;

struct Bootsplash;

impl kernel::Module for Bootsplash {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let layout = Layout::new(WIDTH, HEIGHT, Format::Xrgb8888)?;
        let device = vgem::device()?;
        let buffer = GemObject::new_shmem(&device, layout.size())?.export()?;
        let mut vmap = buffer.vmap()?;
        let mut memory = vmap.memory();
        fill(&mut memory, &layout, BACKGROUND)?;
        let panel_x = (WIDTH - PANEL_WIDTH) / 2;
        let panel_y = (HEIGHT - PANEL_HEIGHT) / 2;
        paint_panel(&mut memory, &layout, panel_x, panel_y)?;
        check(&memory, &layout, WIDTH - 1, HEIGHT - 1, BACKGROUND)?;
        check(&memory, &layout, panel_x, panel_y, PANEL)?;
        check(
            &memory,
            &layout,
            panel_x + PANEL_WIDTH - 1,
            panel_y + PANEL_HEIGHT - 1,
            PANEL,
        )?;
        check(&memory, &layout, panel_x + PANEL_WIDTH, panel_y, BACKGROUND)?;
        pr_info!(
            "painted a {WIDTH}x{HEIGHT} XRGB8888 splash with a {PANEL_WIDTH}x{PANEL_HEIGHT} panel \
             ({} bytes) into a vgem buffer mapped through its dma-buf ({} memory)\n",
            buffer.size(),
            if memory.is_iomem() { "I/O" } else { "system" }
        );
        Ok(Bootsplash)
    }
}

/// `CHUNK_PIXELS` pixels of `colour`.
fn chunk(colour: u32) -> [u8; CHUNK_PIXELS * 4] {
    let mut bytes = [0u8; CHUNK_PIXELS * 4];
    for pixel in bytes.chunks_exact_mut(4) {
        pixel.copy_from_slice(&colour.to_le_bytes());
    }
    bytes
}

/// Fills the whole framebuffer with `colour`.
fn fill(memory: &mut Mapping<'_>, layout: &Layout, colour: u32) -> Result {
    let bytes = chunk(colour);
    for offset in (0..layout.size()).step_by(bytes.len()) {
        memory.write(offset, &bytes)?;
    }
    Ok(())
}

/// Paints the solid panel at (`x`, `y`), one chunk-wide column of rows at a time.
fn paint_panel(memory: &mut Mapping<'_>, layout: &Layout, x: u32, y: u32) -> Result {
    let bytes = chunk(PANEL);
    let step = u32::try_from(CHUNK_PIXELS).map_err(|_| EINVAL)?;
    let mut column = 0;
    while column < PANEL_WIDTH {
        let width = step.min(PANEL_WIDTH - column);
        let rect = layout.rect(x + column, y, width, PANEL_HEIGHT)?;
        let row = bytes.get(..rect.row_len).ok_or(EINVAL)?;
        for index in 0..rect.rows {
            memory.write(rect.offset + index * rect.pitch, row)?;
        }
        column += width;
    }
    Ok(())
}

/// Fails with `EIO` unless the pixel at (`x`, `y`) is `expected`.
fn check(memory: &Mapping<'_>, layout: &Layout, x: u32, y: u32, expected: u32) -> Result {
    let rect = layout.rect(x, y, 1, 1)?;
    let mut pixel = [0u8; 4];
    memory.read(rect.offset, &mut pixel)?;
    let found = u32::from_le_bytes(pixel);
    if found != expected {
        pr_err!("pixel ({x}, {y}) is {found:#010x}, expected {expected:#010x}\n");
        return Err(EIO);
    }
    Ok(())
}
