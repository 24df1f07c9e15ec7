// SPDX-License-Identifier: GPL-2.0

//! The harness's own check: one case that fails when, and only when, the kernel command line
//! asks it to (`drm_vmap_client_fail_on_purpose=1`). `cargo xtask test` boots once more with
//! that flag and fails unless it sees this case fail, so a harness that would report a failing
//! case as a pass is caught. The case also logs an error (`pr_err`), which the same boot must
//! find among the guest log's reports.

use kernel::{
    drm_client::testing,
    ktest::{CaseResult, Test},
    ktest_assert, ktest_suite, pr_err,
};

fn fails_when_told_to(test: &Test) -> CaseResult {
    if testing::fail_on_purpose() {
        pr_err!("failing on purpose, as the command line asks\n");
    }
    ktest_assert!(test, !testing::fail_on_purpose());
    Ok(())
}

ktest_suite!(drm_vmap_client_harness, [fails_when_told_to]);
