// SPDX-License-Identifier: GPL-2.0

//! The splash's options: what the command line and `/sys/module/bootsplash/parameters/`
//! accept, and how each value is read. A value that does not parse is refused with `EINVAL`;
//! on the command line the kernel then logs one line naming it, and the default stays.

use crate::splash::ProgressSource;
use core::{
    fmt::Write,
    sync::atomic::{AtomicBool, AtomicU32, Ordering},
};
use kernel::{
    module_param::{ParamValue, Writer},
    prelude::*,
};

/// The background colour when none is given: the built-in picture's own.
pub(crate) const DEFAULT_COLOUR: u32 = 0x0010_1418;

/// No progress reported yet.
const NO_PROGRESS: u32 = u32::MAX;

/// Boot progress in percent, written by init scripts (`plymouth system-update --progress`);
/// reads `none` until the first write.
pub(crate) struct Progress(AtomicU32);

impl Progress {
    /// No progress reported.
    pub(crate) const fn new() -> Self {
        Self(AtomicU32::new(NO_PROGRESS))
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

/// Parses a percentage, `0` to `100`.
pub(crate) fn parse_progress(text: &[u8]) -> Result<u32> {
    let value = kernel::module_param::parse_u32(text).map_err(|_| EINVAL)?;
    if value > 100 {
        return Err(EINVAL);
    }
    Ok(value)
}

impl ParamValue for Progress {
    fn parse(&self, text: &[u8]) -> Result {
        self.0.store(parse_progress(text)?, Ordering::Release);
        Ok(())
    }

    fn print(&self, out: &mut Writer<'_>) -> Result {
        match self.progress() {
            Some(percent) => writeln!(out, "{percent}").map_err(|_| EINVAL),
            None => {
                out.bytes(b"none\n");
                Ok(())
            }
        }
    }
}

impl ProgressSource for Progress {
    fn progress(&self) -> Option<u32> {
        let value = self.0.load(Ordering::Acquire);
        (value != NO_PROGRESS).then_some(value)
    }
}

/// A colour as `RRGGBB`, `#RRGGBB` or `0xRRGGBB`.
pub(crate) struct Colour {
    value: AtomicU32,
    set: AtomicBool,
}

impl Colour {
    /// A colour worth `default` until set.
    pub(crate) const fn new(default: u32) -> Self {
        Self {
            value: AtomicU32::new(default),
            set: AtomicBool::new(false),
        }
    }

    /// The colour, `0x00RRGGBB`.
    pub(crate) fn get(&self) -> u32 {
        self.value.load(Ordering::Acquire)
    }

    /// Whether a colour was given (the default is in use otherwise).
    pub(crate) fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }
}

/// Parses six hexadecimal digits, optionally after `#` or `0x`.
pub(crate) fn parse_colour(text: &[u8]) -> Result<u32> {
    let digits = match text {
        [b'#', rest @ ..] | [b'0', b'x' | b'X', rest @ ..] => rest,
        _ => text,
    };
    if digits.len() != 6 {
        return Err(EINVAL);
    }
    digits.iter().try_fold(0u32, |value, &digit| {
        let digit = char::from(digit).to_digit(16).ok_or(EINVAL)?;
        Ok((value << 4) | digit)
    })
}

impl ParamValue for Colour {
    fn parse(&self, text: &[u8]) -> Result {
        self.value.store(parse_colour(text)?, Ordering::Release);
        self.set.store(true, Ordering::Release);
        Ok(())
    }

    fn print(&self, out: &mut Writer<'_>) -> Result {
        writeln!(out, "{:06x}", self.get()).map_err(|_| EINVAL)
    }
}
