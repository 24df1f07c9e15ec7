// SPDX-License-Identifier: GPL-2.0

//! Outputs and mode setting for a client, on the client modesetting helpers.
//!
//! `drm_client_modeset_probe()` picks a mode for every connected output and a CRTC to drive it
//! (one `struct drm_mode_set` each); a client puts a framebuffer into those mode sets and
//! commits them. The commit is atomic and blocking: when it returns, the framebuffer is on
//! screen and the one shown before is not, so a client may draw into that one without tearing.
//!
//! C header: [`include/drm/drm_client.h`](srctree/include/drm/drm_client.h)

use crate::{
    alloc::{flags::GFP_KERNEL, KVec},
    bindings,
    error::Result,
    sync::Arc,
    vmap_cache::VmapCache,
};

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
    /// The mode's refresh rate in Hz, rounded (0 if the mode's timings do not give one).
    pub refresh: u32,
}

impl Output {
    /// Whether a `width` x `height` framebuffer covers what this output shows.
    pub(super) fn fits_in(&self, width: u32, height: u32) -> bool {
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
    pub(super) fb: *mut bindings::drm_framebuffer,
    pub(super) cache: Arc<VmapCache>,
}

// SAFETY: The address is only compared, never dereferenced; the cache is `Send`.
unsafe impl Send for ShownBuffer {}

/// The mode sets in the array at `first`, up to the terminating entry.
///
/// # Safety
///
/// `first` must point at an array terminated by an entry with a null `crtc`, which the caller
/// may change exclusively for the returned lifetime.
pub(super) unsafe fn mode_sets<'a>(
    first: *mut bindings::drm_mode_set,
) -> &'a mut [bindings::drm_mode_set] {
    let mut len = 0;
    // SAFETY: The array is terminated (caller), so every entry up to the terminator is valid.
    while !unsafe { (*first.add(len)).crtc }.is_null() {
        len += 1;
    }
    // SAFETY: `len` entries are valid and exclusively ours (caller).
    unsafe { core::slice::from_raw_parts_mut(first, len) }
}

pub(super) fn outputs_of(sets: &[bindings::drm_mode_set]) -> Result<KVec<Output>> {
    let mut outputs = KVec::new();
    for set in sets.iter().filter(|set| !set.mode.is_null()) {
        outputs.push(output_of(set), GFP_KERNEL)?;
    }
    Ok(outputs)
}

pub(super) fn output_of(set: &bindings::drm_mode_set) -> Output {
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
        // SAFETY: `mode` is a valid mode, as above; the function only reads its timings.
        refresh: u32::try_from(unsafe { bindings::drm_mode_vrefresh(mode) }).unwrap_or(0),
    }
}
