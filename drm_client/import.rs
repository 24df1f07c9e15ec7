// SPDX-License-Identifier: GPL-2.0

//! Importing a dma-buf into a KMS device, as `drm_gem_prime_fd_to_handle()` does, without a
//! file descriptor or a file.
//!
//! C header: [`include/drm/drm_prime.h`](srctree/include/drm/drm_prime.h)

use super::{Device, GemObject};
use crate::{
    bindings,
    error::{code::*, from_err_ptr, Result},
    types::ARef,
    vmap_cache::{fault_point, DmaBuf},
};
use core::ptr::NonNull;

/// Imports `buffer` into `device`, as `drm_gem_prime_fd_to_handle()` does without the file.
pub(super) fn import(device: &Device, buffer: &DmaBuf) -> Result<ARef<GemObject>> {
    let dev = device.as_raw();
    // SAFETY: The device is alive; its driver is static.
    let driver = unsafe { &*(*dev).driver };
    // The driver refusing the buffer (its DMA constraints, its placement).
    fault_point(EINVAL)?;
    let object = match driver.gem_prime_import {
        // SAFETY: The device and the dma-buf are alive; the hook takes its own references.
        Some(import) => unsafe { import(dev, buffer.as_raw()) },
        None if driver.gem_prime_import_sg_table.is_none() => return Err(EOPNOTSUPP),
        // SAFETY: As above; the generic import attaches to the dma-buf and keeps a reference.
        None => unsafe { bindings::drm_gem_prime_import(dev, buffer.as_raw()) },
    };
    // `from_err_ptr()` passes a null pointer through: an import returns one on no error path,
    // but a null is refused rather than trusted.
    let object = NonNull::new(from_err_ptr(object)?).ok_or(ENOMEM)?;
    // SAFETY: We take over the reference the import returned.
    Ok(unsafe { GemObject::adopt(object) })
}
