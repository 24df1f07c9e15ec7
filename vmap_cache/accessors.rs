// SPDX-License-Identifier: GPL-2.0

//! The set of tasks with an access open on a cache, so that a nested access can be refused.
//!
//! Fixed slots, so that beginning an access never allocates. Tasks are told apart by their
//! `task_struct` address, which is unique among live tasks and costs no lookup; an access holds
//! no reference to its task, so the address is only compared, never dereferenced.

use crate::{
    error::{code::*, Result},
    task::Task,
};

/// A task's identity: its `task_struct` address, compared and never dereferenced.
type TaskId = *const Task;

/// The identity of the running task.
pub(super) fn current_task() -> TaskId {
    core::ptr::from_ref(crate::current!())
}

/// How many tasks may have an access open on one cache at once.
pub const MAX_CONCURRENT_ACCESSES: usize = 16;

/// Tasks with an open access.
pub(super) struct Accessors {
    slots: [Option<TaskId>; MAX_CONCURRENT_ACCESSES],
}

// SAFETY: The task addresses are only compared, never dereferenced, so the set may move to, and
// be used from, any thread.
unsafe impl Send for Accessors {}

impl Accessors {
    pub(super) const fn new() -> Self {
        Self {
            slots: [None; MAX_CONCURRENT_ACCESSES],
        }
    }

    /// Records `task`. Fails with `EBUSY` if it is recorded already (a nested access) and with
    /// `EAGAIN` if every slot is taken.
    pub(super) fn insert(&mut self, task: TaskId) -> Result {
        if self.slots.contains(&Some(task)) {
            return Err(EBUSY);
        }
        let free = self
            .slots
            .iter_mut()
            .find(|slot| slot.is_none())
            .ok_or(EAGAIN)?;
        *free = Some(task);
        Ok(())
    }

    /// Forgets `task`, if it is recorded.
    pub(super) fn remove(&mut self, task: TaskId) {
        if let Some(slot) = self.slots.iter_mut().find(|slot| **slot == Some(task)) {
            *slot = None;
        }
    }

    /// How many accesses are open.
    pub(super) fn count(&self) -> u32 {
        // At most `MAX_CONCURRENT_ACCESSES` slots are taken, which fits in `u32`.
        self.slots.iter().filter(|slot| slot.is_some()).count() as u32
    }
}
