// SPDX-License-Identifier: GPL-2.0

//! The cached-vmap access protocol on a vgem buffer: caching, invalidation, teardown, misuse of
//! the run-time API, and concurrent users racing an invalidator.

use crate::common::{with_device, with_vgem_buffer};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    drm_client::{
        vram::{Placement, VramObject},
        Device,
    },
    error::code::{EBUSY, EINVAL},
    ktest::{cond_resched, CaseResult, Test},
    ktest_assert, ktest_assert_eq, ktest_assert_err, ktest_suite, new_condvar, new_mutex,
    prelude::*,
    sync::{Arc, CondVar, CondVarTimeoutResult, Mutex},
    time::msecs_to_jiffies,
    vmap_cache::{
        etimedout, CacheConfig, CachedVmap, Direction, Invalidation, ManualFence, Residency,
        VmapCache,
    },
    workqueue,
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

fn dropping_a_warm_cache_unmaps(test: &Test) -> CaseResult {
    with_vgem_buffer(test, BUFFER_SIZE, |buffer| {
        let cache = VmapCache::new(buffer.clone())?;
        // A user that never withdraws, and a warm mapping: teardown must still undo the vmap
        // before the dma-buf can go, or its release would hit a BUG_ON.
        cache.vmap()?;
        drop(cache.begin_access(Direction::Write)?);
        ktest_assert_eq!(test, buffer.vmap_count()?, 1);
        drop(cache);
        ktest_assert_eq!(test, buffer.vmap_count()?, 0);
        Ok(())
    })
}

fn access_without_vmap_is_einval(test: &Test) -> CaseResult {
    with_cache(test, |cache| {
        ktest_assert_err!(test, cache.begin_access(Direction::Read).map(drop), EINVAL);
        ktest_assert_eq!(test, cache.stats().misses, 0);
        Ok(())
    })
}

fn double_vunmap_cached_is_einval(test: &Test) -> CaseResult {
    with_cache(test, |cache| {
        cache.vmap()?;
        cache.vunmap_cached()?;
        ktest_assert_err!(test, cache.vunmap_cached(), EINVAL);
        ktest_assert_eq!(test, cache.stats().users, 0);
        Ok(())
    })
}

fn access_after_vunmap_cached_is_einval(test: &Test) -> CaseResult {
    with_cache(test, |cache| {
        cache.vmap()?;
        drop(cache.begin_access(Direction::Write)?);
        cache.vunmap_cached()?;
        ktest_assert_eq!(test, cache.buffer().vmap_count()?, 0);
        ktest_assert_err!(test, cache.begin_access(Direction::Write).map(drop), EINVAL);
        Ok(())
    })
}

fn nested_access_is_ebusy(test: &Test) -> CaseResult {
    with_cache(test, |cache| {
        cache.vmap()?;
        {
            let _outer = cache.begin_access(Direction::Read)?;
            ktest_assert_err!(test, cache.begin_access(Direction::Read).map(drop), EBUSY);
            ktest_assert_eq!(test, cache.stats().open_accesses, 1);
        }
        ktest_assert_eq!(test, cache.stats().open_accesses, 0);
        cache.vunmap_cached()?;
        Ok(())
    })
}

fn vunmap_cached_during_access_is_ebusy(test: &Test) -> CaseResult {
    with_cache(test, |cache| {
        cache.vmap()?;
        {
            let _access = cache.begin_access(Direction::Write)?;
            ktest_assert_err!(test, cache.vunmap_cached(), EBUSY);
            ktest_assert_eq!(test, cache.buffer().vmap_count()?, 1);
        }
        cache.vunmap_cached()?;
        ktest_assert_eq!(test, cache.buffer().vmap_count()?, 0);
        Ok(())
    })
}

fn unsignalled_fence_times_out(test: &Test) -> CaseResult {
    with_vgem_buffer(test, BUFFER_SIZE, |buffer| {
        let config = CacheConfig {
            fence_timeout_ms: 100,
            ..CacheConfig::default()
        };
        let cache = VmapCache::with_config(buffer, config)?;
        let mut user = CachedVmap::new(cache.clone())?;
        let fence = ManualFence::new()?;
        fence.attach_as_writer(cache.buffer())?;
        ktest_assert_err!(
            test,
            user.begin_access(Direction::Read).map(drop),
            etimedout()
        );
        let stats = cache.stats();
        ktest_assert_eq!(test, (stats.failed_accesses, stats.open_accesses), (1, 0));
        fence.signal();
        drop(user.begin_access(Direction::Read)?);
        ktest_assert_eq!(test, cache.stats().failed_accesses, 1);
        Ok(())
    })
}

/// Writes `data` at `offset` in one access and returns the access's generation and placement.
fn write_once(user: &mut CachedVmap, offset: usize, data: &[u8]) -> Result<(u64, bool)> {
    let mut access = user.begin_access(Direction::Write)?;
    access.memory().write(offset, data)?;
    Ok((access.generation(), access.is_iomem()))
}

/// Reads `N` bytes at `offset` in one access; returns them with the generation and placement.
fn read_once<const N: usize>(user: &mut CachedVmap, offset: usize) -> Result<([u8; N], u64, bool)> {
    let mut access = user.begin_access(Direction::Read)?;
    let mut data = [0u8; N];
    access.memory().read(offset, &mut data)?;
    Ok((data, access.generation(), access.is_iomem()))
}

fn vram_move_preserves_data(test: &Test) -> CaseResult {
    const DATA: &[u8; 11] = b"moving data";
    // Across a page boundary.
    const OFFSET: usize = 4090;
    // QEMU's standard VGA, driven by bochs: buffers in VRAM that the memory manager moves.
    let bochs = Device::find_by_driver(b"bochs-drm")?;
    with_device(test, &bochs, |device| {
        let object = Arc::new(VramObject::new(device, BUFFER_SIZE)?, GFP_KERNEL)?;
        object.move_to(Placement::Vram)?;
        let residency: Arc<dyn Residency> = object.clone();
        let config = CacheConfig {
            residency: Some(residency),
            ..CacheConfig::default()
        };
        let cache = VmapCache::with_config(object.gem().export()?, config)?;
        let mut user = CachedVmap::new(cache.clone())?;
        let (in_vram, iomem) = write_once(&mut user, OFFSET, DATA)?;
        ktest_assert!(test, iomem);
        // The cached mapping pins the buffer: it cannot move until the cache lets go.
        ktest_assert_err!(test, object.move_to(Placement::System), EBUSY);
        ktest_assert_eq!(test, cache.invalidate(), Invalidation::Unmapped);
        object.move_to(Placement::System)?;
        let (data, in_system, iomem) = read_once::<11>(&mut user, OFFSET)?;
        ktest_assert_eq!(test, (&data, iomem), (DATA, false));
        ktest_assert!(test, in_system != in_vram);
        // And back: data written in system memory is in VRAM after the next move.
        write_once(&mut user, 0, b"back")?;
        ktest_assert_eq!(test, cache.invalidate(), Invalidation::Unmapped);
        object.move_to(Placement::Vram)?;
        let (data, again, iomem) = read_once::<4>(&mut user, 0)?;
        ktest_assert_eq!(test, (&data, iomem), (b"back", true));
        ktest_assert!(test, again != in_system);
        let (data, _, _) = read_once::<11>(&mut user, OFFSET)?;
        ktest_assert_eq!(test, &data, DATA);
        ktest_assert_eq!(test, cache.stats().misses, 3);
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

/// How the workers report back, and how they are told to stop.
#[pin_data]
struct Completion {
    #[pin]
    state: Mutex<WorkerTally>,
    #[pin]
    done: CondVar,
    stop: AtomicBool,
}

#[derive(Debug, Default)]
struct WorkerTally {
    /// Workers that have declared their user; none accesses before all have.
    ready: usize,
    finished: usize,
    accesses: u64,
    lost_writes: u32,
    errors: u32,
    first_error: Option<Error>,
}

/// Waits until every worker has declared its user, so that the users never drop to zero (and
/// unmap) while a worker is still starting, and the accesses overlap. Gives up after five
/// seconds rather than hang the guest if the workqueue cannot run all workers at once.
fn start_together(completion: &Completion) {
    let mut state = completion.state.lock();
    state.ready += 1;
    completion.done.notify_all();
    while state.ready < WORKERS {
        let waited = completion
            .done
            .wait_interruptible_timeout(&mut state, msecs_to_jiffies(5000));
        if !matches!(waited, CondVarTimeoutResult::Woken { .. }) {
            break;
        }
    }
}

/// One worker: write a counter into its region in every access and read it back.
fn worker(cache: Arc<VmapCache>, completion: Arc<Completion>, index: usize) {
    let offset = index * (BUFFER_SIZE / WORKERS);
    let mut tally = WorkerTally::default();
    let user = CachedVmap::new(cache);
    start_together(&completion);
    match user {
        Ok(mut user) => {
            let mut round: u32 = 0;
            while round < MIN_ACCESSES_PER_WORKER || !completion.stop.load(Ordering::Acquire) {
                round = round.wrapping_add(1);
                tally.accesses += 1;
                // Without it, on a kernel without preemption, the workers keep the invalidator
                // (and RCU) off both CPUs for good.
                cond_resched();
                let mut access = match user.begin_access(Direction::ReadWrite) {
                    Ok(access) => access,
                    Err(error) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert(error);
                        continue;
                    }
                };
                let mut memory = access.memory();
                let mut back = [0u8; 4];
                let written = memory.write(offset, &round.to_le_bytes());
                let read = memory.read(offset, &mut back);
                if written.is_err() || read.is_err() {
                    tally.errors += 1;
                } else if u32::from_le_bytes(back) != round {
                    tally.lost_writes += 1;
                }
            }
        }
        Err(_) => tally.errors += 1,
    }
    let mut state = completion.state.lock();
    state.finished += 1;
    state.accesses += tally.accesses;
    state.lost_writes += tally.lost_writes;
    state.errors += tally.errors;
    if state.first_error.is_none() {
        state.first_error = tally.first_error;
    }
    completion.done.notify_all();
}

fn concurrent_users_and_invalidation(test: &Test) -> CaseResult {
    with_cache(test, |cache| {
        let completion = Arc::pin_init(
            pin_init!(Completion {
                state <- new_mutex!(WorkerTally::default()),
                done <- new_condvar!(),
                stop: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )?;
        for index in 0..WORKERS {
            let (cache, completion) = (cache.clone(), completion.clone());
            workqueue::system_unbound()
                .try_spawn(GFP_KERNEL, move || worker(cache, completion, index))?;
        }
        // Invalidate while the workers run, a jiffy apart, until enough invalidations hit a
        // mapping; then let the workers stop.
        let mut invalidated = 0;
        let mut state = completion.state.lock();
        for _ in 0..INVALIDATOR_PATIENCE {
            if invalidated >= INVALIDATIONS {
                break;
            }
            if cache.invalidate() != Invalidation::NotMapped {
                invalidated += 1;
            }
            let _ = completion.done.wait_interruptible_timeout(&mut state, 1);
        }
        completion.stop.store(true, Ordering::Release);
        while state.finished < WORKERS {
            completion.done.wait(&mut state);
        }
        ktest_assert_eq!(
            test,
            (state.lost_writes, state.errors, state.first_error),
            (0, 0, None)
        );
        ktest_assert_eq!(test, invalidated, INVALIDATIONS);
        let accesses = state.accesses;
        drop(state);
        let stats = cache.stats();
        ktest_assert_eq!(test, stats.hits + stats.misses, accesses);
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
        dropping_a_warm_cache_unmaps,
        access_without_vmap_is_einval,
        double_vunmap_cached_is_einval,
        access_after_vunmap_cached_is_einval,
        nested_access_is_ebusy,
        vunmap_cached_during_access_is_ebusy,
        unsignalled_fence_times_out,
        vram_move_preserves_data,
        concurrent_users_and_invalidation,
    ]
);
