// SPDX-License-Identifier: GPL-2.0

//! A boot splash drawn by an in-kernel DRM client, written only against safe abstractions.
//!
//! At boot it becomes a client of every KMS device with a connected output, allocates two
//! framebuffers as large as the largest output, and animates a progress bar with page flips.
//! The buffers come from vgem where the display can import them (no copy between the devices),
//! from the display's own dumb buffers otherwise (video memory, as on bochs). Every pixel goes
//! through the framebuffer's dma-buf and its cached mapping.
//!
//! The splash stays until the device is unregistered. While user space holds DRM master it
//! does not touch the display; when the last user-space file closes, it shows itself again.

use kernel::{
    c_str,
    drm_client::{
        Allocator, Client, ClientHandler, Device, DoubleBuffer, Format, Layout, Output,
        Registration, RestoreRequest,
    },
    error::{code::*, Result},
    new_mutex,
    prelude::*,
    sync::{Arc, ArcBorrow, Mutex},
    vmap_cache::Mapping,
};

module! {
    type: Bootsplash,
    name: "bootsplash",
    author: "drm-vmap-client developers",
    description: "Boot splash on the Rust in-kernel DRM client API",
    license: "GPL",
}

/// Primary minors are 0 to 63.
const MAX_MINORS: u32 = 64;

/// Colours, `0x00RRGGBB`.
const SKY_TOP: u32 = 0x0010_1c30;
const SKY_BOTTOM: u32 = 0x0030_5078;
const PANEL: u32 = 0x00d8_e0ea;
const TRACK: u32 = 0x0040_4a58;
const PROGRESS: u32 = 0x0030_a0f0;

/// The panel is this fraction of the screen, and the bar sits inside it.
const PANEL_FRACTION: u32 = 3;
const BAR_MARGIN: u32 = 12;
const BAR_HEIGHT: u32 = 16;

/// Frames of the progress animation, one page flip each.
const FRAMES: u32 = 8;

struct Bootsplash {
    _splashes: KVec<Arc<Splash>>,
}

impl kernel::Module for Bootsplash {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut splashes = KVec::new();
        for minor in 0..MAX_MINORS {
            let Ok(device) = Device::from_minor(minor) else {
                continue;
            };
            match Splash::start(&device) {
                Ok(Some(splash)) => splashes.push(splash, GFP_KERNEL)?,
                Ok(None) => {}
                Err(error) => pr_warn!(
                    "no splash on {} (minor {minor}): error {}\n",
                    device.driver_name(),
                    error.to_errno()
                ),
            }
        }
        if splashes.is_empty() {
            pr_info!("no display with a connected output\n");
        }
        Ok(Bootsplash {
            _splashes: splashes,
        })
    }
}

/// What a splash keeps while it is on screen.
struct Shown {
    buffers: DoubleBuffer,
    /// Keeps the client registered; dropped on unregister, which releases the client.
    _registration: Registration,
}

/// The splash on one device, and the handler of its client.
#[pin_data]
struct Splash {
    #[pin]
    shown: Mutex<Option<Shown>>,
}

impl Splash {
    /// Shows the splash on `device`; `None` if it cannot display or shows nothing.
    fn start(device: &Device) -> Result<Option<Arc<Self>>> {
        let splash = Arc::pin_init(
            pin_init!(Splash {
                shown <- new_mutex!(None),
            }),
            GFP_KERNEL,
        )?;
        let client = match Client::new(device, c_str!("bootsplash"), splash.clone()) {
            Ok(client) => client,
            // vgem and other render-only devices.
            Err(error) if error == EOPNOTSUPP => return Ok(None),
            Err(error) => return Err(error),
        };
        // Registering probes the outputs, through `hotplug()`.
        let registration = client.register()?;
        let outputs = client.outputs()?;
        let Some((width, height)) = covering_size(&outputs) else {
            return Ok(None);
        };
        let mut buffers = DoubleBuffer::new(
            &client,
            Allocator::VgemOrDevice,
            width,
            height,
            Format::Xrgb8888,
        )?;
        let allocator = buffers.allocator();
        let layout = *buffers.layout();
        let mut lit = 0;
        for frame in 1..=FRAMES {
            buffers.draw(|memory| paint(memory, &layout, frame))?;
            lit = buffers.flip()?;
        }
        pr_info!(
            "{width}x{height} XRGB8888 splash on {} ({} buffers), {FRAMES} frames flipped onto \
             {lit} output(s)\n",
            device.driver_name(),
            match allocator {
                Allocator::Vgem => "vgem, imported",
                // `VgemOrDevice` resolves to one of the two.
                Allocator::Device | Allocator::VgemOrDevice => "device dumb",
            },
        );
        *splash.shown.lock() = Some(Shown {
            buffers,
            _registration: registration,
        });
        Ok(Some(splash))
    }
}

impl ClientHandler for Splash {
    fn hotplug(&self, client: ArcBorrow<'_, Client>) -> Result {
        client.probe_outputs()?;
        if let Some(shown) = self.shown.lock().as_ref() {
            // A new output larger than the splash stays dark: `ERANGE`, not worth failing
            // hotplug for (that would stop the core from calling again).
            if let Err(error) = client.show(shown.buffers.front()) {
                pr_info!(
                    "splash not shown after hotplug: error {}\n",
                    error.to_errno()
                );
            }
        }
        Ok(())
    }

    fn restore(&self, client: ArcBorrow<'_, Client>, request: &RestoreRequest) -> Result {
        if self.shown.lock().is_none() {
            return Err(ENODEV);
        }
        client.restore_display_as_requested(request)
    }

    fn unregister(&self, _client: ArcBorrow<'_, Client>) {
        let shown = self.shown.lock().take();
        drop(shown);
    }
}

/// The smallest framebuffer size that covers every output.
fn covering_size(outputs: &[Output]) -> Option<(u32, u32)> {
    let width = outputs
        .iter()
        .map(|output| output.x.saturating_add(output.width))
        .max()?;
    let height = outputs
        .iter()
        .map(|output| output.y.saturating_add(output.height))
        .max()?;
    Some((width, height))
}

/// Paints frame `frame` of `FRAMES`: the sky, the panel, and the progress bar.
fn paint(memory: &mut Mapping<'_>, layout: &Layout, frame: u32) -> Result {
    paint_sky(memory, layout)?;
    let (width, height) = (layout.width(), layout.height());
    let panel_width = width / PANEL_FRACTION;
    let panel_height = 2 * BAR_MARGIN + BAR_HEIGHT;
    if panel_width <= 2 * BAR_MARGIN || height <= panel_height {
        return Ok(());
    }
    let panel_x = (width - panel_width) / 2;
    let panel_y = (height - panel_height) / 2;
    fill_rect(
        memory,
        layout,
        (panel_x, panel_y, panel_width, panel_height),
        PANEL,
    )?;
    let track_width = panel_width - 2 * BAR_MARGIN;
    let (bar_x, bar_y) = (panel_x + BAR_MARGIN, panel_y + BAR_MARGIN);
    fill_rect(
        memory,
        layout,
        (bar_x, bar_y, track_width, BAR_HEIGHT),
        TRACK,
    )?;
    let done = track_width * frame.min(FRAMES) / FRAMES;
    if done > 0 {
        fill_rect(memory, layout, (bar_x, bar_y, done, BAR_HEIGHT), PROGRESS)?;
    }
    Ok(())
}

/// A vertical gradient from `SKY_TOP` to `SKY_BOTTOM`, one row write per line.
fn paint_sky(memory: &mut Mapping<'_>, layout: &Layout) -> Result {
    let mut row = KVec::from_elem(
        0u8,
        layout.rect(0, 0, layout.width(), 1)?.row_len,
        GFP_KERNEL,
    )?;
    for y in 0..layout.height() {
        fill_row(&mut row, blend(SKY_TOP, SKY_BOTTOM, y, layout.height()));
        memory.write(layout.rect(0, y, layout.width(), 1)?.offset, &row)?;
    }
    Ok(())
}

/// Fills the pixel rectangle (`x`, `y`, `width`, `height`) with `colour`.
fn fill_rect(
    memory: &mut Mapping<'_>,
    layout: &Layout,
    (x, y, width, height): (u32, u32, u32, u32),
    colour: u32,
) -> Result {
    let rect = layout.rect(x, y, width, height)?;
    let mut row = KVec::from_elem(0u8, rect.row_len, GFP_KERNEL)?;
    fill_row(&mut row, colour);
    for index in 0..rect.rows {
        memory.write(rect.offset + index * rect.pitch, &row)?;
    }
    Ok(())
}

/// Sets every XRGB8888 pixel of `row` to `colour`.
fn fill_row(row: &mut [u8], colour: u32) {
    for pixel in row.chunks_exact_mut(4) {
        pixel.copy_from_slice(&colour.to_le_bytes());
    }
}

/// The colour `step / steps` of the way from `from` to `to`, per channel.
fn blend(from: u32, to: u32, step: u32, steps: u32) -> u32 {
    let (step, steps) = (u64::from(step.min(steps)), u64::from(steps.max(1)));
    let channel = |shift: u32| {
        let (a, b) = (
            u64::from((from >> shift) & 0xff),
            u64::from((to >> shift) & 0xff),
        );
        let value = (a * (steps - step) + b * step) / steps;
        u32::try_from(value & 0xff).unwrap_or(0) << shift
    };
    channel(16) | channel(8) | channel(0)
}
