// SPDX-License-Identifier: GPL-2.0

//! Timing an operation repeatedly, and reporting the median and the 99th percentile in one line
//! that `cargo xtask bench` reads back.

use kernel::{
    alloc::{flags::GFP_KERNEL, KVec},
    error::{code::*, Result},
    ktest::cond_resched,
    pr_info,
    time::Ktime,
};

/// How many samples of how many operations each.
#[derive(Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) samples: usize,
    pub(crate) batch: u32,
}

impl Plan {
    /// One sample of one operation: the smoke run.
    pub(crate) const ONCE: Plan = Plan {
        samples: 1,
        batch: 1,
    };
}

/// Durations of one operation, in nanoseconds per operation.
pub(crate) struct Samples(KVec<u64>);

impl Samples {
    /// Room for `count` samples, all zero, for a C loop to fill.
    pub(crate) fn zeroed(count: usize) -> Result<Self> {
        Ok(Self(KVec::from_elem(0, count, GFP_KERNEL)?))
    }

    /// The samples, for a C loop to fill.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u64] {
        &mut self.0
    }

    /// Times `plan.samples` runs of `plan.batch` calls of `op`.
    pub(crate) fn measure(plan: Plan, mut op: impl FnMut() -> Result) -> Result<Self> {
        let batch = plan.batch.max(1);
        let mut samples = KVec::with_capacity(plan.samples, GFP_KERNEL)?;
        for _ in 0..plan.samples {
            let start = now_ns();
            for _ in 0..batch {
                op()?;
            }
            samples.push(
                now_ns().saturating_sub(start) / u64::from(batch),
                GFP_KERNEL,
            )?;
            // No involuntary preemption in the guest: let the rest of the system run.
            cond_resched();
        }
        Ok(Self(samples))
    }

    /// The median and the 99th percentile; `EINVAL` without samples.
    pub(crate) fn median_and_p99(&self) -> Result<(u64, u64)> {
        let mut sorted = KVec::with_capacity(self.0.len(), GFP_KERNEL)?;
        for sample in self.0.iter() {
            sorted.push(*sample, GFP_KERNEL)?;
        }
        sorted.sort_unstable();
        let count = sorted.len();
        let median = *sorted.get(count / 2).ok_or(EINVAL)?;
        // The smallest sample that at least 99 % of the samples do not exceed.
        let rank = (count * 99).div_ceil(100).saturating_sub(1);
        let p99 = *sorted.get(rank).ok_or(EINVAL)?;
        Ok((median, p99))
    }

    /// Prints the result line `cargo xtask bench` parses: `drm_vmap_client_bench: measured
    /// <backend> <width>x<height> <op> median_ns=<n> p99_ns=<n> samples=<n>`.
    pub(crate) fn report(&self, backend: &str, (width, height): (u32, u32), op: &str) -> Result {
        let (median, p99) = self.median_and_p99()?;
        let samples = self.0.len();
        pr_info!(
            "drm_vmap_client_bench: measured {backend} {width}x{height} {op} {}\n",
            format_args!("median_ns={median} p99_ns={p99} samples={samples}")
        );
        Ok(())
    }
}

fn now_ns() -> u64 {
    u64::try_from(Ktime::ktime_get().to_ns()).unwrap_or(0)
}
