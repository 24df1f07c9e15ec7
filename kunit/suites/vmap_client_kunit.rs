// SPDX-License-Identifier: GPL-2.0

//! KUnit suites of the Rust in-kernel DRM client layer.
//!
//! One file per suite; each uses only the safe API of `kernel::drm_client`,
//! `kernel::vmap_cache` and `kernel::ktest`.

mod dma_buf_vmap;
