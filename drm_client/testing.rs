// SPDX-License-Identifier: GPL-2.0

//! What the KUnit suites do to a client's device: the actions of user space and hardware, and
//! a view of framebuffers from the display's side.
//!
//! Built only with `CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST`, whose C fixtures these wrap.
//!
//! C header: [`include/drm/drm_vmap_client_test.h`](srctree/include/drm/drm_vmap_client_test.h)

use super::{Client, Device, Framebuffer};
use crate::{
    bindings,
    error::{code::ENODEV, from_err_ptr, to_result, Result},
};
use core::ptr::NonNull;

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
            // SAFETY: Not null after the error check.
            file: unsafe { NonNull::new_unchecked(file) },
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
