// SPDX-License-Identifier: GPL-2.0

//! Which picture the splash shows: the first of its sources that yields a good one.
//!
//! The order is the firmware's boot logo (so that the change from firmware to kernel cannot
//! be seen), then an image named on the command line, then the picture built into the kernel,
//! then none (the background colour alone). A source that has nothing to offer is skipped
//! quietly; one whose data is bad gets one log line with the reason.

use crate::bmp::{self, BmpError, Image};
use crate::scene::PictureSize;
use kernel::{
    drm_client::{BootLogo, Device},
    prelude::*,
    str::CStr,
};

/// The largest picture accepted, each way, and the largest file read.
pub(crate) const MAX_SIDE: u32 = 4096;
/// See [`MAX_SIDE`]; a 4096x4096 24-bit BMP is 48 MiB, more than any splash needs.
pub(crate) const MAX_FILE: usize = 16 << 20;

/// The built-in picture, an 8-bit run-length encoded BMP made by `logo/make_logo.py`.
pub(crate) static BUILT_IN: &[u8] = include_bytes!("logo/logo.bmp");

/// Where a picture came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The firmware's boot logo (ACPI BGRT).
    FirmwareLogo,
    /// The file named by `bootsplash.image=`, from the firmware loader.
    File,
    /// The picture built into the kernel.
    BuiltIn,
    /// No picture: the background colour alone.
    SolidColour,
}

impl Source {
    /// A name for log lines.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Source::FirmwareLogo => "firmware boot logo (BGRT)",
            Source::File => "image file",
            Source::BuiltIn => "built-in picture",
            Source::SolidColour => "solid colour",
        }
    }
}

/// Why a source gave no picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// It has none to give (no BGRT, no file named): not worth a log line.
    Absent,
    /// Loading it failed with this errno.
    Failed(i32),
    /// Its data is not a picture we draw.
    Bad(BmpError),
}

#[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
impl Refusal {
    /// The errno that stands for the refusal where one is needed: `ENOMEM` for a picture that
    /// found no memory, `EINVAL` for bad data.
    pub(crate) fn errno(self) -> Error {
        match self {
            Refusal::Absent => ENOENT,
            Refusal::Failed(errno) => Error::from_errno(errno),
            Refusal::Bad(BmpError::NoMemory) => ENOMEM,
            Refusal::Bad(_) => EINVAL,
        }
    }
}

/// The picture chosen, where it came from, and the firmware's offsets for its logo.
pub(crate) struct Picture {
    /// The decoded image; `None` for [`Source::SolidColour`].
    pub(crate) image: Option<Image>,
    /// Its source.
    pub(crate) source: Source,
    /// Where the firmware drew its logo.
    pub(crate) firmware_origin: Option<(u32, u32)>,
}

impl Picture {
    /// The picture's size and origin, for the layout.
    pub(crate) fn size(&self) -> Option<PictureSize> {
        self.image.as_ref().map(|image| PictureSize {
            width: image.width(),
            height: image.height(),
            firmware_origin: self.firmware_origin,
        })
    }
}

/// One attempt of the chain.
pub(crate) type Attempt<'a> = (Source, &'a dyn Fn() -> Result<Picture, Refusal>);

/// The first picture `attempts` yields, in order, or the solid colour; every bad source is
/// reported through `report` (one call each).
pub(crate) fn choose(attempts: &[Attempt<'_>], report: &mut dyn FnMut(Source, Refusal)) -> Picture {
    for (source, attempt) in attempts {
        match attempt() {
            Ok(picture) => return picture,
            Err(Refusal::Absent) => {}
            Err(refusal) => report(*source, refusal),
        }
    }
    Picture {
        image: None,
        source: Source::SolidColour,
        firmware_origin: None,
    }
}

/// A picture decoded from BMP `data`.
pub(crate) fn decode(
    data: &[u8],
    source: Source,
    origin: Option<(u32, u32)>,
) -> Result<Picture, Refusal> {
    let image = bmp::decode(data, MAX_SIDE).map_err(Refusal::Bad)?;
    Ok(Picture {
        image: Some(image),
        source,
        firmware_origin: origin,
    })
}

/// The firmware's boot logo, at the firmware's offsets.
pub(crate) fn firmware_logo() -> Result<Picture, Refusal> {
    match BootLogo::from_firmware(MAX_FILE) {
        Ok(logo) => decode(&logo.image, Source::FirmwareLogo, Some((logo.x, logo.y))),
        Err(error) if error == ENOENT => Err(Refusal::Absent),
        Err(error) => Err(Refusal::Failed(error.to_errno())),
    }
}

/// The file `name` from the firmware loader, for `device`; absent if no name was given.
pub(crate) fn file(device: &Device, name: Option<&CStr>) -> Result<Picture, Refusal> {
    let Some(name) = name else {
        return Err(Refusal::Absent);
    };
    let file = device
        .request_firmware(name)
        .map_err(|error| Refusal::Failed(error.to_errno()))?;
    if file.data().len() > MAX_FILE {
        return Err(Refusal::Bad(BmpError::BadSize));
    }
    decode(file.data(), Source::File, None)
}

/// The built-in picture.
pub(crate) fn built_in() -> Result<Picture, Refusal> {
    decode(BUILT_IN, Source::BuiltIn, None)
}
