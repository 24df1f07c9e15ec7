// SPDX-License-Identifier: GPL-2.0

//! Module parameters for Rust code, built in or loadable: options on the kernel command line
//! (`module.name=value`) or given at load time (`name=value`) that may also be read and written
//! in `/sys/module/<module>/parameters/`.
//!
//! Linux 6.12's `module!` macro has no parameters. Here a parameter is a `static` implementing
//! [`ParamValue`], which parses and prints its own text, so a bad value is refused (or logged
//! and ignored) by the code that knows what the value means; [`module_param!`] places the
//! `struct kernel_param` describing it in the `__param` section, where the kernel's argument
//! parser and sysfs find it exactly as they find C's `module_param_cb()`.
//!
//! Ready-made values: [`RangedU32`] (an integer within bounds, `EINVAL` otherwise), [`Flag`] (a
//! boolean, `kstrtobool()` spellings) and [`Text`] (a short string, set once at boot).
//!
//! C header: [`include/linux/moduleparam.h`](srctree/include/linux/moduleparam.h)
//!
//! # Examples
//!
//! ```ignore
//! use kernel::{module_param, module_param::RangedU32};
//!
//! static PROGRESS: RangedU32 = RangedU32::new(0, 0, 100);
//! module_param!(PARAM_PROGRESS, "bootsplash", "progress", PROGRESS, 0o644);
//! ```
//!
//! [`module_param!`]: macro@crate::module_param

use crate::{
    bindings,
    error::{code::*, Error, Result},
    ffi::{c_char, c_int},
    str::CStr,
};
use core::{
    fmt::Write,
    marker::PhantomData,
    sync::atomic::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering},
};

/// The size of the buffer the kernel gives [`ParamValue::print`] (`PAGE_SIZE` at least).
const PRINT_BUFFER: usize = 4096;

/// A value that can stand behind a module parameter.
///
/// The kernel serialises calls for one parameter (`kernel_param_lock()`), but readers of the
/// value are not serialised with them: implementations keep their value in atomics.
pub trait ParamValue: Sync + 'static {
    /// Sets the value from `text` (the command line's word, or what was written to sysfs,
    /// without its trailing newline). An error is the errno the writer sees; on the command
    /// line the kernel logs the word as invalid for the parameter.
    fn parse(&self, text: &[u8]) -> Result;

    /// Prints the value for sysfs, usually with a trailing newline.
    fn print(&self, out: &mut Writer<'_>) -> Result;
}

/// Text for sysfs, cut at the buffer's end.
pub struct Writer<'a> {
    buffer: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    /// A writer filling `buffer` from its start.
    pub fn new(buffer: &'a mut [u8]) -> Self {
        Self { buffer, len: 0 }
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        &self.buffer[..self.len]
    }

    /// Appends `bytes`, as much of them as fits.
    pub fn bytes(&mut self, bytes: &[u8]) {
        let room = self.buffer.len() - self.len;
        let take = bytes.len().min(room);
        self.buffer[self.len..self.len + take].copy_from_slice(&bytes[..take]);
        self.len += take;
    }
}

impl Write for Writer<'_> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        self.bytes(text.as_bytes());
        Ok(())
    }
}

/// An integer parameter that accepts only values in `min..=max` (decimal or `0x` hex).
pub struct RangedU32 {
    value: AtomicU32,
    min: u32,
    max: u32,
}

impl RangedU32 {
    /// A parameter worth `default` until set, taking values from `min` to `max`.
    pub const fn new(default: u32, min: u32, max: u32) -> Self {
        Self {
            value: AtomicU32::new(default),
            min,
            max,
        }
    }

    /// The current value.
    pub fn get(&self) -> u32 {
        self.value.load(Ordering::Acquire)
    }

    /// Sets the value as a write would; `EINVAL` out of range.
    pub fn set(&self, value: u32) -> Result {
        if !(self.min..=self.max).contains(&value) {
            return Err(EINVAL);
        }
        self.value.store(value, Ordering::Release);
        Ok(())
    }
}

impl ParamValue for RangedU32 {
    fn parse(&self, text: &[u8]) -> Result {
        self.set(parse_u32(text)?)
    }

    fn print(&self, out: &mut Writer<'_>) -> Result {
        writeln!(out, "{}", self.get()).map_err(|_| EINVAL)
    }
}

/// A boolean parameter: `1`/`0`, `y`/`n`, `on`/`off` as `kstrtobool()` spells them; the bare
/// name on the command line means true.
pub struct Flag(AtomicBool);

impl Flag {
    /// A flag worth `default` until set.
    pub const fn new(default: bool) -> Self {
        Self(AtomicBool::new(default))
    }

    /// The current value.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Sets the value.
    pub fn set(&self, value: bool) {
        self.0.store(value, Ordering::Release);
    }
}

impl ParamValue for Flag {
    fn parse(&self, text: &[u8]) -> Result {
        self.set(parse_bool(text)?);
        Ok(())
    }

    fn print(&self, out: &mut Writer<'_>) -> Result {
        out.bytes(if self.get() { b"Y\n" } else { b"N\n" });
        Ok(())
    }
}

/// A string parameter of at most `N - 1` bytes, meant to be set on the command line and only
/// read afterwards (give it a read-only permission): a write while someone reads could mix
/// two values.
pub struct Text<const N: usize> {
    bytes: [AtomicU8; N],
    len: AtomicUsize,
}

impl<const N: usize> Text<N> {
    /// An empty string.
    pub const fn new() -> Self {
        Self {
            bytes: [const { AtomicU8::new(0) }; N],
            len: AtomicUsize::new(0),
        }
    }

    /// Sets the value; `EINVAL` if it does not fit (with room for a NUL) or holds a NUL.
    pub fn set(&self, text: &[u8]) -> Result {
        if text.len() >= N || text.contains(&0) {
            return Err(EINVAL);
        }
        self.len.store(0, Ordering::Release);
        for (slot, byte) in self.bytes.iter().zip(text.iter().chain(&[0])) {
            slot.store(*byte, Ordering::Relaxed);
        }
        self.len.store(text.len(), Ordering::Release);
        Ok(())
    }

    /// Copies the value, NUL-terminated, into `out`; returns its length without the NUL, or
    /// `None` if the value is empty.
    pub fn copy_to(&self, out: &mut [u8; N]) -> Option<usize> {
        let len = self.len.load(Ordering::Acquire).min(N - 1);
        for (byte, slot) in out.iter_mut().zip(&self.bytes) {
            *byte = slot.load(Ordering::Relaxed);
        }
        out[len] = 0;
        (len > 0).then_some(len)
    }
}

impl<const N: usize> Default for Text<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> ParamValue for Text<N> {
    fn parse(&self, text: &[u8]) -> Result {
        self.set(text)
    }

    fn print(&self, out: &mut Writer<'_>) -> Result {
        let mut copy = [0u8; N];
        let len = self.copy_to(&mut copy).unwrap_or(0);
        out.bytes(&copy[..len]);
        out.bytes(b"\n");
        Ok(())
    }
}

/// Parses a decimal or `0x`-prefixed hexadecimal `u32`, as `kstrtouint(.., 0, ..)` does for
/// those two bases; `EINVAL` for anything else, `ERANGE` if it overflows.
pub fn parse_u32(text: &[u8]) -> Result<u32> {
    let (digits, radix) = match text {
        [b'0', b'x' | b'X', rest @ ..] => (rest, 16),
        _ => (text, 10),
    };
    if digits.is_empty() {
        return Err(EINVAL);
    }
    let mut value: u32 = 0;
    for &digit in digits {
        let digit = char::from(digit).to_digit(radix).ok_or(EINVAL)?;
        value = value
            .checked_mul(radix)
            .and_then(|value| value.checked_add(digit))
            .ok_or(ERANGE)?;
    }
    Ok(value)
}

/// Parses a boolean as `kstrtobool()` does: `1 y Y t T on` and `0 n N f F off`.
pub fn parse_bool(text: &[u8]) -> Result<bool> {
    match text {
        [b'1' | b'y' | b'Y' | b't' | b'T', ..] => Ok(true),
        [b'0' | b'n' | b'N' | b'f' | b'F', ..] => Ok(false),
        [b'o' | b'O', b'n' | b'N', ..] => Ok(true),
        [b'o' | b'O', b'f' | b'F', ..] => Ok(false),
        _ => Err(EINVAL),
    }
}

/// The `struct kernel_param` of one parameter, in the `__param` section.
///
/// # Invariants
///
/// `arg` points at a `'static` `P` and `ops` is `ParamOps::<P>::OPS` for the same `P`.
#[repr(transparent)]
pub struct KernelParam(bindings::kernel_param);

// SAFETY: The kernel reads the descriptor; its pointers lead to data that lives as long as the
// descriptor: the name, the operations, a value that is `Sync`, and the module that holds them.
unsafe impl Sync for KernelParam {}

impl KernelParam {
    /// The descriptor of parameter `name` (`"module.param"` for built-in code) backed by
    /// `value`, visible in sysfs with permission `perm` (0: not at all), belonging to `module`
    /// (null for built-in code). Use [`module_param!`](macro@crate::module_param).
    pub const fn new<P: ParamValue>(
        name: &'static CStr,
        value: &'static P,
        perm: u16,
        module: *mut bindings::module,
    ) -> Self {
        // INVARIANT: `arg` and `ops` belong to the same `P`.
        Self(bindings::kernel_param {
            name: name.as_char_ptr(),
            mod_: module,
            ops: &ParamOps::<P>::OPS,
            perm,
            level: -1,
            flags: 0,
            __bindgen_anon_1: bindings::kernel_param__bindgen_ty_1 {
                arg: core::ptr::from_ref(value).cast_mut().cast(),
            },
        })
    }
}

/// The `struct kernel_param_ops` for values of type `P`.
struct ParamOps<P>(PhantomData<P>);

impl<P: ParamValue> ParamOps<P> {
    const OPS: bindings::kernel_param_ops = bindings::kernel_param_ops {
        flags: 0,
        set: Some(Self::set),
        get: Some(Self::get),
        free: None,
    };

    /// The value behind `param`.
    ///
    /// # Safety
    ///
    /// `param` must be a [`KernelParam`] made for a `P`.
    unsafe fn value<'a>(param: *const bindings::kernel_param) -> &'a P {
        // SAFETY: `arg` points at a `'static` `P` (type invariant of `KernelParam`).
        unsafe { &*(*param).__bindgen_anon_1.arg.cast::<P>() }
    }

    /// `kernel_param_ops.set`.
    ///
    /// # Safety
    ///
    /// Called by the kernel's parameter code with a NUL-terminated `text` (or null, for a bare
    /// name on the command line) and one of our descriptors.
    unsafe extern "C" fn set(text: *const c_char, param: *const bindings::kernel_param) -> c_int {
        let text = if text.is_null() {
            // A bare `module.flag` means "on", as for C's bool parameters.
            &b"1"[..]
        } else {
            // SAFETY: The kernel passes a NUL-terminated string.
            unsafe { CStr::from_char_ptr(text) }.as_bytes()
        };
        let text = text.strip_suffix(b"\n").unwrap_or(text);
        // SAFETY: One of our descriptors, made for a `P`.
        match unsafe { Self::value(param) }.parse(text) {
            Ok(()) => 0,
            Err(error) => error.to_errno(),
        }
    }

    /// `kernel_param_ops.get`.
    ///
    /// # Safety
    ///
    /// Called by the kernel's parameter code with a buffer of `PAGE_SIZE` bytes and one of our
    /// descriptors.
    unsafe extern "C" fn get(buffer: *mut c_char, param: *const bindings::kernel_param) -> c_int {
        // SAFETY: The buffer is a page, ours to fill.
        let buffer = unsafe { core::slice::from_raw_parts_mut(buffer.cast::<u8>(), PRINT_BUFFER) };
        let mut out = Writer::new(buffer);
        // SAFETY: One of our descriptors, made for a `P`.
        match unsafe { Self::value(param) }.print(&mut out) {
            Ok(()) => c_int::try_from(out.written().len()).unwrap_or(0),
            Err(error) => Error::to_errno(error),
        }
    }
}

/// Declares parameter `$name` of module `$module` (both string literals) backed by the
/// `static` `$value`, with sysfs permission `$perm`; `$descriptor` names the descriptor's
/// `static`.
///
/// Built in, the parameter is `module.name` on the kernel command line; in a loadable module
/// it is `name`, given to `insmod` (or by `modprobe`, from `module.name` on the command line),
/// and the descriptor names the module that owns it, as C's `module_param_cb()` does.
#[macro_export]
macro_rules! module_param {
    ($descriptor:ident, $module:literal, $name:literal, $value:ident, $perm:expr) => {
        #[cfg(not(MODULE))]
        #[link_section = "__param"]
        #[used]
        static $descriptor: $crate::module_param::KernelParam =
            $crate::module_param::KernelParam::new(
                $crate::c_str!(::core::concat!($module, ".", $name)),
                &$value,
                $perm,
                ::core::ptr::null_mut(),
            );
        #[cfg(MODULE)]
        #[link_section = "__param"]
        #[used]
        static $descriptor: $crate::module_param::KernelParam = {
            extern "C" {
                static __this_module: $crate::types::Opaque<$crate::bindings::module>;
            }
            $crate::module_param::KernelParam::new(
                $crate::c_str!($name),
                &$value,
                $perm,
                // SAFETY: The loader fills `__this_module` in before it parses the parameters;
                // only its address is taken here.
                unsafe { __this_module.get() },
            )
        };
    };
}
