// SPDX-License-Identifier: GPL-2.0

//! KUnit suites of the Rust in-kernel DRM client layer.
//!
//! One file per suite; each uses only the safe API of `kernel::drm_client`,
//! `kernel::vmap_cache` and `kernel::ktest`.

mod bench;
mod client;
mod common;
mod dma_buf_vmap;
mod harness;
mod layout;
mod movable;
mod pattern;
mod team;
mod vmap_cache;

/// Prefix of this object's kernel log messages (a built-in object without `module!`).
const __LOG_PREFIX: &[u8] = b"vmap_client_kunit\0";
