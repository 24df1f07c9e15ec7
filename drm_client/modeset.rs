// SPDX-License-Identifier: GPL-2.0

//! Outputs and mode setting for a client, on the client modesetting helpers.
//!
//! `drm_client_modeset_probe()` picks a mode for every connected output and a CRTC to drive it
//! (one `struct drm_mode_set` each); a client puts a framebuffer into those mode sets and
//! commits them. The commit is atomic and blocking: when it returns, the framebuffer is on
//! screen and the one shown before is not, so a client may draw into that one without tearing.
//!
//! C header: [`include/drm/drm_client.h`](srctree/include/drm/drm_client.h)

use super::{Client, Framebuffer, RestoreRequest};
use crate::{
    alloc::{flags::GFP_KERNEL, KVec},
    bindings,
    error::{code::*, to_result, Result},
    sync::Arc,
    vmap_cache::{Direction, VmapCache},
};
use core::ptr;

/// A connected output as the last probe found it: the mode it will be driven in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Output {
    /// The CRTC's mode object ID.
    pub crtc_id: u32,
    /// Visible width of the mode, in pixels.
    pub width: u32,
    /// Visible height of the mode, in pixels.
    pub height: u32,
    /// Where the output's picture starts in the framebuffer (non-zero for tiled displays).
    pub x: u32,
    /// See `x`.
    pub y: u32,
    /// How many connectors show this CRTC's picture (clones).
    pub connectors: usize,
}

impl Output {
    /// Whether a `width` x `height` framebuffer covers what this output shows.
    fn fits_in(&self, width: u32, height: u32) -> bool {
        let right = u64::from(self.x) + u64::from(self.width);
        let bottom = u64::from(self.y) + u64::from(self.height);
        right <= u64::from(width) && bottom <= u64::from(height)
    }
}

/// The framebuffer a client's mode sets show.
///
/// The address only identifies the framebuffer (it is never dereferenced); the cache is the
/// framebuffer's, to wait for its writers before a restore commits it again.
pub(super) struct ShownBuffer {
    fb: *mut bindings::drm_framebuffer,
    cache: Arc<VmapCache>,
}

// SAFETY: The address is only compared, never dereferenced; the cache is `Send`.
unsafe impl Send for ShownBuffer {}

impl Client {
    /// Probes the connectors and picks a mode for every connected output.
    ///
    /// Forgets the framebuffer shown so far: call [`Client::show`] afterwards. Fails with
    /// `ENODEV` if the device was unplugged.
    pub fn probe_outputs(&self) -> Result<KVec<Output>> {
        let _section = self.enter()?;
        let mut shown = self.display.lock();
        // The probe builds new mode sets, without a framebuffer.
        *shown = None;
        // SAFETY: The client is initialised (type invariant); zero sizes mean no limit.
        to_result(unsafe { bindings::drm_client_modeset_probe(self.as_raw(), 0, 0) })?;
        self.with_mode_sets(|sets| outputs_of(sets))
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
        // SAFETY: The client is initialised; both commit functions take the modeset locks they
        // need. `drm_client_modeset_commit_locked()` expects the caller to hold the internal
        // DRM master lock, which a forced restore does not take on purpose: it races a master
        // that may still exist, as `drm_fb_helper_restore_fbdev_mode_unlocked()` does for a
        // forced restore.
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

/// The mode sets in the array at `first`, up to the terminating entry.
///
/// # Safety
///
/// `first` must point at an array terminated by an entry with a null `crtc`, which the caller
/// may change exclusively for the returned lifetime.
unsafe fn mode_sets<'a>(first: *mut bindings::drm_mode_set) -> &'a mut [bindings::drm_mode_set] {
    let mut len = 0;
    // SAFETY: The array is terminated (caller), so every entry up to the terminator is valid.
    while !unsafe { (*first.add(len)).crtc }.is_null() {
        len += 1;
    }
    // SAFETY: `len` entries are valid and exclusively ours (caller).
    unsafe { core::slice::from_raw_parts_mut(first, len) }
}

fn outputs_of(sets: &[bindings::drm_mode_set]) -> Result<KVec<Output>> {
    let mut outputs = KVec::new();
    for set in sets.iter().filter(|set| !set.mode.is_null()) {
        outputs.push(output_of(set), GFP_KERNEL)?;
    }
    Ok(outputs)
}

fn output_of(set: &bindings::drm_mode_set) -> Output {
    // SAFETY: `set` comes from `mode_sets()` under the modeset mutex: its CRTC is a live CRTC
    // of the device, and its mode, checked non-null by the callers, is owned by the mode set.
    let (crtc_id, mode) = unsafe { ((*set.crtc).base.id, &*set.mode) };
    Output {
        crtc_id,
        width: u32::from(mode.hdisplay),
        height: u32::from(mode.vdisplay),
        x: set.x,
        y: set.y,
        connectors: set.num_connectors,
    }
}
