// SPDX-License-Identifier: GPL-2.0

//! Declaring a suite: the `struct kunit_suite` and `struct kunit_case` array KUnit runs.

use super::{CaseError, CaseResult, Test};
use crate::{bindings, str::CStr};
use core::cell::UnsafeCell;

/// Static storage for a structure that KUnit's executor writes to while it runs a suite.
///
/// KUnit keeps per-run state (status, log) inside `struct kunit_suite` and `struct kunit_case`,
/// so they must be writable statics.
#[repr(transparent)]
pub struct SuiteCell<T>(UnsafeCell<T>);

// SAFETY: Only KUnit's executor accesses the contents, through the raw pointer in the suite
// table, and it runs the cases of one suite one after another; Rust code never forms references
// to the contents.
unsafe impl<T> Sync for SuiteCell<T> {}

impl<T> SuiteCell<T> {
    /// Wraps `value` for a `static`.
    pub const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    /// The address KUnit is given.
    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// A case entry running `run`, named `name`.
pub const fn case(
    name: &'static CStr,
    run: unsafe extern "C" fn(*mut bindings::kunit),
) -> bindings::kunit_case {
    let mut case = case_terminator();
    case.name = name.as_char_ptr();
    case.run_case = Some(run);
    case
}

/// The all-zero entry that ends a case array.
pub const fn case_terminator() -> bindings::kunit_case {
    // SAFETY: `struct kunit_case` holds pointers, optional function pointers and integers, for
    // which all-zero is valid (null, `None`, `KUNIT_SUCCESS`); KUnit ends the array at it.
    unsafe { core::mem::zeroed() }
}

/// The longest suite name `struct kunit_suite` holds, without the NUL.
pub const SUITE_NAME_MAX: usize = 255;

/// A suite named `name` running the NUL-terminated array `cases`.
///
/// A name longer than [`SUITE_NAME_MAX`] is cut; [`ktest_suite!`] rejects one at build time.
///
/// [`ktest_suite!`]: crate::ktest_suite
pub const fn suite(name: &'static CStr, cases: *mut bindings::kunit_case) -> bindings::kunit_suite {
    // SAFETY: `struct kunit_suite` holds a name array, pointers, optional function pointers and
    // integers, for which all-zero is valid; KUnit fills in the private fields.
    let mut suite: bindings::kunit_suite = unsafe { core::mem::zeroed() };
    let bytes = name.as_bytes_with_nul();
    let mut i = 0;
    // The last byte of the zeroed array stays NUL.
    while i < bytes.len() && i < SUITE_NAME_MAX && i < suite.name.len() {
        suite.name[i] = bytes[i];
        i += 1;
    }
    suite.test_cases = cases;
    suite
}

/// Runs one case for KUnit and reports an unexpected kernel error it returned.
///
/// # Safety
///
/// `test` must be the `struct kunit` KUnit passed to the case's `run_case` callback.
pub unsafe fn run_case(test: *mut bindings::kunit, case: fn(&Test) -> CaseResult) {
    // SAFETY: The caller passes the running case's `struct kunit`; the reference does not
    // outlive this call.
    let test = unsafe { Test::from_raw(test) };
    if let Err(CaseError::Unexpected { error, location }) = case(test) {
        test.fail(location, format_args!("unexpected error {error:?}"));
    }
}

/// Declares a KUnit suite named `$suite` with the case functions `$case`.
///
/// Each case is a `fn(&Test) -> CaseResult` in scope where the macro is used. The suite is
/// registered in the `.kunit_test_suites` section, so KUnit's executor runs it at boot.
#[macro_export]
macro_rules! ktest_suite {
    ($suite:ident, [$($case:ident),+ $(,)?] $(,)?) => {
        const _: () = {
            use $crate::ktest::SuiteCell;

            const CASE_COUNT: usize = [$(stringify!($case)),+].len();
            const _: () = assert!(
                stringify!($suite).len() <= $crate::ktest::SUITE_NAME_MAX,
                "KUnit suite name too long"
            );

            static CASES: SuiteCell<[$crate::bindings::kunit_case; CASE_COUNT + 1]> =
                SuiteCell::new([
                    $($crate::ktest::case($crate::c_str!(stringify!($case)), {
                        unsafe extern "C" fn trampoline(test: *mut $crate::bindings::kunit) {
                            // SAFETY: KUnit calls `run_case` with the running case's test.
                            unsafe { $crate::ktest::run_case(test, $case) }
                        }
                        trampoline
                    }),)+
                    $crate::ktest::case_terminator(),
                ]);

            static SUITE: SuiteCell<$crate::bindings::kunit_suite> = SuiteCell::new(
                $crate::ktest::suite($crate::c_str!(stringify!($suite)), CASES.get().cast()),
            );

            #[used]
            #[link_section = ".kunit_test_suites"]
            static ENTRY: SuiteCell<*mut $crate::bindings::kunit_suite> =
                SuiteCell::new(SUITE.get());
        };
    };
}
