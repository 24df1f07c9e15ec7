// SPDX-License-Identifier: GPL-2.0

//! What several suites need: a vgem buffer exported as a dma-buf, and a leak check.

use kernel::{
    drm_client::{Device, GemObject},
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

/// The device's reference count before a case creates anything, to compare with at its end.
///
/// Releases still pending from an earlier case (a failed one returns early) are completed
/// first, so they are not counted against this one.
pub(crate) struct LeakCheck {
    refs_before: u32,
}

impl LeakCheck {
    pub(crate) fn new(device: &Device) -> Self {
        flush_deferred_releases();
        Self {
            refs_before: device.ref_count(),
        }
    }

    /// Checks that everything the case created is gone: no dma-buf holds the device any more.
    pub(crate) fn assert_released(&self, test: &Test, device: &Device) -> CaseResult {
        flush_deferred_releases();
        ktest_assert_eq!(test, device.ref_count(), self.refs_before);
        Ok(())
    }
}
