// SPDX-License-Identifier: GPL-2.0

//! Workers that run at once on the system workqueue while the case's own task disturbs them,
//! then report what they saw.

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    error::Error,
    ktest::cond_resched,
    new_condvar, new_mutex,
    prelude::*,
    sync::{Arc, CondVar, CondVarTimeoutResult, Mutex},
    time::msecs_to_jiffies,
    vmap_cache::{CachedVmap, VmapCache},
    workqueue,
};

/// What workers report.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Accesses made.
    pub(crate) accesses: u64,
    /// Reads that saw something they must not see.
    pub(crate) bad_reads: u32,
    /// Calls that failed.
    pub(crate) errors: u32,
    /// The first failure's errno.
    pub(crate) first_error: Option<Error>,
    /// Hostile inputs tried (misuse, an unplug), and how many were refused as they must be.
    pub(crate) hostile: u64,
    pub(crate) hostile_refused: u64,
}

impl Tally {
    /// Counts a failed call.
    pub(crate) fn failed(&mut self, error: Error) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    /// Adds `other`'s counts to these.
    pub(crate) fn add(&mut self, other: Tally) {
        self.accesses += other.accesses;
        self.bad_reads += other.bad_reads;
        self.errors += other.errors;
        self.hostile += other.hostile;
        self.hostile_refused += other.hostile_refused;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

#[derive(Default)]
struct Progress {
    ready: usize,
    finished: usize,
    tally: Tally,
}

/// A team of workers and the case that waits for them.
#[pin_data]
pub(crate) struct Team {
    size: usize,
    #[pin]
    progress: Mutex<Progress>,
    #[pin]
    changed: CondVar,
    stop: AtomicBool,
}

impl Team {
    /// Starts `size` workers, each running `work(index, team)` and reporting its tally.
    pub(crate) fn start(
        size: usize,
        work: impl Fn(usize, &Team) -> Tally + Clone + Send + Sync + 'static,
    ) -> Result<Arc<Self>> {
        let team = Arc::pin_init(
            pin_init!(Team {
                size,
                progress <- new_mutex!(Progress::default()),
                changed <- new_condvar!(),
                stop: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )?;
        for index in 0..size {
            let (member, work) = (team.clone(), work.clone());
            let spawned = workqueue::system_unbound().try_spawn(GFP_KERNEL, move || {
                let tally = work(index, &member);
                member.report(tally);
            });
            if let Err(error) = spawned {
                // The workers already running must not run forever.
                team.stop.store(true, Ordering::Release);
                return Err(error.into());
            }
        }
        Ok(team)
    }

    /// Waits until every worker has called this, so that their work overlaps. Gives up after
    /// five seconds rather than hang the guest if the workqueue cannot run them all at once.
    pub(crate) fn start_together(&self) {
        let mut progress = self.progress.lock();
        progress.ready += 1;
        self.changed.notify_all();
        while progress.ready < self.size {
            let waited = self
                .changed
                .wait_interruptible_timeout(&mut progress, msecs_to_jiffies(5000));
            if !matches!(waited, CondVarTimeoutResult::Woken { .. }) {
                break;
            }
        }
    }

    /// Declares a user of `cache`, then waits for the other workers as
    /// [`Team::start_together`] does. The user is declared first, so that the users never drop
    /// to zero (and unmap) while a worker is still starting.
    pub(crate) fn join_as_user(&self, cache: &Arc<VmapCache>) -> Result<CachedVmap> {
        let user = CachedVmap::new(cache.clone());
        self.start_together();
        user
    }

    /// Whether the workers should stop; also lets other tasks run, since the kernel has no
    /// involuntary preemption and busy workers would keep the case (and RCU) off the CPUs.
    pub(crate) fn should_stop(&self) -> bool {
        cond_resched();
        self.stop.load(Ordering::Acquire)
    }

    /// Sleeps for about a jiffy, or until a worker reports.
    pub(crate) fn pause(&self) {
        let mut progress = self.progress.lock();
        let _ = self.changed.wait_interruptible_timeout(&mut progress, 1);
    }

    /// Waits, for at most `ms` milliseconds, until `count` workers have reported; returns
    /// whether they have.
    pub(crate) fn wait_for_reports(&self, count: usize, ms: u32) -> bool {
        let mut progress = self.progress.lock();
        let mut left = msecs_to_jiffies(ms);
        while progress.finished < count {
            match self.changed.wait_interruptible_timeout(&mut progress, left) {
                CondVarTimeoutResult::Woken { jiffies } => left = jiffies,
                _ => break,
            }
        }
        progress.finished >= count
    }

    /// Tells the workers to stop and returns their tallies added up once all have reported.
    pub(crate) fn stop_and_join(&self) -> Tally {
        self.stop.store(true, Ordering::Release);
        let mut progress = self.progress.lock();
        while progress.finished < self.size {
            self.changed.wait(&mut progress);
        }
        core::mem::take(&mut progress.tally)
    }

    fn report(&self, tally: Tally) {
        let mut progress = self.progress.lock();
        progress.finished += 1;
        progress.tally.add(tally);
        self.changed.notify_all();
    }
}
