// SPDX-License-Identifier: GPL-2.0

//! The cached-vmap access protocol over one dma-buf.
//!
//! `vmap` declares that a buffer will be mapped; `begin_access` quickly returns its address from
//! a cached mapping and holds the buffer in place; `end_access` lets go; `vunmap_cached` says the
//! map is no longer needed. Nothing is pinned between accesses: a buffer that stays where it is
//! mapped (shmem) keeps its mapping, and a buffer its exporter may move is pinned for each access
//! only ([`super::movable`]), so the next access notices a move and maps again.

use super::{
    accessors::{current_task, Accessors},
    movable::{Found, Movable},
    Access, Direction, DmaBuf, Stats,
};
use crate::{
    alloc::flags::GFP_KERNEL,
    bindings,
    error::Result,
    new_mutex,
    prelude::*,
    sync::{
        lock::{mutex::MutexBackend, Guard},
        Arc, Mutex,
    },
    time::{msecs_to_jiffies, Jiffies},
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
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            fence_timeout_ms: DEFAULT_FENCE_TIMEOUT_MS,
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

/// The kernel virtual mapping the cache holds for a buffer that stays where it is mapped.
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
    /// The mapping of a buffer that stays in place; always `None` for a movable one, whose
    /// mapping state is under its reservation lock.
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
/// Users reach it only through [`CachedVmap`](super::CachedVmap) handles, whose types make
/// misuse of the protocol fail to compile; the run-time protocol (`vmap`, `begin_access`,
/// `vunmap_cached`) is crate-private. Its checks remain as a second line: a nested access by
/// one task through two handles fails with `EBUSY`.
///
/// The policy follows from the buffer's exporter, found when the cache is created: a buffer that
/// stays where it is mapped keeps one mapping from the first access to the last user (no lock
/// but the cache's mutex on an access); a buffer that may move is pinned for each access and
/// never in between.
///
/// # Locking
///
/// The cache's mutex is taken before the buffer's reservation lock: a cold access maps the buffer
/// under the mutex, and a movable buffer's pin and mapping are taken under both. An exporter's
/// `move_notify` arrives with the reservation lock held and takes nothing else. Fence waits and
/// `dma_buf_begin/end_cpu_access()` run with neither held, as the dma-buf locking convention
/// requires, so a slow fence never blocks other users' bookkeeping.
///
/// # Invariants
///
/// While `state.map` is `Some`, the dma-buf's vmap count includes exactly one mapping of ours,
/// which is not dropped while `state.accessors` records an open access. `movable` is `Some`
/// exactly for buffers whose exporter may move them, and then `state.map` is `None`.
#[pin_data(PinnedDrop)]
pub struct VmapCache {
    buf: ARef<DmaBuf>,
    fence_timeout_jiffies: Jiffies,
    movable: Option<Movable>,
    #[pin]
    state: Mutex<State>,
}

/// Keeps accesses to a movable buffer from beginning while a display commit scans it out.
///
/// A display pins the buffer it scans out where it needs it (video memory, for bochs). A pin
/// that an access holds elsewhere would keep it from moving there, so a commit of a movable
/// buffer runs with no access open and none beginning. For a buffer that stays in place the
/// guard holds nothing.
pub(crate) struct ScanoutGuard<'a> {
    _state: Option<Guard<'a, State, MutexBackend>>,
}

impl VmapCache {
    /// A cache for `buf` with nothing mapped yet and the default [`CacheConfig`].
    pub fn new(buf: ARef<DmaBuf>) -> Result<Arc<Self>> {
        Self::with_config(buf, CacheConfig::default())
    }

    /// A cache for `buf` with nothing mapped yet.
    pub fn with_config(buf: ARef<DmaBuf>, config: CacheConfig) -> Result<Arc<Self>> {
        let fence_timeout_jiffies = msecs_to_jiffies(config.fence_timeout_ms);
        let movable = Movable::for_buffer(&buf)?;
        // INVARIANT: `movable` follows from the exporter, and nothing is mapped yet.
        Arc::pin_init(
            pin_init!(Self {
                buf,
                fence_timeout_jiffies,
                movable,
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

    /// Whether the buffer's exporter may move it between accesses.
    pub fn is_movable(&self) -> bool {
        self.movable.is_some()
    }

    /// Keeps accesses from beginning until the guard drops, for a display commit that scans the
    /// buffer out; see [`ScanoutGuard`].
    ///
    /// Fails with `EBUSY` if a movable buffer has an access open: the commit could not move
    /// the buffer where the display needs it.
    pub(crate) fn hold_for_scanout(&self) -> Result<ScanoutGuard<'_>> {
        if self.movable.is_none() {
            return Ok(ScanoutGuard { _state: None });
        }
        let state = self.state.lock();
        if state.accessors.count() > 0 {
            return Err(EBUSY);
        }
        Ok(ScanoutGuard {
            _state: Some(state),
        })
    }

    /// Declares a user that will map the buffer. Maps nothing yet.
    pub(crate) fn vmap(&self) -> Result {
        let mut state = self.state.lock();
        state.counters.users = state.counters.users.checked_add(1).ok_or(ERANGE)?;
        Ok(())
    }

    /// Withdraws a user; when the last one goes, the cached mapping is dropped.
    ///
    /// Fails with `EINVAL` if no user is declared, and with `EBUSY` (changing nothing) if this is
    /// the last user and accesses are still open.
    pub(crate) fn vunmap_cached(&self) -> Result {
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
    /// A warm access to a buffer that stays in place takes no lock but the cache's mutex and maps
    /// nothing. An access to a movable buffer pins it where it is, under its reservation lock,
    /// and gets the cached mapping if the buffer has not moved since the last access, a new one
    /// if it has. The buffer stays mapped, and in place, until the guard drops. Waits for the
    /// buffer's fences for at most the cache's fence timeout.
    ///
    /// Fails with
    /// - `EINVAL` without a declared user,
    /// - `EBUSY` if this task has an access open already,
    /// - `EAGAIN` if [`MAX_CONCURRENT_ACCESSES`] tasks have,
    /// - `ETIMEDOUT` if fences did not signal in time,
    /// - `ERESTARTSYS` or `EINTR` on a signal while waiting for them or for the reservation lock,
    /// - the exporter's error if pinning or mapping fails.
    ///
    /// [`MAX_CONCURRENT_ACCESSES`]: super::MAX_CONCURRENT_ACCESSES
    pub(crate) fn begin_access(&self, direction: Direction) -> Result<Access<'_>> {
        let (map, generation) = self.open_access()?;
        let ready = self
            .wait_for_fences(direction)
            .and_then(|()| self.buf.begin_cpu_access(direction));
        if let Err(error) = ready {
            self.close_access(map, true);
            return Err(error);
        }
        // INVARIANT: The access is counted and the CPU access has begun; the guard undoes both.
        Ok(Access::new(self, map, generation, direction))
    }

    /// Ends an access opened by [`Self::begin_access`] with `map`; called by the guard's drop.
    pub(super) fn end_access(&self, direction: Direction, map: bindings::iosys_map) {
        // An exporter's end_cpu_access only fails for buffers it cannot flush; there is nothing
        // the access could do about it any more, so it is counted, not returned.
        let flushed = self.buf.end_cpu_access(direction);
        self.close_access(map, flushed.is_err());
    }

    /// Drops the cached mapping now, or when the last open access ends.
    ///
    /// Until then the stale mapping keeps serving new accesses: the dma-buf core has one mapping
    /// per buffer, so no fresh one can exist while it is in use.
    ///
    /// Moves need no call: a movable buffer's exporter announces them, or the next access finds
    /// them. This is for memory pressure and tests: the next access maps the buffer again. A TTM
    /// buffer object holds no mapping of ours between accesses (its exporter keeps its own), so
    /// for one this only forgets the last mapping and returns `NotMapped`, or `Deferred` while
    /// accesses are open.
    pub fn invalidate(&self) -> Invalidation {
        let mut state = self.state.lock();
        if let Some(movable) = &self.movable {
            let (had_map, open) = movable.invalidate(&self.buf);
            if had_map {
                state.counters.invalidations += 1;
                if !open {
                    state.counters.unmaps += 1;
                }
            }
            return match (had_map, open) {
                (_, true) => Invalidation::Deferred,
                (true, false) => Invalidation::Unmapped,
                (false, false) => Invalidation::NotMapped,
            };
        }
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
        let mapped = match &self.movable {
            Some(movable) => movable.begin(&self.buf),
            None => self.current_map(&mut state),
        };
        match mapped {
            Ok((map, found)) => {
                state.counters.count(found);
                Ok((map, state.counters.generation))
            }
            Err(error) => {
                state.accessors.remove(task);
                state.counters.failed_accesses += 1;
                Err(error)
            }
        }
    }

    /// The cached mapping of a buffer that stays in place, or a new one.
    fn current_map(&self, state: &mut State) -> Result<(bindings::iosys_map, Found)> {
        if let Some(map) = &state.map {
            return Ok((map.0, Found::Cached));
        }
        let map = self.buf.vmap_raw()?;
        // INVARIANT: `map` is our one live mapping of the buffer.
        state.map = Some(CachedMap(map));
        Ok((map, Found::Mapped { moved: false }))
    }

    /// Uncounts this task's access, which used `map`; unpins a movable buffer, or drops a stale
    /// mapping after the last access.
    fn close_access(&self, map: bindings::iosys_map, failed: bool) {
        let task = current_task();
        let mut state = self.state.lock();
        state.accessors.remove(task);
        if failed {
            state.counters.failed_accesses += 1;
        }
        if let Some(movable) = &self.movable {
            movable.end(&self.buf, map);
        } else if state.stale && state.accessors.count() == 0 {
            self.unmap(&mut state);
        }
    }

    /// Drops the cached mapping, if any. No access may be open.
    fn unmap(&self, state: &mut State) {
        state.stale = false;
        if let Some(movable) = &self.movable {
            if movable.release(&self.buf) {
                state.counters.unmaps += 1;
            }
        } else if let Some(map) = state.map.take() {
            // SAFETY: By the type invariant of `CachedMap` this is our live mapping of `buf`.
            unsafe { self.buf.vunmap_raw(map.0) };
            state.counters.unmaps += 1;
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
