// SPDX-License-Identifier: GPL-2.0

//! References to DRM devices.
//!
//! C header: [`include/drm/drm_drv.h`](srctree/include/drm/drm_drv.h)

use crate::{
    bindings,
    types::{AlwaysRefCounted, Opaque},
};
use core::ptr::NonNull;

/// A DRM device (`struct drm_device`).
///
/// # Invariants
///
/// Instances are always reference counted (`drm_dev_get()`/`drm_dev_put()`): a `&Device` is
/// valid while some reference is held. A reference keeps the structure alive, not the hardware:
/// the device may be unplugged while referenced.
#[repr(transparent)]
pub struct Device(Opaque<bindings::drm_device>);

// SAFETY: The device's reference count is a kref (atomic), and the DRM core may be called for a
// device from any thread.
unsafe impl Send for Device {}

// SAFETY: See `Send`; the DRM core serialises access to the device's mutable state itself.
unsafe impl Sync for Device {}

// SAFETY: `drm_dev_get()` and `drm_dev_put()` take and drop a reference that keeps the
// `struct drm_device` alive while it is non-zero.
unsafe impl AlwaysRefCounted for Device {
    fn inc_ref(&self) {
        // SAFETY: By the type invariant the device is alive, so it may gain a reference.
        unsafe { bindings::drm_dev_get(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns the reference being dropped.
        unsafe { bindings::drm_dev_put(obj.as_ptr().cast()) };
    }
}

impl Device {
    /// The C `struct drm_device`.
    pub fn as_raw(&self) -> *mut bindings::drm_device {
        self.0.get()
    }

    /// The number of references to the device.
    ///
    /// Every GEM export and every open file holds one, so tests compare it before and after a
    /// sequence of operations to show that nothing was left behind.
    pub fn ref_count(&self) -> u32 {
        // SAFETY: By the type invariant the device, and so its kref, is alive.
        unsafe { bindings::kref_read(&(*self.as_raw()).ref_) }
    }
}
