// SPDX-License-Identifier: GPL-2.0

//! Failure injection over the layer's failure points: the `drm_vmap_client_faults` suite.
//!
//! Each case takes one operation of the layer (object creation and export, import, attach,
//! vmap, pin, framebuffer creation, mode set, flip, flush, fbdev registration) and runs it again
//! and again, failing the first fault point it passes, then the second, and so on, as
//! syzkaller's fail-nth does, until three runs in a row pass fewer points than the one they were
//! to fail (the number of points varies a little between runs: a slab that needs a new page, a
//! cache that is warm). After every run it checks that nothing was left behind (the layer's
//! [`ledger`], the device's references and framebuffers, our `fb_info`s); a run whose failure
//! was injected may fail with any errno or absorb the failure (a fallback), and the runs that
//! were not injected must succeed.
//!
//! The fault points are every allocation of the task (failslab, fail_page_alloc), in our code
//! and in the C it calls. They are fault points only once `/init` has set debugfs up
//! (allocations that may sleep are exempt by default), which is why this suite is a module,
//! built in the debug kernel only and loaded by `/init`. Each injected failure is logged as
//! `fault injection: <operation> #<n>: <errno or absorbed>, <clean or leaked>`; `cargo xtask
//! test` sums them.

use core::panic::Location;
use kernel::{
    c_str,
    drm_client::{
        testing::{self, fail_nth},
        vgem, Allocator, Client, ClientHandler, Damage, Device, DoubleBuffer, Format, Framebuffer,
        GemObject, Layout,
    },
    fbdev::{live_devices, FbDevice, FbHandler, Shadow},
    ktest::{CaseResult, Test},
    ktest_assert_eq, ktest_suite,
    prelude::*,
    sync::Arc,
    vmap_cache::{ledger, Direction},
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

/// The most fault points one operation may pass; a sweep that goes on longer fails.
const MAX_POINTS: u32 = 4000;

/// A framebuffer small enough for every display.
const SIDE: u32 = 64;

/// Everything a leak on an error path would change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Snapshot {
    held: ledger::Holdings,
    device_references: u32,
    framebuffers: u32,
    fb_devices: usize,
}

fn snapshot(device: &Device) -> Snapshot {
    Snapshot {
        held: ledger::holdings(),
        device_references: device.ref_count(),
        framebuffers: device.framebuffer_count(),
        fb_devices: live_devices(),
    }
}

/// The snapshot once it is back to `before`, or after the last poll: a dma-buf's release may
/// be deferred to the delayed-fput work.
fn settled(test: &Test, device: &Device, before: &Snapshot) -> Snapshot {
    testing::wait_for_releases(test, || snapshot(device) == *before);
    snapshot(device)
}

/// How many runs in a row must pass fewer fault points than the one to fail before a sweep
/// ends: the number of points varies between runs (a slab that needs a new page, a cache that
/// is warm), so one short run does not prove that the points after it were all tried.
const SHORT_RUNS_TO_END: u32 = 3;

/// Runs `op` with its first fault point failing, then its second, and so on; see the module
/// documentation.
#[track_caller]
fn sweep<T>(
    test: &Test,
    device: &Device,
    name: &str,
    mut op: impl FnMut() -> Result<T>,
) -> CaseResult {
    let caller = Location::caller();
    let before = snapshot(device);
    let mut nth = 1;
    let mut short_runs = 0;
    while nth <= MAX_POINTS {
        fail_nth::arm(nth);
        let result = op();
        let injected = fail_nth::disarm();
        let error = result.as_ref().err().copied();
        drop(result);
        let after = settled(test, device, &before);
        if !injected {
            // Fewer than `nth` points: the run went through uninjected, and must have worked.
            ktest_assert_eq!(test, error, None);
            ktest_assert_eq!(test, after, before);
            short_runs += 1;
            if short_runs == SHORT_RUNS_TO_END {
                pr_info!(
                    "fault sweep: {name}: {} point(s) failed in turn, then it succeeded\n",
                    nth - 1
                );
                return Ok(());
            }
            continue;
        }
        short_runs = 0;
        let clean = if after == before { "clean" } else { "leaked" };
        match error {
            Some(error) => pr_info!(
                "fault injection: {name} #{nth}: errno {}, {clean}\n",
                error.to_errno()
            ),
            None => pr_info!("fault injection: {name} #{nth}: absorbed, {clean}\n"),
        }
        ktest_assert_eq!(test, after, before);
        nth += 1;
    }
    Err(test.fail(
        caller,
        format_args!("{name}: more than {MAX_POINTS} fault points"),
    ))
}

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
        "cached vmap and access (attach, pin, vmap) on bochs",
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
        mode_set_and_flush_on_vkms,
        flip_on_bochs,
        fbdev_registration_on_vkms,
    ]
);
