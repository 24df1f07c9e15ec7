// SPDX-License-Identifier: GPL-2.0

//! Fixtures shared by the suites: vgem's device or a vgem buffer for the length of a case, with
//! a check at its end that everything the case created was released.

use kernel::{
    drm_client::{vgem, Device, GemObject},
    error::Result,
    ktest::{CaseResult, Test},
    ktest_assert_eq,
    types::ARef,
    vmap_cache::{flush_deferred_releases, DmaBuf},
};

/// A vgem shmem buffer of `size` bytes, exported in-kernel.
///
/// The dma-buf keeps the object alive; the object reference is dropped here, as a client that
/// keeps no GEM handle does.
pub(crate) fn export_vgem_buffer(device: &Device, size: usize) -> Result<ARef<DmaBuf>> {
    GemObject::new_shmem(device, size)?.export()
}

/// Runs `body` with vgem's device, then checks that no dma-buf it made still holds the device.
///
/// Every dma-buf holds a reference to its device until it is released, so the device's count
/// before and after tells whether anything leaked. Releases still pending from an earlier case
/// (a failed one returns early) are completed before the first count.
pub(crate) fn with_vgem_device(
    test: &Test,
    body: impl FnOnce(&Device) -> CaseResult,
) -> CaseResult {
    let device = vgem::device()?;
    flush_deferred_releases();
    let refs_before = device.ref_count();
    body(&device)?;
    flush_deferred_releases();
    ktest_assert_eq!(test, device.ref_count(), refs_before);
    Ok(())
}

/// Runs `body` with a fresh vgem buffer of `size` bytes; see [`with_vgem_device`].
pub(crate) fn with_vgem_buffer(
    test: &Test,
    size: usize,
    body: impl FnOnce(ARef<DmaBuf>) -> CaseResult,
) -> CaseResult {
    with_vgem_device(test, |device| body(export_vgem_buffer(device, size)?))
}
