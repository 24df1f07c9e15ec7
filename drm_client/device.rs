// SPDX-License-Identifier: GPL-2.0

//! References to DRM devices.
//!
//! C header: [`include/drm/drm_drv.h`](srctree/include/drm/drm_drv.h)

use super::Format;
use crate::{
    bindings,
    error::{code::ENODEV, Result},
    str::CStr,
    types::{ARef, AlwaysRefCounted, Opaque},
};
use core::{marker::PhantomData, ptr::NonNull};

#[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
/// Primary minors are 0 to 63 (`DRM_MINOR_PRIMARY` in `drm_drv.c`).
pub(crate) const MAX_PRIMARY_MINORS: u32 = 64;

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
    /// The registered, plugged device whose primary node is `/dev/dri/card<minor>`.
    ///
    /// Fails with `ENODEV` if there is none.
    pub fn from_minor(minor: u32) -> Result<ARef<Self>> {
        // SAFETY: The hook has no preconditions; it returns a new reference or null.
        let raw = unsafe { bindings::drm_dev_get_by_minor(minor) };
        let raw = NonNull::new(raw.cast::<Self>()).ok_or(ENODEV)?;
        // SAFETY: `raw` is a live device, and we take over the reference taken for us.
        Ok(unsafe { ARef::from_raw(raw) })
    }

    #[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
    /// Every registered, plugged device, by primary minor.
    pub fn registered() -> impl Iterator<Item = ARef<Self>> {
        (0..MAX_PRIMARY_MINORS).filter_map(|minor| Self::from_minor(minor).ok())
    }

    #[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
    /// The first registered device (lowest primary minor) whose driver is named `driver`.
    ///
    /// Fails with `ENODEV` if there is none.
    pub fn find_by_driver(driver: &[u8]) -> Result<ARef<Self>> {
        Self::registered()
            .find(|device| device.driver_name().as_bytes() == driver)
            .ok_or(ENODEV)
    }

    /// Whether the device does mode setting (`DRIVER_MODESET`): a display, not vgem.
    pub fn can_display(&self) -> bool {
        let dev = self.as_raw();
        let modeset = bindings::drm_driver_feature_DRIVER_MODESET;
        // SAFETY: The device is alive; its driver is static, and the feature masks are set
        // before registration (`drm_core_check_feature()` reads the same two fields).
        unsafe { (*dev).driver_features & (*(*dev).driver).driver_features & modeset != 0 }
    }

    #[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
    /// The number of framebuffers on the device, for tests that check that none was left; 0
    /// for a device without mode setting, whose mode config is never initialised.
    pub fn framebuffer_count(&self) -> u32 {
        if !self.can_display() {
            return 0;
        }
        // SAFETY: The device is alive and does mode setting, so its mode config's `fb_lock`
        // is initialised.
        let lock = unsafe { core::ptr::addr_of_mut!((*self.as_raw()).mode_config.fb_lock) };
        // SAFETY: `fb_lock` is initialised with the mode config and nests inside nothing here.
        unsafe { bindings::mutex_lock(lock) };
        // SAFETY: `fb_lock` protects `num_fb`.
        let count = unsafe { (*self.as_raw()).mode_config.num_fb };
        // SAFETY: Locked above.
        unsafe { bindings::mutex_unlock(lock) };
        u32::try_from(count).unwrap_or(0)
    }

    /// Enters a section in which the device cannot finish unplugging (`drm_dev_enter()`).
    ///
    /// Fails with `ENODEV` if it was unplugged.
    pub fn enter(&self) -> Result<DeviceSection> {
        let mut index = 0;
        // SAFETY: The device is alive (type invariant); `index` is an out parameter.
        if !unsafe { bindings::drm_dev_enter(self.as_raw(), &mut index) } {
            return Err(ENODEV);
        }
        // INVARIANT: Entered above.
        Ok(DeviceSection {
            index,
            _not_send: PhantomData,
        })
    }

    /// The driver's name, as in `/sys/class/drm/*/device/driver`.
    pub fn driver_name(&self) -> &CStr {
        // SAFETY: By the type invariant the device is alive; its driver and the driver's name
        // are static data that outlive it.
        unsafe { CStr::from_char_ptr((*(*self.as_raw()).driver).name) }
    }

    /// The pixel format the driver prefers for its framebuffers: RGB565 for a device whose
    /// preferred depth is 16 (`mode_config.preferred_depth`), XRGB8888 otherwise.
    pub fn preferred_format(&self) -> Format {
        // SAFETY: The device is alive; the mode config is set up before registration.
        match unsafe { (*self.as_raw()).mode_config.preferred_depth } {
            16 => Format::Rgb565,
            _ => Format::Xrgb8888,
        }
    }

    /// Whether a user-space process holds DRM master on the device, that is, owns the display.
    pub fn has_master(&self) -> bool {
        // SAFETY: The device is alive (type invariant); the helper takes its master mutex.
        unsafe { bindings::drm_vmap_client_master_present(self.as_raw()) }
    }

    /// The number of the device's primary node, the N of `/dev/dri/cardN`.
    pub fn primary_minor(&self) -> Option<u32> {
        // SAFETY: The device is alive; `primary` is set before registration and stays.
        let primary = unsafe { (*self.as_raw()).primary };
        // SAFETY: A non-null primary minor lives as long as the device.
        let index = unsafe { primary.as_ref() }?.index;
        u32::try_from(index).ok()
    }

    /// The C `struct drm_device`.
    pub fn as_raw(&self) -> *mut bindings::drm_device {
        self.0.get()
    }

    #[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
    /// The number of references to the device.
    ///
    /// Every GEM export and every open file holds one, so tests compare it before and after a
    /// sequence of operations to show that nothing was left behind.
    pub fn ref_count(&self) -> u32 {
        // SAFETY: By the type invariant the device, and so its kref, is alive.
        unsafe { bindings::kref_read(&(*self.as_raw()).ref_) }
    }
}

/// A `drm_dev_enter()` section: the device cannot finish unplugging until it is dropped.
///
/// # Invariants
///
/// `index` came from a successful `drm_dev_enter()` that has not been exited.
pub struct DeviceSection {
    index: crate::ffi::c_int,
    /// An SRCU read section ends on the task that began it (lockdep checks), so the guard is
    /// neither `Send` nor `Sync`.
    _not_send: PhantomData<*mut ()>,
}

impl Drop for DeviceSection {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, `index` belongs to an open section.
        unsafe { bindings::drm_dev_exit(self.index) };
    }
}
