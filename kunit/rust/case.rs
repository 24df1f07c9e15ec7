// SPDX-License-Identifier: GPL-2.0

//! A running KUnit case: the handle KUnit passes in, and how a case fails.

use crate::{
    alloc::AllocError,
    bindings,
    error::{code::ENOMEM, Error},
    str::CString,
    types::Opaque,
};
use core::{ffi::c_void, fmt, panic::Location, ptr};

/// What a test case returns: `Ok(())` passes, any error fails the case.
pub type CaseResult = core::result::Result<(), CaseError>;

/// Why a case ended early.
#[derive(Debug)]
pub enum CaseError {
    /// An assertion failed and has been reported to KUnit already.
    Reported,
    /// The case was marked skipped ([`Test::skip`]): the machine lacks what it needs.
    Skipped,
    /// A kernel call failed where the case did not expect it; reported when the case returns.
    Unexpected {
        /// The error the kernel call returned.
        error: Error,
        /// Where the error left the case (the `?`).
        location: &'static Location<'static>,
    },
}

impl From<Error> for CaseError {
    #[track_caller]
    fn from(error: Error) -> Self {
        CaseError::Unexpected {
            error,
            location: Location::caller(),
        }
    }
}

impl From<AllocError> for CaseError {
    #[track_caller]
    fn from(_: AllocError) -> Self {
        CaseError::Unexpected {
            error: ENOMEM,
            location: Location::caller(),
        }
    }
}

/// A KUnit test case in progress (`struct kunit`).
///
/// # Invariants
///
/// The wrapped `struct kunit` is the one KUnit passed to the running case, valid while it runs.
#[repr(transparent)]
pub struct Test(Opaque<bindings::kunit>);

impl Test {
    /// Creates a reference to the case KUnit is running.
    ///
    /// # Safety
    ///
    /// `ptr` must point to the `struct kunit` of a running case, and the returned reference must
    /// not be used after that case returns.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::kunit) -> &'a Self {
        // SAFETY: `Test` is a transparent wrapper of `struct kunit`, and the caller guarantees
        // that `ptr` is valid for `'a`.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// Fails the case unless `condition` holds.
    #[track_caller]
    pub fn check(&self, condition: bool, expression: &str) -> CaseResult {
        if condition {
            return Ok(());
        }
        Err(self.fail(
            Location::caller(),
            format_args!("Expected {expression} to be true, but is false"),
        ))
    }

    /// Fails the case unless `left == right`, showing both values.
    #[track_caller]
    pub fn check_eq<T: PartialEq + fmt::Debug + ?Sized>(
        &self,
        left: &T,
        right: &T,
        expressions: (&str, &str),
    ) -> CaseResult {
        if left == right {
            return Ok(());
        }
        Err(self.fail(
            Location::caller(),
            format_args!(
                "Expected {} == {}, but\n        left: {:?}\n        right: {:?}",
                expressions.0, expressions.1, left, right
            ),
        ))
    }

    /// Fails the case unless `result` is the error `expected`.
    #[track_caller]
    pub fn check_err<T>(
        &self,
        result: &crate::error::Result<T>,
        expected: Error,
        expression: &str,
    ) -> CaseResult {
        match result {
            Err(error) if *error == expected => Ok(()),
            Err(error) => Err(self.fail(
                Location::caller(),
                format_args!("Expected {expression} to fail with {expected:?}, got {error:?}"),
            )),
            Ok(_) => Err(self.fail(
                Location::caller(),
                format_args!("Expected {expression} to fail with {expected:?}, but it succeeded"),
            )),
        }
    }

    /// Tries a hostile input, which the layer must refuse with `expected`: `result` is what it
    /// made of it. Logs `hostile input: <what>: errno <N>, clean` for `cargo xtask test` to
    /// count, or fails the case (and logs the entry as not clean). Whether the refusal left
    /// anything behind is for the case's own leak check.
    #[track_caller]
    pub fn hostile_input<T>(
        &self,
        what: fmt::Arguments<'_>,
        result: &crate::error::Result<T>,
        expected: Error,
    ) -> CaseResult {
        let errno = expected.to_errno();
        match result {
            Err(error) if *error == expected => {
                crate::pr_info!("hostile input: {what}: errno {errno}, clean\n");
                Ok(())
            }
            Err(error) => {
                let got = error.to_errno();
                crate::pr_info!("hostile input: {what}: errno {got}, expected {errno}\n");
                Err(self.fail(
                    Location::caller(),
                    format_args!("{what}: expected errno {errno}, got {got}"),
                ))
            }
            Ok(_) => {
                crate::pr_info!("hostile input: {what}: accepted, expected errno {errno}\n");
                Err(self.fail(
                    Location::caller(),
                    format_args!("{what}: accepted, expected errno {errno}"),
                ))
            }
        }
    }

    /// Marks the case skipped, with `reason` as its KTAP `# SKIP` comment, and returns the error
    /// that ends it: `return Err(test.skip(format_args!("no {name} device")))`. For cases that
    /// need hardware the machine lacks: a skip is reported, not passed and not failed.
    pub fn skip(&self, reason: fmt::Arguments<'_>) -> CaseError {
        let formatted = CString::try_from_fmt(reason);
        let reason = match &formatted {
            Ok(reason) => reason.as_char_ptr(),
            // Out of memory: the skip still counts, with a generic comment.
            Err(_) => c"skipped".as_ptr().cast(),
        };
        // SAFETY: `self` wraps the running case's `struct kunit`; `reason` is a NUL-terminated
        // string that the helper copies into the case's status comment before returning.
        unsafe { bindings::drm_vmap_client_kunit_skip(self.0.get(), reason) };
        CaseError::Skipped
    }

    /// Sleeps for `ms` milliseconds, for a case that waits for deferred work to finish (the
    /// delayed release of a file, a work item).
    pub fn sleep_ms(&self, ms: u32) {
        // SAFETY: `msleep()` has no preconditions beyond process context, which a case's thread
        // is; `&Test` cannot leave that thread (`Test` is neither `Send` nor `Sync`).
        unsafe { bindings::msleep(ms) };
    }

    /// Reports a failure at `location` through KUnit and marks the case as failed.
    ///
    /// Unlike KUnit's C assertions this does not end the case's thread: the caller returns the
    /// [`CaseError`] so that the case unwinds through its destructors.
    pub fn fail(&self, location: &Location<'_>, message: fmt::Arguments<'_>) -> CaseError {
        let file = SourcePath::new(location.file());
        let loc = bindings::kunit_loc {
            line: i32::try_from(location.line()).unwrap_or(i32::MAX),
            file: file.as_ptr(),
        };
        let assert = bindings::kunit_fail_assert {
            assert: bindings::kunit_assert {},
        };
        // SAFETY: By the type invariant `self` is the running case. `loc`, `assert`, `file` and
        // `message` outlive the call, which formats the report before returning. The format
        // string is NUL-terminated and `%pA` takes a `fmt::Arguments`, which is what we pass.
        unsafe {
            bindings::__kunit_do_failed_assertion(
                self.0.get(),
                &loc,
                bindings::kunit_assert_type_KUNIT_ASSERTION,
                &assert.assert,
                Some(bindings::kunit_fail_assert_format),
                c"%pA".as_ptr().cast(),
                ptr::from_ref(&message).cast::<c_void>(),
            )
        };
        CaseError::Reported
    }
}

/// A source file path as the NUL-terminated string `struct kunit_loc` wants.
///
/// Long paths keep their end, which names the file.
struct SourcePath([u8; SourcePath::CAPACITY]);

impl SourcePath {
    const CAPACITY: usize = 128;

    fn new(path: &str) -> Self {
        let mut buffer = [0u8; Self::CAPACITY];
        let bytes = path.as_bytes();
        let tail = bytes
            .get(bytes.len().saturating_sub(Self::CAPACITY - 1)..)
            .unwrap_or_default();
        for (slot, byte) in buffer.iter_mut().zip(tail) {
            *slot = *byte;
        }
        Self(buffer)
    }

    fn as_ptr(&self) -> *const crate::ffi::c_char {
        self.0.as_ptr().cast()
    }
}

/// Fails the case and returns from it unless the condition holds.
#[macro_export]
macro_rules! ktest_assert {
    ($test:expr, $condition:expr $(,)?) => {
        $test.check($condition, stringify!($condition))?
    };
}

/// Fails the case and returns from it unless both values are equal.
#[macro_export]
macro_rules! ktest_assert_eq {
    ($test:expr, $left:expr, $right:expr $(,)?) => {
        $test.check_eq(&$left, &$right, (stringify!($left), stringify!($right)))?
    };
}

/// Fails the case and returns from it unless the result is the given error.
#[macro_export]
macro_rules! ktest_assert_err {
    ($test:expr, $result:expr, $error:expr $(,)?) => {
        $test.check_err(&$result, $error, stringify!($result))?
    };
}

/// Tries a hostile input: fails the case unless `$result` is the error `$error`, and logs the
/// input as tried for the run's summary; see [`Test::hostile_input`].
#[macro_export]
macro_rules! ktest_hostile {
    ($test:expr, $result:expr, $error:expr $(,)?) => {
        $test.hostile_input(format_args!("{}", stringify!($result)), &$result, $error)?
    };
}
