// SPDX-License-Identifier: GPL-2.0

//! What a client does when the DRM core calls it back: the handler trait, and the core's
//! request to restore the display.
//!
//! C header: [`include/drm/drm_client.h`](srctree/include/drm/drm_client.h)

use super::Client;
use crate::{error::code::*, error::Result, sync::ArcBorrow};

/// What a client does when the DRM core calls it.
///
/// The core makes these calls with the device's client list locked, so a handler must not drop
/// the [`Registration`](super::Registration) of a client of the same device that is still
/// registered; in [`ClientHandler::unregister`] its own client is no longer registered, and
/// dropping its registration there is what releases the client. A handler gets the client as an
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

/// The core's request to restore the display, passed to [`ClientHandler::restore`].
///
/// Only the core's callback makes one, so only it can force a client to take the display from
/// a DRM master: no client can override a compositor at any other time.
pub struct RestoreRequest {
    force: bool,
}

impl RestoreRequest {
    /// The request the core's restore callback received.
    pub(super) fn new(force: bool) -> Self {
        Self { force }
    }

    /// Whether the core asked the client to restore even if a DRM master exists.
    pub fn is_forced(&self) -> bool {
        self.force
    }
}
