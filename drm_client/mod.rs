// SPDX-License-Identifier: GPL-2.0

//! The Rust in-kernel DRM client API.
//!
//! In-kernel DRM clients (a bootsplash, a boot logger, fbdev emulation) draw into buffers that a
//! KMS device scans out. This module wraps the DRM objects they need: [`Device`] references,
//! [`GemObject`]s and their in-kernel dma-buf export (no file descriptor), and buffer allocation
//! on vgem ([`vgem::device`]). CPU access to a buffer goes through its dma-buf and
//! [`crate::vmap_cache`], never through GEM's vmap hooks.
//!
//! C headers: [`include/drm/drm_device.h`](srctree/include/drm/drm_device.h),
//! [`include/drm/drm_gem.h`](srctree/include/drm/drm_gem.h)

mod device;
mod errors;
mod gem;
mod layout;
pub mod vgem;
pub mod vram;

pub use device::Device;
pub use errors::eopnotsupp;
pub use gem::{GemObject, MAX_BUFFER_SIZE};
pub use layout::{Format, Layout};
