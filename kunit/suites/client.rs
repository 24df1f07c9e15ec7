// SPDX-License-Identifier: GPL-2.0

//! The in-kernel client API on real KMS drivers: vkms for drawing, mode setting, hotplug and
//! DRM master, bochs for unplug (its driver can be unbound and bound again).
//!
//! Every case checks at its end that the devices it used hold no more references and no more
//! framebuffers than before it: no GEM export, dma-buf, DRM file or framebuffer left behind.

use crate::{
    common::{settled_ref_count, with_kms_device, with_vgem_device},
    pattern::{draw_pattern, holds_pattern, pattern_byte},
    team::{Tally, Team},
};
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use kernel::{
    alloc::{flags::GFP_KERNEL, KVec},
    c_str,
    drm_client::{
        testing::{self, MasterFile, Unbound},
        Allocator, Client, ClientHandler, Device, DoubleBuffer, Format, Framebuffer,
        FramebufferVmap, GemObject, Layout, Registration, RestoreRequest,
    },
    error::{code::*, Result},
    fmt,
    init::InPlaceInit,
    ktest::{CaseResult, Test},
    ktest_assert, ktest_assert_eq, ktest_assert_err, ktest_hostile, ktest_suite, new_mutex, pr_err,
    pr_info,
    prelude::{pin_data, pin_init},
    str::CString,
    sync::{Arc, ArcBorrow, Mutex},
    time::Ktime,
    vmap_cache::{Direction, ManualFence, DEFAULT_FENCE_TIMEOUT_MS},
};

const VKMS: &[u8] = b"vkms";
pub(crate) const BOCHS: &[u8] = b"bochs-drm";
pub(crate) const CIRRUS: &[u8] = b"cirrus";

/// cirrus scans out rows of at most this many bytes; wider XRGB8888 framebuffers are converted
/// to RGB888 as they are copied into its video memory (`cirrus_convert_to()`).
const CIRRUS_MAX_PITCH: usize = 0x1ff << 3;

/// A handler that counts the core's calls and probes the outputs on every hotplug.
#[derive(Default)]
pub(crate) struct Recorder {
    hotplugs: AtomicU32,
    restores: AtomicU32,
    unregisters: AtomicU32,
    outputs: AtomicUsize,
}

impl ClientHandler for Recorder {
    fn hotplug(&self, client: ArcBorrow<'_, Client>) -> Result {
        self.hotplugs.fetch_add(1, Ordering::Relaxed);
        let outputs = client.probe_outputs()?;
        self.outputs.store(outputs.len(), Ordering::Relaxed);
        Ok(())
    }

    fn restore(&self, client: ArcBorrow<'_, Client>, request: &RestoreRequest) -> Result {
        self.restores.fetch_add(1, Ordering::Relaxed);
        client.restore_display_as_requested(request)
    }

    fn unregister(&self, _client: ArcBorrow<'_, Client>) {
        self.unregisters.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) fn new_client(device: &Device) -> Result<(Arc<Client>, Arc<Recorder>)> {
    let recorder = Arc::new(Recorder::default(), GFP_KERNEL)?;
    let client = Client::new(device, c_str!("vmap_client_kunit"), recorder.clone())?;
    Ok((client, recorder))
}

/// A registered client whose device has exactly one connected output.
pub(crate) struct Registered {
    pub(crate) client: Arc<Client>,
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) registration: Registration,
    /// The size of the output's mode.
    pub(crate) size: (u32, u32),
}

/// Registers a client of `device`; `ENODEV` unless the device has exactly one output.
pub(crate) fn registered_client(device: &Device) -> Result<Registered> {
    let (client, recorder) = new_client(device)?;
    // Registering probes the outputs (the handler's hotplug).
    let registration = client.register()?;
    let outputs = client.outputs()?;
    if outputs.len() != 1 {
        pr_err!("{} outputs where one was expected\n", outputs.len());
        return Err(ENODEV);
    }
    Ok(Registered {
        size: (outputs[0].width, outputs[0].height),
        client,
        recorder,
        registration,
    })
}

/// Reads `fb` row by row through the KMS device's own mapping and compares with the pattern.
fn displayed_matches_pattern(fb: &Framebuffer, seed: usize) -> Result<bool> {
    holds_pattern(fb.layout(), seed, |offset, row| {
        testing::read_as_display(fb, offset, row)
    })
}

/// Draws the pattern into `fb` through its dma-buf and checks that the display reads it.
fn draw_and_read_back(test: &Test, fb: &Framebuffer, seed: usize) -> CaseResult {
    draw_once(fb, seed)?;
    fb.flush_all()?;
    ktest_assert!(test, displayed_matches_pattern(fb, seed)?);
    Ok(())
}

/// Draws the pattern for `seed` into `fb` in one access.
fn draw_once(fb: &Framebuffer, seed: usize) -> Result {
    let mut user = fb.vmap()?;
    {
        let mut access = user.begin_access(Direction::Write)?;
        draw_pattern(&mut access.memory(), fb.layout(), seed)?;
    }
    user.vunmap_cached()
}

/// Whether the pixel at (`x`, `y`) in cirrus's video memory has the colour of the pattern for
/// `seed` in a framebuffer of `layout`.
fn cirrus_shows(device: &Device, layout: &Layout, (x, y): (u32, u32), seed: usize) -> Result<bool> {
    let vram_cpp = if layout.pitch() > CIRRUS_MAX_PITCH {
        3
    } else {
        4
    };
    let vram_offset = |x: u32, y: u32| -> Result<usize> {
        let width = usize::try_from(layout.width()).map_err(|_| ERANGE)?;
        let (x, y) = (
            usize::try_from(x).map_err(|_| ERANGE)?,
            usize::try_from(y).map_err(|_| ERANGE)?,
        );
        Ok((y * width + x) * vram_cpp)
    };
    let mut pixel = [0u8; 3];
    testing::read_vram(device, vram_offset(x, y)?, &mut pixel)?;
    // Blue, green and red are the first three bytes in both XRGB8888 and RGB888.
    let fb_offset = layout.rect(x, y, 1, 1)?.offset;
    Ok(pixel
        .iter()
        .enumerate()
        .all(|(i, byte)| *byte == pattern_byte(fb_offset + i, seed)))
}

/// Runs `f` and returns its result with how long it took, in milliseconds.
fn timed_ms<T>(f: impl FnOnce() -> T) -> (T, i64) {
    let started = Ktime::ktime_get();
    let result = f();
    (result, (Ktime::ktime_get() - started).to_ms())
}

/// Whether a wait of `ms` milliseconds gave up after the default fence timeout (2 s, less a
/// jiffy of rounding) and on its own, within twice the timeout: a guest under TCG on a busy
/// host was seen to wake its waiter more than a second late.
fn within_fence_timeout(ms: i64) -> bool {
    let timeout = i64::from(DEFAULT_FENCE_TIMEOUT_MS);
    let within = (timeout - 10..2 * timeout).contains(&ms);
    if !within {
        pr_err!(
            "a fence wait ended after {ms} ms, outside {} to {} ms\n",
            timeout - 10,
            2 * timeout
        );
    }
    within
}

fn devices_without_modesetting_are_refused(test: &Test) -> CaseResult {
    with_vgem_device(test, |vgem| {
        let recorder = Arc::new(Recorder::default(), GFP_KERNEL)?;
        let client = Client::new(vgem, c_str!("vmap_client_kunit"), recorder);
        ktest_assert_err!(test, client, EOPNOTSUPP);
        Ok(())
    })
}

fn bad_framebuffers_get_an_errno(test: &Test) -> CaseResult {
    with_kms_device(test, VKMS, |device| {
        let (client, _) = new_client(device)?;
        let xrgb = Format::Xrgb8888;
        for allocator in [Allocator::Device, Allocator::Vgem] {
            let new = |width, height| Framebuffer::new(&client, allocator, width, height, xrgb);
            ktest_hostile!(test, new(0, 480), EINVAL);
            ktest_hostile!(test, new(640, 0), EINVAL);
            ktest_hostile!(test, new(u32::MAX, u32::MAX), E2BIG);
            // Small enough for memory, wider than vkms scans out (mode_config.max_width).
            ktest_hostile!(test, new(65536, 1), E2BIG);
        }
        ktest_hostile!(test, Format::from_fourcc(0x2020_2020), EINVAL);
        Ok(())
    })
}

fn bochs_refuses_what_it_cannot_scan_out(test: &Test) -> CaseResult {
    with_kms_device(test, BOCHS, |device| {
        let (client, _) = new_client(device)?;
        // bochs scans out of video memory only: it cannot import system memory pages.
        let fb = Framebuffer::new(&client, Allocator::Vgem, 64, 64, Format::Xrgb8888);
        ktest_hostile!(test, fb, EOPNOTSUPP);
        // Its objects are VRAM objects, which the shmem helpers must not take for theirs.
        ktest_hostile!(test, GemObject::new_shmem(device, 4096), EOPNOTSUPP);
        // Its plane takes 32-bit formats only.
        let fb = Framebuffer::new(&client, Allocator::Device, 64, 64, Format::Rgb565);
        ktest_hostile!(test, fb, EINVAL);
        // 32 MiB fit in system memory, where a new buffer starts, but not in the 16 MiB of
        // video memory it is scanned out from: the display cannot pin it there, and the failed
        // show leaves it unpinned (the case's end checks the device's references).
        let Registered { client, .. } = registered_client(device)?;
        let huge = Framebuffer::new(&client, Allocator::Device, 4096, 2048, Format::Xrgb8888)?;
        ktest_hostile!(test, client.show(&huge), ENOMEM);
        let placement = testing::placement(&huge)?;
        ktest_assert_eq!(test, (placement.in_vram, placement.pins), (false, 0));
        Ok(())
    })
}

fn restore_without_a_shown_buffer_fails_cleanly(test: &Test) -> CaseResult {
    with_kms_device(test, VKMS, |device| {
        let Registered {
            client,
            size: (width, height),
            ..
        } = registered_client(device)?;
        // Registered and probed, nothing shown yet: the mode sets have modes and no framebuffer,
        // and committing them would trip `WARN_ON(!set->fb)` (the guest log check would fail).
        ktest_assert_err!(test, client.restore_display(), ENOENT);
        let fb = Framebuffer::new(&client, Allocator::Device, width, height, Format::Xrgb8888)?;
        ktest_assert_eq!(test, client.show(&fb)?, 1);
        client.restore_display()?;
        ktest_assert_eq!(test, testing::scanned_out_id(device), fb.id());
        // A probe forgets the shown buffer: its new mode sets have none.
        client.probe_outputs()?;
        ktest_assert_err!(test, client.restore_display(), ENOENT);
        ktest_assert_eq!(test, client.show(&fb)?, 1);
        drop(fb);
        ktest_assert_err!(test, client.restore_display(), ENOENT);
        Ok(())
    })
}

fn vgem_or_device_falls_back_to_the_display(test: &Test) -> CaseResult {
    let xrgb = Format::Xrgb8888;
    with_kms_device(test, VKMS, |device| {
        let (client, _) = new_client(device)?;
        let fb = Framebuffer::new(&client, Allocator::VgemOrDevice, 64, 64, xrgb)?;
        ktest_assert_eq!(test, fb.allocator(), Allocator::Vgem);
        // As in a kernel without vgem.
        let _hidden = testing::VgemHidden::new();
        let without = Framebuffer::new(&client, Allocator::Vgem, 64, 64, xrgb);
        ktest_assert_err!(test, without, ENODEV);
        let fb = Framebuffer::new(&client, Allocator::VgemOrDevice, 64, 64, xrgb)?;
        ktest_assert_eq!(test, fb.allocator(), Allocator::Device);
        draw_and_read_back(test, &fb, 9)?;
        Ok(())
    })?;
    // A display that cannot import vgem's buffers.
    with_kms_device(test, BOCHS, |device| {
        let (client, _) = new_client(device)?;
        let fb = Framebuffer::new(&client, Allocator::VgemOrDevice, 64, 64, xrgb)?;
        ktest_assert_eq!(test, fb.allocator(), Allocator::Device);
        draw_and_read_back(test, &fb, 10)?;
        Ok(())
    })
}

fn device_framebuffers_show_what_is_drawn(test: &Test) -> CaseResult {
    with_kms_device(test, VKMS, |device| {
        let (client, _) = new_client(device)?;
        for (seed, format) in [(0, Format::Xrgb8888), (7, Format::Rgb565)] {
            let fb = Framebuffer::new(&client, Allocator::Device, 320, 200, format)?;
            ktest_assert_eq!(test, fb.layout().format(), format);
            ktest_assert!(test, fb.layout().pitch() >= 320 * format.bytes_per_pixel());
            ktest_assert_eq!(test, testing::gem_handles(&client), 0);
            draw_and_read_back(test, &fb, seed)?;
        }
        Ok(())
    })
}

fn vgem_framebuffers_share_pages_with_the_display(test: &Test) -> CaseResult {
    with_vgem_device(test, |_| {
        with_kms_device(test, VKMS, |device| {
            let (client, _) = new_client(device)?;
            let fb = Framebuffer::new(&client, Allocator::Vgem, 320, 200, Format::Xrgb8888)?;
            // No GEM handle is left in the client's file to pin the import (the 2023 rule).
            ktest_assert_eq!(test, testing::gem_handles(&client), 0);
            draw_and_read_back(test, &fb, 3)?;
            // The imported object is the vgem dma-buf's, page for page: nothing was copied.
            testing::check_shared_pages(&fb)?;
            Ok(())
        })
    })
}

fn flips_show_each_buffer_in_turn(test: &Test) -> CaseResult {
    with_kms_device(test, VKMS, |device| {
        // vkms has one virtual output.
        let Registered {
            client,
            recorder,
            registration,
            size: (width, height),
        } = registered_client(device)?;
        ktest_assert_eq!(test, recorder.hotplugs.load(Ordering::Relaxed), 1);
        let mut buffers =
            DoubleBuffer::new(&client, Allocator::Vgem, width, height, Format::Xrgb8888)?;
        let layout = *buffers.layout();
        for seed in 0..4 {
            let back_id = buffers.back().id();
            buffers.draw(|memory| draw_pattern(memory, &layout, seed))?;
            ktest_assert_eq!(test, buffers.flip()?, 1);
            ktest_assert_eq!(test, testing::scanned_out_id(device), back_id);
            ktest_assert_eq!(test, buffers.front().id(), back_id);
            ktest_assert!(test, displayed_matches_pattern(buffers.front(), seed)?);
        }
        buffers.front().flush(1, 2, 3, 4)?;
        ktest_assert_err!(test, buffers.front().flush(0, 0, width + 1, 1), ERANGE);
        ktest_assert_err!(test, buffers.front().flush(0, 0, 0, 1), EINVAL);
        // A framebuffer smaller than the mode cannot be shown.
        let small = Framebuffer::new(&client, Allocator::Device, 64, 64, Format::Xrgb8888)?;
        ktest_assert_err!(test, client.show(&small), ERANGE);
        // Nor can another client's.
        let (other_client, _) = new_client(device)?;
        let others = Framebuffer::new(
            &other_client,
            Allocator::Vgem,
            width,
            height,
            Format::Xrgb8888,
        )?;
        ktest_assert_err!(test, client.show(&others), EINVAL);
        drop(registration);
        Ok(())
    })
}

/// Runs `body` with a registered client of the first `driver` device, which must have one
/// output, and a vgem framebuffer as large as that output; checks vgem and the device after.
fn with_vgem_framebuffer(
    test: &Test,
    driver: &[u8],
    body: impl FnOnce(&Device, &Client, &Framebuffer) -> CaseResult,
) -> CaseResult {
    with_vgem_device(test, |_| {
        with_kms_device(test, driver, |device| {
            let Registered {
                client,
                registration: _registration,
                size: (width, height),
                ..
            } = registered_client(device)?;
            let fb = Framebuffer::new(&client, Allocator::Vgem, width, height, Format::Xrgb8888)?;
            body(device, &client, &fb)
        })
    })
}

fn damage_flush_copies_only_the_rectangle(test: &Test) -> CaseResult {
    // cirrus imports the vgem buffer as its shadow buffer and copies from it.
    with_vgem_framebuffer(test, CIRRUS, |device, client, fb| {
        let layout = *fb.layout();
        let (width, height) = (layout.width(), layout.height());
        draw_once(fb, 1)?;
        // A new framebuffer on the plane is copied whole.
        ktest_assert_eq!(test, client.show(fb)?, 1);
        ktest_assert!(
            test,
            cirrus_shows(device, &layout, (width - 1, height - 1), 1)?
        );
        draw_once(fb, 2)?;
        let (x, y, w, h) = (16, 8, 64, 32);
        fb.flush(x, y, w, h)?;
        for corner in [
            (x, y),
            (x + w - 1, y),
            (x, y + h - 1),
            (x + w - 1, y + h - 1),
        ] {
            ktest_assert!(test, cirrus_shows(device, &layout, corner, 2)?);
        }
        for outside in [
            (x - 1, y),
            (x, y - 1),
            (x + w, y + h - 1),
            (x, y + h),
            (0, 0),
        ] {
            ktest_assert!(test, cirrus_shows(device, &layout, outside, 1)?);
        }
        // The copy waits for the buffer's writers, in time.
        let writer = ManualFence::new()?;
        writer.attach_as_writer(fb.dma_buf())?;
        let waited = timed_ms(|| fb.flush_all());
        ktest_assert_err!(test, waited.0, ETIMEDOUT);
        ktest_assert!(test, within_fence_timeout(waited.1));
        ktest_assert!(test, cirrus_shows(device, &layout, (0, 0), 1)?);
        writer.signal();
        fb.flush_all()?;
        ktest_assert!(test, cirrus_shows(device, &layout, (0, 0), 2)?);
        Ok(())
    })
}

fn unsignalled_writers_fail_a_flip_in_time(test: &Test) -> CaseResult {
    with_vgem_framebuffer(test, VKMS, |device, client, fb| {
        // Another device is still writing the buffer, and its fence never signals.
        let writer = ManualFence::new()?;
        writer.attach_as_writer(fb.dma_buf())?;
        let waited = timed_ms(|| client.show(fb));
        test.hostile_input(
            format_args!("show of a buffer whose writer's fence never signals"),
            &waited.0,
            ETIMEDOUT,
        )?;
        ktest_assert!(test, within_fence_timeout(waited.1));
        ktest_assert!(test, testing::scanned_out_id(device) != fb.id());
        writer.signal();
        ktest_assert_eq!(test, client.show(fb)?, 1);
        ktest_assert_eq!(test, testing::scanned_out_id(device), fb.id());
        // A restore commits the shown buffer again, and waits the same way.
        let writer = ManualFence::new()?;
        writer.attach_as_writer(fb.dma_buf())?;
        let waited = timed_ms(|| client.restore_display());
        test.hostile_input(
            format_args!("restore of a buffer whose writer's fence never signals"),
            &waited.0,
            ETIMEDOUT,
        )?;
        ktest_assert!(test, within_fence_timeout(waited.1));
        writer.signal();
        client.restore_display()?;
        Ok(())
    })
}

/// A handler that allocates a framebuffer as large as the output on every hotplug, and shows it.
#[pin_data]
struct Allocating {
    #[pin]
    shown: Mutex<Option<Framebuffer>>,
}

impl ClientHandler for Allocating {
    fn hotplug(&self, client: ArcBorrow<'_, Client>) -> Result {
        let outputs = client.probe_outputs()?;
        let output = outputs.first().ok_or(ENODEV)?;
        let client: Arc<Client> = client.into();
        let fb = Framebuffer::new(
            &client,
            Allocator::Device,
            output.width,
            output.height,
            Format::Xrgb8888,
        )?;
        client.show(&fb)?;
        *self.shown.lock() = Some(fb);
        Ok(())
    }
}

fn a_handler_allocates_in_its_callback(test: &Test) -> CaseResult {
    with_kms_device(test, VKMS, |device| {
        let handler = Arc::pin_init(
            pin_init!(Allocating {
                shown <- new_mutex!(None),
            }),
            GFP_KERNEL,
        )?;
        let client = Client::new(device, c_str!("vmap_client_kunit"), handler.clone())?;
        // Registering calls the hotplug handler, which allocates and shows.
        let registration = client.register()?;
        let shown_id = handler.shown.lock().as_ref().map(Framebuffer::id);
        ktest_assert!(test, shown_id.is_some());
        ktest_assert_eq!(test, Some(testing::scanned_out_id(device)), shown_id);
        drop(registration);
        // The framebuffer holds the client, which holds the handler: break the cycle.
        drop(handler.shown.lock().take());
        Ok(())
    })
}

fn hotplug_reaches_the_client(test: &Test) -> CaseResult {
    with_kms_device(test, VKMS, |device| {
        let (client, recorder) = new_client(device)?;
        let _registration = client.register()?;
        ktest_assert_eq!(test, recorder.outputs.load(Ordering::Relaxed), 1);
        let unplugged = testing::set_connected(device, false);
        let seen_unplugged = (
            recorder.hotplugs.load(Ordering::Relaxed),
            recorder.outputs.load(Ordering::Relaxed),
        );
        // Plug back before checking, so that a failure leaves vkms connected.
        testing::set_connected(device, true)?;
        unplugged?;
        ktest_assert_eq!(test, seen_unplugged, (2, 0));
        ktest_assert_eq!(test, recorder.hotplugs.load(Ordering::Relaxed), 3);
        ktest_assert_eq!(test, recorder.outputs.load(Ordering::Relaxed), 1);
        Ok(())
    })
}

fn a_client_that_left_gets_no_callbacks(test: &Test) -> CaseResult {
    with_kms_device(test, VKMS, |device| {
        let (client, recorder) = new_client(device)?;
        let registration = client.register()?;
        ktest_assert_err!(test, client.register(), EBUSY);
        ktest_assert!(test, registration.is_registered());
        drop(registration);
        let hotplugs = recorder.hotplugs.load(Ordering::Relaxed);
        let unplugged = testing::set_connected(device, false);
        testing::set_connected(device, true)?;
        unplugged?;
        ktest_assert_eq!(test, recorder.hotplugs.load(Ordering::Relaxed), hotplugs);
        // It may join again, and is called again.
        let _registration = client.register()?;
        ktest_assert_eq!(
            test,
            recorder.hotplugs.load(Ordering::Relaxed),
            hotplugs + 1
        );
        Ok(())
    })
}

fn master_holds_the_display_until_restore(test: &Test) -> CaseResult {
    with_kms_device(test, VKMS, |device| {
        let Registered {
            client,
            recorder,
            registration: _registration,
            size: (width, height),
        } = registered_client(device)?;
        let fb = Framebuffer::new(&client, Allocator::Device, width, height, Format::Xrgb8888)?;
        ktest_assert_eq!(test, client.show(&fb)?, 1);
        let other = Framebuffer::new(&client, Allocator::Vgem, width, height, Format::Xrgb8888)?;
        {
            let _compositor = MasterFile::open(device)?;
            ktest_assert_err!(test, client.show(&other), EBUSY);
            ktest_assert_err!(test, client.restore_display(), EBUSY);
            ktest_assert_eq!(test, testing::scanned_out_id(device), fb.id());
            // A forced restore (sysrq, a panic) asks the clients through the core, and the one
            // that restores takes the display regardless: its mode sets (holding `other`, whose
            // show was refused) are committed under the compositor's nose.
            testing::restore_clients(device, true);
            ktest_assert_eq!(test, recorder.restores.load(Ordering::Relaxed), 1);
            ktest_assert_eq!(test, testing::scanned_out_id(device), other.id());
        }
        // The compositor's file was the last one: the core asked the client to restore.
        ktest_assert_eq!(test, recorder.restores.load(Ordering::Relaxed), 2);
        ktest_assert_eq!(test, client.show(&other)?, 1);
        ktest_assert_eq!(test, testing::scanned_out_id(device), other.id());
        Ok(())
    })
}

fn unplug_during_use_gives_enodev(test: &Test) -> CaseResult {
    let device = testing::device_or_skip(test, BOCHS)?;
    {
        let Registered {
            client,
            recorder,
            registration,
            size: (width, height),
        } = registered_client(&device)?;
        let fb = Framebuffer::new(&client, Allocator::Device, width, height, Format::Xrgb8888)?;
        ktest_assert_eq!(test, client.show(&fb)?, 1);
        let mut user = fb.vmap()?;
        let mut access = user.begin_access(Direction::Write)?;

        let unbound = Unbound::unbind(&device)?;
        // The access open across the unplug still reaches the buffer, which the framebuffer
        // keeps; it just no longer reaches a display.
        access.memory().fill(0, 4096, 0x5a)?;
        drop(access);
        ktest_assert_eq!(test, recorder.unregisters.load(Ordering::Relaxed), 1);
        ktest_assert!(test, !registration.is_registered());
        ktest_assert!(test, client.is_unplugged());
        ktest_hostile!(test, user.begin_access(Direction::Write), ENODEV);
        ktest_hostile!(test, client.show(&fb), ENODEV);
        ktest_hostile!(test, client.probe_outputs(), ENODEV);
        ktest_hostile!(test, fb.flush_all(), ENODEV);
        let another = Framebuffer::new(&client, Allocator::Device, 64, 64, Format::Xrgb8888);
        ktest_hostile!(test, another, ENODEV);
        ktest_hostile!(test, client.register(), ENODEV);
        ktest_hostile!(test, new_client(&device), ENODEV);
        drop((user, fb, registration, client));
        // Only the driver's reference went with the unbind; ours is the last one now.
        ktest_assert_eq!(test, settled_ref_count(test, &device, 1), 1);
        drop(device);
        unbound.rebind()?;
    }
    // The driver is back, with a new device that works.
    let device = Device::find_by_driver(BOCHS)?;
    let (client, _) = new_client(&device)?;
    let fb = Framebuffer::new(&client, Allocator::Device, 64, 64, Format::Xrgb8888)?;
    draw_and_read_back(test, &fb, 5)?;
    Ok(())
}

/// A double buffer that one worker flips, and a framebuffer's mapping that another accesses.
#[pin_data]
struct InUse {
    #[pin]
    buffers: Mutex<DoubleBuffer>,
    #[pin]
    user: Mutex<FramebufferVmap>,
    /// Calls that succeeded, per worker.
    calls: [AtomicU32; 2],
}

/// Flips or accesses (by `index`) until the device is gone: every call must succeed before
/// the unplug, and the first call that starts after it (the case sets the team's stop flag once
/// the unbind returned) must fail with `ENODEV`. Unlike `ENODEV` any other errno is a failure.
fn use_until_unplugged(in_use: &InUse, index: usize, team: &Team) -> Tally {
    let mut tally = Tally {
        hostile: 1,
        ..Tally::default()
    };
    let (mut buffers, mut user) = match index {
        0 => (Some(in_use.buffers.lock()), None),
        _ => (None, Some(in_use.user.lock())),
    };
    team.start_together();
    loop {
        let unplugged = team.should_stop();
        let result = match (buffers.as_mut(), user.as_mut()) {
            (Some(buffers), _) => buffers.flip().and_then(|_| buffers.front().flush_all()),
            (_, Some(user)) => user
                .begin_access(Direction::Write)
                .and_then(|mut access| access.memory().fill(0, 4096, 0x5a)),
            (None, None) => Err(EINVAL),
        };
        match result {
            Err(error) if error == ENODEV => {
                tally.hostile_refused = 1;
                break;
            }
            Ok(()) if !unplugged => {
                tally.accesses += 1;
                in_use.calls[index.min(1)].fetch_add(1, Ordering::Relaxed);
            }
            Ok(()) => {
                // A call that began after the unplug went through.
                tally.failed(EEXIST);
                break;
            }
            Err(error) => {
                tally.failed(error);
                if unplugged {
                    break;
                }
            }
        }
    }
    tally
}

/// One round of [`unplug_races_flips_and_accesses`] on `driver`'s device.
fn unplug_round(test: &Test, driver: &[u8], delay_ms: u32) -> Result<Tally> {
    let device = Device::find_by_driver(driver)?;
    let held = testing::Census::settled(test);
    let Registered {
        client,
        registration,
        size: (width, height),
        ..
    } = registered_client(&device)?;
    let buffers = DoubleBuffer::new(&client, Allocator::Device, width, height, Format::Xrgb8888)?;
    let other = Framebuffer::new(&client, Allocator::Device, 64, 64, Format::Xrgb8888)?;
    let user = other.vmap()?;
    let in_use = Arc::pin_init(
        pin_init!(InUse {
            buffers <- new_mutex!(buffers),
            user <- new_mutex!(user),
            calls: [AtomicU32::new(0), AtomicU32::new(0)],
        }),
        GFP_KERNEL,
    )?;
    let workers_in_use = in_use.clone();
    let team = Team::start(2, move |index, team| {
        use_until_unplugged(&workers_in_use, index, team)
    })?;
    // Both workers are going (however slow the machine) before the unplug comes.
    let mut waited = 0;
    let started = |calls: &AtomicU32| calls.load(Ordering::Relaxed) > 0;
    while !in_use.calls.iter().all(started) && waited < 5000 {
        test.sleep_ms(5);
        waited += 5;
    }
    test.sleep_ms(delay_ms);
    let unbound = Unbound::unbind(&device)?;
    let tally = team.stop_and_join();
    if registration.is_registered() {
        pr_err!("the client is still registered after the unplug\n");
        return Err(EBUSY);
    }
    drop((in_use, other, registration, client));
    let references = settled_ref_count(test, &device, 1);
    drop(device);
    unbound.rebind()?;
    let census = testing::Census::now();
    if references != 1 || census != held {
        pr_err!("{references} device references left, or {census:?} differs from {held:?}\n");
        return Err(EBUSY);
    }
    Ok(tally)
}

/// Unplugs per display driver in [`unplug_races_flips_and_accesses`].
const UNPLUG_ROUNDS: u32 = 3;

fn unplug_races_flips_and_accesses(test: &Test) -> CaseResult {
    testing::device_or_skip(test, BOCHS)?;
    testing::device_or_skip(test, CIRRUS)?;
    let mut total = Tally::default();
    for round in 0..UNPLUG_ROUNDS {
        for driver in [BOCHS, CIRRUS] {
            // Some flips and accesses land before the unplug, at a different point each round.
            let tally = unplug_round(test, driver, 20 + round * 15)?;
            ktest_assert_eq!(test, (tally.errors, tally.first_error), (0, None));
            total.add(tally);
        }
    }
    pr_info!(
        "hostile inputs: unplugs of bochs and cirrus during flips, flushes and accesses ({} \
         calls before them): {} tried, {} clean\n",
        total.accesses,
        total.hostile,
        total.hostile_refused
    );
    ktest_assert_eq!(test, total.hostile, u64::from(UNPLUG_ROUNDS) * 4);
    ktest_assert_eq!(test, total.hostile_refused, total.hostile);
    // Both workers got going before each unplug.
    ktest_assert!(test, total.accesses >= u64::from(UNPLUG_ROUNDS) * 4);
    // The drivers are back, with devices that work.
    let device = Device::find_by_driver(BOCHS)?;
    let (client, _) = new_client(&device)?;
    let fb = Framebuffer::new(&client, Allocator::Device, 64, 64, Format::Xrgb8888)?;
    draw_and_read_back(test, &fb, 6)?;
    Ok(())
}

/// Clients a racing worker registers at most.
const RACING_CLIENTS: usize = 64;

/// Registrations made while the device is unbound, with their handlers.
type Registrations = Mutex<KVec<(Registration, Arc<Recorder>)>>;

/// Registers clients of `device` one after the other, keeping them registered, until the device
/// is gone or the case says stop; returns the error that ended it, if it was not `ENODEV`.
fn register_until_unplugged(device: &Device, kept: &Registrations, team: &Team) -> Tally {
    let mut tally = Tally::default();
    team.start_together();
    while !team.should_stop() && kept.lock().len() < RACING_CLIENTS {
        tally.accesses += 1;
        let registered =
            new_client(device).and_then(|(client, recorder)| Ok((client.register()?, recorder)));
        match registered {
            Ok(pair) => {
                if let Err(error) = kept.lock().push(pair, GFP_KERNEL) {
                    tally.failed(error.into());
                }
            }
            Err(error) if error == ENODEV => break,
            Err(error) => tally.failed(error),
        }
    }
    tally
}

fn register_racing_an_unbind(test: &Test) -> CaseResult {
    let device = testing::device_or_skip(test, BOCHS)?;
    let kept = Arc::pin_init(new_mutex!(KVec::new()), GFP_KERNEL)?;
    let (worker_device, worker_kept) = (device.clone(), kept.clone());
    let team = Team::start(1, move |_, team| {
        register_until_unplugged(&worker_device, &worker_kept, team)
    })?;
    // Let some registrations land before the unbind, and more race it.
    while kept.lock().len() < 4 && !team.wait_for_reports(1, 10) {}
    let unbound = Unbound::unbind(&device)?;
    let tally = team.stop_and_join();
    ktest_assert_eq!(test, (tally.errors, tally.first_error), (0, None));
    let registrations = core::mem::take(&mut *kept.lock());
    ktest_assert!(test, registrations.len() >= 4);
    // Every registration that succeeded was on the list when the device was unregistered: the
    // core called each one back, and none is left on a dead list.
    for (registration, recorder) in registrations.iter() {
        ktest_assert!(test, !registration.is_registered());
        ktest_assert_eq!(test, recorder.unregisters.load(Ordering::Relaxed), 1);
    }
    pr_info!(
        "{} registrations before the unbind ended them ({} attempts)\n",
        registrations.len(),
        tally.accesses
    );
    drop(registrations);
    ktest_assert_eq!(test, settled_ref_count(test, &device, 1), 1);
    drop(device);
    unbound.rebind()?;
    Ok(())
}

/// Whether `text` contains `needle`.
fn contains(text: &[u8], needle: &[u8]) -> bool {
    text.windows(needle.len()).any(|window| window == needle)
}

fn debugfs_lists_the_framebuffers(test: &Test) -> CaseResult {
    with_kms_device(test, VKMS, |device| {
        // Only registered clients are listed: keep the registration.
        let Registered {
            client,
            registration: _registration,
            ..
        } = registered_client(device)?;
        let fb = Framebuffer::new(&client, Allocator::Device, 320, 200, Format::Xrgb8888)?;
        let line = CString::try_from_fmt(fmt!(
            "  framebuffer {}: 320x200 XR24 pitch {} size {}, Device; cache: 0 hits, 0 misses",
            fb.id(),
            fb.layout().pitch(),
            fb.layout().size()
        ))?;
        let shown = testing::vmap_client_debugfs(device)?;
        ktest_assert!(test, contains(&shown, b"client vmap_client_kunit\n"));
        ktest_assert!(test, contains(&shown, line.as_bytes()));
        ktest_assert!(test, contains(&shown, b"\nlayer: "));
        let id = fb.id();
        let created = CString::try_from_fmt(fmt!(
            ": created framebuffer {id}: 320x200 XR24 pitch {}, Device\n",
            fb.layout().pitch()
        ))?;
        ktest_assert!(test, contains(&shown, created.as_bytes()));
        {
            let mut user = fb.vmap()?;
            drop(user.begin_access(Direction::Write)?);
        }
        drop(fb);
        let gone = testing::vmap_client_debugfs(device)?;
        ktest_assert!(test, !contains(&gone, line.as_bytes()));
        ktest_assert!(test, contains(&gone, b"client vmap_client_kunit\n"));
        // The history keeps both ends of its life, the last one with the cache's counters.
        let released = CString::try_from_fmt(fmt!(": released framebuffer {id}: 320x200 XR24"))?;
        ktest_assert!(test, contains(&gone, created.as_bytes()));
        ktest_assert!(test, contains(&gone, released.as_bytes()));
        ktest_assert!(
            test,
            contains(&gone, b"  history: 1 created, 1 released; the latest:\n")
        );
        ktest_assert!(
            test,
            contains(&gone, b" ms: 0 hits, 1 misses, 0 remaps, 0 failed\n")
        );
        Ok(())
    })
}

/// A client whose framebuffer cannot grow probes with its size as the limit, as fbdev
/// emulation does after a hotplug: the modes picked fit, and the framebuffer is shown.
fn a_probe_within_a_size_picks_modes_that_fit(test: &Test) -> CaseResult {
    with_kms_device(test, VKMS, |device| {
        let Registered {
            client,
            registration,
            size: (width, height),
            ..
        } = registered_client(device)?;
        let (small_width, small_height) = (640, 480);
        ktest_assert!(test, width > small_width && height > small_height);
        let small = Framebuffer::new(
            &client,
            Allocator::Device,
            small_width,
            small_height,
            Format::Xrgb8888,
        )?;
        ktest_assert_err!(test, client.show(&small), ERANGE);
        let outputs = client.probe_outputs_within(small_width, small_height)?;
        ktest_assert_eq!(test, outputs.len(), 1);
        for output in outputs.iter() {
            ktest_assert!(
                test,
                output.width <= small_width && output.height <= small_height
            );
        }
        ktest_assert_eq!(test, client.show(&small)?, 1);
        ktest_assert_eq!(test, testing::scanned_out_id(device), small.id());
        // Without a limit, the preferred mode comes back.
        let outputs = client.probe_outputs()?;
        let output = outputs.first().ok_or(ENODEV)?;
        ktest_assert_eq!(test, (output.width, output.height), (width, height));
        ktest_hostile!(test, client.probe_outputs_within(0, small_height), EINVAL);
        ktest_hostile!(test, client.probe_outputs_within(small_width, 0), EINVAL);
        drop(registration);
        Ok(())
    })
}

ktest_suite!(
    drm_vmap_client_client,
    [
        devices_without_modesetting_are_refused,
        bad_framebuffers_get_an_errno,
        bochs_refuses_what_it_cannot_scan_out,
        restore_without_a_shown_buffer_fails_cleanly,
        vgem_or_device_falls_back_to_the_display,
        device_framebuffers_show_what_is_drawn,
        vgem_framebuffers_share_pages_with_the_display,
        flips_show_each_buffer_in_turn,
        a_probe_within_a_size_picks_modes_that_fit,
        damage_flush_copies_only_the_rectangle,
        unsignalled_writers_fail_a_flip_in_time,
        hotplug_reaches_the_client,
        a_handler_allocates_in_its_callback,
        a_client_that_left_gets_no_callbacks,
        master_holds_the_display_until_restore,
        unplug_during_use_gives_enodev,
        unplug_races_flips_and_accesses,
        register_racing_an_unbind,
        debugfs_lists_the_framebuffers,
    ]
);
