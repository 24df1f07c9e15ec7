// SPDX-License-Identifier: GPL-2.0

//! CPU access to shared buffers through in-kernel dma-bufs, with cached mappings.
//!
//! In-kernel DRM clients reach their buffers' memory through a [`DmaBuf`] exported without a
//! file descriptor, never through GEM's vmap hooks. Two ways to map one:
//!
//! - [`DmaBuf::vmap`] maps a buffer that stays where it is mapped (shmem, DMA memory) for the
//!   lifetime of a [`Vmap`] guard, which holds a reference to the dma-buf and hands back exactly
//!   the mapping `dma_buf_vmap()` returned, so neither `BUG_ON()` of the dma-buf core
//!   (unmapping another address, releasing a mapped buffer) can trigger, even if the guard leaks.
//! - [`VmapCache`] implements the access protocol proposed on dri-devel in 2018: `vmap()`
//!   declares intent, `begin_access()` returns the address quickly from a cached mapping and
//!   holds the buffer in place, `end_access()` lets go, `vunmap_cached()` withdraws the intent.
//!   Nothing is pinned between accesses: a buffer whose exporter may move it (a TTM object in
//!   video memory, a dynamic dma-buf) is pinned for each access only, and the next access
//!   notices a move and maps again. [`CachedVmap`] is a user's handle that makes misuse of the
//!   protocol fail to compile; [`Access`] is the guard that ends an access when dropped.
//!
//! A [`Mapping`] is the bounds-checked view of mapped memory, system or I/O.
//!
//! C header: [`include/linux/dma-buf.h`](srctree/include/linux/dma-buf.h)

mod access;
mod accessors;
mod attachment;
mod cache;
mod cached_vmap;
mod direction;
mod dma_buf;
mod fault_point;
#[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
mod fence;
pub mod ledger;
mod mapping;
mod movable;
mod reservation;
mod stats;

pub use access::Access;
pub use accessors::MAX_CONCURRENT_ACCESSES;
pub use cache::{CacheConfig, Invalidation, VmapCache, DEFAULT_FENCE_TIMEOUT_MS};
pub use cached_vmap::CachedVmap;
pub use direction::Direction;
#[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
pub use dma_buf::flush_deferred_releases;
pub use dma_buf::{DmaBuf, Vmap};
pub(crate) use fault_point::fault_point;
#[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
pub use fence::ManualFence;
pub use mapping::{Mapping, Rect};
pub(crate) use reservation::Reserved;
pub use stats::Stats;
