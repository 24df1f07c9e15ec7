// SPDX-License-Identifier: GPL-2.0

//! Fixtures shared by the suites: vgem's device or a vgem buffer for the length of a case, with
//! a check at its end that everything the case created was released.

use kernel::{
    drm_client::{
        testing::{self, Census},
        vgem, Device, GemObject,
    },
    error::Result,
    ktest::{CaseResult, Test},
    ktest_assert_eq,
    types::ARef,
    vmap_cache::DmaBuf,
};

/// A vgem shmem buffer of `size` bytes, exported in-kernel.
///
/// The dma-buf keeps the object alive; the object reference is dropped here, as a client that
/// keeps no GEM handle does.
pub(crate) fn export_vgem_buffer(device: &Device, size: usize) -> Result<ARef<DmaBuf>> {
    GemObject::new_shmem(device, size)?.export()
}

/// Runs `body` with vgem's device; see [`with_device`].
pub(crate) fn with_vgem_device(
    test: &Test,
    body: impl FnOnce(&Device) -> CaseResult,
) -> CaseResult {
    let device = vgem::device()?;
    with_device(test, &device, body)
}

/// Runs `body` with `device`, then checks that no dma-buf it made still holds the device, that
/// the layer holds no more than before (GEM and dma-buf references, attachments, pins, mappings
/// and framebuffers), and that no device has more GEM objects, GEM mappings or TTM pins than
/// before ([`Census`]).
///
/// Every dma-buf holds a reference to its device until it is released, so the device's count
/// before and after tells whether anything leaked. A dma-buf is a file, and its last reference
/// dropped from a kernel thread is released by the delayed-fput work, possibly still running when
/// `flush_delayed_fput()` returns; so the check waits, bounded, for the count to settle. It waits
/// even when `body` failed, so that the next case's starting count is not off.
pub(crate) fn with_device(
    test: &Test,
    device: &Device,
    body: impl FnOnce(&Device) -> CaseResult,
) -> CaseResult {
    let refs_before = device.ref_count();
    let census_before = Census::settled(test);
    let result = body(device);
    testing::wait_for_releases(test, || {
        device.ref_count() <= refs_before && Census::now() == census_before
    });
    result?;
    ktest_assert_eq!(test, device.ref_count(), refs_before);
    ktest_assert_eq!(test, Census::now(), census_before);
    Ok(())
}

/// Runs `body` with the first device of `driver`; see [`with_device`], and checks that the
/// device has no more framebuffers afterwards than before.
pub(crate) fn with_kms_device(
    test: &Test,
    driver: &[u8],
    body: impl FnOnce(&Device) -> CaseResult,
) -> CaseResult {
    let device = testing::device_or_skip(test, driver)?;
    let framebuffers_before = device.framebuffer_count();
    with_device(test, &device, body)?;
    ktest_assert_eq!(test, device.framebuffer_count(), framebuffers_before);
    Ok(())
}

/// The device's reference count once it is down to `expected`, or after the last poll.
pub(crate) fn settled_ref_count(test: &Test, device: &Device, expected: u32) -> u32 {
    testing::wait_for_releases(test, || device.ref_count() <= expected);
    device.ref_count()
}

/// Runs `body` with a fresh vgem buffer of `size` bytes; see [`with_vgem_device`].
pub(crate) fn with_vgem_buffer(
    test: &Test,
    size: usize,
    body: impl FnOnce(ARef<DmaBuf>) -> CaseResult,
) -> CaseResult {
    with_vgem_device(test, |device| body(export_vgem_buffer(device, size)?))
}
