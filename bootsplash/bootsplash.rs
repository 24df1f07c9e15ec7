// SPDX-License-Identifier: GPL-2.0

//! A boot splash drawn by an in-kernel DRM client, written only against safe abstractions.
//!
//! At boot it allocates the splash buffer on vgem, maps it through the buffer's in-kernel
//! dma-buf, paints the background and checks what it painted. Putting the buffer on a display
//! through a KMS device is the next step of the client API (`kernel::drm_client`).

use kernel::{
    drm_client::{vgem, GemObject},
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

/// Splash size in pixels, XRGB8888.
const WIDTH: usize = 640;
const HEIGHT: usize = 480;
const BYTES_PER_PIXEL: usize = 4;

/// The background colour, 0x00RRGGBB: a dark blue.
const BACKGROUND: u32 = 0x0018_2b4a;

/// Pixels painted per copy; a row is a whole number of chunks.
const CHUNK_PIXELS: usize = 64;

struct Bootsplash;

impl kernel::Module for Bootsplash {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let device = vgem::device()?;
        let object = GemObject::new_shmem(&device, WIDTH * HEIGHT * BYTES_PER_PIXEL)?;
        let buffer = object.export()?;
        let mut vmap = buffer.vmap()?;
        let mut memory = vmap.memory();
        paint(&mut memory, BACKGROUND)?;
        let corner = pixel(&memory, WIDTH - 1, HEIGHT - 1)?;
        if corner != BACKGROUND {
            pr_err!("background check failed: {corner:#010x} in the last pixel\n");
            return Err(EIO);
        }
        pr_info!(
            "painted a {WIDTH}x{HEIGHT} XRGB8888 background ({} bytes) into a vgem buffer \
             mapped through its dma-buf ({} memory)\n",
            buffer.size(),
            if memory.is_iomem() { "I/O" } else { "system" }
        );
        Ok(Bootsplash)
    }
}

/// Fills every pixel with `colour`.
fn paint(memory: &mut Mapping<'_>, colour: u32) -> Result {
    let mut chunk = [0u8; CHUNK_PIXELS * BYTES_PER_PIXEL];
    for pixel in chunk.chunks_exact_mut(BYTES_PER_PIXEL) {
        pixel.copy_from_slice(&colour.to_le_bytes());
    }
    for offset in (0..memory.len()).step_by(chunk.len()) {
        memory.write(offset, &chunk)?;
    }
    Ok(())
}

/// Reads the pixel at (`x`, `y`).
fn pixel(memory: &Mapping<'_>, x: usize, y: usize) -> Result<u32> {
    let mut bytes = [0u8; BYTES_PER_PIXEL];
    memory.read((y * WIDTH + x) * BYTES_PER_PIXEL, &mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}
