// SPDX-License-Identifier: GPL-2.0

//! Failure injection over the layer's failure points: the `drm_vmap_client_faults` suite.
//!
//! Each case takes one operation of the layer (object creation and export, import, attach,
//! vmap, pin, framebuffer creation, mode set, flip, flush, fbdev registration) and sweeps its
//! fault points with [`sweep`]: every run fails the next one, and after every run nothing may be
//! left behind.
//!
//! Allocations that may sleep are fault points only once `/init` has set debugfs up, which is
//! why this suite is a module, built in the debug kernel only and loaded by `/init`. The boot
//! splash sweeps its own entry points in its `bootsplash_faults` suite.

use kernel::{
    c_str,
    drm_client::{
        fault_sweep::sweep, testing, vgem, Allocator, Client, ClientHandler, Damage, Device,
        DoubleBuffer, Format, Framebuffer, GemObject, Layout,
    },
    fbdev::{FbDevice, FbHandler, Shadow},
    ktest::{CaseResult, Test},
    ktest_assert_eq, ktest_suite,
    prelude::*,
    sync::Arc,
    vmap_cache::{CachedVmap, Direction, VmapCache},
};

module! {
    type: Faults,
    name: "vmap_client_faults",
    author: "drm-vmap-client developers",
    description: "Failure injection sweep of the Rust in-kernel DRM client layer",
    license: "GPL",
}

struct Faults;

impl kernel::Module for Faults {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Faults)
    }
}

/// A framebuffer small enough for every display.
const SIDE: u32 = 64;

/// A client that does nothing on the core's calls.
struct Quiet;

impl ClientHandler for Quiet {}

impl FbHandler for Quiet {
    fn damaged(&self, _area: Damage) {}
}

fn new_client(device: &Device) -> Result<Arc<Client>> {
    let handler = Arc::new(Quiet, GFP_KERNEL)?;
    Client::new(device, c_str!("vmap_client_faults"), handler)
}

fn vgem_buffer_exported_and_mapped(test: &Test) -> CaseResult {
    let device = vgem::device()?;
    sweep(test, &device, "vgem buffer, export, vmap", || {
        let buf = GemObject::new_shmem(&device, 65536)?.export()?;
        let map = buf.vmap()?;
        Ok((map, buf))
    })
}

fn client_and_vgem_framebuffer_on_vkms(test: &Test) -> CaseResult {
    let device = testing::device_or_skip(test, b"vkms")?;
    sweep(
        test,
        &device,
        "client, vgem framebuffer imported by vkms",
        || {
            let client = new_client(&device)?;
            let registration = client.register()?;
            let fb = Framebuffer::new(
                &client,
                Allocator::VgemOrDevice,
                SIDE,
                SIDE,
                Format::Xrgb8888,
            )?;
            Ok((fb, registration))
        },
    )
}

fn device_framebuffer_on_bochs(test: &Test) -> CaseResult {
    let device = testing::device_or_skip(test, b"bochs-drm")?;
    let client = new_client(&device)?;
    sweep(test, &device, "video memory framebuffer on bochs", || {
        Framebuffer::new(&client, Allocator::Device, SIDE, SIDE, Format::Xrgb8888)
    })
}

fn cpu_access_on_bochs(test: &Test) -> CaseResult {
    let device = testing::device_or_skip(test, b"bochs-drm")?;
    let client = new_client(&device)?;
    let fb = Framebuffer::new(&client, Allocator::Device, SIDE, SIDE, Format::Xrgb8888)?;
    sweep(
        test,
        &device,
        "cached vmap and access (reservation, vmap, CPU access) on bochs",
        || {
            let mut vmap = fb.vmap()?;
            {
                let mut access = vmap.begin_access(Direction::Write)?;
                access.memory().fill(0, 64, 0x5a)?;
            }
            vmap.vunmap_cached()
        },
    )
}

/// A buffer of an exporter that moves it and tells its importers first (the test exporter):
/// the cache attaches dynamically, and every access pins it. Leaks show in the layer's holdings
/// and in the exporter's own count of pins and mappings.
fn cpu_access_on_a_moving_buffer(test: &Test) -> CaseResult {
    let device = testing::device_or_skip(test, b"vkms")?;
    let buffer = testing::MovableBuffer::new(4096)?;
    sweep(
        test,
        &device,
        "cache and access (attach, pin, vmap) on a moving buffer",
        || {
            let cache = VmapCache::new(buffer.dma_buf().clone())?;
            let mut vmap = CachedVmap::new(cache.clone())?;
            {
                let mut access = vmap.begin_access(Direction::Write)?;
                access.memory().fill(0, 64, 0x5a)?;
            }
            vmap.vunmap_cached()?;
            // The sweep drops the cache (the detach) once it no longer injects.
            Ok(cache)
        },
    )?;
    let state = buffer.state();
    ktest_assert_eq!(test, (state.pins, state.vmaps), (0, 0));
    Ok(())
}

/// A framebuffer the size of the client's first output, which a mode set can show.
fn screen_sized(client: &Arc<Client>, allocator: Allocator) -> Result<Framebuffer> {
    let outputs = client.probe_outputs()?;
    let output = outputs.first().ok_or(ENODEV)?;
    Framebuffer::new(
        client,
        allocator,
        output.width,
        output.height,
        Format::Xrgb8888,
    )
}

fn mode_set_and_flush_on_vkms(test: &Test) -> CaseResult {
    let device = testing::device_or_skip(test, b"vkms")?;
    let client = new_client(&device)?;
    let fb = screen_sized(&client, Allocator::VgemOrDevice)?;
    // Shown once first: the display maps what it shows (vkms's shadow planes), so every run
    // that shows it again must leave that mapping as it found it, not add one.
    client.show(&fb)?;
    sweep(test, &device, "mode set and damage flush on vkms", || {
        client.probe_outputs()?;
        client.show(&fb)?;
        fb.flush_all()
    })
}

fn flip_on_bochs(test: &Test) -> CaseResult {
    let device = testing::device_or_skip(test, b"bochs-drm")?;
    let client = new_client(&device)?;
    let outputs = client.probe_outputs()?;
    let output = outputs.first().ok_or(ENODEV)?;
    let (width, height) = (output.width, output.height);
    let mut buffers =
        DoubleBuffer::new(&client, Allocator::Device, width, height, Format::Xrgb8888)?;
    // Flipped once first: the display pins what it scans out, one buffer or the other, so
    // every run must leave exactly that one pin.
    buffers.flip()?;
    sweep(test, &device, "draw and flip on bochs", || {
        buffers.draw(|memory| memory.fill(0, 64, 0xa5))?;
        buffers.flip()
    })
}

fn fbdev_registration_on_vkms(test: &Test) -> CaseResult {
    let device = testing::device_or_skip(test, b"vkms")?;
    let handler = Arc::new(Quiet, GFP_KERNEL)?;
    sweep(
        test,
        &device,
        "fbdev shadow and registration on vkms",
        || {
            let shadow = Shadow::new(Layout::new(SIDE, SIDE, Format::Xrgb8888)?)?;
            FbDevice::register(&device, c_str!("faultsdrmfb"), shadow, handler.clone(), 60)
        },
    )
}

ktest_suite!(
    drm_vmap_client_faults,
    [
        vgem_buffer_exported_and_mapped,
        client_and_vgem_framebuffer_on_vkms,
        device_framebuffer_on_bochs,
        cpu_access_on_bochs,
        cpu_access_on_a_moving_buffer,
        mode_set_and_flush_on_vkms,
        flip_on_bochs,
        fbdev_registration_on_vkms,
    ]
);
