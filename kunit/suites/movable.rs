// SPDX-License-Identifier: GPL-2.0

//! Buffers that move between accesses: nothing of ours pins them between accesses, their moves
//! are noticed without the caller's help, and no access sees memory a buffer has left.
//!
//! Three exporters: vgem (shmem, stays in place while mapped), bochs (TTM in video memory,
//! moved by real memory pressure and by the display) and a dynamic test exporter that moves on
//! request and announces it (`drm_vmap_client_test_movable_*`).

use crate::{
    client::{registered_client, Registered, BOCHS},
    common::{with_kms_device, with_vgem_buffer},
    pattern::{draw_pattern, holds_pattern},
    team::{Tally, Team},
};
use kernel::{
    alloc::{flags::GFP_KERNEL, KVec},
    drm_client::{
        testing::{self, MovableBuffer, Move, ReservationHold, VramFiller},
        Allocator, Device, DoubleBuffer, Format, Framebuffer, FramebufferVmap,
    },
    error::{code::*, Result},
    ktest::{CaseResult, Test},
    ktest_assert, ktest_assert_eq, ktest_assert_err, ktest_suite,
    sync::Arc,
    vmap_cache::{CachedVmap, Direction, VmapCache},
};

const BUFFER_SIZE: usize = 16 * 4096;
/// Across a page boundary.
const OFFSET: usize = 4090;
const DATA: &[u8; 11] = b"moving data";
/// The byte the test exporter leaves in a store the buffer moved out of (`POISON_FREE`).
const POISON: u8 = 0x6b;

/// Writes `data` at `offset` in one access; returns its generation and whether it is I/O memory.
fn write_once(user: &mut CachedVmap, offset: usize, data: &[u8]) -> Result<(u64, bool)> {
    let mut access = user.begin_access(Direction::Write)?;
    access.memory().write(offset, data)?;
    Ok((access.generation(), access.is_iomem()))
}

/// Reads `N` bytes at `offset` in one access; returns them with the generation.
fn read_once<const N: usize>(user: &mut CachedVmap, offset: usize) -> Result<([u8; N], u64)> {
    let mut access = user.begin_access(Direction::Read)?;
    let mut data = [0u8; N];
    access.memory().read(offset, &mut data)?;
    Ok((data, access.generation()))
}

/// Accesses that a vgem buffer's one mapping serves.
const SHMEM_ACCESSES: u64 = 64;

fn shmem_buffers_map_once(test: &Test) -> CaseResult {
    with_vgem_buffer(test, BUFFER_SIZE, |buf| {
        let cache = VmapCache::new(buf)?;
        ktest_assert!(test, !cache.is_movable());
        let mut user = CachedVmap::new(cache.clone())?;
        for round in 0..SHMEM_ACCESSES {
            write_once(&mut user, OFFSET, &round.to_le_bytes())?;
        }
        let stats = cache.stats();
        ktest_assert_eq!(
            test,
            (stats.misses, stats.hits, stats.remaps, stats.unmaps),
            (1, SHMEM_ACCESSES - 1, 0, 0)
        );
        ktest_assert_eq!(test, cache.buffer().vmap_count()?, 1);
        // The warm path takes no reservation lock: with another task holding it, accesses
        // still go through (a worker does them, so that a wrong lock would block it, not us).
        let hold = ReservationHold::lock(cache.buffer())?;
        let worker_cache = cache.clone();
        let team = Team::start(1, move |_, team| {
            let mut tally = Tally::default();
            match CachedVmap::new(worker_cache.clone()) {
                Ok(mut user) => {
                    while tally.accesses < SHMEM_ACCESSES && !team.should_stop() {
                        tally.accesses += 1;
                        if let Err(error) = write_once(&mut user, 0, b"unlocked") {
                            tally.failed(error);
                        }
                    }
                }
                Err(error) => tally.failed(error),
            }
            tally
        })?;
        let finished = team.wait_for_reports(1, 2000);
        drop(hold);
        let tally = team.stop_and_join();
        ktest_assert!(test, finished);
        ktest_assert_eq!(test, (tally.accesses, tally.errors), (SHMEM_ACCESSES, 0));
        ktest_assert_eq!(test, cache.stats().misses, 1);
        Ok(())
    })
}

fn an_announced_move_between_accesses_remaps(test: &Test) -> CaseResult {
    let buffer = MovableBuffer::new(BUFFER_SIZE)?;
    let cache = VmapCache::new(buffer.dma_buf().clone())?;
    ktest_assert!(test, cache.is_movable());
    // A plain mapping would not hear of moves: only the cache maps such a buffer.
    ktest_assert_err!(test, buffer.dma_buf().vmap().map(drop), EOPNOTSUPP);
    let mut user = CachedVmap::new(cache.clone())?;
    let (first, _) = write_once(&mut user, OFFSET, DATA)?;
    let (_, warm) = read_once::<11>(&mut user, OFFSET)?;
    ktest_assert_eq!(test, warm, first);
    // Between accesses the mapping is held and nothing is pinned.
    let idle = buffer.state();
    ktest_assert_eq!(test, (idle.store, idle.pins, idle.vmaps), (0, 0, 1));

    ktest_assert_eq!(test, buffer.move_now()?, Move::Done);
    // The notification made the cache give its mapping up before the exporter moved.
    let moved = buffer.state();
    ktest_assert_eq!(test, (moved.store, moved.vmaps, moved.moves), (1, 0, 1));
    let (data, after) = read_once::<11>(&mut user, OFFSET)?;
    ktest_assert_eq!(test, &data, DATA);
    ktest_assert!(test, after != first);
    let stats = cache.stats();
    ktest_assert_eq!(test, (stats.misses, stats.hits, stats.remaps), (2, 1, 1));
    user.vunmap_cached()?;
    ktest_assert_eq!(test, buffer.state().vmaps, 0);
    Ok(())
}

fn a_move_during_an_access_waits_for_its_end(test: &Test) -> CaseResult {
    let buffer = MovableBuffer::new(BUFFER_SIZE)?;
    let cache = VmapCache::new(buffer.dma_buf().clone())?;
    let mut user = CachedVmap::new(cache.clone())?;
    {
        let mut access = user.begin_access(Direction::ReadWrite)?;
        ktest_assert_eq!(test, buffer.move_now()?, Move::Deferred);
        // The access still has the buffer where it was, and what it writes moves along.
        access.memory().write(OFFSET, DATA)?;
        let pinned = buffer.state();
        ktest_assert_eq!(
            test,
            (pinned.store, pinned.pins, pinned.moves, pinned.move_pending),
            (0, 1, 0, true)
        );
    }
    // The move happened as the access ended, after the notification.
    let moved = buffer.state();
    ktest_assert_eq!(
        test,
        (
            moved.store,
            moved.pins,
            moved.vmaps,
            moved.moves,
            moved.move_pending
        ),
        (1, 0, 0, 1, false)
    );
    let (data, _) = read_once::<11>(&mut user, OFFSET)?;
    ktest_assert_eq!(test, &data, DATA);
    ktest_assert_eq!(test, cache.stats().remaps, 1);
    Ok(())
}

/// Workers that access a moving buffer at once, each on its own record.
const MOVING_WORKERS: usize = 3;
/// 32-bit words in a worker's record; every access rewrites the whole record.
const RECORD_WORDS: usize = 16;
/// Moves the case waits for while the workers run.
const MOVES: u32 = 30;
/// The mover gives up after this many pauses of about a jiffy.
const MOVER_PATIENCE: u32 = 5_000;
/// A worker pauses after this many accesses, so that the buffer is sometimes idle and moves at
/// once; in between, moves wait for the end of the accesses that overlap them.
const ACCESSES_BETWEEN_PAUSES: u64 = 4;

/// One worker: in every access, checks that its record still holds what it wrote last, and that
/// no word of the buffer is the exporter's poison; then rewrites its record.
fn moving_worker(cache: &Arc<VmapCache>, team: &Team, index: usize) -> Tally {
    let mut tally = Tally::default();
    let user = team.join_as_user(cache);
    let copy = KVec::from_elem(0u8, BUFFER_SIZE, GFP_KERNEL);
    let (mut user, mut copy) = match (user, copy) {
        (Ok(user), Ok(copy)) => (user, copy),
        (Err(error), _) => {
            tally.failed(error);
            return tally;
        }
        (_, Err(error)) => {
            tally.failed(error.into());
            return tally;
        }
    };
    let offset = index * RECORD_WORDS * 4;
    let mut last: u32 = 0;
    while !team.should_stop() {
        tally.accesses += 1;
        match check_and_rewrite(&mut user, &mut copy, offset, last) {
            Ok(true) => last = last.wrapping_add(1),
            Ok(false) => {
                tally.bad_reads += 1;
                last = last.wrapping_add(1);
            }
            Err(error) => tally.failed(error),
        }
        if tally.accesses % ACCESSES_BETWEEN_PAUSES == 0 {
            team.pause();
        }
    }
    tally
}

/// Checks the record at `offset` for `expected` and the whole buffer, copied into `buffer`, for
/// poison, then writes `expected + 1` into the record, all in one access. Returns whether the
/// checks passed.
fn check_and_rewrite(
    user: &mut CachedVmap,
    buffer: &mut [u8],
    offset: usize,
    expected: u32,
) -> Result<bool> {
    let mut access = user.begin_access(Direction::ReadWrite)?;
    let mut memory = access.memory();
    memory.read(0, buffer)?;
    let record = buffer
        .get(offset..offset + RECORD_WORDS * 4)
        .ok_or(ERANGE)?;
    let intact = record
        .chunks_exact(4)
        .all(|word| word == expected.to_le_bytes())
        && !buffer.chunks_exact(4).any(|word| word == [POISON; 4]);
    let next = expected.wrapping_add(1).to_le_bytes();
    for word in 0..RECORD_WORDS {
        memory.write(offset + word * 4, &next)?;
    }
    Ok(intact)
}

fn accesses_race_announced_moves(test: &Test) -> CaseResult {
    let buffer = MovableBuffer::new(BUFFER_SIZE)?;
    let cache = VmapCache::new(buffer.dma_buf().clone())?;
    let workers_cache = cache.clone();
    let team = Team::start(MOVING_WORKERS, move |index, team| {
        moving_worker(&workers_cache, team, index)
    })?;
    let (mut done, mut deferred) = (0u32, 0u32);
    for _ in 0..MOVER_PATIENCE {
        if buffer.state().moves >= MOVES {
            break;
        }
        match buffer.move_now() {
            Ok(Move::Done) => done += 1,
            Ok(Move::Deferred) => deferred += 1,
            Err(_) => {}
        }
        team.pause();
    }
    let tally = team.stop_and_join();
    ktest_assert_eq!(
        test,
        (tally.bad_reads, tally.errors, tally.first_error),
        (0, 0, None)
    );
    let moves = buffer.state().moves;
    ktest_assert!(test, moves >= MOVES);
    kernel::pr_info!(
        "{} accesses, {} moves ({} at once, {} deferred to an access's end)\n",
        tally.accesses,
        moves,
        done,
        deferred
    );
    let stats = cache.stats();
    ktest_assert_eq!(test, stats.hits + stats.misses, tally.accesses);
    // Every move that found a mapping made exactly one access remap.
    ktest_assert!(test, stats.remaps >= 1 && stats.remaps <= u64::from(moves));
    let idle = buffer.state();
    ktest_assert_eq!(test, (idle.pins, idle.move_pending), (0, false));
    Ok(())
}

/// Fillers pinned into video memory at once.
const FILLER_SIZE: usize = 1 << 20;
/// More fillers than bochs's 16 MiB can hold.
const MAX_FILLERS: usize = 32;

/// Pins fillers into `device`'s video memory until `fb` has been evicted or nothing more can
/// be: returns them, with the error that stopped them, if any.
fn fill_video_memory(
    device: &Device,
    fb: &Framebuffer,
    fillers: &mut KVec<VramFiller>,
) -> Result<Option<kernel::error::Error>> {
    while fillers.len() < MAX_FILLERS && testing::placement(fb)?.in_vram {
        match VramFiller::pin(device, FILLER_SIZE) {
            Ok(filler) => fillers.push(filler, GFP_KERNEL)?,
            Err(error) => return Ok(Some(error)),
        }
    }
    Ok(None)
}

/// Whether `user`'s buffer holds the pattern for `seed`, read in one access; also returns
/// whether the access saw I/O memory.
fn pattern_through(
    user: &mut FramebufferVmap,
    fb: &Framebuffer,
    seed: usize,
) -> Result<(bool, bool)> {
    let mut access = user.begin_access(Direction::Read)?;
    let iomem = access.is_iomem();
    let memory = access.memory();
    let intact = holds_pattern(fb.layout(), seed, |offset, row| memory.read(offset, row))?;
    Ok((intact, iomem))
}

fn pressure_evicts_an_idle_buffer_and_the_display_brings_it_back(test: &Test) -> CaseResult {
    with_kms_device(test, BOCHS, |device| {
        let Registered {
            client,
            size: (width, height),
            ..
        } = registered_client(device)?;
        let fb = Framebuffer::new(&client, Allocator::Device, width, height, Format::Xrgb8888)?;
        let other = Framebuffer::new(&client, Allocator::Device, width, height, Format::Xrgb8888)?;
        ktest_assert!(test, fb.is_movable());
        ktest_assert_err!(test, fb.dma_buf().vmap().map(drop), EOPNOTSUPP);
        // Light the output first: bochs enables a mode without VBE_DISPI_NOCLEARMEM, so QEMU
        // clears all video memory at that modeset, a buffer just moved there included. Later
        // shows are page flips.
        ktest_assert_eq!(test, client.show(&other)?, 1);
        let mut user = fb.vmap()?;
        {
            let mut access = user.begin_access(Direction::Write)?;
            // A new buffer starts in system memory.
            ktest_assert!(test, !access.is_iomem());
            draw_pattern(&mut access.memory(), fb.layout(), 7)?;
        }
        let placement = testing::placement(&fb)?;
        ktest_assert_eq!(test, (placement.in_vram, placement.pins), (false, 0));

        // The display moves it into video memory to show it, and the pin is its own.
        ktest_assert_eq!(test, client.show(&fb)?, 1);
        {
            let _access = user.begin_access(Direction::Read)?;
            // Showing a buffer an access holds could not move it where the display needs it.
            ktest_assert_err!(test, client.show(&fb), EBUSY);
        }
        ktest_assert_eq!(test, client.show(&other)?, 1);
        let placement = testing::placement(&fb)?;
        ktest_assert_eq!(test, (placement.in_vram, placement.pins), (true, 0));
        ktest_assert_eq!(test, pattern_through(&mut user, &fb, 7)?, (true, true));
        ktest_assert_eq!(test, fb.stats().remaps, 1);

        // While an access is open, pressure cannot move the buffer.
        let mut fillers = KVec::new();
        {
            let mut access = user.begin_access(Direction::Read)?;
            ktest_assert_eq!(test, testing::placement(&fb)?.pins, 1);
            let stopped = fill_video_memory(device, &fb, &mut fillers)?;
            ktest_assert_eq!(test, stopped, Some(ENOMEM));
            ktest_assert!(test, testing::placement(&fb)?.in_vram);
            let memory = access.memory();
            let intact = holds_pattern(fb.layout(), 7, |offset, row| memory.read(offset, row))?;
            ktest_assert!(test, intact);
        }
        // Idle, nothing of ours pins it: the next filler evicts it to system memory.
        ktest_assert_eq!(test, fill_video_memory(device, &fb, &mut fillers)?, None);
        let placement = testing::placement(&fb)?;
        ktest_assert_eq!(test, (placement.in_vram, placement.pins), (false, 0));
        ktest_assert_eq!(test, pattern_through(&mut user, &fb, 7)?, (true, false));
        let stats = fb.stats();
        ktest_assert_eq!(test, (stats.remaps, stats.invalidations), (2, 0));
        drop(fillers);

        // And back: shown again, it moves into video memory with what was written meanwhile.
        {
            let mut access = user.begin_access(Direction::Write)?;
            draw_pattern(&mut access.memory(), fb.layout(), 8)?;
        }
        ktest_assert_eq!(test, client.show(&fb)?, 1);
        ktest_assert_eq!(test, client.show(&other)?, 1);
        ktest_assert_eq!(test, pattern_through(&mut user, &fb, 8)?, (true, true));
        ktest_assert_eq!(test, fb.stats().remaps, 3);

        // The mapping may outlive the framebuffer: the dma-buf keeps the memory, and each
        // access pins it.
        let layout = *fb.layout();
        drop(fb);
        let mut access = user.begin_access(Direction::Read)?;
        let memory = access.memory();
        ktest_assert!(
            test,
            holds_pattern(&layout, 8, |offset, row| memory.read(offset, row))?
        );
        Ok(())
    })
}

fn a_back_buffer_holds_no_pin_between_frames(test: &Test) -> CaseResult {
    with_kms_device(test, BOCHS, |device| {
        let Registered {
            client,
            size: (width, height),
            ..
        } = registered_client(device)?;
        let mut buffers =
            DoubleBuffer::new(&client, Allocator::Device, width, height, Format::Xrgb8888)?;
        let layout = *buffers.layout();
        for frame in 0..4usize {
            buffers.draw(|memory| draw_pattern(memory, &layout, frame))?;
            ktest_assert_eq!(test, buffers.flip()?, 1);
            // The display's pin holds the shown buffer in video memory; nothing holds the other.
            let (front, back) = (
                testing::placement(buffers.front())?,
                testing::placement(buffers.back())?,
            );
            ktest_assert_eq!(test, (front.in_vram, front.pins), (true, 1));
            ktest_assert_eq!(test, back.pins, 0);
            ktest_assert_eq!(test, testing::scanned_out_id(device), buffers.front().id());
        }
        Ok(())
    })
}

ktest_suite!(
    drm_vmap_client_movable,
    [
        shmem_buffers_map_once,
        an_announced_move_between_accesses_remaps,
        a_move_during_an_access_waits_for_its_end,
        accesses_race_announced_moves,
        pressure_evicts_an_idle_buffer_and_the_display_brings_it_back,
        a_back_buffer_holds_no_pin_between_frames,
    ]
);
