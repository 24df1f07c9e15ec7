// SPDX-License-Identifier: GPL-2.0

//! The benchmark suite: what an access, a mapping, a fill and a frame cost through the layer,
//! and through what it replaces, side by side in one boot so that ratios hold on a noisy host.
//!
//! Every measurement prints one line (see [`samples::Samples::report`]) that `cargo xtask bench`
//! collects into its table. `drm_vmap_client_bench=` on the command line says how much to
//! measure: 0 (the default, as `cargo xtask test` boots) runs each measurement once, at the
//! smallest size, to show that it still works; 1 measures everything; 2 measures only the cold
//! and the cached access on vgem at 1920x1080, for the boots with 1 and 4 CPUs that show how
//! the costs grow with the machine.

mod backends;
mod samples;

use crate::{
    client::{new_client, registered_client, BOCHS, CIRRUS},
    common::{export_vgem_buffer, with_kms_device, with_vgem_device},
};
use backends::{bytes, Bochs};
use kernel::{
    alloc::{flags::GFP_KERNEL, KVVec, VVec},
    drm_client::{
        testing::{self, baselines, MovableBuffer, ReservationHold},
        Allocator, Client, Device, DoubleBuffer, Format, Framebuffer,
    },
    error::{code::EOPNOTSUPP, Result},
    ktest::{CaseResult, Test},
    ktest_suite, new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    types::ARef,
    vmap_cache::{CachedVmap, Direction, DmaBuf, VmapCache},
};
use samples::{Plan, Samples};

const VKMS: &[u8] = b"vkms";

/// The buffer sizes, XRGB8888.
const SIZES: [(u32, u32); 3] = [(640, 480), (1920, 1080), (3840, 2160)];

/// How much to measure.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scale {
    /// Once each, at the smallest size.
    Smoke,
    /// Everything.
    Full,
    /// The cold and the cached access on vgem at one size.
    CpuProbe,
}

impl Scale {
    fn from_boot() -> Self {
        match testing::bench_scale() {
            0 => Scale::Smoke,
            1 => Scale::Full,
            _ => Scale::CpuProbe,
        }
    }

    fn sizes(self) -> &'static [(u32, u32)] {
        match self {
            Scale::Smoke => &SIZES[..1],
            Scale::Full => &SIZES,
            Scale::CpuProbe => &SIZES[1..2],
        }
    }

    /// Operations that take about a microsecond: many, batched.
    fn fast(self) -> Plan {
        self.plan(Plan {
            samples: 200,
            batch: 64,
        })
    }

    /// Operations that map or fill a whole buffer: milliseconds each.
    fn slow(self) -> Plan {
        self.plan(Plan {
            samples: 15,
            batch: 1,
        })
    }

    fn plan(self, full: Plan) -> Plan {
        match self {
            Scale::Smoke => Plan::ONCE,
            Scale::Full | Scale::CpuProbe => full,
        }
    }
}

/// The warm access of a cache: one `begin_access()` + `end_access()` pair, after a first access
/// that mapped the buffer.
fn warm_access(scale: Scale, cache: &Arc<VmapCache>) -> Result<Samples> {
    let mut user = CachedVmap::new(cache.clone())?;
    drop(user.begin_access(Direction::Write)?);
    Samples::measure(scale.fast(), || {
        drop(user.begin_access(Direction::Write)?);
        Ok(())
    })
}

/// `dma_buf_vmap_unlocked()` + `dma_buf_vunmap_unlocked()` per access, with nothing else
/// mapping the buffer: what a client without a cache pays.
fn map_per_access(scale: Scale, buf: &DmaBuf) -> Result<Samples> {
    let plan = scale.slow();
    let mut samples = Samples::zeroed(plan.samples)?;
    baselines::dma_buf_vmap(buf, samples.as_mut_slice(), plan.batch)?;
    Ok(samples)
}

/// The access costs of one buffer, reported under `backend`.
fn access_costs_of(scale: Scale, backend: &str, size: (u32, u32), buf: &ARef<DmaBuf>) -> Result {
    // First, while nothing maps it.
    map_per_access(scale, buf)?.report(backend, size, "map_per_access")?;
    let cache = VmapCache::new(buf.clone())?;
    let op = if cache.is_movable() {
        "cached_access_movable"
    } else {
        "cached_access"
    };
    warm_access(scale, &cache)?.report(backend, size, op)?;
    // The part of the warm access that waits for fences (none here): one scan of the
    // reservation object.
    Samples::measure(scale.fast(), || cache.wait_for_fences(Direction::Write))?.report(
        backend,
        size,
        "fence_check",
    )
}

/// The upstream C client API on `client`'s device, at `size`.
fn c_client_costs(scale: Scale, backend: &str, size: (u32, u32), client: &Client) -> Result {
    let plan = scale.slow();
    let (mut local, mut long_term) = (
        Samples::zeroed(plan.samples)?,
        Samples::zeroed(plan.samples)?,
    );
    baselines::c_client(
        client,
        size,
        local.as_mut_slice(),
        long_term.as_mut_slice(),
        plan.batch,
    )?;
    local.report(backend, size, "c_vmap_local")?;
    long_term.report(backend, size, "c_vmap_long_term_setup")
}

/// The floor of the warm path: an uncontended round trip through the locks it takes.
fn lock_floor(scale: Scale, buf: &DmaBuf) -> Result {
    let mutex = KBox::pin_init(new_mutex!(()), GFP_KERNEL)?;
    let mutex: &Mutex<()> = &mutex;
    Samples::measure(scale.fast(), || {
        drop(mutex.lock());
        Ok(())
    })?
    .report("cpu", (0, 0), "mutex_lock_unlock")?;
    Samples::measure(scale.fast(), || {
        drop(ReservationHold::lock(buf)?);
        Ok(())
    })?
    .report("cpu", (0, 0), "resv_lock_unlock")
}

/// The devices the suite measures on.
struct Devices<'a> {
    vgem: &'a Device,
    vkms: &'a Device,
    bochs: &'a Device,
}

/// Runs `body` with the devices, then checks, as the other suites do, that nothing it made
/// still holds them (and waits for the deferred releases, which would otherwise land in the
/// next case's counts).
fn with_devices(test: &Test, body: impl FnOnce(&Devices<'_>) -> CaseResult) -> CaseResult {
    with_kms_device(test, VKMS, |vkms| {
        with_kms_device(test, BOCHS, |bochs| {
            with_vgem_device(test, |vgem| body(&Devices { vgem, vkms, bochs }))
        })
    })
}

fn access_costs(test: &Test) -> CaseResult {
    with_devices(test, |devices| access_costs_on(Scale::from_boot(), devices))
}

fn access_costs_on(scale: Scale, devices: &Devices<'_>) -> CaseResult {
    let vgem = devices.vgem;
    if scale == Scale::CpuProbe {
        for &size in scale.sizes() {
            access_costs_of(
                scale,
                "vgem",
                size,
                &export_vgem_buffer(vgem, bytes(size)?)?,
            )?;
        }
        return Ok(());
    }
    let (vkms, _) = new_client(devices.vkms)?;
    let bochs = Bochs::open(devices.bochs)?;
    let floor_buffer = export_vgem_buffer(vgem, 4096)?;
    lock_floor(scale, &floor_buffer)?;
    for &size in scale.sizes() {
        let len = bytes(size)?;
        access_costs_of(scale, "vgem", size, &export_vgem_buffer(vgem, len)?)?;
        let fb = Framebuffer::new(&vkms, Allocator::Device, size.0, size.1, Format::Xrgb8888)?;
        access_costs_of(scale, "vkms", size, &fb.dma_buf().into())?;
        c_client_costs(scale, "vkms", size, &vkms)?;
        for in_vram in [false, true] {
            if let Some(fb) = bochs.placed_framebuffer(size, in_vram)? {
                access_costs_of(scale, Bochs::backend(in_vram), size, &fb.dma_buf().into())?;
            }
        }
        c_client_costs(scale, "bochs", size, bochs.client())?;
        let movable = MovableBuffer::new(len)?;
        access_costs_of(scale, "exporter", size, movable.dma_buf())?;
    }
    Ok(())
}

/// A full-buffer fill and copy through the access guard, against `memset()`/`memcpy()` into
/// the same mapping and into plain kernel memory.
fn bandwidth_of(scale: Scale, backend: &str, size: (u32, u32), buf: &ARef<DmaBuf>) -> Result {
    let len = bytes(size)?;
    let plan = scale.slow();
    let cache = VmapCache::new(buf.clone())?;
    let mut user = CachedVmap::new(cache)?;
    let mut value = 0u8;
    Samples::measure(plan, || {
        value = value.wrapping_add(1);
        user.begin_access(Direction::Write)?
            .memory()
            .fill(0, len, value)
    })?
    .report(backend, size, "fill_guard")?;
    // vmalloc'd, as the raw copy's source is: where the source lives changes what a copy costs
    // (under TCG a physically contiguous source was seen making it ten times slower).
    let source = VVec::from_elem(0x5au8, len, GFP_KERNEL)?;
    Samples::measure(plan, || {
        user.begin_access(Direction::Write)?
            .memory()
            .write(0, &source)
    })?
    .report(backend, size, "copy_guard")?;
    drop(user);
    for (copy, op) in [(false, "fill_raw"), (true, "copy_raw")] {
        let mut samples = Samples::zeroed(plan.samples)?;
        baselines::raw(Some(buf), len, copy, samples.as_mut_slice())?;
        samples.report(backend, size, op)?;
    }
    Ok(())
}

/// Runs `body` with the devices, except in the boots that only probe how costs grow with the
/// CPU count, which measure the access costs alone.
fn unless_cpu_probe(
    test: &Test,
    body: impl FnOnce(Scale, &Devices<'_>) -> CaseResult,
) -> CaseResult {
    let scale = Scale::from_boot();
    if scale == Scale::CpuProbe {
        return Ok(());
    }
    with_devices(test, |devices| body(scale, devices))
}

fn bandwidth(test: &Test) -> CaseResult {
    unless_cpu_probe(test, bandwidth_on)
}

fn bandwidth_on(scale: Scale, devices: &Devices<'_>) -> CaseResult {
    let vgem = devices.vgem;
    let (vkms, _) = new_client(devices.vkms)?;
    let bochs = Bochs::open(devices.bochs)?;
    for &size in scale.sizes() {
        let len = bytes(size)?;
        let plan = scale.slow();
        for (copy, op) in [(false, "fill_raw"), (true, "copy_raw")] {
            let mut samples = Samples::zeroed(plan.samples)?;
            baselines::raw(None, len, copy, samples.as_mut_slice())?;
            samples.report("kernel-memory", size, op)?;
        }
        bandwidth_of(scale, "vgem", size, &export_vgem_buffer(vgem, len)?)?;
        let fb = Framebuffer::new(&vkms, Allocator::Device, size.0, size.1, Format::Xrgb8888)?;
        bandwidth_of(scale, "vkms", size, &fb.dma_buf().into())?;
        for in_vram in [false, true] {
            if let Some(fb) = bochs.placed_framebuffer(size, in_vram)? {
                bandwidth_of(scale, Bochs::backend(in_vram), size, &fb.dma_buf().into())?;
            }
        }
    }
    Ok(())
}

fn remap_costs(test: &Test) -> CaseResult {
    unless_cpu_probe(test, remap_costs_on)
}

fn remap_costs_on(scale: Scale, devices: &Devices<'_>) -> CaseResult {
    let bochs = Bochs::open(devices.bochs)?;
    for &size in scale.sizes() {
        // The dynamic exporter: each sample moves the buffer, then times the access that
        // notices and maps again.
        let movable = MovableBuffer::new(bytes(size)?)?;
        let mut user = CachedVmap::new(VmapCache::new(movable.dma_buf().clone())?)?;
        drop(user.begin_access(Direction::Write)?);
        remapped_accesses(scale, &mut user, || movable.move_now().map(drop))?.report(
            "exporter",
            size,
            "access_after_move",
        )?;
        // bochs: moved between video and system memory by a pin elsewhere, as a display's
        // scanout pin or memory pressure would move it.
        if let Some(fb) = bochs.placed_framebuffer(size, true)? {
            let mut user = fb.vmap()?;
            let mut in_vram = true;
            drop(user.begin_access(Direction::Write)?);
            let samples = remapped_accesses(scale, &mut user, || {
                in_vram = !in_vram;
                testing::place(&fb, in_vram)
            })?;
            samples.report("bochs", size, "access_after_move")?;
        }
    }
    Ok(())
}

/// Times the accesses of `user` that follow a `move_buffer()` each; the moves are not timed.
fn remapped_accesses<U: BeginAccess>(
    scale: Scale,
    user: &mut U,
    mut move_buffer: impl FnMut() -> Result,
) -> Result<Samples> {
    let plan = scale.slow();
    let mut samples = Samples::zeroed(plan.samples)?;
    for sample in samples.as_mut_slice() {
        move_buffer()?;
        let timed = Samples::measure(Plan::ONCE, || user.access_once())?;
        *sample = timed.median_and_p99()?.0;
    }
    Ok(samples)
}

/// Users of a cached mapping that can begin an access: a plain user or a framebuffer's.
trait BeginAccess {
    fn access_once(&mut self) -> Result;
}

impl BeginAccess for CachedVmap {
    fn access_once(&mut self) -> Result {
        drop(self.begin_access(Direction::Write)?);
        Ok(())
    }
}

impl BeginAccess for kernel::drm_client::FramebufferVmap {
    fn access_once(&mut self) -> Result {
        drop(self.begin_access(Direction::Write)?);
        Ok(())
    }
}

/// The splash's progress bar: the damage of one animation frame.
const BAR: (u32, u32) = (256, 16);

/// One display's frames at its output's size: a full frame drawn and flipped, per allocator,
/// and a splash frame, which redraws and flushes only the bar.
fn frames_of(scale: Scale, display: &str, device: &Device) -> Result {
    let registered = registered_client(device)?;
    let (client, size) = (&registered.client, registered.size);
    let len = bytes(size)?;
    let allocators = [
        (
            Allocator::Device,
            "frame_full_flip_device",
            "frame_splash_bar_device",
        ),
        (
            Allocator::Vgem,
            "frame_full_flip_vgem",
            "frame_splash_bar_vgem",
        ),
    ];
    for (allocator, flip_op, bar_op) in allocators {
        let mut buffers =
            match DoubleBuffer::new(client, allocator, size.0, size.1, Format::Xrgb8888) {
                Ok(buffers) => buffers,
                // bochs cannot import vgem's pages.
                Err(error) if error == EOPNOTSUPP => continue,
                Err(error) => return Err(error),
            };
        let mut value = 0u8;
        Samples::measure(scale.slow(), || {
            value = value.wrapping_add(1);
            buffers.draw(|memory| memory.fill(0, len, value))?;
            buffers.flip().map(drop)
        })?
        .report(display, size, flip_op)?;
        let layout = *buffers.layout();
        let bar = layout.rect(0, size.1 / 2, BAR.0.min(size.0), BAR.1)?;
        let row = KVVec::from_elem(0xffu8, bar.row_len * usize::try_from(BAR.1)?, GFP_KERNEL)?;
        let shown = buffers.front();
        let mut user = shown.vmap()?;
        Samples::measure(scale.slow(), || {
            user.begin_access(Direction::Write)?
                .memory()
                .write_rect(bar, &row, bar.row_len)?;
            shown.flush(0, size.1 / 2, BAR.0.min(size.0), BAR.1)
        })?
        .report(display, size, bar_op)?;
    }
    Ok(())
}

fn frames(test: &Test) -> CaseResult {
    unless_cpu_probe(test, |scale, devices| {
        frames_of(scale, "vkms", devices.vkms)?;
        with_kms_device(test, CIRRUS, |cirrus| {
            Ok(frames_of(scale, "cirrus", cirrus)?)
        })?;
        frames_of(scale, "bochs", devices.bochs)?;
        Ok(())
    })
}

ktest_suite!(
    drm_vmap_client_bench,
    [access_costs, bandwidth, remap_costs, frames]
);
