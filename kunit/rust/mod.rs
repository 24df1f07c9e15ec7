// SPDX-License-Identifier: GPL-2.0

//! KUnit test suites written in Rust.
//!
//! Linux 6.12 has no `#[kunit_tests]` attribute. This module is this tree's way to declare a
//! KUnit suite in Rust: [`ktest_suite!`] places a `struct kunit_suite` in the
//! `.kunit_test_suites` section, so KUnit's executor runs it at boot like any C suite and
//! `kunit.py` parses its KTAP output.
//!
//! A case is a plain function taking a [`&Test`](Test) and returning a [`CaseResult`]. The
//! assertion macros ([`ktest_assert!`], [`ktest_assert_eq!`], [`ktest_assert_err!`]) report a
//! failure through KUnit's own failure path and then *return* from the case, so that every
//! destructor runs: KUnit's C assertions instead end the case's kthread, which would skip Rust's
//! `Drop` and leak (or leave locked, or mapped) whatever the case held. A kernel [`Error`]
//! propagated with `?` fails the case too, and the report names the line of the `?`.
//!
//! C header: [`include/kunit/test.h`](srctree/include/kunit/test.h)
//!
//! # Examples
//!
//! ```ignore
//! use kernel::{ktest::{CaseResult, Test}, ktest_assert_eq, ktest_suite};
//!
//! fn adds_up(test: &Test) -> CaseResult {
//!     ktest_assert_eq!(test, 1 + 1, 2);
//!     Ok(())
//! }
//!
//! ktest_suite!(arithmetic, [adds_up]);
//! ```
//!
//! [`Error`]: crate::error::Error
//! [`ktest_suite!`]: crate::ktest_suite
//! [`ktest_assert!`]: crate::ktest_assert
//! [`ktest_assert_eq!`]: crate::ktest_assert_eq
//! [`ktest_assert_err!`]: crate::ktest_assert_err

mod case;
mod sched;
mod suite;

pub use case::{CaseError, CaseResult, Test};
pub use sched::cond_resched;
pub use suite::{case, case_terminator, run_case, suite, SuiteCell, SUITE_NAME_MAX};
