// SPDX-License-Identifier: GPL-2.0

//! Pictures the system firmware provides to in-kernel clients: the boot logo the UEFI firmware
//! drew (ACPI BGRT), and files loaded with the firmware loader (a splash image named on the
//! command line).
//!
//! C headers: [`include/linux/efi-bgrt.h`](srctree/include/linux/efi-bgrt.h),
//! [`include/linux/firmware.h`](srctree/include/linux/firmware.h)

use super::Device;
use crate::{
    alloc::{flags::GFP_KERNEL, KVVec},
    bindings,
    error::{code::*, to_result, Result},
    str::CStr,
};
use core::ptr::{self, NonNull};

/// The firmware's boot logo, as the firmware drew it before the kernel started.
pub struct BootLogo {
    /// The image, a BMP file as the ACPI BGRT describes it (type 0).
    pub image: KVVec<u8>,
    /// Where the firmware drew the image's top-left corner, in its own display mode.
    pub x: u32,
    /// See `x`.
    pub y: u32,
}

impl BootLogo {
    /// A copy of the logo the firmware reported in the ACPI BGRT.
    ///
    /// Fails with `ENOENT` if there is none (no EFI, no BGRT, a logo the firmware did not show
    /// or showed rotated), with `EFBIG` if it is larger than `max_size` bytes.
    pub fn from_firmware(max_size: usize) -> Result<Self> {
        let (mut x, mut y) = (0, 0);
        // SAFETY: The helper only reads the BGRT the kernel parsed at boot.
        let size = unsafe { bindings::drm_vmap_client_boot_logo(&mut x, &mut y) };
        // The helper's only error is `-ENOENT`.
        let size = usize::try_from(size).map_err(|_| ENOENT)?;
        if size > max_size {
            return Err(EFBIG);
        }
        let mut image = KVVec::from_elem(0u8, size, GFP_KERNEL)?;
        // SAFETY: `image` has room for `size` bytes; the helper maps the reserved logo memory.
        to_result(unsafe {
            bindings::drm_vmap_client_boot_logo_copy(image.as_mut_ptr().cast(), size)
        })?;
        Ok(Self { image, x, y })
    }
}

/// A file loaded with the firmware loader, released when dropped.
///
/// # Invariants
///
/// `raw` came from a successful `firmware_request_nowarn()` and is released only by the drop.
pub struct FirmwareFile {
    raw: NonNull<bindings::firmware>,
}

impl FirmwareFile {
    /// The file's contents.
    pub fn data(&self) -> &[u8] {
        // SAFETY: The firmware is loaded (type invariant); `data` and `size` describe its
        // contents until it is released.
        unsafe {
            let raw = self.raw.as_ref();
            if raw.size == 0 {
                return &[];
            }
            core::slice::from_raw_parts(raw.data, raw.size)
        }
    }
}

impl Drop for FirmwareFile {
    fn drop(&mut self) {
        // SAFETY: Loaded and not released yet (type invariant).
        unsafe { bindings::release_firmware(self.raw.as_ptr()) };
    }
}

impl Device {
    /// Loads the file `name` from the firmware search path on behalf of this device.
    ///
    /// Fails with the firmware loader's errno (`ENOENT` if there is no such file), or
    /// `ENODEV` if the DRM device has no parent device to load it for.
    pub fn request_firmware(&self, name: &CStr) -> Result<FirmwareFile> {
        let mut raw = ptr::null();
        // SAFETY: The device is alive (type invariant of `Device`); `name` is NUL-terminated.
        to_result(unsafe {
            bindings::drm_vmap_client_request_firmware(self.as_raw(), name.as_char_ptr(), &mut raw)
        })?;
        let raw = NonNull::new(raw.cast_mut()).ok_or(ENOENT)?;
        // INVARIANT: Loaded above.
        Ok(FirmwareFile { raw })
    }
}
