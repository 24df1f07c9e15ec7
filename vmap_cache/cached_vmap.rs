// SPDX-License-Identifier: GPL-2.0

//! One user's handle on a [`VmapCache`]: the protocol's rules as types.

use super::{Access, Direction, VmapCache};
use crate::{error::Result, sync::Arc};

/// A declared user of a cached mapping: `vmap()` is its creation, `vunmap_cached()` its end.
///
/// The handle turns the protocol's misuse into compile errors:
/// - [`CachedVmap::begin_access`] borrows the handle mutably, so one user cannot nest accesses;
/// - [`CachedVmap::vunmap_cached`] consumes the handle, so it cannot run while an access borrows
///   it, cannot run twice, and no access can follow it.
///
/// Dropping the handle withdraws the user as `vunmap_cached()` does. Several users (on several
/// tasks) share one cache through one handle each. The handle is the only way to the protocol:
/// [`VmapCache`]'s own `vmap`, `begin_access` and `vunmap_cached` are crate-private.
///
/// One user cannot nest accesses:
///
/// ```compile_fail
/// use kernel::vmap_cache::{CachedVmap, Direction};
///
/// fn nested(user: &mut CachedVmap) {
///     let _outer = user.begin_access(Direction::Read);
///     let _inner = user.begin_access(Direction::Read);
/// }
/// ```
///
/// nor withdraw during an access, or access after withdrawing:
///
/// ```compile_fail
/// use kernel::vmap_cache::{CachedVmap, Direction};
///
/// fn withdraw_during(mut user: CachedVmap) {
///     let access = user.begin_access(Direction::Read);
///     let _ = user.vunmap_cached();
///     drop(access);
/// }
/// ```
///
/// # Invariants
///
/// The handle holds one declared user of `cache`.
pub struct CachedVmap {
    cache: Arc<VmapCache>,
    withdrawn: bool,
}

impl CachedVmap {
    /// Declares a user of `cache` (the protocol's `vmap()`); maps nothing yet.
    pub fn new(cache: Arc<VmapCache>) -> Result<Self> {
        cache.vmap()?;
        // INVARIANT: `vmap()` declared the user this handle holds.
        Ok(Self {
            cache,
            withdrawn: false,
        })
    }

    /// Begins a CPU access in `direction` and returns the guard that ends it.
    ///
    /// A warm access to a buffer that stays in place takes no lock but the cache's mutex and maps
    /// nothing; an access to a movable buffer pins it where it is for the length of the access,
    /// and maps again only if it moved. Waits for the buffer's fences for at most the cache's
    /// fence timeout. Fails with
    /// - `EBUSY` if this task has an access open through another handle of the same cache,
    /// - `EAGAIN` if [`MAX_CONCURRENT_ACCESSES`](super::MAX_CONCURRENT_ACCESSES) tasks have,
    /// - `ETIMEDOUT` if fences did not signal in time,
    /// - `ERESTARTSYS` or `EINTR` on a signal while waiting for them or for the reservation lock,
    /// - the exporter's error if pinning or mapping fails.
    pub fn begin_access(&mut self, direction: Direction) -> Result<Access<'_>> {
        self.cache.begin_access(direction)
    }

    /// Withdraws this user (the protocol's `vunmap_cached()`); the last one drops the mapping.
    ///
    /// Fails with `EBUSY` only if the shared cache was misused through its run-time API (see
    /// `VmapCache::vunmap_cached`); the user then stays declared until the handle drops.
    pub fn vunmap_cached(mut self) -> Result {
        self.cache.vunmap_cached()?;
        self.withdrawn = true;
        Ok(())
    }
}

impl Drop for CachedVmap {
    fn drop(&mut self) {
        if self.withdrawn {
            return;
        }
        // Only `EBUSY` is possible here (see `vunmap_cached`). The open access holds the cache,
        // which drops the mapping when it is freed.
        let _ = self.cache.vunmap_cached();
    }
}
