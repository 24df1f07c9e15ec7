// SPDX-License-Identifier: GPL-2.0

//! What the KUnit suites do to a framebuffer device that user space would: hold `/dev/fbN`
//! open across an unplug, and draw through it meanwhile.
//!
//! C header: [`include/drm/drm_vmap_client_test.h`](srctree/include/drm/drm_vmap_client_test.h)

use crate::{
    bindings,
    drm_client::Damage,
    error::{from_err_ptr, to_result, Result},
};
use core::ptr::NonNull;

/// `/dev/fbN` held open, as by a file: the `fb_info` outlives its unregistration until this is
/// dropped, which is then the last close and runs `fb_destroy`.
///
/// # Invariants
///
/// `info` comes from `drm_vmap_client_test_fb_open()`, whose reference this owns.
pub struct OpenFbDevice {
    info: NonNull<bindings::fb_info>,
}

impl OpenFbDevice {
    /// Opens `/dev/fb<index>`; `ENODEV` if no framebuffer has that number.
    pub fn open(index: u32) -> Result<Self> {
        // SAFETY: Any index is checked by the fixture.
        let info = from_err_ptr(unsafe { bindings::drm_vmap_client_test_fb_open(index) })?;
        // INVARIANT: The fixture returned the `fb_info` with a reference.
        Ok(Self {
            info: NonNull::new(info).ok_or(crate::error::code::ENODEV)?,
        })
    }

    /// Whether the device is still registered as `/dev/fbN`: once it is not, every file
    /// operation fails with `ENODEV` in fbdev's core.
    pub fn is_registered(&self) -> bool {
        // SAFETY: We hold a reference (type invariant).
        unsafe { bindings::drm_vmap_client_test_fb_registered(self.info.as_ptr()) }
    }

    /// Fills `area` with palette colour `colour` through the device's `fb_fillrect`, as fbcon
    /// would; `EINVAL` if `area` leaves the screen or `colour` is not below 16.
    pub fn fill_rect(&self, area: Damage, colour: u32) -> Result {
        // SAFETY: We hold a reference (type invariant); the fixture checks the rectangle.
        to_result(unsafe {
            bindings::drm_vmap_client_test_fb_fillrect(
                self.info.as_ptr(),
                area.x,
                area.y,
                area.width,
                area.height,
                colour,
            )
        })
    }
}

impl Drop for OpenFbDevice {
    fn drop(&mut self) {
        // SAFETY: Our reference (type invariant), given back once.
        unsafe { bindings::drm_vmap_client_test_fb_release(self.info.as_ptr()) };
    }
}
