// SPDX-License-Identifier: GPL-2.0

//! In-kernel DRM clients: registration with a KMS device and the callbacks the DRM core makes.
//!
//! C header: [`include/drm/drm_client.h`](srctree/include/drm/drm_client.h)

use super::{modeset::ShownBuffer, Device, DeviceSection};
use crate::{
    alloc::flags::GFP_KERNEL,
    bindings,
    error::{code::*, to_result, Error, Result},
    init::pin_init_from_closure,
    new_mutex,
    prelude::*,
    str::CStr,
    sync::{Arc, ArcBorrow, Mutex},
    types::{ARef, Opaque},
};
use core::{
    ffi::c_int,
    ptr,
    sync::atomic::{AtomicBool, Ordering},
};

/// What a client does when the DRM core calls it.
///
/// The core makes these calls with the device's client list locked, so a handler must not drop
/// the [`Registration`] of a client of the same device that is still registered; in
/// [`ClientHandler::unregister`] its own client is no longer registered, and dropping its
/// registration there is what releases the client. A handler gets the client as an
/// [`ArcBorrow`]: it may allocate framebuffers for it (`Arc::from()` takes a reference of its
/// own), which a hotplug that finds a larger output needs.
pub trait ClientHandler: Send + Sync {
    /// Outputs were connected or disconnected; also called once by [`Client::register`].
    ///
    /// A typical handler probes the outputs again ([`Client::probe_outputs`]), which forgets the
    /// framebuffer shown so far, and shows one ([`Client::show`]). An error stops the core from
    /// calling this again for the client.
    fn hotplug(&self, _client: ArcBorrow<'_, Client>) -> Result {
        Ok(())
    }

    /// The last user-space file of the device was closed, so no one holds DRM master any more,
    /// or the kernel needs the display (a forced `request`: sysrq, a panic).
    ///
    /// Returning `Ok` claims the display: the core calls no other client. A handler restores
    /// with [`Client::restore_display_as_requested`], which ignores a remaining DRM master only
    /// when the core forced the request.
    fn restore(&self, _client: ArcBorrow<'_, Client>, _request: &RestoreRequest) -> Result {
        Err(EOPNOTSUPP)
    }

    /// The device is being unregistered (driver unbound, device unplugged).
    ///
    /// Every later operation of the client fails with `ENODEV`. A handler that owns framebuffers
    /// of the client should drop them here: they keep the client, and the device structure, in
    /// memory.
    fn unregister(&self, _client: ArcBorrow<'_, Client>) {}
}

/// An in-kernel client of a KMS device (`struct drm_client_dev`).
///
/// A client owns a DRM file, as a user-space process does, and the mode sets the client
/// modesetting helpers compute for it. Create one with [`Client::new`], allocate its
/// framebuffers, then [`Client::register`] it to receive callbacks.
///
/// # Invariants
///
/// `raw` was initialised by `drm_client_init()` for `device` with `Client::VTABLE` and is
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
    registered: AtomicBool,
    unplugged: AtomicBool,
    /// The framebuffer in the mode sets; the mutex serialises the probing and committing of
    /// mode sets, which the callbacks and the client's owner may do concurrently.
    #[pin]
    pub(super) display: Mutex<Option<ShownBuffer>>,
    #[pin]
    raw: Opaque<bindings::drm_client_dev>,
}

// SAFETY: The C client is only reached through functions that take its locks (the modeset
// mutex, the client list mutex), and the Rust state is atomic or behind a mutex.
unsafe impl Send for Client {}

// SAFETY: See `Send`: every method takes `&self` and synchronises itself.
unsafe impl Sync for Client {}

impl Client {
    const VTABLE: bindings::drm_client_funcs = bindings::drm_client_funcs {
        // Built-in code: `THIS_MODULE` is null.
        owner: ptr::null_mut(),
        unregister: Some(Self::unregister_callback),
        restore: Some(Self::restore_callback),
        hotplug: Some(Self::hotplug_callback),
    };

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
                    &Self::VTABLE,
                ))
            })
        };
        let client = try_pin_init!(Self {
            device: device.into(),
            handler,
            registered: AtomicBool::new(false),
            unplugged: AtomicBool::new(false),
            display <- new_mutex!(None),
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
        to_errno(client.handler.restore(client, &RestoreRequest { force }))
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
        // SAFETY: The reference leaked by `register()` for the list, which no longer has the
        // client; the pointer comes from `raw`, as `Arc::into_raw()` gave it, not from the
        // shared reference used above. If it is the last one, the client is released here, as
        // the C API expects of an unregister callback.
        drop(unsafe { Arc::from_raw(list_reference) });
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

/// The core's request to restore the display, passed to [`ClientHandler::restore`].
///
/// Only the core's callback makes one, so only it can force a client to take the display from
/// a DRM master: no client can override a compositor at any other time.
pub struct RestoreRequest {
    force: bool,
}

impl RestoreRequest {
    /// Whether the core asked the client to restore even if a DRM master exists.
    pub fn is_forced(&self) -> bool {
        self.force
    }
}

/// A client's membership of its device's client list; dropping it takes the client off
/// (`drm_client_unregister()`, patch 0007), so that a boot splash or a test that ends before
/// its device goes gets no more callbacks.
///
/// # Invariants
///
/// `list_reference` is what `Arc::into_raw()` returned for the list's reference to `client`.
pub struct Registration {
    client: Arc<Client>,
    list_reference: *const Client,
}

// SAFETY: `list_reference` is only used to give the list's reference back, which any thread may
// do: `Client` is `Send` and `Sync`.
unsafe impl Send for Registration {}

// SAFETY: `&Registration` only reads the client's atomic state.
unsafe impl Sync for Registration {}

impl Registration {
    /// The registered client.
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// Whether the client is still on the list (the device was not unregistered meanwhile).
    pub fn is_registered(&self) -> bool {
        self.client.registered.load(Ordering::Acquire)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let client = &self.client;
        // Off the list for good (the device was unregistered): nothing to do, and the list
        // mutex may be held by this very thread, in a handler's unregister callback.
        if !client.registered.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: `raw` was initialised by `drm_client_init()`; the call takes the client list
        // mutex, which this thread does not hold: a registered client's registration is not
        // dropped from a callback (see `ClientHandler`).
        let taken_off = unsafe { bindings::drm_client_unregister(client.as_raw()) };
        if taken_off {
            client.registered.store(false, Ordering::Release);
            // SAFETY: The list's reference, with the pointer `Arc::into_raw()` gave for it (type
            // invariant); this call took the client off the list, so the unregister callback,
            // which gives the reference back otherwise, will not run for it.
            drop(unsafe { Arc::from_raw(self.list_reference) });
        }
    }
}

fn to_errno(result: Result) -> c_int {
    match result {
        Ok(()) => 0,
        Err(error) => Error::to_errno(error),
    }
}
