// SPDX-License-Identifier: GPL-2.0

//! Framebuffers backed by dumb buffers, with CPU access through their dma-buf.
//!
//! # Buffer lifetime
//!
//! A framebuffer is created from a GEM handle in the client's DRM file, and the handle is
//! deleted as soon as the framebuffer exists (`GemHandle`, in [`super::allocator`], is a guard
//! that cannot outlive the creation). This is the rule of the 2023 fix in
//! `drm_client_framebuffer_create()`: a handle kept in the file holds the GEM object, an
//! exported dma-buf holds the object too, and the file would then keep the object and its
//! driver pinned by a cycle. After creation the
//! framebuffer references the object, and the dma-buf used for CPU access references it (or,
//! for vgem buffers, the imported object references the dma-buf); nothing else does.
//!
//! C headers: [`include/drm/drm_framebuffer.h`](srctree/include/drm/drm_framebuffer.h),
//! [`include/drm/drm_prime.h`](srctree/include/drm/drm_prime.h)

use super::{
    allocator::{allocate, Allocation, GemHandle},
    registry::FbRecord,
    Allocator, Client, Device, Format, Layout,
};
use crate::{
    bindings,
    error::{code::*, from_err_ptr, to_result, Error, Result},
    sync::Arc,
    vmap_cache::{
        fault_point,
        ledger::{self, Held},
        Access, CachedVmap, Direction, DmaBuf, Stats, VmapCache,
    },
};
use core::ptr::{self, NonNull};

/// A framebuffer of a client, and the dma-buf through which the CPU reaches its memory.
///
/// Drawing goes through [`Framebuffer::vmap`], never through GEM's vmap hooks.
///
/// # Invariants
///
/// `fb` is a framebuffer of the client's device, created by the driver's `fb_create` and owned
/// by no file: this value holds the reference `fb_create` returned, which
/// `drm_framebuffer_remove()` gives back. Its first plane is the memory of the dma-buf that
/// `cache` maps, laid out as `layout`.
pub struct Framebuffer {
    fb: NonNull<bindings::drm_framebuffer>,
    layout: Layout,
    allocator: Allocator,
    vgem_refused: Option<Error>,
    cache: Arc<VmapCache>,
    /// Dropped last: the client's file and device reference outlive the buffer's objects.
    client: Arc<Client>,
}

// SAFETY: The framebuffer's reference count is atomic and its removal takes the modeset locks;
// the other fields are `Send`.
unsafe impl Send for Framebuffer {}

// SAFETY: `&Framebuffer` only reads immutable fields or calls functions that lock.
unsafe impl Sync for Framebuffer {}

impl Framebuffer {
    /// Allocates a `width` x `height` framebuffer in `format` for `client`, from `allocator`.
    ///
    /// Fails with `EINVAL` for a zero dimension, a size below the device's minimum or a format
    /// no plane of the device scans out, `E2BIG` for a buffer over
    /// [`MAX_BUFFER_SIZE`](super::MAX_BUFFER_SIZE) or a size above the device's maximum,
    /// `EOPNOTSUPP` if the device cannot import and `ENODEV` if vgem is missing (both for
    /// [`Allocator::Vgem`]; [`Allocator::VgemOrDevice`] then uses the device's own buffers),
    /// and `ENODEV` if the device was unplugged.
    pub fn new(
        client: &Arc<Client>,
        allocator: Allocator,
        width: u32,
        height: u32,
        format: Format,
    ) -> Result<Self> {
        let packed = Layout::new(width, height, format)?;
        check_scanout(client.device(), &packed)?;
        let _section = client.enter()?;
        let (
            Allocation {
                buffer,
                handle,
                layout,
            },
            allocator,
            vgem_refused,
        ) = allocate(client, allocator, packed)?;
        // Before the framebuffer, so that nothing can fail once it exists.
        let cache = VmapCache::new(buffer)?;
        client.framebuffers.reserve()?;
        let fb = create_framebuffer(client, &handle, &layout)?;
        ledger::took(Held::Framebuffer);
        // The handle goes as soon as the framebuffer holds the object (the 2023 rule).
        drop(handle);
        // INVARIANT: `create_framebuffer()` gave us its reference to a framebuffer that scans out
        // the object behind the handle, whose memory the cache's dma-buf is.
        let framebuffer = Self {
            fb,
            layout,
            allocator,
            vgem_refused,
            cache,
            client: client.clone(),
        };
        client.framebuffers.add(FbRecord {
            id: framebuffer.id(),
            layout,
            allocator: framebuffer.allocator,
            cache: framebuffer.cache.clone(),
        });
        Ok(framebuffer)
    }

    /// The client the framebuffer belongs to.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The framebuffer's mode object ID.
    pub fn id(&self) -> u32 {
        // SAFETY: `fb` is alive while we hold its reference (type invariant).
        unsafe { (*self.fb.as_ptr()).base.id }
    }

    /// Width, height, format and pitch.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Where the memory comes from: [`Allocator::Vgem`] or [`Allocator::Device`], whichever
    /// [`Allocator::VgemOrDevice`] resolved to.
    pub fn allocator(&self) -> Allocator {
        self.allocator
    }

    /// Why [`Allocator::VgemOrDevice`] fell back to the device's own buffers: `ENODEV` if
    /// vgem is missing or the device refused the import (virtio-gpu in 6.12 imports no
    /// foreign dma-buf), `EOPNOTSUPP` if the device has no import at all (bochs).
    pub fn vgem_refusal(&self) -> Option<Error> {
        self.vgem_refused
    }

    /// The dma-buf the CPU reaches the memory through.
    pub fn dma_buf(&self) -> &DmaBuf {
        self.cache.buffer()
    }

    /// The cached mapping of the framebuffer, shared by all its users. Crate-private: outside
    /// users reach it only through [`Framebuffer::vmap`], whose handle keeps the protocol and
    /// the unplug check.
    pub(crate) fn cache(&self) -> &Arc<VmapCache> {
        &self.cache
    }

    /// The counters of the framebuffer's cached mapping.
    pub fn stats(&self) -> Stats {
        self.cache.stats()
    }

    /// Whether the buffer's memory may move between accesses (bochs's video memory does).
    pub fn is_movable(&self) -> bool {
        self.cache.is_movable()
    }

    /// Declares a user of the framebuffer's cached mapping; see [`CachedVmap`].
    pub fn vmap(&self) -> Result<FramebufferVmap> {
        Ok(FramebufferVmap {
            user: CachedVmap::new(self.cache.clone())?,
            client: self.client.clone(),
        })
    }

    /// Tells the device that the `width` x `height` rectangle at (`x`, `y`) changed.
    ///
    /// Devices that scan out from their own copy (a `dirty` hook) update it; the others read
    /// the buffer anyway, and this does nothing. Fails with `EINVAL` for an empty rectangle,
    /// `ERANGE` outside the framebuffer, `ETIMEDOUT` if the buffer's writers do not finish in
    /// time (see [`Client::show`]) and `ENODEV` after unplug.
    pub fn flush(&self, x: u32, y: u32, width: u32, height: u32) -> Result {
        self.layout.rect(x, y, width, height)?;
        if self.client.is_unplugged() {
            return Err(ENODEV);
        }
        let clip = bindings::drm_clip_rect {
            x1: to_u16(x)?,
            y1: to_u16(y)?,
            x2: to_u16(x + width)?,
            y2: to_u16(y + height)?,
        };
        let fb = self.fb.as_ptr();
        // SAFETY: `fb` is alive (type invariant); `funcs` is set at its creation.
        let Some(dirty) = (unsafe { (*(*fb).funcs).dirty }) else {
            return Ok(());
        };
        // The hook commits, and a commit waits for the writers without a limit: wait here,
        // bounded, and outside the device section, which would hold up an unplug meanwhile.
        self.cache.wait_for_fences(Direction::Read)?;
        let _scanout = self.cache.hold_for_scanout()?;
        let _section = self.client.enter()?;
        let mut clip = clip;
        // The device failing the update (a virtio-gpu command that fails, for one).
        fault_point(EIO)?;
        // SAFETY: `fb` is alive; the hook takes one clip rectangle and the client's file, as in
        // `drm_client_framebuffer_flush()`.
        to_result(unsafe { dirty(fb, self.client.file(), 0, 0, &mut clip, 1) })
    }

    /// Tells the device that `area` changed; see [`Framebuffer::flush`].
    pub fn flush_damage(&self, area: &Damage) -> Result {
        self.flush(area.x, area.y, area.width, area.height)
    }

    /// Tells the device that the whole framebuffer changed.
    pub fn flush_all(&self) -> Result {
        self.flush(0, 0, self.layout.width(), self.layout.height())
    }

    /// The C `struct drm_framebuffer`.
    pub(crate) fn as_raw(&self) -> *mut bindings::drm_framebuffer {
        self.fb.as_ptr()
    }
}

/// A rectangle of a framebuffer that changed, in pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Damage {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width; a flush of an empty area fails with `EINVAL`.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Drop for Framebuffer {
    fn drop(&mut self) {
        self.client.framebuffers.remove(self.id());
        self.client.forget(self.fb.as_ptr());
        // SAFETY: We own a reference to the framebuffer (type invariant), and no mode set of the
        // client points at it any more. The removal turns off planes that still show it.
        unsafe { bindings::drm_framebuffer_remove(self.fb.as_ptr()) };
        ledger::gave_back(Held::Framebuffer);
    }
}

/// A user of a framebuffer's cached mapping; see [`Framebuffer::vmap`].
///
/// The handle keeps the client alive, and stops granting accesses once the device is unplugged.
pub struct FramebufferVmap {
    user: CachedVmap,
    client: Arc<Client>,
}

impl FramebufferVmap {
    /// Begins a CPU access; see [`CachedVmap::begin_access`].
    ///
    /// Fails with `ENODEV` once the device is unplugged: the memory stays valid for accesses
    /// already open (the framebuffer holds it), but nothing new is drawn for a gone device.
    pub fn begin_access(&mut self, direction: Direction) -> Result<Access<'_>> {
        if self.client.is_unplugged() {
            return Err(ENODEV);
        }
        self.user.begin_access(direction)
    }

    /// Withdraws this user; see [`CachedVmap::vunmap_cached`].
    pub fn vunmap_cached(self) -> Result {
        self.user.vunmap_cached()
    }
}

/// Refuses sizes and formats the device cannot scan out, as `drm_internal_framebuffer_create()`
/// would.
fn check_scanout(device: &Device, layout: &Layout) -> Result {
    let dev = device.as_raw();
    // SAFETY: The device is alive; the limits are set before it is registered and never change.
    // Only these fields are read: the rest of the mode config changes under its own locks.
    let ((min_width, min_height), (max_width, max_height)) = unsafe {
        let config = ptr::addr_of!((*dev).mode_config);
        (
            ((*config).min_width, (*config).min_height),
            ((*config).max_width, (*config).max_height),
        )
    };
    let (width, height) = (i64::from(layout.width()), i64::from(layout.height()));
    if width > i64::from(max_width) || height > i64::from(max_height) {
        return Err(E2BIG);
    }
    if width < i64::from(min_width) || height < i64::from(min_height) {
        return Err(EINVAL);
    }
    // SAFETY: The device is alive; its planes are fixed once it is registered. The modifier is
    // `DRM_FORMAT_MOD_LINEAR` (0): dumb buffers are linear.
    if !unsafe { bindings::drm_any_plane_has_format(dev, layout.format().fourcc(), 0) } {
        return Err(EINVAL);
    }
    Ok(())
}

/// Creates the framebuffer for the object behind `handle`, through the driver's `fb_create`.
fn create_framebuffer(
    client: &Client,
    handle: &GemHandle<'_>,
    layout: &Layout,
) -> Result<NonNull<bindings::drm_framebuffer>> {
    let dev = client.device().as_raw();
    // SAFETY: The device is alive; `funcs` is set when its mode config is initialised.
    let fb_create = unsafe { (*(*dev).mode_config.funcs).fb_create }.ok_or(EOPNOTSUPP)?;
    let mut command = bindings::drm_mode_fb_cmd2 {
        width: layout.width(),
        height: layout.height(),
        pixel_format: layout.format().fourcc(),
        ..Default::default()
    };
    command.handles[0] = handle.id();
    command.pitches[0] = u32::try_from(layout.pitch()).map_err(|_| E2BIG)?;
    // The driver refusing the framebuffer.
    fault_point(EINVAL)?;
    // SAFETY: The device and the file are alive, and the handle is live in the file; the
    // driver checks the command against the object and returns a new framebuffer or an error.
    let fb = from_err_ptr(unsafe { fb_create(dev, client.file(), &command) })?;
    let fb = NonNull::new(fb).ok_or(ENOMEM)?;
    name_framebuffer(fb, client);
    Ok(fb)
}

/// Names the client as the framebuffer's owner in debugfs, as `drm_client_buffer_addfb()` does.
fn name_framebuffer(fb: NonNull<bindings::drm_framebuffer>, client: &Client) {
    // SAFETY: The framebuffer is alive; `comm` is a character array in it.
    let comm = unsafe { ptr::addr_of_mut!((*fb.as_ptr()).comm) };
    // SAFETY: `strscpy()` writes at most the array's length, NUL-terminated, from a
    // NUL-terminated name; no Rust reference to `comm` exists, and debugfs readers see either
    // name, as with the C client's copy.
    unsafe { bindings::sized_strscpy(comm.cast(), client.name().as_char_ptr(), capacity(comm)) };
}

/// The number of elements of the array at `array`, without touching it.
fn capacity<T, const N: usize>(_array: *mut [T; N]) -> usize {
    N
}

fn to_u16(value: u32) -> Result<u16> {
    u16::try_from(value).map_err(|_| ERANGE)
}
