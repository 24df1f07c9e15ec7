// SPDX-License-Identifier: GPL-2.0

//! The access guard: the mapped memory is reachable only while it lives.

use super::{Direction, Mapping, VmapCache};
use crate::bindings;
use core::marker::PhantomData;

/// An open CPU access to a cached mapping; dropping it ends the access.
///
/// The guard borrows the cache, so the cache (and its dma-buf) outlives every access, and the
/// memory is reachable only through [`Access::memory`], whose view borrows the guard: using the
/// address after the access ended does not compile. The guard is not `Send`: an access begins
/// and ends on one task, which is how nested accesses are told from concurrent ones.
///
/// ```compile_fail
/// fn must_be_send<T: Send>(_: T) {}
/// fn hand_over(access: kernel::vmap_cache::Access<'_>) {
///     must_be_send(access);
/// }
/// ```
///
/// # Invariants
///
/// `map` is `cache`'s live mapping of `len` bytes, which stays mapped, and the buffer in place,
/// until the guard drops; the access is counted in `cache` and its CPU access has begun in
/// `direction`.
pub struct Access<'a> {
    cache: &'a VmapCache,
    map: bindings::iosys_map,
    generation: u64,
    direction: Direction,
    /// The cache tells nested accesses from concurrent ones by task, so an access must end on
    /// the task that began it: the guard is neither `Send` nor `Sync`, whatever its other
    /// fields are.
    _not_send: PhantomData<*mut ()>,
}

impl<'a> Access<'a> {
    /// Wraps an access that `cache` has opened.
    pub(super) fn new(
        cache: &'a VmapCache,
        map: bindings::iosys_map,
        generation: u64,
        direction: Direction,
    ) -> Self {
        // INVARIANT: The caller has counted the access and begun the CPU access.
        Self {
            cache,
            map,
            generation,
            direction,
            _not_send: PhantomData,
        }
    }

    /// The mapped memory, for as long as the access is borrowed.
    pub fn memory(&mut self) -> Mapping<'_> {
        // SAFETY: By the type invariant the whole buffer is mapped at `map` until `self` drops,
        // which the returned view's borrow of `self` outlives.
        unsafe { Mapping::new(self.map, self.cache.buffer().size()) }
    }

    /// Which mapping this access uses: it changes whenever the buffer is mapped anew, so an
    /// access after an invalidation can tell that it got a fresh mapping even where the
    /// allocator happens to reuse the old virtual address.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether the buffer is mapped as I/O memory.
    pub fn is_iomem(&self) -> bool {
        self.map.is_iomem
    }
}

impl Drop for Access<'_> {
    fn drop(&mut self) {
        self.cache.end_access(self.direction, self.map);
    }
}
