// SPDX-License-Identifier: GPL-2.0

//! A client's membership of its device's client list.
//!
//! C header: [`include/drm/drm_client.h`](srctree/include/drm/drm_client.h)

use super::Client;
use crate::{bindings, sync::Arc};
use core::sync::atomic::Ordering;

/// A client's membership of its device's client list; dropping it takes the client off
/// (`drm_client_unregister()`, patch 0007), so that a boot splash or a test that ends before
/// its device goes gets no more callbacks.
///
/// # Invariants
///
/// `list_reference` is what `Arc::into_raw()` returned for the list's reference to `client`.
pub struct Registration {
    pub(super) client: Arc<Client>,
    pub(super) list_reference: *const Client,
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
