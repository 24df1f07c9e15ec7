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
/// tasks) share one cache through one handle each.
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

    /// Begins an access; see [`VmapCache::begin_access`].
    pub fn begin_access(&mut self, direction: Direction) -> Result<Access<'_>> {
        self.cache.begin_access(direction)
    }

    /// Withdraws this user (the protocol's `vunmap_cached()`); the last one drops the mapping.
    ///
    /// Fails with `EBUSY` only if the shared cache was misused through its run-time API (see
    /// [`VmapCache::vunmap_cached`]); the user then stays declared until the handle drops.
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
