// SPDX-License-Identifier: GPL-2.0

//! fbdev emulation on one KMS device: `/dev/fbN` and fbcon over a shadow, copied to a
//! framebuffer through its cached mapping.
//!
//! fbcon and `write()` draw into the shadow and report damage, which is merged without a lock
//! (it may come in atomic context) and flushed by a throttled worker at most once per frame of
//! the display (the fastest refresh rate of its outputs): one `begin_access(Write)` on the
//! framebuffer's warm cached mapping, a copy of the damaged rows only, `end_access`, and a
//! damage flush. Nothing is scheduled while the kernel prints an oops. While user space holds
//! DRM master nothing is flushed; at restore the whole shadow is shown again.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::{
    c_str,
    drm_client::{
        Allocator, Client, ClientHandler, Damage, Device, Framebuffer, FramebufferVmap, Layout,
        Output, Registration, RestoreRequest, Throttle, Throttled,
    },
    fbdev::{oops_in_progress, FbDevice, FbHandler, Shadow},
    new_mutex,
    prelude::*,
    sync::{Arc, ArcBorrow, Mutex},
    types::ARef,
    vmap_cache::{Direction, Stats},
};

/// Flushes per second at most until the outputs are probed, and for outputs whose modes give
/// no refresh rate.
pub(crate) const REFRESH: u32 = 60;

/// Flushes per second at most for `outputs`: the fastest refresh among them, so that no
/// display waits more than one of its frames for the console's text.
pub(crate) fn flush_rate(outputs: &[Output]) -> u32 {
    outputs
        .iter()
        .map(|output| output.refresh)
        .max()
        .filter(|&refresh| refresh > 0)
        .unwrap_or(REFRESH)
}

/// What the emulation holds while the device is registered.
struct Active {
    /// First to go: `/dev/fbN` is unregistered before the buffers it shows.
    fbdev: FbDevice<ConsoleRef>,
    shadow: Arc<Shadow>,
    vmap: FramebufferVmap,
    framebuffer: Framebuffer,
    client: Arc<Client>,
    _registration: Registration,
}

/// The emulation on one device; runs as its throttle's handler.
#[pin_data]
pub(crate) struct Console {
    device: ARef<Device>,
    #[pin]
    active: Mutex<Option<Active>>,
    /// Damage not flushed yet, packed by [`PendingDamage`].
    pending: PendingDamage,
    /// fbcon or a user set the mode: the framebuffer is to be shown.
    shown: AtomicBool,
    /// A hotplug came while user space held DRM master: replayed at restore.
    hotplug_pending: AtomicBool,
    flushes: AtomicU64,
}

/// The console as its fbdev and client callbacks see it.
pub(crate) struct ConsoleRef(pub(crate) Arc<Throttle<Console>>);

impl Console {
    /// Registers `/dev/fbN` for `device`, sized for its first connected output; `None` if it
    /// has none (or cannot display).
    pub(crate) fn start(device: &Device) -> Result<Option<Arc<ConsoleRef>>> {
        let throttle = Throttle::new(
            pin_init!(Console {
                device: device.into(),
                active <- new_mutex!(None),
                pending: PendingDamage::new(),
                shown: AtomicBool::new(false),
                hotplug_pending: AtomicBool::new(false),
                flushes: AtomicU64::new(0),
            }),
            REFRESH,
        )?;
        let console = Arc::new(ConsoleRef(throttle), GFP_KERNEL)?;
        let client = match Client::new(device, c_str!("vmap_fbdev"), console.clone()) {
            Ok(client) => client,
            Err(error) if error == EOPNOTSUPP => return Ok(None),
            Err(error) => return Err(error),
        };
        let registration = client.register()?;
        let outputs = client.probe_outputs()?;
        let Some(output) = outputs.first() else {
            return Ok(None);
        };
        let rate = flush_rate(&outputs);
        console.0.set_rate(rate)?;
        let format = device.preferred_format();
        let framebuffer = Framebuffer::new(
            &client,
            Allocator::VgemOrDevice,
            output.width,
            output.height,
            format,
        )?;
        let shadow = Shadow::new(Layout::new(output.width, output.height, format)?)?;
        let vmap = framebuffer.vmap()?;
        let fbdev = FbDevice::register(
            device,
            c_str!("vmapdrmfb"),
            shadow.clone(),
            console.clone(),
            rate,
        )?;
        let this = console.console();
        *this.active.lock() = Some(Active {
            fbdev,
            shadow,
            vmap,
            framebuffer,
            client,
            _registration: registration,
        });
        // fbcon may have taken the console while the registration was not stored yet.
        if this.shown.load(Ordering::Acquire) {
            this.show()?;
        }
        Ok(Some(console))
    }

    /// Shows the framebuffer, then copies the whole shadow into it: a mode set may clear the
    /// video memory it scans out (QEMU's standard VGA does).
    fn show(&self) -> Result {
        let mut guard = self.active.lock();
        let Some(active) = guard.as_mut() else {
            return Ok(());
        };
        if self.device.has_master() {
            return Ok(());
        }
        active.client.show(&active.framebuffer)?;
        redraw(active)
    }

    /// Copies the whole shadow into the framebuffer shown, and flushes it.
    fn redraw(&self) -> Result {
        let mut guard = self.active.lock();
        match guard.as_mut() {
            Some(active) => redraw(active),
            None => Ok(()),
        }
    }

    /// Flushes the pending damage: one access, the damaged rows, one damage flush.
    fn flush(&self) -> Result {
        let Some(area) = self.pending.take() else {
            return Ok(());
        };
        if !self.shown.load(Ordering::Acquire) || self.device.has_master() {
            return Ok(());
        }
        let mut guard = self.active.lock();
        let Some(active) = guard.as_mut() else {
            return Ok(());
        };
        copy(active, area)?;
        active.framebuffer.flush_damage(&area)?;
        self.flushes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Ends the emulation on this device: `/dev/fbN` goes (its file users keep the `fb_info`
    /// until they close it), then the framebuffer and the client.
    pub(crate) fn end(&self) {
        let ended = self.active.lock().take();
        drop(ended);
    }

    /// The `N` of `/dev/fbN`, while registered.
    pub(crate) fn index(&self) -> Option<u32> {
        self.active
            .lock()
            .as_ref()
            .map(|active| active.fbdev.index())
    }

    /// Runs `f` on the registered device, its shadow and framebuffer (tests).
    pub(crate) fn with_active<R>(
        &self,
        f: impl FnOnce(&FbDevice<ConsoleRef>, &Shadow, &Framebuffer) -> Result<R>,
    ) -> Result<R> {
        let guard = self.active.lock();
        let active = guard.as_ref().ok_or(ENODEV)?;
        f(&active.fbdev, &active.shadow, &active.framebuffer)
    }

    /// The outputs the client's last probe found (tests).
    pub(crate) fn outputs(&self) -> Result<KVec<Output>> {
        let guard = self.active.lock();
        guard.as_ref().ok_or(ENODEV)?.client.outputs()
    }

    /// The framebuffer's cache statistics and the number of flushes (tests, benchmark).
    pub(crate) fn stats(&self) -> Result<(Stats, u64)> {
        let guard = self.active.lock();
        let active = guard.as_ref().ok_or(ENODEV)?;
        Ok((
            active.framebuffer.stats(),
            self.flushes.load(Ordering::Relaxed),
        ))
    }
}

/// Copies the whole shadow into the framebuffer and flushes it.
fn redraw(active: &mut Active) -> Result {
    let whole = whole(active.shadow.layout());
    copy(active, whole)?;
    active.framebuffer.flush_damage(&whole)
}

/// Copies `area` of the shadow into the framebuffer, through one access.
fn copy(active: &mut Active, area: Damage) -> Result {
    let layout = *active.framebuffer.layout();
    let mut access = active.vmap.begin_access(Direction::Write)?;
    active.shadow.copy_to(&mut access.memory(), &layout, area)
}

/// All of `layout`.
fn whole(layout: &Layout) -> Damage {
    Damage {
        x: 0,
        y: 0,
        width: layout.width(),
        height: layout.height(),
    }
}

impl Throttled for Console {
    fn run(&self) {
        if let Err(error) = self.flush() {
            pr_warn!(
                "{}: flush failed: error {}\n",
                self.device.driver_name(),
                error.to_errno()
            );
        }
    }
}

impl ConsoleRef {
    /// The console.
    pub(crate) fn console(&self) -> &Console {
        self.0.handler()
    }

    /// Probes the outputs again after a hotplug, for modes no larger than the framebuffer
    /// (which keeps the size it was made with, as with C's emulation), and flushes at the
    /// rate of the outputs found.
    fn probe_again(&self, client: &Client) -> Result {
        let size = self.console().active.lock().as_ref().map(|active| {
            let layout = active.framebuffer.layout();
            (layout.width(), layout.height())
        });
        let Some((width, height)) = size else {
            return Ok(());
        };
        let outputs = client.probe_outputs_within(width, height)?;
        self.0.set_rate(flush_rate(&outputs))
    }

    /// How many flushes a second the console allows at most (tests).
    pub(crate) fn flush_rate(&self) -> u32 {
        self.0.rate()
    }

    /// Runs a pending flush now and waits for it.
    pub(crate) fn flush_now(&self) {
        self.0.flush();
    }

    /// Stops flushing and ends the emulation.
    pub(crate) fn stop(&self) {
        self.0.stop();
        self.console().end();
    }
}

impl FbHandler for ConsoleRef {
    fn damaged(&self, area: Damage) {
        self.console().pending.add(area);
        if !oops_in_progress() {
            self.0.kick();
        }
    }

    fn written(&self, area: Damage) {
        // Deferred I/O's worker, under its lock, which page faults take under mmap_lock: it
        // must not wait for the flush, which takes modeset locks (and they may fault). So
        // fsync() returns once the damage is queued; the flush follows within a frame, as
        // with C's emulation.
        self.damaged(area);
    }

    fn set_par(&self) -> Result {
        let console = self.console();
        console.shown.store(true, Ordering::Release);
        console.show()
    }
}

impl ClientHandler for ConsoleRef {
    fn hotplug(&self, client: ArcBorrow<'_, Client>) -> Result {
        let console = self.console();
        if !console.shown.load(Ordering::Acquire) {
            return Ok(());
        }
        if console.device.has_master() {
            // Replayed at restore, as C's emulation does.
            console.hotplug_pending.store(true, Ordering::Release);
            return Ok(());
        }
        self.probe_again(&client)?;
        console.show()
    }

    fn restore(&self, client: ArcBorrow<'_, Client>, request: &RestoreRequest) -> Result {
        let console = self.console();
        if !console.shown.load(Ordering::Acquire) {
            return Err(ENODEV);
        }
        if console.hotplug_pending.swap(false, Ordering::AcqRel) {
            self.probe_again(&client)?;
            return console.show();
        }
        client.restore_display_as_requested(request)?;
        console.redraw()
    }

    fn unregister(&self, _client: ArcBorrow<'_, Client>) {
        self.0.stop();
        self.console().end();
    }
}

/// A damage rectangle merged from any context without a lock: the bounding box of everything
/// added since the last [`PendingDamage::take`], packed into one word (16 bits per edge).
struct PendingDamage(AtomicU64);

/// The packed value of "nothing pending".
const NOTHING: u64 = 0;

impl PendingDamage {
    fn new() -> Self {
        Self(AtomicU64::new(NOTHING))
    }

    /// Adds `area` to the pending box.
    fn add(&self, area: Damage) {
        let Some(added) = pack(area) else {
            return;
        };
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                Some(merge(old, added))
            });
    }

    /// Takes the pending box.
    fn take(&self) -> Option<Damage> {
        unpack(self.0.swap(NOTHING, Ordering::AcqRel))
    }
}

/// `area` as left, top, right, bottom in 16 bits each; `None` if empty or beyond 65535.
fn pack(area: Damage) -> Option<u64> {
    let right = area.x.checked_add(area.width)?;
    let bottom = area.y.checked_add(area.height)?;
    if area.width == 0 || area.height == 0 || right > 0xffff || bottom > 0xffff {
        return None;
    }
    Some(
        u64::from(area.x)
            | u64::from(area.y) << 16
            | u64::from(right) << 32
            | u64::from(bottom) << 48,
    )
}

/// The edges of a packed box.
fn edges(packed: u64) -> [u64; 4] {
    [0, 16, 32, 48].map(|shift| (packed >> shift) & 0xffff)
}

/// The bounding box of two packed boxes, either of which may be [`NOTHING`].
fn merge(old: u64, added: u64) -> u64 {
    if old == NOTHING {
        return added;
    }
    let [l0, t0, r0, b0] = edges(old);
    let [l1, t1, r1, b1] = edges(added);
    l0.min(l1) | t0.min(t1) << 16 | r0.max(r1) << 32 | b0.max(b1) << 48
}

/// A packed box as a damage rectangle.
fn unpack(packed: u64) -> Option<Damage> {
    if packed == NOTHING {
        return None;
    }
    let [left, top, right, bottom] = edges(packed).map(|edge| edge as u32);
    Some(Damage {
        x: left,
        y: top,
        width: right.checked_sub(left)?,
        height: bottom.checked_sub(top)?,
    })
}

#[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
pub(crate) fn merged(areas: &[Damage]) -> Option<Damage> {
    let pending = PendingDamage::new();
    for area in areas {
        pending.add(*area);
    }
    pending.take()
}
