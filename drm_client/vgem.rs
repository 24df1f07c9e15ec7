// SPDX-License-Identifier: GPL-2.0

//! vgem, the virtual GEM provider, as a buffer allocator for in-kernel clients.
//!
//! vgem has no KMS side, so a client cannot open it as a display; it allocates write-combined
//! shmem buffers that a KMS device imports through dma-buf, with no copy between the devices
//! (the zero-copy path mesa's kms_swrast takes in user space).
//!
//! C header: [`include/drm/drm_vgem.h`](srctree/include/drm/drm_vgem.h)

use super::Device;
use crate::{
    bindings,
    error::{code::ENODEV, Result},
    types::ARef,
};
use core::ptr::NonNull;

/// A reference to vgem's DRM device.
///
/// Fails with `ENODEV` if vgem is not built in or not registered.
pub fn device() -> Result<ARef<Device>> {
    // SAFETY: The helper has no preconditions; it returns a new reference or null.
    let raw = unsafe { bindings::drm_vmap_client_vgem_device() };
    let raw = NonNull::new(raw.cast::<Device>()).ok_or(ENODEV)?;
    // SAFETY: `raw` is vgem's live device, and we take over the reference the hook took for us.
    Ok(unsafe { ARef::from_raw(raw) })
}
