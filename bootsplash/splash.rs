// SPDX-License-Identifier: GPL-2.0

//! The splash on one KMS device: its client, its framebuffers and its animation.
//!
//! The first frame is drawn whole and shown before [`DeviceSplash::start`] returns. Later
//! frames redraw only the progress bar: into the back buffer followed by a page flip where the
//! device has room for two framebuffers, in place followed by a damage flush where it has not.
//! A flip is a blocking commit, so the next frame is never queued behind it.
//!
//! When user space takes DRM master, the next frame notices it (or its flip fails with
//! `EBUSY`) and the splash ends: it releases its framebuffers, mappings, dma-bufs and client,
//! and declines every later restore, so the console or the next client gets the display back.

use crate::draw::{Bar, Canvas};
use crate::picture::Picture;
use crate::scene::Scene;
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use kernel::{
    c_str,
    drm_client::{
        Allocator, Client, ClientHandler, Damage, Device, DoubleBuffer, Format, FrameClock,
        FrameHandler, Framebuffer, FramebufferVmap, Next, Output, Registration, RestoreRequest,
    },
    new_mutex,
    prelude::*,
    sync::{Arc, ArcBorrow, Mutex},
    time::Ktime,
    types::ARef,
    vmap_cache::{Direction, Stats},
};

/// What the splash looks like, from the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// Frames per second of the animation.
    pub(crate) fps: u32,
    /// The background colour, `0x00RRGGBB`.
    pub(crate) background: u32,
    /// Page flips between two framebuffers where the device has room for them; otherwise,
    /// or if false, one framebuffer redrawn in place and flushed.
    pub(crate) flips: bool,
}

/// Where the bar's progress comes from: `None` while user space reported none.
pub(crate) trait ProgressSource: Send + Sync {
    /// The progress in percent, if reported.
    fn progress(&self) -> Option<u32>;
}

/// Frames [`DeviceSplash::start`] draws before the animation begins.
const FIRST_FRAMES: u64 = 2;

/// Frames in a row that may fail for want of memory or time before the splash gives up.
const MAX_FAILED_FRAMES: u32 = 30;

/// The sweep of the bar takes this many seconds each way while no progress is reported.
const SWEEP_SECONDS: u32 = 1;

/// The framebuffers a splash draws into.
enum Surface {
    /// Two buffers shown in turn; `fresh` says whether the back and the front buffer need the
    /// whole scene drawn.
    Flipping {
        buffers: DoubleBuffer,
        fresh: [bool; 2],
    },
    /// One buffer redrawn in place, for devices without room for two.
    InPlace {
        /// Declared first so that it withdraws before its framebuffer goes.
        user: FramebufferVmap,
        buffer: Framebuffer,
        fresh: bool,
    },
}

impl Surface {
    /// Two framebuffers if the device has room for them, one otherwise.
    fn new(
        client: &Arc<Client>,
        (width, height): (u32, u32),
        format: Format,
        flips: bool,
    ) -> Result<Self> {
        let double = if flips {
            DoubleBuffer::new(client, Allocator::VgemOrDevice, width, height, format)
        } else {
            Err(ENOSPC)
        };
        match double {
            Ok(buffers) => Ok(Surface::Flipping {
                buffers,
                fresh: [true, true],
            }),
            Err(error) if error == ENOMEM || error == ENOSPC => {
                let buffer =
                    Framebuffer::new(client, Allocator::VgemOrDevice, width, height, format)?;
                Ok(Surface::InPlace {
                    user: buffer.vmap()?,
                    buffer,
                    fresh: true,
                })
            }
            Err(error) => Err(error),
        }
    }

    fn allocator(&self) -> Allocator {
        match self {
            Surface::Flipping { buffers, .. } => buffers.allocator(),
            Surface::InPlace { buffer, .. } => buffer.allocator(),
        }
    }

    fn vgem_refusal(&self) -> Option<Error> {
        match self {
            Surface::Flipping { buffers, .. } => buffers.vgem_refusal(),
            Surface::InPlace { buffer, .. } => buffer.vgem_refusal(),
        }
    }

    fn size(&self) -> (u32, u32) {
        let layout = match self {
            Surface::Flipping { buffers, .. } => *buffers.layout(),
            Surface::InPlace { buffer, .. } => *buffer.layout(),
        };
        (layout.width(), layout.height())
    }

    fn mark_all_fresh(&mut self) {
        match self {
            Surface::Flipping { fresh, .. } => *fresh = [true, true],
            Surface::InPlace { fresh, .. } => *fresh = true,
        }
    }
}

/// What a splash holds while it is on screen.
struct Active {
    surface: Surface,
    scenes: KVec<Scene>,
    /// The areas the last frame changed.
    damage: KVec<Damage>,
    /// The next showing sets a mode (the first one, or the first after a hotplug).
    mode_set: bool,
    /// Keeps the client registered; dropping it takes the client off the device.
    _registration: Registration,
}

/// The splash on one device, and the handler of its client.
#[pin_data]
pub(crate) struct DeviceSplash {
    device: ARef<Device>,
    picture: Arc<Picture>,
    settings: Settings,
    progress: &'static dyn ProgressSource,
    /// When the device was registered, if after the splash started watching.
    registered_at: Option<Ktime>,
    #[pin]
    active: Mutex<Option<Active>>,
    frames: AtomicU64,
    /// Outputs lit by the first frame.
    lit: AtomicU32,
    /// Frames that failed since the last one that did not, and frames skipped in all.
    failed_in_a_row: AtomicU32,
    skipped: AtomicU64,
    /// The errno of the frame that ended the splash (`EBUSY` for a handover), set once the
    /// frame released everything; 0 while it runs or when it was ended otherwise.
    ended_by: AtomicI32,
}

impl DeviceSplash {
    /// Shows the splash on `device`; `None` if it cannot display (vgem) or has no connected
    /// output. The animation is left to [`DeviceSplash::animate`].
    pub(crate) fn start(
        device: &Device,
        picture: Arc<Picture>,
        settings: Settings,
        progress: &'static dyn ProgressSource,
        registered_at: Option<Ktime>,
    ) -> Result<Option<Arc<Self>>> {
        let splash = Arc::pin_init(
            pin_init!(DeviceSplash {
                device: device.into(),
                picture,
                settings,
                progress,
                registered_at,
                active <- new_mutex!(None),
                frames: AtomicU64::new(0),
                lit: AtomicU32::new(0),
                failed_in_a_row: AtomicU32::new(0),
                skipped: AtomicU64::new(0),
                ended_by: AtomicI32::new(0),
            }),
            GFP_KERNEL,
        )?;
        let client = match Client::new(device, c_str!("bootsplash"), splash.clone()) {
            Ok(client) => client,
            Err(error) if error == EOPNOTSUPP => return Ok(None),
            Err(error) => return Err(error),
        };
        let registration = client.register()?;
        client.probe_outputs()?;
        let outputs = client.place_outputs_side_by_side()?;
        let Some((width, height)) = covering_size(&outputs) else {
            return Ok(None);
        };
        let surface = Surface::new(
            &client,
            (width, height),
            device.preferred_format(),
            settings.flips,
        )?;
        let mut active = Active {
            scenes: splash.scenes(&outputs)?,
            surface,
            damage: KVec::new(),
            mode_set: true,
            _registration: registration,
        };
        splash.draw_frame(&mut active, 0)?;
        // The first showing set the mode, which may have cleared the buffer it showed (bochs):
        // show the other one, drawn whole, at once rather than a frame later.
        let lit = splash.draw_frame(&mut active, 1)?;
        splash
            .lit
            .store(u32::try_from(lit).unwrap_or(u32::MAX), Ordering::Relaxed);
        splash.frames.store(FIRST_FRAMES, Ordering::Release);
        *splash.active.lock() = Some(active);
        Ok(Some(splash))
    }

    /// Starts the animation at the configured rate; it runs until the splash ends.
    pub(crate) fn animate(self: &Arc<Self>) -> Result<Arc<FrameClock<Animation>>> {
        let clock = FrameClock::new(Animation(self.clone()), self.settings.fps)?;
        clock.start()?;
        Ok(clock)
    }

    /// The device.
    pub(crate) fn device(&self) -> &Device {
        &self.device
    }

    /// The picture shown.
    pub(crate) fn picture(&self) -> &Picture {
        &self.picture
    }

    /// Milliseconds from the device's registration to the first frame on screen, if the device
    /// was registered while the splash watched.
    pub(crate) fn registered_at(&self) -> Option<Ktime> {
        self.registered_at
    }

    /// Outputs the first frame lit.
    pub(crate) fn outputs_lit(&self) -> u32 {
        self.lit.load(Ordering::Relaxed)
    }

    /// Frames drawn so far, the first included.
    pub(crate) fn frames(&self) -> u64 {
        self.frames.load(Ordering::Acquire)
    }

    /// Whether the splash is still on screen (it has not handed over).
    pub(crate) fn is_active(&self) -> bool {
        self.active.lock().is_some()
    }

    #[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
    /// The areas the last frame changed.
    pub(crate) fn last_damage(&self) -> Result<KVec<Damage>> {
        let active = self.active.lock();
        let mut copy = KVec::new();
        if let Some(active) = active.as_ref() {
            for area in active.damage.iter() {
                copy.push(*area, GFP_KERNEL)?;
            }
        }
        Ok(copy)
    }

    /// The layout of each output.
    pub(crate) fn scenes(&self, outputs: &[Output]) -> Result<KVec<Scene>> {
        let mut scenes = KVec::with_capacity(outputs.len(), GFP_KERNEL)?;
        for output in outputs {
            let area = Damage {
                x: output.x,
                y: output.y,
                width: output.width,
                height: output.height,
            };
            scenes.push(Scene::new(area, self.picture.size()), GFP_KERNEL)?;
        }
        Ok(scenes)
    }

    #[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
    /// The cache counters of each framebuffer, the shown one first.
    pub(crate) fn buffer_stats(&self) -> Result<KVec<Stats>> {
        self.for_each_buffer(Framebuffer::stats)
    }

    #[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
    /// The IDs of the framebuffers it draws into, the shown one first; none once it ended.
    pub(crate) fn framebuffer_ids(&self) -> Result<KVec<u32>> {
        self.for_each_buffer(Framebuffer::id)
    }

    #[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
    /// `what` of each framebuffer, the shown one first; nothing once the splash ended.
    fn for_each_buffer<T>(&self, what: impl Fn(&Framebuffer) -> T) -> Result<KVec<T>> {
        let active = self.active.lock();
        let mut each = KVec::new();
        match active.as_ref().map(|active| &active.surface) {
            Some(Surface::Flipping { buffers, .. }) => {
                each.push(what(buffers.front()), GFP_KERNEL)?;
                each.push(what(buffers.back()), GFP_KERNEL)?;
            }
            Some(Surface::InPlace { buffer, .. }) => each.push(what(buffer), GFP_KERNEL)?,
            None => {}
        }
        Ok(each)
    }

    /// How the framebuffers were allocated (and why not from vgem), and whether the splash
    /// flips.
    pub(crate) fn describe(&self) -> (Allocator, Option<Error>, bool, (u32, u32)) {
        let active = self.active.lock();
        match active.as_ref().map(|active| &active.surface) {
            Some(surface) => (
                surface.allocator(),
                surface.vgem_refusal(),
                matches!(surface, Surface::Flipping { .. }),
                surface.size(),
            ),
            None => (Allocator::Device, None, false, (0, 0)),
        }
    }

    /// What the bar shows in frame `number`.
    fn bar(&self, number: u64) -> Bar {
        match self.progress.progress() {
            Some(percent) => Bar::Progress(percent),
            None => {
                let steps = self.settings.fps.max(1) * SWEEP_SECONDS;
                let phase = number % u64::from(2 * steps);
                Bar::Sweep {
                    phase: u32::try_from(phase).unwrap_or(0),
                    steps,
                }
            }
        }
    }

    /// Draws frame `number` and puts it on screen; returns how many outputs show it. After a
    /// failure, the next frame draws everything whole, and sets the mode if this one was to.
    fn draw_frame(&self, active: &mut Active, number: u64) -> Result<usize> {
        let mode_set = active.mode_set;
        let shown = self.draw_and_show(active, number);
        if shown.is_err() {
            active.surface.mark_all_fresh();
            active.mode_set = mode_set;
        }
        shown
    }

    fn draw_and_show(&self, active: &mut Active, number: u64) -> Result<usize> {
        let bar = self.bar(number);
        let image = self.picture.image.as_ref();
        let background = self.settings.background;
        let scenes = &active.scenes;
        // QEMU's standard VGA (bochs) clears its whole video memory when a mode is set: the
        // buffer a mode set showed must be drawn whole again before it is shown next.
        let mode_set = core::mem::replace(&mut active.mode_set, false);
        let mut damage = KVec::with_capacity(scenes.len(), GFP_KERNEL)?;
        match &mut active.surface {
            Surface::Flipping { buffers, fresh } => {
                // `fresh[0]` is the back buffer's, `fresh[1]` the front one's.
                let whole = fresh[0];
                collect_damage(scenes, whole, &mut damage)?;
                let layout = *buffers.layout();
                buffers.draw_damage(
                    |memory| {
                        let mut canvas = Canvas::new(memory, layout)?;
                        draw_scenes(&mut canvas, scenes, image, background, &bar, whole)
                    },
                    &damage,
                )?;
                let lit = buffers.flip()?;
                fresh[0] = mode_set;
                fresh.swap(0, 1);
                active.damage = damage;
                Ok(lit)
            }
            Surface::InPlace {
                user,
                buffer,
                fresh,
            } => {
                let whole = *fresh;
                collect_damage(scenes, whole, &mut damage)?;
                let layout = *buffer.layout();
                {
                    let mut access = user.begin_access(Direction::Write)?;
                    let mut memory = access.memory();
                    let mut canvas = Canvas::new(&mut memory, layout)?;
                    draw_scenes(&mut canvas, scenes, image, background, &bar, whole)?;
                }
                for area in damage.iter() {
                    buffer.flush_damage(area)?;
                }
                let lit = if whole {
                    buffer.client().show(buffer)?
                } else {
                    scenes.len()
                };
                *fresh = mode_set;
                active.damage = damage;
                Ok(lit)
            }
        }
    }

    /// Runs frame `number` of the animation. Skips it if it fails for want of memory or time
    /// (video memory full, a fence late), as long as that does not last; stops at a handover
    /// or any other error, and then releases everything.
    pub(crate) fn frame(&self, number: u64) -> Next {
        let mut guard = self.active.lock();
        let Some(active) = guard.as_mut() else {
            return Next::Stop;
        };
        let outcome = if self.device.has_master() {
            Err(EBUSY)
        } else {
            self.draw_frame(active, number)
        };
        let Err(error) = outcome else {
            self.failed_in_a_row.store(0, Ordering::Relaxed);
            self.frames.fetch_add(1, Ordering::AcqRel);
            return Next::Continue;
        };
        if self.may_skip(error, number) {
            return Next::Continue;
        }
        // Released outside the lock: the client's unregistration takes the device's client
        // list lock, under which the DRM core calls our handler, which takes this one.
        let ended = guard.take();
        drop(guard);
        drop(ended);
        self.ended_by.store(error.to_errno(), Ordering::Release);
        if error == EBUSY {
            pr_info!(
                "{}: user space took the display; splash ended after {} frames, nothing held\n",
                self.device.driver_name(),
                self.frames()
            );
        } else if error == ENODEV {
            pr_info!(
                "{}: device unplugged; splash ended after {} frames, nothing held\n",
                self.device.driver_name(),
                self.frames()
            );
        } else {
            pr_warn!(
                "{}: splash ended: frame {number} failed with error {}\n",
                self.device.driver_name(),
                error.to_errno()
            );
        }
        Next::Stop
    }

    /// Whether a frame that failed with `error` is skipped rather than the end of the splash.
    fn may_skip(&self, error: Error, number: u64) -> bool {
        let transient = [ENOMEM, ENOSPC, EAGAIN, ETIMEDOUT, EINTR, ERESTARTSYS].contains(&error);
        let failed = self.failed_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        if !transient || failed >= MAX_FAILED_FRAMES {
            return false;
        }
        self.skipped.fetch_add(1, Ordering::Relaxed);
        if failed == 1 {
            pr_info!(
                "{}: frame {number} skipped (error {}); trying again at the next one\n",
                self.device.driver_name(),
                error.to_errno()
            );
        }
        true
    }

    #[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
    /// Frames skipped because they failed for want of memory or time.
    pub(crate) fn skipped_frames(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// The layout of every output, and the geometry of the framebuffers.
    pub(crate) fn current_scenes(
        &self,
    ) -> Result<(KVec<Scene>, Option<kernel::drm_client::Layout>)> {
        let active = self.active.lock();
        let mut scenes = KVec::new();
        let Some(active) = active.as_ref() else {
            return Ok((scenes, None));
        };
        for scene in active.scenes.iter() {
            scenes.push(*scene, GFP_KERNEL)?;
        }
        let layout = match &active.surface {
            Surface::Flipping { buffers, .. } => *buffers.layout(),
            Surface::InPlace { buffer, .. } => *buffer.layout(),
        };
        Ok((scenes, Some(layout)))
    }

    #[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
    /// The error of the frame that ended the splash, once that frame released everything.
    pub(crate) fn ended_by(&self) -> Option<Error> {
        match self.ended_by.load(Ordering::Acquire) {
            0 => None,
            errno => Some(Error::from_errno(errno)),
        }
    }

    #[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
    /// Reads the framebuffer on screen as the display does, and returns its ID, which must be
    /// the one the device scans out.
    pub(crate) fn read_shown(&self, offset: usize, dst: &mut [u8]) -> Result<u32> {
        let active = self.active.lock();
        let shown = match active.as_ref().map(|active| &active.surface) {
            Some(Surface::Flipping { buffers, .. }) => buffers.front(),
            Some(Surface::InPlace { buffer, .. }) => buffer,
            None => return Err(ENODEV),
        };
        kernel::drm_client::testing::read_as_display(shown, offset, dst)?;
        Ok(shown.id())
    }

    #[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
    /// Runs `f` on the framebuffer the next frame draws into (the only one for a splash that
    /// redraws in place).
    pub(crate) fn with_back_buffer<R>(
        &self,
        f: impl FnOnce(&Framebuffer) -> Result<R>,
    ) -> Result<R> {
        let active = self.active.lock();
        match active.as_ref().map(|active| &active.surface) {
            Some(Surface::Flipping { buffers, .. }) => f(buffers.back()),
            Some(Surface::InPlace { buffer, .. }) => f(buffer),
            None => Err(ENODEV),
        }
    }

    /// Ends the splash now, as a handover does: releases everything it holds. Its next frame,
    /// if any, stops the animation.
    pub(crate) fn end(&self) {
        let ended = self.active.lock().take();
        drop(ended);
    }
}

/// The whole outputs for a fresh buffer, the bars alone otherwise.
fn collect_damage(scenes: &[Scene], whole: bool, damage: &mut KVec<Damage>) -> Result {
    for scene in scenes {
        damage.push(if whole { scene.output } else { scene.bar }, GFP_KERNEL)?;
    }
    Ok(())
}

fn draw_scenes(
    canvas: &mut Canvas<'_, '_>,
    scenes: &[Scene],
    image: Option<&crate::bmp::Image>,
    background: u32,
    bar: &Bar,
    whole: bool,
) -> Result {
    for scene in scenes {
        if whole {
            canvas.scene(scene, image, background, bar)?;
        } else {
            canvas.bar(scene, bar)?;
        }
    }
    Ok(())
}

/// The framebuffer size that covers every output.
pub(crate) fn covering_size(outputs: &[Output]) -> Option<(u32, u32)> {
    let width = outputs
        .iter()
        .map(|output| output.x.saturating_add(output.width))
        .max()?;
    let height = outputs
        .iter()
        .map(|output| output.y.saturating_add(output.height))
        .max()?;
    Some((width, height))
}

/// The animation of one splash, run by its [`FrameClock`].
pub(crate) struct Animation(pub(crate) Arc<DeviceSplash>);

impl FrameHandler for Animation {
    fn frame(&self, number: u64) -> Next {
        // The first frames were drawn by `start()`.
        self.0.frame(number + FIRST_FRAMES)
    }
}

impl ClientHandler for DeviceSplash {
    fn hotplug(&self, client: ArcBorrow<'_, Client>) -> Result {
        let mut guard = self.active.lock();
        let Some(active) = guard.as_mut() else {
            // Not on screen yet (`start()` probes itself) or ended.
            return Ok(());
        };
        client.probe_outputs()?;
        let outputs = client.place_outputs_side_by_side()?;
        let Some((width, height)) = covering_size(&outputs) else {
            return Ok(());
        };
        let (have_width, have_height) = active.surface.size();
        if width > have_width || height > have_height {
            let client: Arc<Client> = client.into();
            active.surface = Surface::new(
                &client,
                (width, height),
                self.device.preferred_format(),
                self.settings.flips,
            )?;
        }
        active.scenes = self.scenes(&outputs)?;
        active.surface.mark_all_fresh();
        active.mode_set = true;
        // The next frame draws the new layout and shows it.
        Ok(())
    }

    fn restore(&self, client: ArcBorrow<'_, Client>, request: &RestoreRequest) -> Result {
        if self.active.lock().is_none() {
            // Ended: the console, or the next client, takes the display.
            return Err(ENODEV);
        }
        client.restore_display_as_requested(request)
    }

    fn unregister(&self, _client: ArcBorrow<'_, Client>) {
        let ended = self.active.lock().take();
        if ended.is_some() {
            // The firmware framebuffer's device goes when the native driver takes over; the
            // next splash appears when that driver registers.
            pr_info!(
                "card{} ({}): device unregistered, splash ended {} ms after boot\n",
                self.device.primary_minor().unwrap_or(u32::MAX),
                self.device.driver_name(),
                Ktime::ktime_get().to_ms()
            );
        }
        drop(ended);
    }
}
