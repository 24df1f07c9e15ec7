// SPDX-License-Identifier: GPL-2.0

//! Where a framebuffer's memory comes from: the KMS device's own dumb buffers, or vgem's shmem
//! buffers imported into the device, and the GEM handle `fb_create` needs for a moment.
//!
//! C headers: [`include/drm/drm_gem.h`](srctree/include/drm/drm_gem.h),
//! [`include/drm/drm_drv.h`](srctree/include/drm/drm_drv.h)

use super::{import::import, vgem, Client, GemObject, Layout};
use crate::{
    bindings,
    error::{code::*, to_result, Error, Result},
    types::ARef,
    vmap_cache::{fault_point, DmaBuf},
};
use core::ptr::NonNull;

/// Where a framebuffer's memory comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocator {
    /// A dumb buffer of the KMS device itself (its `dumb_create`), as
    /// `drm_client_framebuffer_create()` allocates. On a device with video memory (bochs) the
    /// buffer moves between video and system memory: the display pins it in video memory while
    /// it is shown, and each CPU access pins it wherever it is for that access only.
    Device,
    /// A shmem buffer on vgem, exported as a dma-buf and imported into the KMS device: the
    /// display reads the pages the client writes, with no copy between the devices.
    Vgem,
    /// [`Allocator::Vgem`] where vgem exists and the device imports its buffers, and
    /// [`Allocator::Device`] otherwise (vgem not built or not registered: `ENODEV`; a device
    /// that cannot import, such as bochs: `EOPNOTSUPP`).
    /// [`Framebuffer::allocator`](super::Framebuffer::allocator) tells which.
    VgemOrDevice,
}

/// Allocates the buffer of a `packed` framebuffer from `allocator`; returns it with the
/// allocator it came from ([`Allocator::VgemOrDevice`] resolves to one of the other two) and,
/// when vgem was tried first and refused, why.
pub(super) fn allocate(
    client: &Client,
    allocator: Allocator,
    packed: Layout,
) -> Result<(Allocation<'_>, Allocator, Option<Error>)> {
    Ok(match allocator {
        Allocator::Device => (allocate_dumb(client, &packed)?, Allocator::Device, None),
        Allocator::Vgem => (allocate_on_vgem(client, packed)?, Allocator::Vgem, None),
        Allocator::VgemOrDevice => match allocate_on_vgem(client, packed) {
            Ok(allocation) => (allocation, Allocator::Vgem, None),
            Err(error) if error == ENODEV || error == EOPNOTSUPP => (
                allocate_dumb(client, &packed)?,
                Allocator::Device,
                Some(error),
            ),
            Err(error) => return Err(error),
        },
    })
}

/// A GEM handle in the client's file, deleted when the guard drops.
///
/// # Invariants
///
/// `id` is a live handle in `client`'s file.
pub(super) struct GemHandle<'a> {
    client: &'a Client,
    id: u32,
}

impl<'a> GemHandle<'a> {
    /// The handle's number in the client's file.
    pub(super) fn id(&self) -> u32 {
        self.id
    }

    /// Creates a handle for `object` in `client`'s file.
    fn new(client: &'a Client, object: &GemObject) -> Result<Self> {
        let mut id = 0;
        // SAFETY: The file and the object are alive; the handle takes its own object reference.
        to_result(unsafe {
            bindings::drm_gem_handle_create(client.file(), object.as_raw(), &mut id)
        })?;
        // INVARIANT: Created above.
        Ok(Self { client, id })
    }
}

impl Drop for GemHandle<'_> {
    fn drop(&mut self) {
        // SAFETY: `id` is a live handle of the file (type invariant). Deleting it cannot fail.
        let _ = unsafe { bindings::drm_gem_handle_delete(self.client.file(), self.id) };
    }
}

/// The buffer of a new framebuffer.
pub(super) struct Allocation<'a> {
    /// The dma-buf for CPU access.
    pub(super) buffer: ARef<DmaBuf>,
    /// The KMS device's GEM object in the client's file, for `fb_create` only.
    pub(super) handle: GemHandle<'a>,
    /// The actual layout (the driver may align the pitch).
    pub(super) layout: Layout,
}

/// Allocates a dumb buffer on the client's device and exports it in-kernel.
fn allocate_dumb<'a>(client: &'a Client, packed: &Layout) -> Result<Allocation<'a>> {
    let dev = client.device().as_raw();
    // SAFETY: The device is alive; its driver is static.
    let dumb_create = unsafe { (*(*dev).driver).dumb_create }.ok_or(EOPNOTSUPP)?;
    let bits_per_pixel =
        u32::try_from(packed.format().bytes_per_pixel() * 8).map_err(|_| EINVAL)?;
    let mut args = bindings::drm_mode_create_dumb {
        width: packed.width(),
        height: packed.height(),
        bpp: bits_per_pixel,
        ..Default::default()
    };
    // No room in the driver's memory.
    fault_point(ENOSPC)?;
    // SAFETY: The file and the device are alive. The arguments are what
    // `drm_mode_create_dumb()` would pass after its checks, which `Layout` has made: non-zero
    // dimensions and a size that does not overflow.
    to_result(unsafe { dumb_create(client.file(), dev, &mut args) })?;
    // INVARIANT: `dumb_create` returned a new handle in the client's file.
    let handle = GemHandle {
        client,
        id: args.handle,
    };
    let layout = Layout::with_pitch(
        packed.width(),
        packed.height(),
        packed.format(),
        usize::try_from(args.pitch).map_err(|_| EINVAL)?,
    )?;
    let object = lookup(client, &handle)?;
    if object.size() < layout.size() {
        return Err(EINVAL);
    }
    Ok(Allocation {
        buffer: object.export()?,
        handle,
        layout,
    })
}

/// Allocates a shmem buffer on vgem, exports it in-kernel and imports it into the client's
/// device.
fn allocate_on_vgem(client: &Client, layout: Layout) -> Result<Allocation<'_>> {
    let vgem = vgem::device()?;
    let buffer = GemObject::new_shmem(&vgem, layout.size())?.export()?;
    let object = import(client.device(), &buffer)?;
    let handle = GemHandle::new(client, &object)?;
    Ok(Allocation {
        buffer,
        handle,
        layout,
    })
}

/// The object behind `handle`, with a reference of its own.
fn lookup(client: &Client, handle: &GemHandle<'_>) -> Result<ARef<GemObject>> {
    // SAFETY: The file is alive and the handle is live (type invariant of `GemHandle`).
    let object = unsafe { bindings::drm_gem_object_lookup(client.file(), handle.id) };
    let object = NonNull::new(object).ok_or(ENOENT)?;
    // SAFETY: The lookup returned a reference, which we take over.
    Ok(unsafe { GemObject::adopt(object) })
}
