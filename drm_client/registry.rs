// SPDX-License-Identifier: GPL-2.0

//! The layer's framebuffers per client, shown in debugfs as `/sys/kernel/debug/dri/N/vmap_client`
//! the way `dma_buf/bufinfo` shows dma-bufs: for every registered client of the layer on the
//! device, each framebuffer's format, size, pitch, where its memory came from and its cached
//! mapping's statistics, then the client's latest framebuffer creations and releases (as
//! GVT-g tracks the buffers it exports), with each released one's lifetime and final
//! statistics; then what the layer holds in all ([`ledger`]).

use super::{Allocator, Layout};
use crate::{
    alloc::{flags::GFP_KERNEL, KVec},
    bindings,
    error::Result,
    new_mutex,
    prelude::*,
    str::CStr,
    sync::{Arc, Mutex},
    time::Ktime,
    vmap_cache::{ledger, Stats, VmapCache},
};
use core::fmt::{self, Write};

/// One framebuffer as the registry shows it.
pub(super) struct FbRecord {
    pub(super) id: u32,
    pub(super) layout: Layout,
    pub(super) allocator: Allocator,
    pub(super) cache: Arc<VmapCache>,
}

/// How many creations and releases a client's registry remembers.
const HISTORY_LEN: usize = 16;

/// A framebuffer's creation or release.
#[derive(Clone, Copy)]
struct Event {
    id: u32,
    layout: Layout,
    allocator: Allocator,
    /// When it happened, in milliseconds since boot.
    at_ms: i64,
    /// For a release: how long the framebuffer lived, and its cache's final counters.
    released: Option<(i64, Stats)>,
}

/// The latest [`HISTORY_LEN`] events, in a ring, and how many there were in all.
struct History {
    ring: [Option<Event>; HISTORY_LEN],
    next: usize,
    created: u64,
    released: u64,
}

impl History {
    const fn new() -> Self {
        Self {
            ring: [None; HISTORY_LEN],
            next: 0,
            created: 0,
            released: 0,
        }
    }

    fn record(&mut self, event: Event) {
        if event.released.is_some() {
            self.released += 1;
        } else {
            self.created += 1;
        }
        self.ring[self.next] = Some(event);
        self.next = (self.next + 1) % HISTORY_LEN;
    }

    /// The events, oldest first.
    fn events(&self) -> impl Iterator<Item = &Event> {
        let (newer, older) = self.ring.split_at(self.next);
        Iterator::chain(older.iter(), newer).flatten()
    }
}

/// A client's live framebuffers and its history. A slot is emptied when its framebuffer goes,
/// and reused.
struct State {
    list: KVec<Option<(FbRecord, i64)>>,
    history: History,
}

/// A client's framebuffers, live and past.
#[pin_data]
pub(super) struct Records {
    #[pin]
    state: Mutex<State>,
}

fn now_ms() -> i64 {
    Ktime::ktime_get().to_ms()
}

impl Records {
    pub(super) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            state <- new_mutex!(State {
                list: KVec::new(),
                history: History::new(),
            }),
        })
    }

    /// Makes room for one more record, so that [`Self::add`] does not allocate (unless another
    /// framebuffer of the client took the room meanwhile).
    pub(super) fn reserve(&self) -> Result {
        let mut state = self.state.lock();
        if state.list.iter().all(Option::is_some) {
            state.list.reserve(1, GFP_KERNEL)?;
        }
        Ok(())
    }

    /// Adds `record`, for which [`Self::reserve`] made room, and logs its creation. A record
    /// that finds no room is not listed; the framebuffer works all the same.
    pub(super) fn add(&self, record: FbRecord) {
        let at_ms = now_ms();
        let mut state = self.state.lock();
        state.history.record(Event {
            id: record.id,
            layout: record.layout,
            allocator: record.allocator,
            at_ms,
            released: None,
        });
        match state.list.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some((record, at_ms)),
            None => {
                let _ = state.list.push(Some((record, at_ms)), GFP_KERNEL);
            }
        }
    }

    /// Forgets framebuffer `id`, and logs its release.
    pub(super) fn remove(&self, id: u32) {
        let at_ms = now_ms();
        let mut state = self.state.lock();
        let Some(slot) = state
            .list
            .iter_mut()
            .find(|slot| slot.as_ref().is_some_and(|(record, _)| record.id == id))
        else {
            return;
        };
        let Some((record, created_ms)) = slot.take() else {
            return;
        };
        state.history.record(Event {
            id,
            layout: record.layout,
            allocator: record.allocator,
            at_ms,
            released: Some((at_ms - created_ms, record.cache.stats())),
        });
    }

    /// Writes one line per framebuffer, then the history.
    fn write(&self, out: &mut impl Write) -> fmt::Result {
        let state = self.state.lock();
        for (record, _) in state.list.iter().flatten() {
            let layout = &record.layout;
            let fourcc = fourcc_text(layout);
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
        write_history(out, &state.history)
    }
}

/// A format's fourcc as text.
fn fourcc_text(layout: &Layout) -> [u8; 4] {
    layout.format().fourcc().to_le_bytes()
}

fn write_history(out: &mut impl Write, history: &History) -> fmt::Result {
    writeln!(
        out,
        "  history: {} created, {} released; the latest:",
        history.created, history.released
    )?;
    for event in history.events() {
        let layout = &event.layout;
        let fourcc = fourcc_text(layout);
        let what = if event.released.is_some() {
            "released"
        } else {
            "created"
        };
        write!(
            out,
            "  {} ms: {what} framebuffer {}: {}x{} {} pitch {}, {:?}",
            event.at_ms,
            event.id,
            layout.width(),
            layout.height(),
            core::str::from_utf8(&fourcc).unwrap_or("????"),
            layout.pitch(),
            event.allocator,
        )?;
        match event.released {
            Some((lived_ms, stats)) => writeln!(
                out,
                "; lived {lived_ms} ms: {} hits, {} misses, {} remaps, {} failed",
                stats.hits, stats.misses, stats.remaps, stats.failed_accesses
            )?,
            None => writeln!(out)?,
        }
    }
    Ok(())
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
