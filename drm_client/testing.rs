// SPDX-License-Identifier: GPL-2.0

//! What the KUnit suites do to a client's device: the actions of user space and hardware, and
//! a view of framebuffers from the display's side.
//!
//! Built only with `CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST`, whose C fixtures these wrap.
//!
//! C header: [`include/drm/drm_vmap_client_test.h`](srctree/include/drm/drm_vmap_client_test.h)

use super::{device::MAX_PRIMARY_MINORS, Client, Device, Framebuffer};
use crate::{
    alloc::{flags::GFP_KERNEL, KVec},
    bindings,
    error::{code::*, from_err_ptr, to_result, Result},
    ktest::{CaseError, Test},
    types::ARef,
    vmap_cache::{flush_deferred_releases, ledger, DmaBuf, Reserved},
};
use core::{fmt, ptr::NonNull};

/// The first device of `driver`; the case is skipped, not failed, on a machine without one
/// (QEMU without that display, for one).
pub fn device_or_skip(test: &Test, driver: &[u8]) -> core::result::Result<ARef<Device>, CaseError> {
    match Device::find_by_driver(driver) {
        Ok(device) => Ok(device),
        Err(error) if error == ENODEV => {
            let name = core::str::from_utf8(driver).unwrap_or("the expected");
            Err(test.skip(format_args!("no {name} device")))
        }
        Err(error) => Err(error.into()),
    }
}

/// How long [`wait_for_releases`] waits: 100 polls, 10 ms apart.
const RELEASE_POLLS: u32 = 100;
const RELEASE_POLL_MS: u32 = 10;

/// Waits, for a second at most, until `released` says the releases a case is waiting for have
/// happened. A dma-buf is a file: its last reference dropped from a kernel thread is released by
/// the delayed-fput work, possibly still running when `flush_delayed_fput()` returns.
pub fn wait_for_releases(test: &Test, mut released: impl FnMut() -> bool) {
    for _ in 0..RELEASE_POLLS {
        flush_deferred_releases();
        if released() {
            return;
        }
        test.sleep_ms(RELEASE_POLL_MS);
    }
}

/// What exists on one device, as the DRM core and TTM count it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceCounts {
    /// GEM objects alive.
    pub gem_objects: i32,
    /// GEM mappings (`drm_gem_vmap()` not yet undone).
    pub gem_mappings: i32,
    /// Pins of TTM buffer objects (devices with a VRAM manager).
    pub ttm_pins: u32,
}

impl DeviceCounts {
    const NONE: Self = Self {
        gem_objects: 0,
        gem_mappings: 0,
        ttm_pins: 0,
    };

    fn of(device: &Device) -> Self {
        let mut counts = bindings::drm_vmap_client_test_census::default();
        // SAFETY: The device is alive (the caller holds a reference); the fixture only reads
        // counters and walks TTM's pinned list under its lock.
        unsafe { bindings::drm_vmap_client_test_census(device.as_raw(), &mut counts) };
        Self {
            gem_objects: counts.gem_objects,
            gem_mappings: counts.gem_mappings,
            ttm_pins: counts.ttm_pins,
        }
    }
}

/// What a case must give back: the layer's own holdings, and what exists on each registered
/// device (vgem included), counted by the DRM core and TTM rather than by the layer.
///
/// The device side catches what the layer's ledger cannot: a GEM object, a mapping or a pin
/// that C code (a driver, a helper, the exporter of an import) keeps on a path of ours.
/// Devices are told apart by primary minor; a device unbound and bound again gets its minor
/// back, as nothing else registers meanwhile in the suites' boot.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Census {
    /// What the layer holds ([`ledger::holdings`]).
    pub held: ledger::Holdings,
    devices: [DeviceCounts; MAX_PRIMARY_MINORS as usize],
}

impl Census {
    /// The census now.
    pub fn now() -> Self {
        let mut census = Self {
            held: ledger::holdings(),
            devices: [DeviceCounts::NONE; MAX_PRIMARY_MINORS as usize],
        };
        for device in Device::registered() {
            if let Some(slot) = Self::slot(&device).and_then(|i| census.devices.get_mut(i)) {
                *slot = DeviceCounts::of(&device);
            }
        }
        census
    }

    /// What the census found on `device`.
    pub fn on(&self, device: &Device) -> DeviceCounts {
        Self::slot(device)
            .and_then(|i| self.devices.get(i))
            .copied()
            .unwrap_or_default()
    }

    /// Where `device`'s counts are kept: at its primary minor.
    fn slot(device: &Device) -> Option<usize> {
        usize::try_from(device.primary_minor()?).ok()
    }

    /// The census once releases already under way are done: the same twice in a row, 10 ms
    /// apart, after completing deferred dma-buf releases (for a second at most). A case takes
    /// its starting census this way, so that what an earlier case or an enclosing fixture
    /// released late is not counted against it.
    pub fn settled(test: &Test) -> Self {
        let mut last = Self::now();
        for _ in 0..RELEASE_POLLS {
            flush_deferred_releases();
            test.sleep_ms(RELEASE_POLL_MS);
            let now = Self::now();
            if now == last {
                return now;
            }
            last = now;
        }
        last
    }
}

impl fmt::Debug for Census {
    /// The layer's holdings and the devices that have anything, as `cardN: ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.held)?;
        let found = self.devices.iter().enumerate();
        for (minor, counts) in found.filter(|(_, counts)| **counts != DeviceCounts::NONE) {
            write!(f, ", card{minor}: {counts:?}")?;
        }
        Ok(())
    }
}

/// Everything a case or a failed operation on a device must give back: the [`Census`], the
/// device's references and framebuffers, and the layer's fbdev devices. The leak checks of
/// the suites and of the fault sweep compare two of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// The layer's holdings and what exists on each device.
    pub census: Census,
    /// References to the device (every GEM export and open file holds one).
    pub device_references: u32,
    /// Framebuffers on the device.
    pub framebuffers: u32,
    /// Live `fb_info`s of the layer's fbdev emulation.
    pub fb_devices: usize,
}

impl Footprint {
    /// The footprint on `device` now.
    pub fn now(device: &Device) -> Self {
        Self {
            census: Census::now(),
            device_references: device.ref_count(),
            framebuffers: device.framebuffer_count(),
            fb_devices: fb_devices(),
        }
    }

    /// The footprint to start from: as [`Footprint::now`], with the census taken once releases
    /// already under way are done ([`Census::settled`]).
    pub fn settled(test: &Test, device: &Device) -> Self {
        Self {
            census: Census::settled(test),
            ..Self::now(device)
        }
    }

    /// The footprint on `device` once it is back to `self`, or after a second: releases may be
    /// deferred to the delayed-fput work ([`wait_for_releases`]).
    pub fn after_releases(&self, test: &Test, device: &Device) -> Self {
        wait_for_releases(test, || Self::now(device) == *self);
        Self::now(device)
    }
}

#[cfg(CONFIG_DRM_VMAP_FBDEV)]
fn fb_devices() -> usize {
    crate::fbdev::live_devices()
}

#[cfg(not(CONFIG_DRM_VMAP_FBDEV))]
fn fb_devices() -> usize {
    0
}

/// An open file of a device's primary node that holds DRM master, as a compositor does.
///
/// Dropping it closes the file; as the device's last open file, that makes the DRM core restore
/// the in-kernel clients.
///
/// # Invariants
///
/// `file` is a file reference returned by `drm_vmap_client_test_open_master()`.
pub struct MasterFile {
    file: NonNull<bindings::file>,
}

impl MasterFile {
    /// Opens `device` and becomes its DRM master; `EBUSY` if another file is master.
    pub fn open(device: &Device) -> Result<Self> {
        // SAFETY: The device is alive; the fixture returns a new file or an error.
        let file =
            from_err_ptr(unsafe { bindings::drm_vmap_client_test_open_master(device.as_raw()) })?;
        // INVARIANT: A file the fixture returned.
        Ok(Self {
            file: NonNull::new(file).ok_or(ENOMEM)?,
        })
    }
}

impl Drop for MasterFile {
    fn drop(&mut self) {
        // SAFETY: We own the file reference (type invariant).
        unsafe { bindings::drm_vmap_client_test_close(self.file.as_ptr()) };
    }
}

/// How many GEM handles `client`'s DRM file holds: none once its framebuffers exist, by the
/// buffer lifetime rule (see [`Framebuffer`]).
pub fn gem_handles(client: &Client) -> u32 {
    // SAFETY: The client, and so its file, is alive; the fixture takes the file's table lock.
    unsafe { bindings::drm_vmap_client_test_handle_count(client.file()) }
}

/// Connects (`true`) or disconnects every connector of `device`, then sends a hotplug event.
///
/// Fails with `ENODEV` if the device has no connectors.
pub fn set_connected(device: &Device, connected: bool) -> Result {
    // SAFETY: The device is alive; the fixture takes the mode config mutex.
    to_result(unsafe { bindings::drm_vmap_client_test_set_connected(device.as_raw(), connected) })
}

/// The ID of the framebuffer the first primary plane of `device` shows, 0 for none.
pub fn scanned_out_id(device: &Device) -> u32 {
    // SAFETY: The device is alive; the fixture takes the modeset locks.
    unsafe { bindings::drm_vmap_client_test_scanout_fb_id(device.as_raw()) }
}

/// Reads `dst.len()` bytes at `offset` of `fb` through the KMS device's own mapping of it.
pub fn read_as_display(fb: &Framebuffer, offset: usize, dst: &mut [u8]) -> Result {
    // SAFETY: The framebuffer is alive; `dst` is writable for its length; the fixture checks
    // the range against the object.
    to_result(unsafe {
        bindings::drm_vmap_client_test_fb_read(
            fb.as_raw(),
            offset,
            dst.as_mut_ptr().cast(),
            dst.len(),
        )
    })
}

/// Reads `dst.len()` bytes at `offset` of the video memory (PCI BAR 0) of `device`, which a
/// display with a shadow buffer (cirrus) copies damaged areas into.
pub fn read_vram(device: &Device, offset: usize, dst: &mut [u8]) -> Result {
    // SAFETY: The device is alive; `dst` is writable for its length; the fixture checks the
    // range against the BAR.
    to_result(unsafe {
        bindings::drm_vmap_client_test_read_vram(
            device.as_raw(),
            offset,
            dst.as_mut_ptr().cast(),
            dst.len(),
        )
    })
}

/// Checks that `fb`'s object was imported from its dma-buf and scans out the very pages the
/// exporter maps; `EXDEV` if not.
pub fn check_shared_pages(fb: &Framebuffer) -> Result {
    // SAFETY: The framebuffer and its dma-buf are alive.
    to_result(unsafe {
        bindings::drm_vmap_client_test_fb_shares_pages(fb.as_raw(), fb.dma_buf().as_raw())
    })
}

/// A device whose driver was unbound, as on hot-unplug; [`Unbound::rebind`] probes it again.
///
/// # Invariants
///
/// `parent` is a device reference from `drm_vmap_client_test_unbind()`.
pub struct Unbound {
    parent: Option<NonNull<bindings::device>>,
}

impl Unbound {
    /// Unbinds the driver of `device`: it unplugs and unregisters the DRM device, which calls
    /// the clients' unregister callbacks.
    pub fn unbind(device: &Device) -> Result<Self> {
        // SAFETY: The device is alive; the fixture returns its parent with a reference.
        let parent = unsafe { bindings::drm_vmap_client_test_unbind(device.as_raw()) };
        // INVARIANT: The fixture's reference.
        Ok(Self {
            parent: Some(NonNull::new(parent).ok_or(ENODEV)?),
        })
    }

    /// Probes the device again; `ENODEV` if no driver bound.
    pub fn rebind(mut self) -> Result {
        self.rebind_once()
    }

    fn rebind_once(&mut self) -> Result {
        let Some(parent) = self.parent.take() else {
            return Ok(());
        };
        // SAFETY: The fixture's reference (type invariant), which the rebind drops.
        to_result(unsafe { bindings::drm_vmap_client_test_rebind(parent.as_ptr()) })
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        // A failed case still gives the device back to its driver for the cases after it.
        let _ = self.rebind_once();
    }
}

/// Where TTM keeps a framebuffer's object: in video memory or not, and how many pins it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// In video memory (else in system memory).
    pub in_vram: bool,
    /// Pins held by anyone: the display, an open access, a filler.
    pub pins: u32,
}

/// Where TTM keeps `fb`'s object; `EINVAL` if it is not a TTM buffer object.
pub fn placement(fb: &Framebuffer) -> Result<Placement> {
    let mut placement = bindings::drm_vmap_client_test_placement::default();
    // SAFETY: The framebuffer is alive; the fixture fills `placement` under the object's
    // reservation lock.
    to_result(unsafe { bindings::drm_vmap_client_test_fb_placement(fb.as_raw(), &mut placement) })?;
    Ok(Placement {
        in_vram: placement.in_vram,
        pins: placement.pins,
    })
}

/// A buffer pinned in a device's video memory until dropped: memory pressure, as a display
/// that pins a new scanout buffer causes.
///
/// # Invariants
///
/// `gbo` is a pinned object from `drm_vmap_client_test_vram_filler()`, whose reference we hold.
pub struct VramFiller {
    gbo: NonNull<bindings::drm_gem_vram_object>,
}

impl VramFiller {
    /// Pins `size` new bytes in `device`'s video memory, evicting what is neither pinned nor
    /// reserved. Fails with `ENOMEM` once nothing more can be evicted.
    pub fn pin(device: &Device, size: usize) -> Result<Self> {
        // SAFETY: The device is alive; the fixture returns a pinned object or an error.
        let gbo = from_err_ptr(unsafe {
            bindings::drm_vmap_client_test_vram_filler(device.as_raw(), size)
        })?;
        // INVARIANT: The fixture's pinned object.
        Ok(Self {
            gbo: NonNull::new(gbo).ok_or(ENOMEM)?,
        })
    }
}

impl Drop for VramFiller {
    fn drop(&mut self) {
        // SAFETY: We own the pinned object (type invariant).
        unsafe { bindings::drm_vmap_client_test_vram_filler_free(self.gbo.as_ptr()) };
    }
}

/// A dma-buf's reservation lock, held by the case until dropped, as an exporter moving the
/// buffer or a display pinning it would hold it.
pub struct ReservationHold<'a> {
    _held: Reserved<'a>,
}

impl<'a> ReservationHold<'a> {
    /// Takes `buf`'s reservation lock; `EINTR` on a signal.
    pub fn lock(buf: &'a DmaBuf) -> Result<Self> {
        Ok(Self {
            _held: Reserved::lock(buf)?,
        })
    }
}

/// What the movable test exporter knows of one of its buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MovableState {
    /// Which of its two stores holds the buffer.
    pub store: u32,
    /// Pins held by importers.
    pub pins: u32,
    /// Live kernel mappings.
    pub vmaps: u32,
    /// Moves carried out.
    pub moves: u32,
    /// A move waits for the last unpin.
    pub move_pending: bool,
}

/// What a move request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    /// The buffer moved.
    Done,
    /// An importer has it pinned: it moves at the last unpin.
    Deferred,
}

/// A dynamic dma-buf whose exporter moves it on request, telling its dynamic importers first,
/// as amdgpu and xe do on eviction.
///
/// # Invariants
///
/// `buf` was made by `drm_vmap_client_test_movable_export()`.
pub struct MovableBuffer {
    buf: ARef<DmaBuf>,
}

impl MovableBuffer {
    /// A buffer of `size` zeroed bytes.
    pub fn new(size: usize) -> Result<Self> {
        // SAFETY: The fixture returns a new dma-buf with one reference, or an error.
        let buf = from_err_ptr(unsafe { bindings::drm_vmap_client_test_movable_export(size) })?;
        let buf = NonNull::new(buf).ok_or(ENOMEM)?;
        // INVARIANT: Made by the fixture.
        Ok(Self {
            // SAFETY: We take over the export's reference.
            buf: unsafe { DmaBuf::adopt(buf) },
        })
    }

    /// The dma-buf.
    pub fn dma_buf(&self) -> &ARef<DmaBuf> {
        &self.buf
    }

    /// Moves the buffer to the exporter's other store; `EBUSY` if a mapping that no importer
    /// gave up at the notification holds it.
    pub fn move_now(&self) -> Result<Move> {
        // SAFETY: The dma-buf is alive and the fixture's (type invariant).
        let moved = unsafe { bindings::drm_vmap_client_test_movable_move(self.buf.as_raw()) };
        to_result(moved)?;
        Ok(if moved == 0 {
            Move::Done
        } else {
            Move::Deferred
        })
    }

    /// The exporter's view of the buffer.
    pub fn state(&self) -> MovableState {
        let mut state = bindings::drm_vmap_client_test_movable::default();
        // SAFETY: As in `move_now`; the fixture fills `state` under the reservation lock.
        unsafe { bindings::drm_vmap_client_test_movable_state(self.buf.as_raw(), &mut state) };
        MovableState {
            store: state.store,
            pins: state.pins,
            vmaps: state.vmaps,
            moves: state.moves,
            move_pending: state.move_pending,
        }
    }
}

/// Moves `fb`'s object into video memory (`in_vram`) or system memory, and leaves it there
/// unpinned. Fails with `EINVAL` if it is not a GEM VRAM object, `EBUSY` if it is pinned, and
/// `ENOMEM` if video memory is full.
pub fn place(fb: &Framebuffer, in_vram: bool) -> Result {
    // SAFETY: The framebuffer is alive; the fixture pins and unpins its object.
    to_result(unsafe { bindings::drm_vmap_client_test_fb_place(fb.as_raw(), in_vram) })
}

/// The baselines the benchmark suite compares the layer with, timed in C.
///
/// Each fills its slices with one duration per sample, in nanoseconds per operation, each the
/// mean of `batch` operations.
pub mod baselines {
    use super::*;

    fn samples(ns: &[u64]) -> Result<u32> {
        u32::try_from(ns.len()).map_err(|_| EINVAL)
    }

    /// `dma_buf_vmap_unlocked()` + `dma_buf_vunmap_unlocked()` per access, as a client without
    /// a cache maps; nothing else should map `buf` meanwhile.
    pub fn dma_buf_vmap(buf: &DmaBuf, ns: &mut [u64], batch: u32) -> Result {
        let count = samples(ns)?;
        // SAFETY: The dma-buf is alive and `ns` holds `count` writable values.
        to_result(unsafe {
            bindings::drm_vmap_client_bench_dma_buf_vmap(
                buf.as_raw(),
                ns.as_mut_ptr(),
                count,
                batch,
            )
        })
    }

    /// The upstream C client API on a `width` x `height` XRGB8888 buffer of `client`'s device:
    /// `drm_client_buffer_vmap_local()` + `vunmap_local()` per access into `local`, and
    /// `drm_client_buffer_vmap()` + `vunmap()` into `long_term`.
    pub fn c_client(
        client: &Client,
        (width, height): (u32, u32),
        local: &mut [u64],
        long_term: &mut [u64],
        batch: u32,
    ) -> Result {
        let count = samples(local)?;
        if long_term.len() != local.len() {
            return Err(EINVAL);
        }
        // SAFETY: The client is initialised and alive; both slices hold `count` values.
        to_result(unsafe {
            bindings::drm_vmap_client_bench_c_client(
                client.as_raw(),
                width,
                height,
                local.as_mut_ptr(),
                long_term.as_mut_ptr(),
                count,
                batch,
            )
        })
    }

    /// `memset()` (or, with `copy`, `memcpy()`) of `len` bytes into `buf`'s own mapping, or
    /// into plain vmalloc'd memory for `None`.
    pub fn raw(buf: Option<&DmaBuf>, len: usize, copy: bool, ns: &mut [u64]) -> Result {
        let count = samples(ns)?;
        if len == 0 || buf.is_some_and(|buf| buf.size() < len) {
            return Err(EINVAL);
        }
        let raw = buf.map_or(core::ptr::null_mut(), DmaBuf::as_raw);
        // SAFETY: The dma-buf, if any, is alive and holds `len` bytes; `ns` holds `count`
        // values.
        to_result(unsafe {
            bindings::drm_vmap_client_bench_raw(raw, len, copy, ns.as_mut_ptr(), count)
        })
    }
}

/// How much the benchmark suite measures: 0 for one quick iteration of everything (the default,
/// as `cargo xtask test` boots), 1 or more for `cargo xtask bench` (`drm_vmap_client_bench=N`
/// on the kernel command line).
pub fn bench_scale() -> u32 {
    // SAFETY: The fixture only reads a parameter set at boot.
    unsafe { bindings::drm_vmap_client_bench_scale() }
}

/// Asks `device`'s clients to restore the display, as the core does when the last user-space
/// file closes (`force` false) or as sysrq and a panic do (`force` true): the first client that
/// restores takes it.
pub fn restore_clients(device: &Device, force: bool) {
    // SAFETY: The device is alive; the core takes the client list mutex itself.
    unsafe { bindings::drm_client_dev_restore(device.as_raw(), force) };
}

/// Hides vgem from the layer until dropped, as a kernel built without vgem would: the vgem
/// allocator fails with `ENODEV`, and the fallback to a display's own buffers can be tested in
/// the same boot.
pub struct VgemHidden(());

impl VgemHidden {
    /// Hides vgem.
    pub fn new() -> Self {
        // SAFETY: The fixture only sets a flag.
        unsafe { bindings::drm_vmap_client_test_hide_vgem(true) };
        Self(())
    }
}

impl Default for VgemHidden {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for VgemHidden {
    fn drop(&mut self) {
        // SAFETY: As in `new`.
        unsafe { bindings::drm_vmap_client_test_hide_vgem(false) };
    }
}

/// Whether the harness's self-check asked for a failure (`drm_vmap_client_fail_on_purpose=1`).
pub fn fail_on_purpose() -> bool {
    // SAFETY: The fixture only reads a parameter set at boot.
    unsafe { bindings::drm_vmap_client_test_fail_on_purpose() }
}

/// What `/sys/kernel/debug/dri/N/vmap_client` shows for `device` now (tests run before debugfs
/// is mounted); empty before a client of the layer registered on any device.
pub fn vmap_client_debugfs(device: &Device) -> Result<KVec<u8>> {
    let mut text = KVec::<u8>::with_capacity(16384, GFP_KERNEL)?;
    // SAFETY: The device is alive; the buffer has room for its capacity.
    let len = unsafe {
        bindings::drm_vmap_client_debugfs_render(
            device.as_raw(),
            text.as_mut_ptr().cast(),
            text.capacity(),
        )
    };
    // SAFETY: The helper wrote `len` bytes, at most the capacity.
    unsafe { text.set_len(len.min(text.capacity())) };
    Ok(text)
}
