// SPDX-License-Identifier: GPL-2.0

//! The Rust in-kernel DRM client API.
//!
//! In-kernel DRM clients (a bootsplash, a boot logger, fbdev emulation) draw into buffers that a
//! KMS device scans out. A [`Client`] opens a KMS device as a DRM file of its own, receives the
//! core's callbacks through a [`ClientHandler`] once registered, allocates [`Framebuffer`]s
//! from the device's dumb buffers or from vgem ([`Allocator`]), and shows them on every
//! connected [`Output`]. CPU access to a framebuffer goes through its dma-buf, exported in-kernel
//! (no file descriptor), and [`crate::vmap_cache`], never through GEM's vmap hooks.
//!
//! The lower layer is here too: [`Device`] references, [`GemObject`]s and their export, and
//! buffer allocation on vgem ([`vgem::device`]).
//!
//! # Examples
//!
//! A client that shows one frame on the first output of `device`:
//!
//! ```ignore
//! use kernel::{c_str, drm_client::*, prelude::*, sync::Arc, vmap_cache::Direction};
//!
//! struct Quiet;
//! impl ClientHandler for Quiet {}
//!
//! fn show_one_frame(device: &Device) -> Result<(Registration, Framebuffer)> {
//!     let client = Client::new(device, c_str!("example"), Arc::new(Quiet, GFP_KERNEL)?)?;
//!     let registration = client.register()?;
//!     let outputs = client.probe_outputs()?;
//!     let output = outputs.first().ok_or(ENODEV)?;
//!     let fb = Framebuffer::new(&client, Allocator::Device, output.width, output.height,
//!                               Format::Xrgb8888)?;
//!     let mut user = fb.vmap()?;
//!     user.begin_access(Direction::Write)?.memory().fill(0, fb.layout().size(), 0x80)?;
//!     fb.flush_all()?;
//!     client.show(&fb)?;
//!     Ok((registration, fb))
//! }
//! ```
//!
//! C headers: [`include/drm/drm_client.h`](srctree/include/drm/drm_client.h),
//! [`include/drm/drm_device.h`](srctree/include/drm/drm_device.h),
//! [`include/drm/drm_gem.h`](srctree/include/drm/drm_gem.h)

mod allocator;
mod client;
mod device;
mod double_buffer;
#[cfg(all(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST, CONFIG_FAULT_INJECTION))]
pub mod fault_sweep;
mod firmware;
mod frame_clock;
mod framebuffer;
mod gem;
mod handler;
mod import;
mod layout;
mod modeset;
mod owned_work;
mod registration;
mod registry;
#[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
pub mod testing;
mod throttle;
pub mod vgem;
mod watch;

pub use allocator::Allocator;
pub use client::Client;
pub use device::{Device, DeviceSection};
pub use double_buffer::DoubleBuffer;
pub use firmware::{BootLogo, FirmwareFile};
pub use frame_clock::{FrameClock, FrameHandler, Next, MAX_FPS};
pub use framebuffer::{Damage, Framebuffer, FramebufferVmap};
pub use gem::{GemObject, MAX_BUFFER_SIZE};
pub use handler::{ClientHandler, RestoreRequest};
pub use layout::{Format, Layout};
pub use modeset::Output;
pub use registration::Registration;
pub use throttle::{Throttle, Throttled};
pub use watch::{DeviceWatcher, Watch};
