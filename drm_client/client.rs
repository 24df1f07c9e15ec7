// SPDX-License-Identifier: GPL-2.0

//! In-kernel DRM clients: creation, registration with a KMS device, the callbacks the DRM
//! core makes, and mode setting (outputs, showing a framebuffer, restoring the display; the
//! mode-set helpers are in [`super::modeset`]).
//!
//! C header: [`include/drm/drm_client.h`](srctree/include/drm/drm_client.h)

use super::{
    modeset::{mode_sets, output_of, outputs_of, Output, ShownBuffer},
    registry::{self, Records, SeqWriter},
    ClientHandler, Device, DeviceSection, Framebuffer, Registration, RestoreRequest,
};
use crate::{
    alloc::{flags::GFP_KERNEL, KVec},
    bindings,
    error::{code::*, to_result, Error, Result},
    init::pin_init_from_closure,
    new_mutex,
    prelude::*,
    str::CStr,
    sync::{Arc, ArcBorrow, Mutex},
    types::{ARef, Opaque},
    vmap_cache::{fault_point, Direction},
};
use core::{
    ffi::c_int,
    ptr,
    sync::atomic::{AtomicBool, Ordering},
};

/// An in-kernel client of a KMS device (`struct drm_client_dev`).
///
/// A client owns a DRM file, as a user-space process does, and the mode sets the client
/// modesetting helpers compute for it. Create one with [`Client::new`], allocate its
/// framebuffers, then [`Client::register`] it to receive callbacks.
///
/// # Invariants
///
/// `raw` was initialised by `drm_client_init()` for `device` with `CLIENT_FUNCS` and is
/// released by `drm_client_release()` only when the client is dropped. While `registered` is
/// set, `raw` is on the device's client list (or about to be added by [`Client::register`]) and
/// the list owns one reference to the client, leaked by [`Client::register`]. `registered` is
/// cleared once the client is off the list: by [`Registration`]'s drop after
/// `drm_client_unregister()` took it off, or in the unregister callback after the core did;
/// whichever took it off gives the list's reference back.
#[pin_data(PinnedDrop)]
pub struct Client {
    device: ARef<Device>,
    handler: Arc<dyn ClientHandler>,
    pub(super) registered: AtomicBool,
    unplugged: AtomicBool,
    /// The framebuffer in the mode sets; the mutex serialises the probing and committing of
    /// mode sets, which the callbacks and the client's owner may do concurrently.
    #[pin]
    display: Mutex<Option<ShownBuffer>>,
    /// The client's framebuffers, for debugfs.
    #[pin]
    pub(super) framebuffers: Records,
    #[pin]
    raw: Opaque<bindings::drm_client_dev>,
}

// SAFETY: The C client is only reached through functions that take its locks (the modeset
// mutex, the client list mutex), and the Rust state is atomic or behind a mutex.
unsafe impl Send for Client {}

// SAFETY: See `Send`: every method takes `&self` and synchronises itself.
unsafe impl Sync for Client {}

/// A C table that only C reads, through the pointers we hand it.
struct CTable<T>(T);

// SAFETY: The tables hold function pointers and pointers to statics, never written after
// initialisation, so sharing them between threads is sound.
unsafe impl<T> Sync for CTable<T> {}

/// The layer's client functions; a client whose `funcs` points here is one of ours.
static CLIENT_FUNCS: CTable<bindings::drm_client_funcs> = CTable(bindings::drm_client_funcs {
    // Built-in code: `THIS_MODULE` is null.
    owner: ptr::null_mut(),
    unregister: Some(Client::unregister_callback),
    restore: Some(Client::restore_callback),
    hotplug: Some(Client::hotplug_callback),
});

/// What `/sys/kernel/debug/dri/N/vmap_client` calls back (see [`registry`]).
static DEBUGFS_OPS: CTable<bindings::drm_vmap_client_debugfs_ops> =
    CTable(bindings::drm_vmap_client_debugfs_ops {
        funcs: &CLIENT_FUNCS.0,
        show_client: Some(Client::show_client_callback),
        show_totals: Some(registry::show_totals),
    });

impl Client {
    /// Creates a client of `device` named `name`, not registered yet.
    ///
    /// Fails with `EOPNOTSUPP` if the device cannot display (no `DRIVER_MODESET`, vgem for one)
    /// or cannot allocate dumb buffers, and with `ENODEV` if it is unplugged.
    pub fn new(
        device: &Device,
        name: &'static CStr,
        handler: Arc<dyn ClientHandler>,
    ) -> Result<Arc<Self>> {
        let dev = device.as_raw();
        // `drm_client_init()` would open a file on an unplugged device.
        drop(device.enter()?);
        // SAFETY: The closure initialises the slot completely or fails, leaving nothing behind:
        // `drm_client_init()` undoes its own work on failure. The struct is zeroed first, as the
        // C API expects a `kzalloc()`ed client.
        let raw = unsafe {
            pin_init_from_closure(move |slot: *mut Opaque<bindings::drm_client_dev>| {
                let raw = Opaque::raw_get(slot);
                ptr::write_bytes(raw, 0, 1);
                to_result(bindings::drm_client_init(
                    dev,
                    raw,
                    name.as_char_ptr(),
                    &CLIENT_FUNCS.0,
                ))
            })
        };
        let client = try_pin_init!(Self {
            device: device.into(),
            handler,
            registered: AtomicBool::new(false),
            unplugged: AtomicBool::new(false),
            display <- new_mutex!(None),
            framebuffers <- Records::new(),
            raw <- raw,
        });
        Arc::pin_init(client, GFP_KERNEL)
    }

    /// Adds the client to its device's client list, which makes the core call its handler.
    ///
    /// Calls [`ClientHandler::hotplug`] once before returning, so a handler that shows a
    /// framebuffer there lights the outputs that are already connected. The client stays
    /// registered until the [`Registration`] drops or the device is unregistered. Fails with
    /// `EBUSY` if the client is registered already and `ENODEV` if the device was unplugged.
    pub fn register(self: &Arc<Self>) -> Result<Registration> {
        // Held across the registration: an unregistration that began after the check would
        // walk the client list before the client is on it, and never call it back.
        let _section = self.enter()?;
        if self.registered.swap(true, Ordering::AcqRel) {
            return Err(EBUSY);
        }
        // INVARIANT: The list's reference, given back when the client leaves the list.
        let list_reference = Arc::into_raw(self.clone());
        // SAFETY: `raw` was initialised by `drm_client_init()` (type invariant) and is not on
        // the list (`registered` was clear).
        unsafe { bindings::drm_client_register(self.as_raw()) };
        // SAFETY: The device is alive; the ops are a static the file may call for its life.
        unsafe { bindings::drm_vmap_client_debugfs_add(self.device.as_raw(), &DEBUGFS_OPS.0) };
        Ok(Registration {
            client: self.clone(),
            list_reference,
        })
    }

    /// The client's device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Whether the device was unplugged; every operation of the client then fails with
    /// `ENODEV`.
    pub fn is_unplugged(&self) -> bool {
        self.unplugged.load(Ordering::Acquire) || self.enter().is_err()
    }

    /// Enters a section in which the device cannot finish unplugging; see [`Device::enter`].
    ///
    /// Fails with `ENODEV` if it was unplugged.
    pub(super) fn enter(&self) -> Result<DeviceSection> {
        if self.unplugged.load(Ordering::Acquire) {
            return Err(ENODEV);
        }
        self.device.enter()
    }

    /// The C `struct drm_client_dev`.
    pub(super) fn as_raw(&self) -> *mut bindings::drm_client_dev {
        self.raw.get()
    }

    /// The client's DRM file, which owns the GEM handles it creates.
    pub(super) fn file(&self) -> *mut bindings::drm_file {
        // SAFETY: `raw` is initialised (type invariant); `file` is set by `drm_client_init()`
        // and stays until the client is released.
        unsafe { (*self.as_raw()).file }
    }

    /// The client's name, as given to [`Client::new`].
    pub fn name(&self) -> &CStr {
        // SAFETY: `raw` is initialised (type invariant); `name` is the `'static` string
        // `Client::new` received.
        unsafe { CStr::from_char_ptr((*self.as_raw()).name) }
    }

    /// The registered client embedding `raw`, borrowed from the list's reference.
    ///
    /// # Safety
    ///
    /// `raw` must be the `raw` field of a registered `Client` whose list reference outlives the
    /// returned borrow.
    unsafe fn borrow_registered<'a>(raw: *mut bindings::drm_client_dev) -> ArcBorrow<'a, Self> {
        // SAFETY: A registered client's address is the one `Arc::into_raw()` returned for the
        // list's reference (`register()`), which the caller keeps alive for the borrow.
        unsafe { ArcBorrow::from_raw(Self::containing(raw)) }
    }

    /// `show_client` of the debugfs file: the client's name and framebuffers.
    ///
    /// # Safety
    ///
    /// Only the debugfs file's `show` calls this, with its `seq_file`, for a client on the
    /// device's list whose `funcs` is [`CLIENT_FUNCS`], under the client list mutex.
    unsafe extern "C" fn show_client_callback(
        m: *mut bindings::seq_file,
        raw: *mut bindings::drm_client_dev,
    ) {
        // SAFETY: A client of ours on the list: registered, its list reference alive while the
        // caller holds the list mutex.
        let client = unsafe { Self::borrow_registered(raw) };
        // SAFETY: The caller's guarantee.
        let mut out = unsafe { SeqWriter::new(m) };
        let _ = registry::write_client(&mut out, client.name(), &client.framebuffers);
    }

    /// A pointer to the client embedding `raw`, derived from `raw` alone (no reference).
    ///
    /// # Safety
    ///
    /// `raw` must be the `raw` field of a `Client`.
    unsafe fn containing(raw: *mut bindings::drm_client_dev) -> *const Self {
        // SAFETY: `Opaque` is transparent, so `raw` points at the field of a `Client` (caller).
        unsafe { crate::container_of!(raw, Self, raw) }
    }

    /// `drm_client_funcs.hotplug`: forwards to the handler.
    ///
    /// # Safety
    ///
    /// Only the DRM core calls this, for a client on its device's client list, holding the
    /// list's mutex.
    unsafe extern "C" fn hotplug_callback(raw: *mut bindings::drm_client_dev) -> c_int {
        // SAFETY: The core calls back registered clients only, under the client list mutex,
        // and a registered client is kept alive by the list's reference (type invariant).
        let client = unsafe { Self::borrow_registered(raw) };
        to_errno(client.handler.hotplug(client))
    }

    /// `drm_client_funcs.restore`: forwards to the handler.
    ///
    /// # Safety
    ///
    /// Only the DRM core calls this, for a client on its device's client list, holding the
    /// list's mutex.
    unsafe extern "C" fn restore_callback(
        raw: *mut bindings::drm_client_dev,
        force: bool,
    ) -> c_int {
        // SAFETY: As in `hotplug_callback`.
        let client = unsafe { Self::borrow_registered(raw) };
        to_errno(client.handler.restore(client, &RestoreRequest::new(force)))
    }

    /// `drm_client_funcs.unregister`: forwards to the handler.
    ///
    /// # Safety
    ///
    /// Only the DRM core calls this, for a client on its device's client list, holding the
    /// list's mutex.
    unsafe extern "C" fn unregister_callback(raw: *mut bindings::drm_client_dev) {
        // SAFETY: As in `hotplug_callback`: the core has taken the client off the list, but the
        // list's reference is only given back below, after the borrow's last use.
        let client = unsafe { Self::borrow_registered(raw) };
        client.unplugged.store(true, Ordering::Release);
        // INVARIANT: The core removed the client from the list before calling us.
        client.registered.store(false, Ordering::Release);
        client.handler.unregister(client);
        // SAFETY: `raw` is a client's field (the core calls registered clients only).
        let list_reference = unsafe { Self::containing(raw) };
        // If the list's reference is the last one, the client is released here, as the C API
        // expects of an unregister callback.
        // SAFETY: The reference `register()` leaked for the list, which no longer has the
        // client; the pointer is the one `Arc::into_raw()` gave, derived from `raw`.
        drop(unsafe { Arc::from_raw(list_reference) });
    }

    // Mode setting: outputs, showing a framebuffer, restoring the display.

    /// Probes the connectors and picks a mode for every connected output.
    ///
    /// Forgets the framebuffer shown so far: call [`Client::show`] afterwards. Fails with
    /// `ENODEV` if the device was unplugged.
    pub fn probe_outputs(&self) -> Result<KVec<Output>> {
        self.probe(0, 0)
    }

    /// Probes the connectors and picks, for every connected output, a mode no larger than
    /// `width` x `height`: what a client whose framebuffer cannot grow (fbdev emulation) does
    /// after a hotplug, as C's emulation does. `EINVAL` for a zero size; otherwise as
    /// [`Client::probe_outputs`].
    pub fn probe_outputs_within(&self, width: u32, height: u32) -> Result<KVec<Output>> {
        if width == 0 || height == 0 {
            return Err(EINVAL);
        }
        self.probe(width, height)
    }

    /// Probes with `width` x `height` as the largest mode, or no limit if both are zero.
    fn probe(&self, width: u32, height: u32) -> Result<KVec<Output>> {
        let _section = self.enter()?;
        let mut shown = self.display.lock();
        // The probe builds new mode sets, without a framebuffer.
        *shown = None;
        // SAFETY: The client is initialised (type invariant); zero sizes mean no limit.
        to_result(unsafe { bindings::drm_client_modeset_probe(self.as_raw(), width, height) })?;
        self.with_mode_sets(|sets| outputs_of(sets))
    }

    /// Gives every output its own part of the framebuffer, side by side from the left, and
    /// returns the outputs with their new places.
    ///
    /// After a probe, every output that is not a tile of a larger display starts at the
    /// framebuffer's top-left corner, so a smaller one shows the top-left of a larger one's
    /// picture. Side by side, each output shows a picture laid out for it, in a framebuffer as
    /// wide as all of them together. Tiled displays (outputs placed by the probe) are left as
    /// they are. Forgets the framebuffer shown so far, as a probe does.
    pub fn place_outputs_side_by_side(&self) -> Result<KVec<Output>> {
        let mut shown = self.display.lock();
        *shown = None;
        self.with_mode_sets(|sets| {
            let lit = |set: &&bindings::drm_mode_set| !set.mode.is_null();
            if sets.iter().filter(lit).all(|set| set.x == 0 && set.y == 0) {
                let mut x = 0u32;
                for set in sets.iter_mut().filter(|set| !set.mode.is_null()) {
                    set.fb = ptr::null_mut();
                    set.x = x;
                    x = x.checked_add(output_of(set).width).ok_or(ERANGE)?;
                }
            }
            outputs_of(sets)
        })
    }

    /// The outputs the last probe found, without probing again.
    pub fn outputs(&self) -> Result<KVec<Output>> {
        let _display = self.display.lock();
        self.with_mode_sets(|sets| outputs_of(sets))
    }

    /// Shows `fb` on every output the last probe found, and returns how many those are.
    ///
    /// Showing another framebuffer than the current one is a page flip; the commit waits for
    /// it to complete. Fails with `EBUSY` while a DRM master (user space) holds the display or,
    /// for a buffer that moves (bochs), while a CPU access to it is open: the display must be
    /// able to move it into the memory it scans out from, which the access's pin would prevent.
    /// It fails with `EINVAL` if `fb` belongs to another client, `ERANGE` if it is smaller than
    /// an output's mode, `ETIMEDOUT` if the buffer's writers do not finish within its cache's
    /// fence timeout (the commit would wait for them without a limit), and `ENODEV` if the
    /// device was unplugged. Showing nothing (no output connected) commits nothing and returns
    /// zero.
    pub fn show(&self, fb: &Framebuffer) -> Result<usize> {
        if !ptr::eq(fb.client(), self) {
            return Err(EINVAL);
        }
        // Without any lock: the writers may need the locks to finish.
        fb.cache().wait_for_fences(Direction::Read)?;
        let _scanout = fb.cache().hold_for_scanout()?;
        let _section = self.enter()?;
        let mut shown = self.display.lock();
        let (width, height) = (fb.layout().width(), fb.layout().height());
        let lit = self.with_mode_sets(|sets| {
            let lit = sets.iter().filter(|set| !set.mode.is_null());
            if lit
                .clone()
                .any(|set| !output_of(set).fits_in(width, height))
            {
                return Err(ERANGE);
            }
            let mut count = 0;
            for set in sets.iter_mut().filter(|set| !set.mode.is_null()) {
                set.fb = fb.as_raw();
                count += 1;
            }
            Ok(count)
        })?;
        if lit == 0 {
            return Ok(0);
        }
        *shown = Some(ShownBuffer {
            fb: fb.as_raw(),
            cache: fb.cache().clone(),
        });
        // The driver's atomic check refusing the configuration.
        fault_point(EINVAL)?;
        // SAFETY: The client is initialised; the commit takes the modeset mutex and the
        // modeset locks itself, and refuses with `EBUSY` while a master exists.
        to_result(unsafe { bindings::drm_client_modeset_commit(self.as_raw()) })?;
        Ok(lit)
    }

    /// Commits the mode sets again, as a [`ClientHandler::restore`](super::ClientHandler) does
    /// for an unforced request: fails with `EBUSY` while a DRM master holds the display.
    pub fn restore_display(&self) -> Result {
        self.restore(false)
    }

    /// Commits the mode sets again for `request`, ignoring a DRM master if the core forced it.
    pub fn restore_display_as_requested(&self, request: &RestoreRequest) -> Result {
        self.restore(request.is_forced())
    }

    /// Commits the mode sets again; with `force`, ignores a DRM master that may still exist.
    ///
    /// Fails with `EBUSY` if one holds the display and `force` is not set, `ETIMEDOUT` if the
    /// shown buffer's writers do
    /// not finish in time (as in [`Client::show`]), `EBUSY` as [`Client::show`] does for an
    /// open access, `ENOENT` if nothing is shown (no [`Client::show`] since the last probe, or
    /// the shown framebuffer was dropped), and `ENODEV` after unplug.
    fn restore(&self, force: bool) -> Result {
        let cache = self
            .display
            .lock()
            .as_ref()
            .map(|shown| shown.cache.clone())
            .ok_or(ENOENT)?;
        cache.wait_for_fences(Direction::Read)?;
        let _scanout = cache.hold_for_scanout()?;
        let _section = self.enter()?;
        let display = self.display.lock();
        // The mode sets have modes but no framebuffer after a probe or a drop, and committing
        // them would trip the atomic helpers' `WARN_ON(!set->fb)`.
        if display.is_none() {
            return Err(ENOENT);
        }
        let raw = self.as_raw();
        // `drm_client_modeset_commit_locked()` expects the caller to hold the internal DRM
        // master lock, which a forced restore does not take on purpose: it races a master that
        // may still exist, as `drm_fb_helper_restore_fbdev_mode_unlocked()` does.
        // SAFETY: The client is initialised; both commit functions take the modeset locks.
        to_result(unsafe {
            if force {
                bindings::drm_client_modeset_commit_locked(raw)
            } else {
                bindings::drm_client_modeset_commit(raw)
            }
        })
    }

    /// Takes `fb` out of the mode sets, before it is removed.
    pub(super) fn forget(&self, fb: *mut bindings::drm_framebuffer) {
        let mut shown = self.display.lock();
        if shown.as_ref().is_some_and(|shown| shown.fb == fb) {
            *shown = None;
        }
        let _ = self.with_mode_sets(|sets| {
            for set in sets.iter_mut().filter(|set| set.fb == fb) {
                set.fb = ptr::null_mut();
            }
            Ok(())
        });
    }

    /// Runs `f` on the client's mode sets with the modeset mutex held.
    fn with_mode_sets<R>(
        &self,
        f: impl FnOnce(&mut [bindings::drm_mode_set]) -> Result<R>,
    ) -> Result<R> {
        let raw = self.as_raw();
        // SAFETY: The client is initialised (type invariant), so its modeset mutex is.
        let mutex = unsafe { ptr::addr_of_mut!((*raw).modeset_mutex) };
        // SAFETY: `mutex` is initialised; callers hold no lock the commit paths take inside it.
        unsafe { bindings::mutex_lock(mutex) };
        // SAFETY: The mutex protects `modesets`, an array of one mode set per CRTC followed by
        // an entry whose `crtc` is null, allocated by `drm_client_modeset_create()`.
        let sets = unsafe { mode_sets((*raw).modesets) };
        let result = f(sets);
        // SAFETY: Locked above.
        unsafe { bindings::mutex_unlock(mutex) };
        result
    }
}

#[pinned_drop]
impl PinnedDrop for Client {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `raw` was initialised by `drm_client_init()` and is not on the client list:
        // a registered client is referenced by the list. Every framebuffer of the client holds
        // a reference too, so they are all gone: closing the file frees nothing in use.
        unsafe { bindings::drm_client_release(self.as_raw()) };
    }
}

fn to_errno(result: Result) -> c_int {
    match result {
        Ok(()) => 0,
        Err(error) => Error::to_errno(error),
    }
}
