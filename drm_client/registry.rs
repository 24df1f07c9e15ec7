// SPDX-License-Identifier: GPL-2.0

//! The layer's framebuffers per client, shown in debugfs as `/sys/kernel/debug/dri/N/vmap_client`
//! the way `dma_buf/bufinfo` shows dma-bufs: for every registered client of the layer on the
//! device, each framebuffer's format, size, pitch, where its memory came from and its cached
//! mapping's statistics; then what the layer holds in all ([`ledger`]).

use super::{Allocator, Layout};
use crate::{
    alloc::{flags::GFP_KERNEL, KVec},
    bindings,
    error::Result,
    new_mutex,
    prelude::*,
    str::CStr,
    sync::{Arc, Mutex},
    vmap_cache::{ledger, VmapCache},
};
use core::fmt::{self, Write};

/// One framebuffer as the registry shows it.
pub(super) struct FbRecord {
    pub(super) id: u32,
    pub(super) layout: Layout,
    pub(super) allocator: Allocator,
    pub(super) cache: Arc<VmapCache>,
}

/// A client's framebuffers; a slot is emptied when its framebuffer goes, and reused.
#[pin_data]
pub(super) struct Records {
    #[pin]
    list: Mutex<KVec<Option<FbRecord>>>,
}

impl Records {
    pub(super) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            list <- new_mutex!(KVec::new()),
        })
    }

    /// Makes room for one more record, so that [`Self::add`] does not allocate (unless another
    /// framebuffer of the client took the room meanwhile).
    pub(super) fn reserve(&self) -> Result {
        let mut list = self.list.lock();
        if list.iter().all(Option::is_some) {
            list.reserve(1, GFP_KERNEL)?;
        }
        Ok(())
    }

    /// Adds `record`, for which [`Self::reserve`] made room. A record that finds no room is not
    /// shown; the framebuffer works all the same.
    pub(super) fn add(&self, record: FbRecord) {
        let mut list = self.list.lock();
        match list.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(record),
            None => {
                let _ = list.push(Some(record), GFP_KERNEL);
            }
        }
    }

    /// Forgets framebuffer `id`.
    pub(super) fn remove(&self, id: u32) {
        let mut list = self.list.lock();
        if let Some(slot) = list
            .iter_mut()
            .find(|slot| slot.as_ref().is_some_and(|record| record.id == id))
        {
            *slot = None;
        }
    }

    /// Writes one line per framebuffer.
    fn write(&self, out: &mut impl Write) -> fmt::Result {
        for record in self.list.lock().iter().flatten() {
            let layout = &record.layout;
            let fourcc = layout.format().fourcc().to_le_bytes();
            let stats = record.cache.stats();
            writeln!(
                out,
                "  framebuffer {}: {}x{} {} pitch {} size {}, {:?}; cache: {} hits, {} misses, \
                 {} remaps, {} unmaps, {} failed, {} open, {} users",
                record.id,
                layout.width(),
                layout.height(),
                core::str::from_utf8(&fourcc).unwrap_or("????"),
                layout.pitch(),
                layout.size(),
                record.allocator,
                stats.hits,
                stats.misses,
                stats.remaps,
                stats.unmaps,
                stats.failed_accesses,
                stats.open_accesses,
                stats.users,
            )?;
        }
        Ok(())
    }
}

/// Writes a client's name and framebuffers.
pub(super) fn write_client(out: &mut impl Write, name: &CStr, records: &Records) -> fmt::Result {
    writeln!(out, "client {}", name.to_str().unwrap_or("?"))?;
    records.write(out)
}

/// Writes what the layer holds, all devices together.
fn write_totals(out: &mut impl Write) -> fmt::Result {
    let held = ledger::holdings();
    writeln!(
        out,
        "layer: {} GEM references, {} dma-buf references, {} attachments, {} pins, {} mappings, \
         {} framebuffers",
        held.gem_references,
        held.dma_buf_references,
        held.attachments,
        held.pins,
        held.mappings,
        held.framebuffers
    )
}

/// A `seq_file` being written by a debugfs `show`.
///
/// # Invariants
///
/// `m` is the `seq_file` of a `show` callback in progress.
pub(super) struct SeqWriter {
    m: *mut bindings::seq_file,
}

impl SeqWriter {
    /// # Safety
    ///
    /// `m` must be the `seq_file` of a `show` callback in progress, used only for its duration.
    pub(super) unsafe fn new(m: *mut bindings::seq_file) -> Self {
        // INVARIANT: The caller's guarantee.
        Self { m }
    }
}

impl Write for SeqWriter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // SAFETY: `m` is live for the callback (type invariant); `text` is valid for its length.
        // An overflow is recorded in the `seq_file`, which retries with a larger buffer.
        unsafe { bindings::seq_write(self.m, text.as_ptr().cast(), text.len()) };
        Ok(())
    }
}

/// `show_totals` of the debugfs file.
///
/// # Safety
///
/// Only the debugfs file's `show` calls this, with its `seq_file`.
pub(super) unsafe extern "C" fn show_totals(m: *mut bindings::seq_file) {
    // SAFETY: The caller's guarantee.
    let mut out = unsafe { SeqWriter::new(m) };
    let _ = write_totals(&mut out);
}
