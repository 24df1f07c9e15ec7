// SPDX-License-Identifier: GPL-2.0

//! The cached-vmap access protocol on a vgem buffer: caching, invalidation, teardown, misuse of
//! the run-time API, and concurrent users racing an invalidator.

use crate::{
    common::with_vgem_buffer,
    team::{Tally, Team},
};
use kernel::{
    error::code::{EBUSY, EEXIST, ETIMEDOUT},
    ktest::{CaseResult, Test},
    ktest_assert, ktest_assert_eq, ktest_assert_err, ktest_suite, pr_info,
    sync::Arc,
    time::Ktime,
    vmap_cache::{CacheConfig, CachedVmap, Direction, Invalidation, ManualFence, VmapCache},
};

const BUFFER_SIZE: usize = 16 * 4096;

/// Runs `body` with a cache of a fresh vgem buffer; checks for leaks after the cache is gone.
fn with_cache(test: &Test, body: impl FnOnce(&Arc<VmapCache>) -> CaseResult) -> CaseResult {
    with_vgem_buffer(test, BUFFER_SIZE, |buf| body(&VmapCache::new(buf)?))
}

fn cold_then_warm_access(test: &Test) -> CaseResult {
    with_cache(test, |cache| {
        let mut user = CachedVmap::new(cache.clone())?;
        ktest_assert_eq!(test, cache.buffer().vmap_count()?, 0);
        let first = {
            let mut access = user.begin_access(Direction::Write)?;
            access.memory().write(100, b"cached")?;
            access.generation()
        };
        let cold = cache.stats();
        ktest_assert_eq!(test, (cold.misses, cold.hits, cold.generation), (1, 0, 1));
        // The mapping outlives the access: that is the cache.
        ktest_assert_eq!(test, cache.buffer().vmap_count()?, 1);
        {
            let mut access = user.begin_access(Direction::Read)?;
            let mut word = [0u8; 6];
            access.memory().read(100, &mut word)?;
            ktest_assert_eq!(test, &word, b"cached");
            ktest_assert_eq!(test, access.generation(), first);
        }
        let warm = cache.stats();
        ktest_assert_eq!(test, (warm.misses, warm.hits, warm.unmaps), (1, 1, 0));
        ktest_assert_eq!(test, cache.buffer().vmap_count()?, 1);
        user.vunmap_cached()?;
        ktest_assert_eq!(test, cache.buffer().vmap_count()?, 0);
        ktest_assert_eq!(test, cache.stats().unmaps, 1);
        Ok(())
    })
}

fn invalidation_remaps(test: &Test) -> CaseResult {
    with_cache(test, |cache| {
        let mut user = CachedVmap::new(cache.clone())?;
        let first = {
            let mut access = user.begin_access(Direction::Write)?;
            access.memory().write(4095, b"across")?;
            access.generation()
        };
        ktest_assert_eq!(test, cache.invalidate(), Invalidation::Unmapped);
        ktest_assert_eq!(test, cache.buffer().vmap_count()?, 0);
        ktest_assert_eq!(test, cache.invalidate(), Invalidation::NotMapped);
        {
            let mut access = user.begin_access(Direction::Read)?;
            ktest_assert!(test, access.generation() != first);
            let mut word = [0u8; 6];
            access.memory().read(4095, &mut word)?;
            ktest_assert_eq!(test, &word, b"across");
        }
        let stats = cache.stats();
        ktest_assert_eq!(
            test,
            (stats.misses, stats.invalidations, stats.unmaps),
            (2, 1, 1)
        );
        Ok(())
    })
}

fn invalidation_waits_for_open_access(test: &Test) -> CaseResult {
    with_cache(test, |cache| {
        let mut user = CachedVmap::new(cache.clone())?;
        {
            let mut access = user.begin_access(Direction::ReadWrite)?;
            ktest_assert_eq!(test, cache.invalidate(), Invalidation::Deferred);
            // The open access keeps its mapping and the buffer in place.
            ktest_assert_eq!(test, cache.buffer().vmap_count()?, 1);
            access.memory().fill(0, BUFFER_SIZE, 0x5a)?;
        }
        ktest_assert_eq!(test, cache.buffer().vmap_count()?, 0);
        ktest_assert_eq!(test, cache.stats().unmaps, 1);
        {
            let mut access = user.begin_access(Direction::Read)?;
            ktest_assert_eq!(test, access.generation(), 2);
            let mut byte = [0u8; 1];
            access.memory().read(BUFFER_SIZE - 1, &mut byte)?;
            ktest_assert_eq!(test, byte, [0x5a]);
        }
        Ok(())
    })
}

fn the_last_user_unmaps(test: &Test) -> CaseResult {
    with_vgem_buffer(test, BUFFER_SIZE, |buffer| {
        let cache = VmapCache::new(buffer.clone())?;
        let mut first = CachedVmap::new(cache.clone())?;
        let second = CachedVmap::new(cache.clone())?;
        drop(first.begin_access(Direction::Write)?);
        ktest_assert_eq!(test, buffer.vmap_count()?, 1);
        // Dropping a handle withdraws its user, as `vunmap_cached()` does; the mapping stays for
        // the other user, and goes with the last one, before the dma-buf can.
        drop(first);
        ktest_assert_eq!(test, buffer.vmap_count()?, 1);
        drop(second);
        ktest_assert_eq!(test, buffer.vmap_count()?, 0);
        ktest_assert_eq!(test, (cache.stats().users, cache.stats().unmaps), (0, 1));
        Ok(())
    })
}

fn nested_access_is_ebusy(test: &Test) -> CaseResult {
    with_cache(test, |cache| {
        // One handle cannot nest (a second mutable borrow does not compile); two handles used
        // by one task can try, and the cache refuses at run time.
        let mut outer_user = CachedVmap::new(cache.clone())?;
        let mut inner_user = CachedVmap::new(cache.clone())?;
        {
            let _outer = outer_user.begin_access(Direction::Read)?;
            let inner = inner_user.begin_access(Direction::Read);
            ktest_assert_err!(test, inner.map(drop), EBUSY);
            ktest_assert_eq!(test, cache.stats().open_accesses, 1);
        }
        ktest_assert_eq!(test, cache.stats().open_accesses, 0);
        drop(inner_user.begin_access(Direction::Read)?);
        Ok(())
    })
}

fn another_user_withdrawing_keeps_the_mapping(test: &Test) -> CaseResult {
    with_cache(test, |cache| {
        let mut writer = CachedVmap::new(cache.clone())?;
        let other = CachedVmap::new(cache.clone())?;
        {
            let mut access = writer.begin_access(Direction::Write)?;
            other.vunmap_cached()?;
            ktest_assert_eq!(test, cache.buffer().vmap_count()?, 1);
            ktest_assert_eq!(test, cache.stats().users, 1);
            access.memory().fill(0, BUFFER_SIZE, 0x3c)?;
        }
        writer.vunmap_cached()?;
        ktest_assert_eq!(test, cache.buffer().vmap_count()?, 0);
        Ok(())
    })
}

fn unsignalled_fence_times_out(test: &Test) -> CaseResult {
    with_vgem_buffer(test, BUFFER_SIZE, |buffer| {
        let config = CacheConfig {
            fence_timeout_ms: 100,
        };
        let cache = VmapCache::with_config(buffer, config)?;
        let mut user = CachedVmap::new(cache.clone())?;
        let fence = ManualFence::new()?;
        fence.attach_as_writer(cache.buffer())?;
        let started = Ktime::ktime_get();
        test.hostile_input(
            format_args!("access to a buffer whose writer's fence never signals"),
            &user.begin_access(Direction::Read).map(drop),
            ETIMEDOUT,
        )?;
        // The wait is bounded by the timeout, not just failing: at least 100 ms (less one
        // jiffy of rounding), and well under a second.
        let waited_ms = (Ktime::ktime_get() - started).to_ms();
        ktest_assert!(test, (90..1000).contains(&waited_ms));
        let stats = cache.stats();
        ktest_assert_eq!(test, (stats.failed_accesses, stats.open_accesses), (1, 0));
        fence.signal();
        drop(user.begin_access(Direction::Read)?);
        ktest_assert_eq!(test, cache.stats().failed_accesses, 1);
        Ok(())
    })
}

/// Workers that run at once, each on its own region of the buffer.
const WORKERS: usize = 4;
/// Accesses each worker makes at least; it goes on until the invalidator is done.
const MIN_ACCESSES_PER_WORKER: u32 = 200;
/// Invalidations that must hit a mapping while the workers run.
const INVALIDATIONS: u32 = 20;
/// The invalidator gives up after this many jiffies of waiting (tens of seconds).
const INVALIDATOR_PATIENCE: u32 = 10_000;
/// Every this many accesses, a worker also hostile the protocol: it nests an access.
const MISUSE_EVERY: u32 = 8;

/// Where worker `index` writes its counter.
fn slot(index: usize) -> usize {
    index * (BUFFER_SIZE / WORKERS)
}

/// One worker: in every access, write a new value of its counter into its own slot and read
/// every slot back. Its own slot must hold what it just wrote, and no other worker's counter
/// may go backwards between two of its reads: a write lost to a remap, or a read of a stale
/// mapping, shows as one or the other. Now and then, inside its access, it also tries to nest a
/// second one through another handle, which must fail with `EBUSY` without disturbing anyone.
fn worker(cache: &Arc<VmapCache>, team: &Team, index: usize) -> Tally {
    let offset = slot(index);
    let mut seen = [0u32; WORKERS];
    let mut tally = Tally::default();
    let users = team
        .join_as_user(cache)
        .and_then(|user| Ok((user, CachedVmap::new(cache.clone())?)));
    let (mut user, mut nested) = match users {
        Ok(users) => users,
        Err(error) => {
            tally.failed(error);
            return tally;
        }
    };
    let mut round: u32 = 0;
    while round < MIN_ACCESSES_PER_WORKER || !team.should_stop() {
        round = round.wrapping_add(1);
        tally.accesses += 1;
        let mut access = match user.begin_access(Direction::ReadWrite) {
            Ok(access) => access,
            Err(error) => {
                tally.failed(error);
                continue;
            }
        };
        if round % MISUSE_EVERY == 0 {
            tally.hostile += 1;
            match nested.begin_access(Direction::Read) {
                Err(error) if error == EBUSY => tally.hostile_refused += 1,
                Err(error) => tally.failed(error),
                Ok(_) => tally.failed(EEXIST),
            }
        }
        let mut memory = access.memory();
        if let Err(error) = memory.write(offset, &round.to_le_bytes()) {
            tally.failed(error);
            continue;
        }
        for (other, last) in seen.iter_mut().enumerate() {
            let mut value = [0u8; 4];
            if let Err(error) = memory.read(slot(other), &mut value) {
                tally.failed(error);
                continue;
            }
            let value = u32::from_le_bytes(value);
            let lost = if other == index {
                value != round
            } else {
                value < *last
            };
            if lost {
                tally.bad_reads += 1;
            }
            *last = value;
        }
    }
    tally
}

fn concurrent_users_and_invalidation(test: &Test) -> CaseResult {
    with_cache(test, |cache| {
        let workers_cache = cache.clone();
        let team = Team::start(WORKERS, move |index, team| {
            worker(&workers_cache, team, index)
        })?;
        // Invalidate while the workers run, a jiffy apart, until enough invalidations hit a
        // mapping; then let the workers stop.
        let mut invalidated = 0;
        for _ in 0..INVALIDATOR_PATIENCE {
            if invalidated >= INVALIDATIONS {
                break;
            }
            if cache.invalidate() != Invalidation::NotMapped {
                invalidated += 1;
            }
            team.pause();
        }
        let tally = team.stop_and_join();
        pr_info!(
            "hostile inputs: nested accesses from {WORKERS} tasks racing an invalidator: {} tried, \
             {} clean\n",
            tally.hostile,
            tally.hostile_refused
        );
        ktest_assert_eq!(
            test,
            (tally.bad_reads, tally.errors, tally.first_error),
            (0, 0, None)
        );
        ktest_assert_eq!(test, tally.hostile, tally.hostile_refused);
        ktest_assert!(
            test,
            tally.hostile
                >= (WORKERS * MIN_ACCESSES_PER_WORKER as usize / MISUSE_EVERY as usize) as u64
        );
        ktest_assert_eq!(test, invalidated, INVALIDATIONS);
        let stats = cache.stats();
        ktest_assert_eq!(test, stats.hits + stats.misses, tally.accesses);
        ktest_assert_eq!(test, (stats.open_accesses, stats.users), (0, 0));
        // Every mapping made was undone, and only invalidations made more than one.
        ktest_assert_eq!(test, stats.misses, stats.unmaps);
        ktest_assert!(
            test,
            stats.misses >= 1 && stats.misses <= u64::from(invalidated) + 1
        );
        ktest_assert_eq!(test, cache.buffer().vmap_count()?, 0);
        Ok(())
    })
}

ktest_suite!(
    drm_vmap_client_vmap_cache,
    [
        cold_then_warm_access,
        invalidation_remaps,
        invalidation_waits_for_open_access,
        the_last_user_unmaps,
        nested_access_is_ebusy,
        another_user_withdrawing_keeps_the_mapping,
        unsignalled_fence_times_out,
        concurrent_users_and_invalidation,
    ]
);
