// SPDX-License-Identifier: GPL-2.0

//! Buffer objects in video memory, which the memory manager moves between VRAM and system
//! memory: the buffers for which "the buffer may move between accesses" is real.
//!
//! C header: [`include/drm/drm_gem_vram_helper.h`](srctree/include/drm/drm_gem_vram_helper.h)

use super::{eopnotsupp, Device, GemObject, MAX_BUFFER_SIZE};
use crate::{
    bindings,
    error::{code::*, from_err_ptr, to_result, Result},
    types::ARef,
    vmap_cache::Residency,
};
use core::ptr::{self, addr_of_mut, NonNull};

/// Where a VRAM buffer object lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Video memory: mapped as I/O memory.
    Vram,
    /// System memory.
    System,
}

impl Placement {
    fn flag(self) -> crate::ffi::c_ulong {
        let flag = match self {
            Placement::Vram => bindings::DRM_GEM_VRAM_PL_FLAG_VRAM,
            Placement::System => bindings::DRM_GEM_VRAM_PL_FLAG_SYSTEM,
        };
        // Single-bit flags: they fit every `unsigned long`.
        flag as crate::ffi::c_ulong
    }
}

/// A buffer object of a device that uses the GEM VRAM helpers (bochs, for one).
///
/// # Invariants
///
/// `gbo` is the `struct drm_gem_vram_object` whose GEM object `gem` references, so it lives as
/// long as `gem` does.
pub struct VramObject {
    gbo: NonNull<bindings::drm_gem_vram_object>,
    gem: ARef<GemObject>,
}

// SAFETY: The object is reference counted through `gem`, and the VRAM helpers take the
// reservation lock for every operation used here, so it may be used from any thread.
unsafe impl Send for VramObject {}

// SAFETY: See `Send`.
unsafe impl Sync for VramObject {}

impl VramObject {
    /// The VRAM object whose GEM object is `gem`, taking over the reference.
    ///
    /// # Safety
    ///
    /// `gem` must be embedded in a `struct drm_gem_vram_object`.
    unsafe fn from_gem(gem: ARef<GemObject>) -> Self {
        // SAFETY: The caller guarantees that `gem` is the `bo.base` of a VRAM object.
        let gbo =
            unsafe { crate::container_of!(gem.as_raw(), bindings::drm_gem_vram_object, bo.base) };
        // INVARIANT: `gbo` contains `gem`, which we reference.
        Self {
            // SAFETY: `gbo` is derived from a non-null pointer into a live object.
            gbo: unsafe { NonNull::new_unchecked(gbo.cast_mut()) },
            gem,
        }
    }

    /// Allocates `size` bytes in `device`'s VRAM manager, placed in system memory at first.
    ///
    /// Fails with `EOPNOTSUPP` on a device without VRAM helpers, `EINVAL` for a zero size and
    /// `E2BIG` above [`MAX_BUFFER_SIZE`].
    pub fn new(device: &Device, size: usize) -> Result<Self> {
        if size == 0 {
            return Err(EINVAL);
        }
        if size > MAX_BUFFER_SIZE {
            return Err(E2BIG);
        }
        if !device.has_vram() {
            return Err(eopnotsupp());
        }
        // SAFETY: The device is alive and has a VRAM manager, checked above.
        let gbo = from_err_ptr(unsafe { bindings::drm_gem_vram_create(device.as_raw(), size, 0) })?;
        // SAFETY: `gbo` is a valid new object; its GEM object is embedded at `bo.base`.
        let base = unsafe { addr_of_mut!((*gbo).bo.base) };
        // INVARIANT: `gem` takes over the creation reference of `gbo`'s GEM object.
        Ok(Self {
            // SAFETY: `gbo` is not null after the error check.
            gbo: unsafe { NonNull::new_unchecked(gbo) },
            // SAFETY: `base` is a live GEM object whose reference we take over.
            gem: unsafe { ARef::from_raw(NonNull::new_unchecked(base.cast::<GemObject>())) },
        })
    }

    /// The GEM object, to export or import.
    pub fn gem(&self) -> &GemObject {
        &self.gem
    }

    /// Moves the object to `placement`.
    ///
    /// The object must not be pinned (mapped) meanwhile, or it stays where it is and this fails
    /// with `EBUSY`: invalidate cached mappings first.
    pub fn move_to(&self, placement: Placement) -> Result {
        let gbo = self.gbo.as_ptr();
        // SAFETY: `gbo` lives as long as `self.gem` (type invariant). The pin count is read
        // without the reservation lock, once (`READ_ONCE()`): a hint only, the pin below is what
        // counts.
        if unsafe { ptr::read_volatile(ptr::addr_of!((*gbo).bo.pin_count)) } != 0 {
            return Err(EBUSY);
        }
        // SAFETY: `gbo` is alive; the helper takes the reservation lock and validates the object
        // into `placement`, moving its contents.
        to_result(unsafe { bindings::drm_gem_vram_pin(gbo, placement.flag()) })?;
        self.unpin();
        Ok(())
    }
}

/// A VRAM object stays where it is while a [`VmapCache`](crate::vmap_cache::VmapCache) caches
/// a mapping of it: its vmap does not pin it.
impl Residency for VramObject {
    fn pin(&self) -> Result {
        // SAFETY: `gbo` lives as long as `self.gem` (type invariant); a zero flag pins the
        // object where it is. The helper takes the reservation lock.
        to_result(unsafe { bindings::drm_gem_vram_pin(self.gbo.as_ptr(), 0) })
    }

    fn unpin(&self) {
        let gbo = self.gbo.as_ptr();
        // SAFETY: `gbo` is alive (type invariant), so is its reservation object.
        let resv = unsafe { (*gbo).bo.base.resv };
        // Not `drm_gem_vram_unpin()`: its interruptible lock could fail on a signal and leak
        // the pin. The lock is not interruptible and only fails with a ww context.
        // SAFETY: `resv` is alive.
        let _ = unsafe { bindings::dma_resv_lock(resv) };
        // SAFETY: The reservation lock is held, and the caller owns a pin taken by `pin()` or
        // `move_to()`.
        unsafe { bindings::ttm_bo_unpin(addr_of_mut!((*gbo).bo)) };
        // SAFETY: This thread took the lock above.
        unsafe { bindings::dma_resv_unlock(resv) };
    }
}

/// A VRAM object pinned in video memory, where the display scans out from, until dropped.
///
/// # Invariants
///
/// The object holds one pin taken by [`ScanoutPin::new`], which the drop gives back.
pub(super) struct ScanoutPin(VramObject);

impl ScanoutPin {
    /// Moves `gem` into video memory and pins it there.
    ///
    /// Fails with `ENOMEM` if video memory is full and, like every pin, on a signal.
    ///
    /// # Safety
    ///
    /// `gem` must be embedded in a `struct drm_gem_vram_object`.
    pub(super) unsafe fn new(gem: ARef<GemObject>) -> Result<Self> {
        // SAFETY: The caller guarantees that `gem` is a VRAM object's.
        let object = unsafe { VramObject::from_gem(gem) };
        // SAFETY: `gbo` is alive (type invariant of `VramObject`); the helper takes the
        // reservation lock and moves the object if needed.
        to_result(unsafe {
            bindings::drm_gem_vram_pin(object.gbo.as_ptr(), Placement::Vram.flag())
        })?;
        // INVARIANT: Pinned above.
        Ok(Self(object))
    }
}

impl Drop for ScanoutPin {
    fn drop(&mut self) {
        self.0.unpin();
    }
}
