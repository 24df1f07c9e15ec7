// SPDX-License-Identifier: GPL-2.0

//! Learning of KMS devices as they are registered, so that a client can draw on every display:
//! those present when it starts and those whose driver probes later (deferred probe, a module,
//! a native driver that replaces the firmware framebuffer's device).
//!
//! The DRM core has no such notification in 6.12; patch 0008 adds `drm_dev_watch()`.
//!
//! C header: [`include/drm/drm_drv.h`](srctree/include/drm/drm_drv.h)

use super::Device;
use crate::{
    alloc::{flags::GFP_KERNEL, KBox},
    bindings,
    error::{to_result, Result},
    ffi::{c_int, c_ulong, c_void},
    init::PinInit,
    prelude::*,
    try_pin_init,
    types::Opaque,
};
use core::{marker::PhantomPinned, ptr::NonNull};

/// What a [`Watch`] calls for each registered DRM device.
pub trait DeviceWatcher: Send + Sync {
    /// `device` is registered: it was when the watch began, or `drm_dev_register()` has just
    /// finished with it.
    ///
    /// Called once per device and registration, with the watchers' lock held: a client
    /// registered here on `device` is sure to get its unregister callback. The call must not
    /// create or drop a [`Watch`], and should be quick, since it delays the driver's probe (and
    /// every other watcher). `device` is borrowed: take a reference (`ARef::from`) to keep it.
    fn device_registered(&self, device: &Device);
}

/// Calls a [`DeviceWatcher`] for every registered DRM device until it is dropped.
///
/// # Invariants
///
/// `notifier` is initialised, with `Watch::notify` for this `T` as its `notifier_call`; once
/// [`Watch::new`] returns the watch, it is on the core's list of watchers until the drop.
#[pin_data(PinnedDrop)]
pub struct Watch<T: DeviceWatcher> {
    #[pin]
    notifier: Opaque<bindings::notifier_block>,
    watcher: T,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: The notifier block is only touched by the DRM core, under its watchers' lock; the
// watcher is `Send`.
unsafe impl<T: DeviceWatcher> Send for Watch<T> {}

// SAFETY: `&Watch` gives access to the watcher only, which is `Sync`.
unsafe impl<T: DeviceWatcher> Sync for Watch<T> {}

impl<T: DeviceWatcher> Watch<T> {
    /// Starts watching: calls `watcher` for every device registered already before returning,
    /// then for each device registered later, until the watch is dropped.
    pub fn new(watcher: T) -> Result<Pin<KBox<Self>>> {
        let watch = KBox::pin_init(Self::unregistered(watcher), GFP_KERNEL)?;
        // SAFETY: `notifier` is initialised and pinned in the box with the watcher it leads to;
        // the drop unwatches it before either goes.
        to_result(unsafe { bindings::drm_dev_watch(watch.notifier.get()) })?;
        // INVARIANT: On the list from here until the drop.
        Ok(watch)
    }

    /// The watch, not on the core's list yet.
    fn unregistered(watcher: T) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            notifier <- Opaque::ffi_init(|slot: *mut bindings::notifier_block| {
                // SAFETY: `slot` is valid for writes; an all-zero block is an unlinked one.
                unsafe { core::ptr::write_bytes(slot, 0, 1) };
                // SAFETY: As above.
                unsafe { (*slot).notifier_call = Some(Self::notify) };
            }),
            watcher,
            _pin: PhantomPinned,
        })
    }

    /// The watcher.
    pub fn watcher(&self) -> &T {
        &self.watcher
    }

    /// `notifier_block.notifier_call`: forwards a registered device to the watcher.
    ///
    /// # Safety
    ///
    /// Only `drm_dev_watch()` and `drm_dev_register()` call this, for the `notifier` field of a
    /// live `Watch<T>`, with `data` a registered `struct drm_device`.
    unsafe extern "C" fn notify(
        notifier: *mut bindings::notifier_block,
        _action: c_ulong,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: `notifier` is the field of a `Watch<T>` (type invariant), which is alive while
        // it is on the list; `Opaque` is transparent.
        let watch = unsafe { &*crate::container_of!(notifier, Self, notifier) };
        let Some(device) = NonNull::new(data.cast::<Device>()) else {
            return bindings::NOTIFY_DONE as c_int;
        };
        // SAFETY: The core passes a registered device, referenced by its driver for the call.
        let device = unsafe { device.as_ref() };
        watch.watcher.device_registered(device);
        bindings::NOTIFY_DONE as c_int
    }
}

#[pinned_drop]
impl<T: DeviceWatcher> PinnedDrop for Watch<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `notifier` is initialised (type invariant); unwatching one that a failed
        // `Watch::new` never put on the list does nothing. When this returns it is neither
        // running nor called again, so the watcher may go.
        unsafe { bindings::drm_dev_unwatch(self.notifier.get()) };
    }
}
