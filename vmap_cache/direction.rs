// SPDX-License-Identifier: GPL-2.0

//! The direction of a CPU access, as dma-buf's coherency calls and fence waits want it.
//!
//! C header: [`include/linux/dma-direction.h`](srctree/include/linux/dma-direction.h)

use crate::bindings;

/// What the CPU does with the buffer during an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The CPU only reads: pending device writes must have landed.
    Read,
    /// The CPU only writes: pending device reads and writes must be done.
    Write,
    /// The CPU reads and writes.
    ReadWrite,
}

impl Direction {
    /// Which fences an access must wait for: a reader waits for writers, a writer for everyone
    /// (as `dma_resv_usage_rw()` decides).
    pub(crate) fn resv_usage(self) -> bindings::dma_resv_usage {
        match self {
            Direction::Read => bindings::dma_resv_usage_DMA_RESV_USAGE_WRITE,
            Direction::Write | Direction::ReadWrite => bindings::dma_resv_usage_DMA_RESV_USAGE_READ,
        }
    }
}

impl From<Direction> for bindings::dma_data_direction {
    /// The DMA direction `dma_buf_begin_cpu_access()` takes: CPU reads are data coming from the
    /// device, CPU writes data going to it.
    fn from(direction: Direction) -> Self {
        match direction {
            Direction::Read => bindings::dma_data_direction_DMA_FROM_DEVICE,
            Direction::Write => bindings::dma_data_direction_DMA_TO_DEVICE,
            Direction::ReadWrite => bindings::dma_data_direction_DMA_BIDIRECTIONAL,
        }
    }
}
