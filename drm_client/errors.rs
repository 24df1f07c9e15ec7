// SPDX-License-Identifier: GPL-2.0

//! Error codes the client API returns that `kernel::error::code` lacks in this tree.

use crate::{bindings, error::Error};

/// `EOPNOTSUPP`: the device cannot do this (no VRAM manager, no modesetting).
pub fn eopnotsupp() -> Error {
    Error::from_errno(-i32::try_from(bindings::EOPNOTSUPP).unwrap_or(i32::MAX))
}
