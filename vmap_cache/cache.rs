// SPDX-License-Identifier: GPL-2.0

//! The cached-vmap access protocol over one dma-buf.
//!
//! `vmap` declares that a buffer will be mapped; `begin_access` quickly returns its address from
//! a cached mapping and holds the buffer in place; `end_access` lets go; `vunmap_cached` says the
//! map is no longer needed. Between accesses the mapping may be dropped (invalidation), and the
//! next access maps again, possibly at another address.

use super::{
    accessors::{current_task, Accessors},
    Access, Direction, DmaBuf, Residency, Stats,
};
use crate::{
    alloc::flags::GFP_KERNEL,
    bindings,
    error::Result,
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    types::ARef,
};

/// How long an access waits for the buffer's fences by default: two seconds.
///
/// vgem's fences signal by themselves after ten, other fences may never signal; a boot splash
/// would rather skip a frame than stall.
pub const DEFAULT_FENCE_TIMEOUT_MS: u32 = 2000;

/// What is fixed when a cache is created.
pub struct CacheConfig {
    /// How long an access waits for the buffer's fences, in milliseconds.
    pub fence_timeout_ms: u32,
    /// Pins the buffer while a mapping is cached, for exporters whose vmap does not.
    pub residency: Option<Arc<dyn Residency>>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            fence_timeout_ms: DEFAULT_FENCE_TIMEOUT_MS,
            residency: None,
        }
    }
}

/// What [`VmapCache::invalidate`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalidation {
    /// The buffer was not mapped.
    NotMapped,
    /// The mapping was dropped.
    Unmapped,
    /// Accesses are open: the mapping is dropped when the last one ends.
    Deferred,
}

/// The kernel virtual mapping the cache holds.
///
/// # Invariants
///
/// The map is a live mapping of the cache's dma-buf, returned by `dma_buf_vmap()`.
struct CachedMap(bindings::iosys_map);

// SAFETY: A kernel virtual mapping is valid in every thread's context; the value is only an
// address and a flag.
unsafe impl Send for CachedMap {}

/// The protocol state, under the cache's mutex.
struct State {
    map: Option<CachedMap>,
    /// Drop `map` when the last open access ends.
    stale: bool,
    /// The tasks with an access open, to refuse nested accesses.
    accessors: Accessors,
    /// The counters and the user count; `open_accesses` is read from `accessors` instead.
    counters: Stats,
}

impl State {
    fn stats(&self) -> Stats {
        Stats {
            open_accesses: self.accessors.count(),
            ..self.counters
        }
    }
}

/// A cached kernel mapping of a dma-buf, shared by the users of the buffer.
///
/// Every rule of the protocol is checked at run time here, and misuse returns an errno: an
/// access without a declared user (`EINVAL`), a nested access by the same task (`EBUSY`),
/// withdrawing the last user while accesses are open (`EBUSY`), withdrawing a user that was never
/// declared (`EINVAL`). [`CachedVmap`](super::CachedVmap) is the handle that makes those mistakes
/// fail to compile instead.
///
/// # Locking
///
/// The cache's mutex is taken before the buffer's reservation lock: a cold access maps the buffer
/// (`dma_buf_vmap_unlocked()`, which takes the reservation lock) under the mutex. Fence waits and
/// `dma_buf_begin/end_cpu_access()` run with neither held, as the dma-buf locking convention
/// requires, so a slow fence never blocks other users' bookkeeping.
///
/// # Invariants
///
/// While `state.map` is `Some`, the dma-buf's vmap count includes exactly one mapping of ours,
/// `residency` (if any) holds one pin of the buffer, and the mapping is not dropped while
/// `state.accessors` records an open access.
#[pin_data(PinnedDrop)]
pub struct VmapCache {
    buf: ARef<DmaBuf>,
    fence_timeout_jiffies: usize,
    residency: Option<Arc<dyn Residency>>,
    #[pin]
    state: Mutex<State>,
}

impl VmapCache {
    /// A cache for `buf` with nothing mapped yet and the default [`CacheConfig`].
    pub fn new(buf: ARef<DmaBuf>) -> Result<Arc<Self>> {
        Self::with_config(buf, CacheConfig::default())
    }

    /// A cache for `buf` with nothing mapped yet.
    pub fn with_config(buf: ARef<DmaBuf>, config: CacheConfig) -> Result<Arc<Self>> {
        // SAFETY: `msecs_to_jiffies()` only converts a number.
        let fence_timeout_jiffies =
            unsafe { bindings::__msecs_to_jiffies(config.fence_timeout_ms) };
        Arc::pin_init(
            pin_init!(Self {
                buf,
                fence_timeout_jiffies,
                residency: config.residency,
                state <- new_mutex!(
                    State {
                        map: None,
                        stale: false,
                        accessors: Accessors::new(),
                        counters: Stats::default(),
                    },
                    "VmapCache::state"
                ),
            }),
            GFP_KERNEL,
        )
    }

    /// The buffer this cache maps.
    pub fn buffer(&self) -> &DmaBuf {
        &self.buf
    }

    /// Waits, no longer than the cache's fence timeout, for the fences that an access in
    /// `direction` waits for, without beginning one.
    ///
    /// A display reads the buffer: a client waits for its writers this way before it shows the
    /// buffer, so that a fence that never signals fails the client with `ETIMEDOUT` instead of
    /// stalling the commit. Fails with `ERESTARTSYS` on a signal.
    pub fn wait_for_fences(&self, direction: Direction) -> Result {
        self.buf.wait_fences(direction, self.fence_timeout_jiffies)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.state.lock().stats()
    }

    /// Declares a user that will map the buffer. Maps nothing yet.
    pub fn vmap(&self) -> Result {
        let mut state = self.state.lock();
        state.counters.users = state.counters.users.checked_add(1).ok_or(ERANGE)?;
        Ok(())
    }

    /// Withdraws a user; when the last one goes, the cached mapping is dropped.
    ///
    /// Fails with `EINVAL` if no user is declared, and with `EBUSY` (changing nothing) if this is
    /// the last user and accesses are still open.
    pub fn vunmap_cached(&self) -> Result {
        let mut state = self.state.lock();
        match state.counters.users {
            0 => return Err(EINVAL),
            1 if state.accessors.count() > 0 => return Err(EBUSY),
            _ => {}
        }
        state.counters.users -= 1;
        if state.counters.users == 0 {
            self.unmap(&mut state);
        }
        Ok(())
    }

    /// Begins a CPU access in `direction` and returns the guard that ends it.
    ///
    /// A warm access (mapping cached) does no vmap. The buffer stays mapped, and in place, until
    /// the guard drops. Waits for the buffer's fences for at most the cache's fence timeout.
    ///
    /// Fails with
    /// - `EINVAL` without a declared user,
    /// - `EBUSY` if this task has an access open already,
    /// - `EAGAIN` if [`MAX_CONCURRENT_ACCESSES`] tasks have,
    /// - `ETIMEDOUT` ([`etimedout`]) if fences did not signal in time,
    /// - `ERESTARTSYS` on a signal while waiting for them,
    /// - the exporter's error if mapping fails.
    ///
    /// [`MAX_CONCURRENT_ACCESSES`]: super::MAX_CONCURRENT_ACCESSES
    /// [`etimedout`]: super::etimedout
    pub fn begin_access(&self, direction: Direction) -> Result<Access<'_>> {
        let (map, generation) = self.open_access()?;
        let ready = self
            .wait_for_fences(direction)
            .and_then(|()| self.buf.begin_cpu_access(direction));
        if let Err(error) = ready {
            self.close_access(true);
            return Err(error);
        }
        // INVARIANT: The access is counted and the CPU access has begun; the guard undoes both.
        Ok(Access::new(self, map, generation, direction))
    }

    /// Ends an access opened by [`Self::begin_access`]; called by the guard's drop.
    pub(super) fn end_access(&self, direction: Direction) {
        // An exporter's end_cpu_access only fails for buffers it cannot flush; there is nothing
        // the access could do about it any more, so it is counted, not returned.
        let flushed = self.buf.end_cpu_access(direction);
        self.close_access(flushed.is_err());
    }

    /// Drops the cached mapping now, or when the last open access ends.
    ///
    /// Until then the stale mapping keeps serving new accesses: the dma-buf core has one mapping
    /// per buffer, so no fresh one can exist while it is in use.
    ///
    /// This is what an exporter's move (eviction, relocation) must cause, and what tests and
    /// memory pressure use: the next access maps the buffer again.
    pub fn invalidate(&self) -> Invalidation {
        let mut state = self.state.lock();
        if state.map.is_none() {
            return Invalidation::NotMapped;
        }
        state.counters.invalidations += 1;
        if state.accessors.count() > 0 {
            state.stale = true;
            return Invalidation::Deferred;
        }
        self.unmap(&mut state);
        Invalidation::Unmapped
    }

    /// Counts a new access by this task, mapping the buffer if needed.
    fn open_access(&self) -> Result<(bindings::iosys_map, u64)> {
        let task = current_task();
        let mut state = self.state.lock();
        if state.counters.users == 0 {
            return Err(EINVAL);
        }
        state.accessors.insert(task)?;
        match self.current_map(&mut state) {
            Ok(map) => Ok((map, state.counters.generation)),
            Err(error) => {
                state.accessors.remove(task);
                state.counters.failed_accesses += 1;
                Err(error)
            }
        }
    }

    /// The cached mapping (a hit), or a new one (a miss).
    fn current_map(&self, state: &mut State) -> Result<bindings::iosys_map> {
        if let Some(map) = &state.map {
            state.counters.hits += 1;
            return Ok(map.0);
        }
        self.pin()?;
        let map = match self.buf.vmap_raw() {
            Ok(map) => map,
            Err(error) => {
                self.unpin();
                return Err(error);
            }
        };
        state.counters.misses += 1;
        state.counters.generation += 1;
        // INVARIANT: `map` is our one live mapping of the buffer.
        state.map = Some(CachedMap(map));
        Ok(map)
    }

    /// Uncounts this task's access; drops a stale mapping after the last one.
    fn close_access(&self, failed: bool) {
        let task = current_task();
        let mut state = self.state.lock();
        state.accessors.remove(task);
        if failed {
            state.counters.failed_accesses += 1;
        }
        if state.stale && state.accessors.count() == 0 {
            self.unmap(&mut state);
        }
    }

    /// Drops the cached mapping, if any. No access may be open.
    fn unmap(&self, state: &mut State) {
        state.stale = false;
        if let Some(map) = state.map.take() {
            // SAFETY: By the type invariant of `CachedMap` this is our live mapping of `buf`.
            unsafe { self.buf.vunmap_raw(map.0) };
            self.unpin();
            state.counters.unmaps += 1;
        }
    }

    /// Pins the buffer for a new mapping, if it needs a pin.
    fn pin(&self) -> Result {
        match &self.residency {
            Some(residency) => residency.pin(),
            None => Ok(()),
        }
    }

    /// Undoes the pin taken for a mapping, if the buffer needs one.
    fn unpin(&self) {
        if let Some(residency) = &self.residency {
            residency.unpin();
        }
    }
}

#[pinned_drop]
impl PinnedDrop for VmapCache {
    fn drop(self: Pin<&mut Self>) {
        // No access can be open: each borrows the cache. Undo our mapping before `buf` drops,
        // so the dma-buf is never released while mapped.
        let mut state = self.state.lock();
        self.unmap(&mut state);
    }
}
