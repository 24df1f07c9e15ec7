// SPDX-License-Identifier: GPL-2.0

//! Fixtures shared by the suites: vgem's device or a vgem buffer for the length of a case, with
//! a check at its end that everything the case created was released.

use kernel::{
    drm_client::{
        testing::{self, Footprint},
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

/// Runs `body` with `device`, then checks that it left nothing behind ([`Footprint`]): no
/// device reference (every dma-buf holds one until it is released), no framebuffer, no `fb_info`,
/// nothing more held by the layer (GEM and dma-buf references, attachments, pins, mappings), and
/// no more GEM objects, GEM mappings or TTM pins on any device.
///
/// A dma-buf is a file, and its last reference dropped from a kernel thread is released by the
/// delayed-fput work, possibly still running when `flush_delayed_fput()` returns; so the check
/// waits, bounded, for the footprint to settle. It waits even when `body` failed, so that the
/// next case's starting footprint is not off.
pub(crate) fn with_device(
    test: &Test,
    device: &Device,
    body: impl FnOnce(&Device) -> CaseResult,
) -> CaseResult {
    let before = Footprint::settled(test, device);
    let result = body(device);
    let after = before.after_releases(test, device);
    result?;
    ktest_assert_eq!(test, after, before);
    Ok(())
}

/// Runs `body` with the first device of `driver`; see [`with_device`].
pub(crate) fn with_kms_device(
    test: &Test,
    driver: &[u8],
    body: impl FnOnce(&Device) -> CaseResult,
) -> CaseResult {
    let device = testing::device_or_skip(test, driver)?;
    with_device(test, &device, body)
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
