// SPDX-License-Identifier: GPL-2.0

//! GEM buffer objects and their in-kernel dma-buf export.
//!
//! C headers: [`include/drm/drm_gem.h`](srctree/include/drm/drm_gem.h),
//! [`include/drm/drm_gem_shmem_helper.h`](srctree/include/drm/drm_gem_shmem_helper.h)

use super::Device;
use crate::{
    bindings,
    error::{code::*, from_err_ptr, Result},
    types::{ARef, AlwaysRefCounted, Opaque},
    vmap_cache::{
        fault_point,
        ledger::{self, Held},
        DmaBuf,
    },
};
use core::ptr::{addr_of_mut, NonNull};

/// The largest buffer the client API allocates: 256 MiB, an 8192x8192 XRGB8888 framebuffer.
///
/// Larger requests fail with `E2BIG` before anything is allocated. The limit keeps an absurd
/// size from reaching shmem and the vmap path, where running out of memory would only show up at
/// the first mapping (as a warning from the dma-buf core) instead of as an error at allocation.
pub const MAX_BUFFER_SIZE: usize = 256 << 20;

/// A GEM buffer object (`struct drm_gem_object`).
///
/// # Invariants
///
/// Instances are always reference counted (`drm_gem_object_get()`/`drm_gem_object_put()`): a
/// `&GemObject` is valid while some reference is held.
#[repr(transparent)]
pub struct GemObject(Opaque<bindings::drm_gem_object>);

// SAFETY: A GEM object's reference count is a kref (atomic), and the last put may run on any
// thread: the free path takes the locks it needs.
unsafe impl Send for GemObject {}

// SAFETY: See `Send`; the object's mutable state is protected by its reservation lock.
unsafe impl Sync for GemObject {}

// SAFETY: `drm_gem_object_get()` and `drm_gem_object_put()` take and drop a reference that keeps
// the object alive while it is non-zero.
unsafe impl AlwaysRefCounted for GemObject {
    fn inc_ref(&self) {
        // SAFETY: By the type invariant the object is alive, so it may gain a reference.
        unsafe { bindings::drm_gem_object_get(self.as_raw()) };
        ledger::took(Held::GemReference);
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        ledger::gave_back(Held::GemReference);
        // SAFETY: The caller owns the reference being dropped.
        unsafe { bindings::drm_gem_object_put(obj.as_ptr().cast()) };
    }
}

impl GemObject {
    /// Takes over a reference to `object` that C code handed over (a creation, a lookup, an
    /// import).
    ///
    /// # Safety
    ///
    /// `object` is a live GEM object, and the caller owns one reference to it, which it gives
    /// up.
    pub(crate) unsafe fn adopt(object: NonNull<bindings::drm_gem_object>) -> ARef<Self> {
        ledger::took(Held::GemReference);
        // SAFETY: `GemObject` is a transparent wrapper of `struct drm_gem_object`; the
        // reference is the caller's, given up.
        unsafe { ARef::from_raw(object.cast::<Self>()) }
    }

    /// Allocates a shmem-backed object of at least `size` bytes on `device`.
    ///
    /// The device's `gem_create_object` hook decides the object's flavour; on vgem the pages are
    /// write-combined. Fails with `EINVAL` for a zero size, `E2BIG` above [`MAX_BUFFER_SIZE`],
    /// and `EOPNOTSUPP` on a device whose driver is not built on the GEM shmem helpers (bochs,
    /// for one): `drm_gem_shmem_create()` would take whatever object that driver's
    /// `gem_create_object` makes for a shmem object.
    pub fn new_shmem(device: &Device, size: usize) -> Result<ARef<Self>> {
        if size == 0 {
            return Err(EINVAL);
        }
        if size > MAX_BUFFER_SIZE {
            return Err(E2BIG);
        }
        // SAFETY: `device` is alive; the helper compares its driver's hook with the shmem one.
        if !unsafe { bindings::drm_vmap_client_is_shmem_device(device.as_raw()) } {
            return Err(EOPNOTSUPP);
        }
        // SAFETY: `device` is alive by its type invariant; the helper allocates a new object.
        let shmem = from_err_ptr(unsafe { bindings::drm_gem_shmem_create(device.as_raw(), size) })?;
        let shmem = NonNull::new(shmem).ok_or(ENOMEM)?;
        // SAFETY: `shmem` is a valid, newly created object; `base` is its embedded GEM object.
        let base = unsafe { addr_of_mut!((*shmem.as_ptr()).base) };
        // SAFETY: `base` is a field of a valid object, so it is not null, and we take over the
        // reference that `drm_gem_shmem_create()` returned to us.
        Ok(unsafe { Self::adopt(NonNull::new_unchecked(base)) })
    }

    /// The C `struct drm_gem_object`.
    pub fn as_raw(&self) -> *mut bindings::drm_gem_object {
        self.0.get()
    }

    /// The size of the object in bytes (page aligned).
    pub fn size(&self) -> usize {
        // SAFETY: By the type invariant the object is alive; `size` is fixed at creation.
        unsafe { (*self.as_raw()).size }
    }

    /// Exports the object as a dma-buf for in-kernel use, without a file descriptor.
    ///
    /// Uses the driver's `export` hook if it has one, `drm_gem_prime_export()` otherwise. The
    /// dma-buf holds a reference to the object and to its device until it is released, so no
    /// GEM handle is needed to keep it alive (see the 2023 fix in `drm_client_buffer_create()`).
    pub fn export(&self) -> Result<ARef<DmaBuf>> {
        let obj = self.as_raw();
        // SAFETY: By the type invariant the object is alive; `funcs` is set at creation.
        let export = unsafe { (*(*obj).funcs).export };
        let flags = bindings::O_RDWR as i32;
        // The driver refusing to export the object.
        fault_point(EINVAL)?;
        let dma_buf = match export {
            // SAFETY: The object is alive and the hook belongs to its driver.
            Some(export) => unsafe { export(obj, flags) },
            // SAFETY: The object is alive; the generic export takes its own references.
            None => unsafe { bindings::drm_gem_prime_export(obj, flags) },
        };
        // `from_err_ptr()` passes a null pointer through; refuse it rather than trust it.
        let dma_buf = NonNull::new(from_err_ptr(dma_buf)?).ok_or(ENOMEM)?;
        // SAFETY: We take over the reference the export returned to us.
        Ok(unsafe { DmaBuf::adopt(dma_buf) })
    }
}
