// SPDX-License-Identifier: GPL-2.0

//! Counters of a [`VmapCache`](super::VmapCache), for tests and the benchmark.

use super::movable::Found;

/// A snapshot of a cache's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Accesses that found the mapping cached (no vmap).
    pub hits: u64,
    /// Accesses that got a new mapping: the first, and those after an invalidation or a move.
    pub misses: u64,
    /// Misses because the buffer moved: its exporter announced a move, or (TTM) mapped it
    /// elsewhere than for the last access.
    pub remaps: u64,
    /// Cached mappings dropped by [`VmapCache::invalidate`](super::VmapCache::invalidate).
    pub invalidations: u64,
    /// Mappings undone (`dma_buf_vunmap()`), for any reason.
    pub unmaps: u64,
    /// Accesses that failed to begin (fence timeout, signal, mapping or coherency error), and
    /// accesses whose `dma_buf_end_cpu_access()` failed.
    pub failed_accesses: u64,
    /// Accesses open right now.
    pub open_accesses: u32,
    /// Users that declared intent (a [`CachedVmap`](super::CachedVmap) each) and have not
    /// withdrawn it.
    pub users: u32,
    /// The generation of the current mapping: bumped by every new mapping, 0 before the first.
    pub generation: u64,
}

impl Stats {
    /// Counts an access that found the mapping as `found` says.
    pub(super) fn count(&mut self, found: Found) {
        match found {
            Found::Cached => self.hits += 1,
            Found::Mapped { moved } => {
                self.misses += 1;
                self.generation += 1;
                if moved {
                    self.remaps += 1;
                    // The announcement, or the exporter, dropped the mapping the last access
                    // used.
                    self.unmaps += 1;
                }
            }
        }
    }
}
