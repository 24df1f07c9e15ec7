// SPDX-License-Identifier: GPL-2.0

//! Keeping a buffer in place while a mapping of it is cached.

use crate::error::Result;

/// Pins a buffer where it is, for as long as a [`VmapCache`](super::VmapCache) caches a mapping.
///
/// `dma_buf_vmap()` does not hold every exporter's buffer in place. In 6.12 a GEM VRAM object
/// (bochs) is not pinned by a vmap, and TTM may move it while mapped, which leaves the mapping
/// pointing at memory the buffer no longer owns; nor can a dma-buf attachment pin it (it has no
/// scatter-gather table). For such buffers the cache pins through this hook before it maps and
/// unpins after it unmaps. Shmem buffers need none: a mapping holds their pages.
///
/// Both calls are made with the cache's mutex held and may take the buffer's reservation lock
/// (the documented lock order).
pub trait Residency: Send + Sync {
    /// Pins the buffer at its current place.
    fn pin(&self) -> Result;

    /// Undoes one [`Residency::pin`]. Must not fail.
    fn unpin(&self);
}
