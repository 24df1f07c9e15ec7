// SPDX-License-Identifier: GPL-2.0

//! The bochs backend: framebuffers of QEMU's standard VGA placed in video memory (I/O memory,
//! write-combined) or in system memory, where TTM moves them.

use crate::client::new_client;
use kernel::{
    drm_client::{testing, Allocator, Client, Device, Format, Framebuffer, Layout},
    error::{code::*, Result},
    sync::Arc,
};

/// Bytes of a packed XRGB8888 buffer of `size`.
pub(crate) fn bytes((width, height): (u32, u32)) -> Result<usize> {
    Ok(Layout::new(width, height, Format::Xrgb8888)?.size())
}

/// A client of the bochs device.
pub(crate) struct Bochs {
    client: Arc<Client>,
}

impl Bochs {
    pub(crate) fn open(device: &Device) -> Result<Self> {
        let (client, _) = new_client(device)?;
        Ok(Self { client })
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The backend's name in the report.
    pub(crate) fn backend(in_vram: bool) -> &'static str {
        if in_vram {
            "bochs-vram"
        } else {
            "bochs-system"
        }
    }

    /// A framebuffer of `size` moved into video or system memory, or `None` if it does not fit
    /// in video memory (16 MiB: 3840x2160 does not).
    pub(crate) fn placed_framebuffer(
        &self,
        (width, height): (u32, u32),
        in_vram: bool,
    ) -> Result<Option<Framebuffer>> {
        let fb = Framebuffer::new(
            &self.client,
            Allocator::Device,
            width,
            height,
            Format::Xrgb8888,
        )?;
        match testing::place(&fb, in_vram) {
            Ok(()) => Ok(Some(fb)),
            Err(error) if error == ENOMEM && in_vram => Ok(None),
            Err(error) => Err(error),
        }
    }
}
