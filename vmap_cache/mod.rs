// SPDX-License-Identifier: GPL-2.0

//! CPU access to shared buffers through in-kernel dma-bufs.
//!
//! In-kernel DRM clients reach their buffers' memory through a [`DmaBuf`] exported without a
//! file descriptor, never through GEM's vmap hooks. [`DmaBuf::vmap`] maps a whole buffer for the
//! lifetime of a [`Vmap`] guard; the guard borrows the dma-buf, so the buffer cannot be released
//! while it is mapped, and its drop hands back exactly the mapping `dma_buf_vmap()` returned, so
//! the two `BUG_ON`s of `dma_buf_vunmap()` and of the dma-buf release cannot trigger.
//!
//! A [`Mapping`] is the bounds-checked view of mapped memory, for system memory and I/O memory
//! alike.
//!
//! C header: [`include/linux/dma-buf.h`](srctree/include/linux/dma-buf.h)

mod dma_buf;
mod mapping;

pub use dma_buf::{flush_deferred_releases, DmaBuf, Vmap};
pub use mapping::Mapping;
