// SPDX-License-Identifier: GPL-2.0

//! fbdev emulation for in-kernel DRM clients: a `struct fb_info` (`/dev/fbN`, fbcon) whose
//! pixels live in a system-memory shadow, and whose drawing is reported as damage.
//!
//! fbcon may draw in atomic context (a panic, a printk under a spinlock), so it never touches
//! the device's buffer: it draws into a [`Shadow`], vmalloc memory that fbdev's `sys_*` helpers
//! and deferred I/O (`mmap` users) understand. Every drawing operation, `write()`, and every page
//! that an `mmap` user dirtied is reported to an [`FbHandler`], which copies the damaged rows
//! into its framebuffer when it likes (through the cached-vmap protocol) and flushes them.
//!
//! The `struct fb_ops` is ours: `DRM_FB_HELPER_DEFAULT_OPS` assumes `info->par` is a
//! `struct drm_fb_helper`. [`FbDevice`] registers the `fb_info`; dropping it unregisters it,
//! and the `fb_info`, the shadow and the handler stay until the last user closes the device
//! (`fb_destroy`). Operations on a file still open after that fail with `ENODEV` (fbdev's
//! core checks that the `fb_info` is still registered), and the pages of user mappings are
//! unmapped before the unregistration: their next access faults and gets `SIGBUS`.
//!
//! Zero-copy (mapping the device's or vgem's pages into user space under deferred I/O, as C's
//! shmem flavour does) is not offered: 6.12's deferred I/O overwrites `page->mapping` of the
//! pages it tracks, which breaks shmem pages.
//!
//! C header: [`include/linux/fb.h`](srctree/include/linux/fb.h)

use crate::{
    alloc::{flags::GFP_KERNEL, VVec},
    bindings,
    drm_client::{Damage, Device, Format, Layout},
    error::{code::*, to_result, Result},
    ffi::{c_char, c_int, c_uint, c_ulong, c_void},
    str::CStr,
    sync::Arc,
    types::Opaque,
    vmap_cache::{fault_point, Mapping},
};
use core::{
    marker::PhantomData,
    mem::size_of,
    ptr::{null_mut, NonNull},
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
};

/// `fb_info`s of ours allocated and not destroyed yet: registered, or unregistered and still
/// held by an open file.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// How many of our `fb_info`s exist: registered ones, and unregistered ones that a file
/// still holds open. Leak checks compare it before and after.
pub fn live_devices() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// What an [`FbDevice`] reports to its owner.
pub trait FbHandler: Send + Sync + 'static {
    /// `area` of the shadow was drawn (fbcon, `write()`). May be called in atomic context,
    /// even during an oops: must not sleep, and should only take note and ask for a flush.
    fn damaged(&self, area: Damage);

    /// Deferred I/O found `area` written by an `mmap` user, or `fsync()` asks for what was.
    /// Called from deferred I/O's worker under its lock, which page faults on the mapping
    /// take under `mmap_lock`: it must not take modeset locks, nor wait for work that does
    /// (their order is before `mmap_lock`). `fsync()` returns when this does.
    fn written(&self, area: Damage) {
        self.damaged(area);
    }

    /// fbcon took the console, or a user set the mode (`FBIOPUT_VSCREENINFO`): the device
    /// should show the framebuffer the shadow is copied to.
    fn set_par(&self) -> Result {
        Ok(())
    }
}

/// Whether the kernel is printing an oops or a panic: nothing may be scheduled then.
pub fn oops_in_progress() -> bool {
    // SAFETY: A plain read of an `int` the kernel only ever sets; a torn value is impossible.
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!(bindings::oops_in_progress)) != 0 }
}

/// The system-memory pixels of an [`FbDevice`]: what fbcon, `write()` and `mmap` users draw.
///
/// # Invariants
///
/// `ptr` is the start of a vmalloc allocation of `layout.size()` bytes (rounded up to whole
/// pages), owned by the shadow and freed on drop. The memory is only ever reached through raw
/// pointers, because fbdev's helpers and user mappings write to it at any time.
pub struct Shadow {
    ptr: NonNull<u8>,
    capacity: usize,
    layout: Layout,
}

// SAFETY: The shadow owns plain memory; concurrent writers are expected (see `copy_to`).
unsafe impl Send for Shadow {}

// SAFETY: As above: `&Shadow` only copies out of the memory through raw pointers.
unsafe impl Sync for Shadow {}

impl Shadow {
    /// Zeroed memory for pixels of `layout` (its pitch is the shadow's).
    pub fn new(layout: Layout) -> Result<Arc<Self>> {
        let pages = layout.size().div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let memory = VVec::<u8>::from_elem(0, pages, GFP_KERNEL)?;
        let (ptr, _, capacity) = memory.into_raw_parts();
        let ptr = NonNull::new(ptr).ok_or(ENOMEM)?;
        // INVARIANT: A vmalloc allocation of at least `pages` bytes, now ours.
        Ok(Arc::new(
            Self {
                ptr,
                capacity,
                layout,
            },
            GFP_KERNEL,
        )?)
    }

    /// The geometry of the pixels.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Copies `area` of the shadow into `dst`, a mapping of a framebuffer of geometry
    /// `dst_layout` (same format and size, any pitch).
    ///
    /// fbcon or a user mapping may write the same bytes meanwhile, as with C's shadow-buffer
    /// emulation; a torn copy is repaired by the copy that the write's own damage causes.
    pub fn copy_to(&self, dst: &mut Mapping<'_>, dst_layout: &Layout, area: Damage) -> Result {
        if dst_layout.format() != self.layout.format()
            || dst_layout.width() < self.layout.width()
            || dst_layout.height() < self.layout.height()
        {
            return Err(EINVAL);
        }
        let src_rect = self.layout.rect(area.x, area.y, area.width, area.height)?;
        let dst_rect = dst_layout.rect(area.x, area.y, area.width, area.height)?;
        let span = src_rect.span()?;
        let first = src_rect.offset;
        // SAFETY: `first..first + span` lies within the layout's size (checked by `rect()` and
        // `span()`), which the allocation covers (type invariant). The bytes are plain data,
        // valid at any value; writers racing with this copy are accepted (see above).
        let src = unsafe { core::slice::from_raw_parts(self.ptr.as_ptr().add(first), span) };
        dst.write_rect(dst_rect, src, self.layout.pitch())
    }
}

impl Drop for Shadow {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `capacity` came from `into_raw_parts()` of a `VVec<u8>` (type
        // invariant); the bytes are initialised and nothing uses the memory any more.
        drop(unsafe {
            VVec::<u8>::from_raw_parts(self.ptr.as_ptr(), self.capacity, self.capacity)
        });
    }
}

/// The size of a page, which the shadow is rounded up to for deferred I/O.
const PAGE_SIZE: usize = bindings::PAGE_SIZE;

/// What `info->par` holds.
struct Par<T: FbHandler> {
    handler: Arc<T>,
    shadow: Arc<Shadow>,
    /// fbcon's colours for a true-colour visual, filled in by `fb_setcolreg`.
    pseudo_palette: Opaque<[u32; 16]>,
    defio: Opaque<bindings::fb_deferred_io>,
    /// Set before the unregistration: deferred I/O maps no page of the shadow any more.
    unplugged: AtomicBool,
}

/// A registered `/dev/fbN` over a [`Shadow`].
///
/// # Invariants
///
/// `info` was allocated by `framebuffer_alloc()` with a `Par<T>` in `info->par`, set up for
/// deferred I/O, and registered; it is unregistered on drop and freed by `fb_destroy` when its
/// last user is gone.
pub struct FbDevice<T: FbHandler> {
    info: NonNull<bindings::fb_info>,
    _handler: PhantomData<T>,
}

// SAFETY: The `fb_info` is only handed to fbdev's core, which locks it itself.
unsafe impl<T: FbHandler> Send for FbDevice<T> {}

// SAFETY: `&FbDevice` only reads the index and calls drawing operations the core would call.
unsafe impl<T: FbHandler> Sync for FbDevice<T> {}

impl<T: FbHandler> FbDevice<T> {
    /// Registers `/dev/fbN` for `device` with the pixels of `shadow`, reporting to `handler`;
    /// `mmap` writes are collected for `1/refresh` seconds before they are reported.
    ///
    /// `name` is the `fix.id` (15 bytes at most). Formats: XRGB8888 and RGB565.
    pub fn register(
        device: &Device,
        name: &CStr,
        shadow: Arc<Shadow>,
        handler: Arc<T>,
        refresh: u32,
    ) -> Result<Self> {
        if refresh == 0 {
            return Err(EINVAL);
        }
        // SAFETY: `device` is a live DRM device; its parent `struct device` outlives the
        // registration, which the owner drops at the device's unregistration.
        let parent = unsafe { (*device.as_raw()).dev };
        // SAFETY: A plain allocation; `par` gets room for a `Par<T>`, aligned to a `long`.
        let info = unsafe { bindings::framebuffer_alloc(size_of::<Par<T>>(), parent) };
        let info = NonNull::new(info).ok_or(ENOMEM)?;
        LIVE.fetch_add(1, Ordering::Relaxed);
        let par = Par {
            handler,
            shadow,
            pseudo_palette: Opaque::new([0; 16]),
            defio: Opaque::new(Self::defio(refresh)),
            unplugged: AtomicBool::new(false),
        };
        // SAFETY: `info` is fresh; its `par` has room for a `Par<T>` (alignment: a `long`,
        // which is enough for its fields).
        unsafe { Self::fill(info.as_ptr(), par, name) };
        // SAFETY: `fbdefio` and `fix.smem_len` are set; on failure nothing was set up.
        let result = to_result(unsafe { bindings::fb_deferred_io_init(info.as_ptr()) });
        if let Err(error) = result {
            // SAFETY: Not registered; freed here only.
            unsafe { Self::free(info.as_ptr()) };
            return Err(error);
        }
        // The registration finding no free minor.
        let result = fault_point(ENXIO).and_then(|()| {
            // SAFETY: Filled in and set up for deferred I/O.
            to_result(unsafe { bindings::register_framebuffer(info.as_ptr()) })
        });
        if let Err(error) = result {
            // SAFETY: Not registered: undo the deferred I/O set-up and free.
            unsafe {
                bindings::fb_deferred_io_cleanup(info.as_ptr());
                Self::free(info.as_ptr());
            }
            return Err(error);
        }
        // INVARIANT: Allocated, filled with a `Par<T>`, set up and registered.
        Ok(Self {
            info,
            _handler: PhantomData,
        })
    }

    /// The `N` of `/dev/fbN`.
    pub fn index(&self) -> u32 {
        // SAFETY: `info` is live until `fb_destroy` (type invariant), which cannot come before
        // our unregistration.
        u32::try_from(unsafe { (*self.info.as_ptr()).node }).unwrap_or(u32::MAX)
    }

    /// The deferred I/O settings: collect for a frame, then report.
    fn defio(refresh: u32) -> bindings::fb_deferred_io {
        // SAFETY: All-zero is a valid `fb_deferred_io` (no callbacks, an empty list head that
        // `fb_deferred_io_init()` initialises).
        let mut defio: bindings::fb_deferred_io = unsafe { core::mem::zeroed() };
        defio.delay = usize::try_from(bindings::HZ / refresh).unwrap_or(1).max(1);
        defio.deferred_io = Some(Self::deferred_io);
        defio.get_page = Some(Self::get_page);
        defio
    }

    /// Writes `par` into `info->par` and describes the shadow's pixels.
    ///
    /// # Safety
    ///
    /// `info` comes fresh from `framebuffer_alloc(size_of::<Par<T>>(), _)`.
    unsafe fn fill(info: *mut bindings::fb_info, par: Par<T>, name: &CStr) {
        // SAFETY: The caller's guarantee: `par` points at room for a `Par<T>`.
        let par_ptr = unsafe { (*info).par.cast::<Par<T>>() };
        // SAFETY: As above; the memory is ours and uninitialised.
        unsafe { par_ptr.write(par) };
        // SAFETY: Just written.
        let par = unsafe { &*par_ptr };
        let layout = *par.shadow.layout();
        // SAFETY: `info` is ours until registered.
        let info = unsafe { &mut *info };
        info.fbops = &FbOps::<T>::OPS;
        // System memory, which fbcon may read back: it scrolls by moving what is drawn instead
        // of redrawing every glyph, as with C's shadow-buffer emulations.
        info.flags = (bindings::FBINFO_VIRTFB | bindings::FBINFO_READS_FAST) as c_int;
        info.__bindgen_anon_1.screen_buffer = par.shadow.ptr.as_ptr().cast::<c_char>();
        info.screen_size = layout.size();
        info.pseudo_palette = par.pseudo_palette.get().cast::<c_void>();
        info.fbdefio = par.defio.get();
        describe(&mut info.fix, &mut info.var, &layout, name);
    }

    /// Drops the `Par<T>` and frees `info`.
    ///
    /// # Safety
    ///
    /// `info` holds a `Par<T>` and is not registered; nothing uses it any more.
    unsafe fn free(info: *mut bindings::fb_info) {
        // SAFETY: The caller's guarantee.
        unsafe {
            core::ptr::drop_in_place((*info).par.cast::<Par<T>>());
            bindings::framebuffer_release(info);
        }
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }

    /// The `Par<T>` of `info`.
    ///
    /// # Safety
    ///
    /// `info` is one of ours, before `fb_destroy`.
    unsafe fn par<'a>(info: *const bindings::fb_info) -> &'a Par<T> {
        // SAFETY: The caller's guarantee; `par` holds a `Par<T>` (type invariant).
        unsafe { &*(*info).par.cast::<Par<T>>() }
    }

    /// `deferred_io`: reports the rows of the pages `mmap` users wrote.
    ///
    /// # Safety
    ///
    /// Only fbdev's core calls this, for one of our `fb_info`s, with valid arguments.
    unsafe extern "C" fn deferred_io(
        info: *mut bindings::fb_info,
        pages: *mut bindings::list_head,
    ) {
        let mut first = 0;
        let mut end = 0;
        // SAFETY: fbdev passes the list of touched pages of `info`, under its lock.
        if !unsafe { bindings::drm_vmap_client_fbdev_touched(pages, &mut first, &mut end) } {
            return;
        }
        // SAFETY: One of ours, alive while fbdev runs its deferred work.
        let par = unsafe { Self::par(info) };
        if let Some(area) = rows_of_bytes(par.shadow.layout(), first, end) {
            par.handler.written(area);
        }
    }
}

impl<T: FbHandler> FbDevice<T> {
    /// `get_page`: the shadow's page at `offset` with a reference, for deferred I/O's fault
    /// handler to map into user space; none once the device is unplugged (`SIGBUS`).
    ///
    /// # Safety
    ///
    /// Only fbdev's core calls this, for one of our `fb_info`s, before `fb_destroy`.
    unsafe extern "C" fn get_page(
        info: *mut bindings::fb_info,
        offset: c_ulong,
    ) -> *mut bindings::page {
        // SAFETY: One of ours, alive while a mapping of it faults.
        let par = unsafe { Self::par(info) };
        let shadow = &par.shadow;
        // `unsigned long` is `usize` in the kernel's C types.
        if offset >= shadow.capacity || par.unplugged.load(Ordering::Acquire) {
            return null_mut();
        }
        // SAFETY: `offset` lies within the shadow's vmalloc allocation (type invariant of
        // `Shadow`), which lives as long as `info`.
        unsafe {
            bindings::drm_vmap_client_fbdev_shadow_page(
                shadow.ptr.as_ptr().add(offset).cast::<c_void>(),
            )
        }
    }

    /// Refuses new user mappings of the shadow's pages and removes those that exist, so that
    /// `mmap` users get `SIGBUS` at their next access, as file operations get `ENODEV`.
    fn unmap_users(&self) {
        // SAFETY: `info` is registered (type invariant), so not freed.
        let par = unsafe { Self::par(self.info.as_ptr()) };
        par.unplugged.store(true, Ordering::Release);
        // SAFETY: As above; the shadow is a vmalloc allocation of `capacity` bytes (type
        // invariant of `Shadow`), alive as long as `info`.
        unsafe {
            bindings::drm_vmap_client_fbdev_unmap_users(
                self.info.as_ptr(),
                par.shadow.ptr.as_ptr().cast::<c_void>(),
                par.shadow.capacity,
            )
        };
    }
}

impl<T: FbHandler> FbDevice<T> {
    /// Checks that `area` lies on the screen: fbcon clips what it draws, fbdev's `sys_*`
    /// helpers, which the operations below reach, do not.
    fn check_on_screen(&self, area: Damage) -> Result {
        // SAFETY: `info` is live until `fb_destroy` (type invariant), which cannot come before
        // our unregistration; the shadow never changes its geometry.
        let layout = unsafe { Self::par(self.info.as_ptr()) }.shadow.layout();
        let fits = |start: u32, length: u32, limit: u32| {
            start.checked_add(length).is_some_and(|end| end <= limit)
        };
        if fits(area.x, area.width, layout.width()) && fits(area.y, area.height, layout.height()) {
            Ok(())
        } else {
            Err(EINVAL)
        }
    }

    /// Calls the registered `fb_info`'s `fb_fillrect` with palette colour `colour` (below 16),
    /// as fbcon does (tests); `EINVAL` if `area` leaves the screen.
    pub fn fill_rect(&self, area: Damage, colour: u32) -> Result {
        self.check_on_screen(area)?;
        if colour > 15 {
            return Err(EINVAL);
        }
        let rect = bindings::fb_fillrect {
            dx: area.x,
            dy: area.y,
            width: area.width,
            height: area.height,
            color: colour,
            rop: bindings::ROP_COPY,
        };
        // SAFETY: `info` is registered (type invariant), its `fbops` ours.
        unsafe {
            ((*(*self.info.as_ptr()).fbops)
                .fb_fillrect
                .unwrap_or(FbOps::<T>::fillrect))(self.info.as_ptr(), &rect)
        };
        Ok(())
    }

    /// Calls the registered `fb_info`'s `fb_copyarea` (tests); `EINVAL` if the source or the
    /// destination leaves the screen.
    pub fn copy_area(&self, from: (u32, u32), to: Damage) -> Result {
        self.check_on_screen(to)?;
        self.check_on_screen(Damage {
            x: from.0,
            y: from.1,
            ..to
        })?;
        let area = bindings::fb_copyarea {
            dx: to.x,
            dy: to.y,
            width: to.width,
            height: to.height,
            sx: from.0,
            sy: from.1,
        };
        // SAFETY: As for `fill_rect`.
        unsafe {
            ((*(*self.info.as_ptr()).fbops)
                .fb_copyarea
                .unwrap_or(FbOps::<T>::copyarea))(self.info.as_ptr(), &area)
        };
        Ok(())
    }

    /// Calls the registered `fb_info`'s `fb_imageblit` with a one-bit `glyph` (rows of
    /// `width.div_ceil(8)` bytes) in palette colours `fg` on `bg`, as fbcon draws text (tests).
    pub fn blit_glyph(&self, at: Damage, glyph: &[u8], fg: u32, bg: u32) -> Result {
        self.check_on_screen(at)?;
        let row = at.width.div_ceil(8) as usize;
        if glyph.len() < row * at.height as usize || fg > 15 || bg > 15 {
            return Err(EINVAL);
        }
        // SAFETY: All-zero is a valid `fb_image` (no colour map).
        let mut image: bindings::fb_image = unsafe { core::mem::zeroed() };
        image.dx = at.x;
        image.dy = at.y;
        image.width = at.width;
        image.height = at.height;
        image.fg_color = fg;
        image.bg_color = bg;
        image.depth = 1;
        image.data = glyph.as_ptr().cast::<c_char>();
        // SAFETY: As for `fill_rect`; the image is on the screen and `glyph` covers its rows
        // (checked above).
        unsafe {
            ((*(*self.info.as_ptr()).fbops)
                .fb_imageblit
                .unwrap_or(FbOps::<T>::imageblit))(self.info.as_ptr(), &image)
        };
        Ok(())
    }

    /// Sets palette colour `index` (0 to 15) through the registered `fb_info`'s
    /// `fb_setcolreg`, as fbcon does with its 16 colours; channels are 16-bit (tests).
    pub fn set_colour(&self, index: u32, red: u16, green: u16, blue: u16) -> Result {
        // SAFETY: As for `fill_rect`.
        let errno = unsafe {
            ((*(*self.info.as_ptr()).fbops)
                .fb_setcolreg
                .unwrap_or(FbOps::<T>::setcolreg))(
                index,
                red.into(),
                green.into(),
                blue.into(),
                0,
                self.info.as_ptr(),
            )
        };
        to_result(errno)
    }
}

impl<T: FbHandler> Drop for FbDevice<T> {
    fn drop(&mut self) {
        self.unmap_users();
        // SAFETY: Registered (type invariant). fbcon lets go of it; `fb_destroy` frees it when
        // the last file is closed, which may be now.
        unsafe { bindings::unregister_framebuffer(self.info.as_ptr()) };
    }
}

/// Fills in the fixed and variable screen information for `layout`.
fn describe(
    fix: &mut bindings::fb_fix_screeninfo,
    var: &mut bindings::fb_var_screeninfo,
    layout: &Layout,
    name: &CStr,
) {
    for (dst, src) in fix.id.iter_mut().zip(name.as_bytes().iter().take(15)) {
        *dst = *src as c_char;
    }
    fix.type_ = bindings::FB_TYPE_PACKED_PIXELS;
    fix.visual = bindings::FB_VISUAL_TRUECOLOR;
    fix.line_length = u32::try_from(layout.pitch()).unwrap_or(0);
    fix.smem_len = u32::try_from(layout.size()).unwrap_or(0);
    fix.accel = bindings::FB_ACCEL_NONE;
    var.xres = layout.width();
    var.yres = layout.height();
    var.xres_virtual = layout.width();
    var.yres_virtual = layout.height();
    var.activate = bindings::FB_ACTIVATE_NOW;
    var.height = u32::MAX;
    var.width = u32::MAX;
    var.vmode = bindings::FB_VMODE_NONINTERLACED;
    let (bits, [red, green, blue]) = match layout.format() {
        Format::Rgb565 => (16, [(11, 5), (5, 6), (0, 5)]),
        _ => (32, [(16, 8), (8, 8), (0, 8)]),
    };
    var.bits_per_pixel = bits;
    for (field, (offset, length)) in [&mut var.red, &mut var.green, &mut var.blue]
        .into_iter()
        .zip([red, green, blue])
    {
        field.offset = offset;
        field.length = length;
    }
}

/// The whole rows that bytes `first..end` of a shadow of geometry `layout` touch.
fn rows_of_bytes(layout: &Layout, first: usize, end: usize) -> Option<Damage> {
    let pitch = layout.pitch();
    if pitch == 0 || first >= end {
        return None;
    }
    let top = u32::try_from(first / pitch).ok()?;
    let bottom = u32::try_from(end.div_ceil(pitch))
        .ok()?
        .min(layout.height());
    (top < bottom).then(|| Damage {
        x: 0,
        y: top,
        width: layout.width(),
        height: bottom - top,
    })
}

/// The part of `(x, y, width, height)` inside `layout`, if any.
fn clip(layout: &Layout, x: u32, y: u32, width: u32, height: u32) -> Option<Damage> {
    let right = x.saturating_add(width).min(layout.width());
    let bottom = y.saturating_add(height).min(layout.height());
    (x < right && y < bottom).then(|| Damage {
        x,
        y,
        width: right - x,
        height: bottom - y,
    })
}

/// The `struct fb_ops` of an [`FbDevice`] with handler `T`.
struct FbOps<T>(PhantomData<T>);

impl<T: FbHandler> FbOps<T> {
    const OPS: bindings::fb_ops = {
        // SAFETY: All-zero is a valid `fb_ops`: no owner, no callbacks.
        let mut ops: bindings::fb_ops = unsafe { core::mem::zeroed() };
        ops.fb_read = Some(Self::read);
        ops.fb_write = Some(Self::write);
        ops.fb_mmap = Some(bindings::fb_deferred_io_mmap);
        ops.fb_fillrect = Some(Self::fillrect);
        ops.fb_copyarea = Some(Self::copyarea);
        ops.fb_imageblit = Some(Self::imageblit);
        ops.fb_check_var = Some(Self::check_var);
        ops.fb_set_par = Some(Self::set_par);
        ops.fb_setcolreg = Some(Self::setcolreg);
        ops.fb_pan_display = Some(Self::pan_display);
        ops.fb_blank = Some(Self::blank);
        ops.fb_destroy = Some(Self::destroy);
        ops
    };

    /// Reports `(x, y, width, height)`, clipped to the screen, to the handler.
    ///
    /// # Safety
    ///
    /// `info` is one of ours.
    unsafe fn damage(info: *mut bindings::fb_info, x: u32, y: u32, width: u32, height: u32) {
        // SAFETY: The caller's guarantee.
        let par = unsafe { FbDevice::<T>::par(info) };
        if let Some(area) = clip(par.shadow.layout(), x, y, width, height) {
            par.handler.damaged(area);
        }
    }

    /// # Safety
    ///
    /// Only fbdev's core calls this, for one of our `fb_info`s, with valid arguments.
    unsafe extern "C" fn read(
        info: *mut bindings::fb_info,
        buf: *mut c_char,
        count: usize,
        pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: fbdev's arguments, passed on.
        unsafe { bindings::fb_sys_read(info, buf, count, pos) }
    }

    /// # Safety
    ///
    /// Only fbdev's core calls this, for one of our `fb_info`s, with valid arguments.
    unsafe extern "C" fn write(
        info: *mut bindings::fb_info,
        buf: *const c_char,
        count: usize,
        pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: fbdev passes a valid position.
        let start = unsafe { *pos };
        // SAFETY: fbdev's arguments, passed on.
        let written = unsafe { bindings::fb_sys_write(info, buf, count, pos) };
        if let (Ok(first), Ok(len)) = (usize::try_from(start), usize::try_from(written)) {
            // SAFETY: One of ours.
            let par = unsafe { FbDevice::<T>::par(info) };
            if let Some(area) = rows_of_bytes(par.shadow.layout(), first, first + len) {
                par.handler.damaged(area);
            }
        }
        written
    }

    /// # Safety
    ///
    /// Only fbdev's core calls this, for one of our `fb_info`s, with valid arguments.
    unsafe extern "C" fn fillrect(
        info: *mut bindings::fb_info,
        rect: *const bindings::fb_fillrect,
    ) {
        // SAFETY: fbdev's arguments, passed on; `rect` is valid for the call.
        unsafe {
            bindings::sys_fillrect(info, rect);
            let rect = &*rect;
            Self::damage(info, rect.dx, rect.dy, rect.width, rect.height);
        }
    }

    /// # Safety
    ///
    /// Only fbdev's core calls this, for one of our `fb_info`s, with valid arguments.
    unsafe extern "C" fn copyarea(
        info: *mut bindings::fb_info,
        area: *const bindings::fb_copyarea,
    ) {
        // SAFETY: As for `fillrect`.
        unsafe {
            bindings::sys_copyarea(info, area);
            let area = &*area;
            Self::damage(info, area.dx, area.dy, area.width, area.height);
        }
    }

    /// # Safety
    ///
    /// Only fbdev's core calls this, for one of our `fb_info`s, with valid arguments.
    unsafe extern "C" fn imageblit(info: *mut bindings::fb_info, image: *const bindings::fb_image) {
        // SAFETY: As for `fillrect`.
        unsafe {
            bindings::sys_imageblit(info, image);
            let image = &*image;
            Self::damage(info, image.dx, image.dy, image.width, image.height);
        }
    }

    /// Only the registered mode is possible: the shadow has one size and format.
    ///
    /// # Safety
    ///
    /// Only fbdev's core calls this, for one of our `fb_info`s, with valid arguments.
    unsafe extern "C" fn check_var(
        var: *mut bindings::fb_var_screeninfo,
        info: *mut bindings::fb_info,
    ) -> c_int {
        // SAFETY: fbdev passes both, valid for the call.
        let (var, current) = unsafe { (&mut *var, &(*info).var) };
        if var.xres > current.xres
            || var.yres > current.yres
            || var.bits_per_pixel != current.bits_per_pixel
            || var.xoffset != 0
            || var.yoffset != 0
        {
            return EINVAL.to_errno();
        }
        *var = *current;
        0
    }

    /// # Safety
    ///
    /// Only fbdev's core calls this, for one of our `fb_info`s, with valid arguments.
    unsafe extern "C" fn set_par(info: *mut bindings::fb_info) -> c_int {
        // SAFETY: One of ours.
        let par = unsafe { FbDevice::<T>::par(info) };
        match par.handler.set_par() {
            Ok(()) => 0,
            Err(error) => error.to_errno(),
        }
    }

    /// fbcon's 16 colours, as pixels of the screen's format.
    ///
    /// # Safety
    ///
    /// Only fbdev's core calls this, for one of our `fb_info`s, with valid arguments.
    unsafe extern "C" fn setcolreg(
        regno: c_uint,
        red: c_uint,
        green: c_uint,
        blue: c_uint,
        _transp: c_uint,
        info: *mut bindings::fb_info,
    ) -> c_int {
        // SAFETY: One of ours.
        let par = unsafe { FbDevice::<T>::par(info) };
        let Ok(index) = usize::try_from(regno) else {
            return EINVAL.to_errno();
        };
        if index >= 16 {
            return EINVAL.to_errno();
        }
        // SAFETY: `info` is valid for the call.
        let var = unsafe { &(*info).var };
        let channel = |value: c_uint, field: &bindings::fb_bitfield| {
            (value >> (16 - field.length.min(16))) << field.offset
        };
        let pixel = channel(red, &var.red) | channel(green, &var.green) | channel(blue, &var.blue);
        // SAFETY: fbdev calls this under the console lock, the palette's only writer; `index`
        // is within it.
        unsafe { (*par.pseudo_palette.get())[index] = pixel };
        0
    }

    /// # Safety
    ///
    /// Only fbdev's core calls this, for one of our `fb_info`s, with valid arguments.
    unsafe extern "C" fn pan_display(
        var: *mut bindings::fb_var_screeninfo,
        _info: *mut bindings::fb_info,
    ) -> c_int {
        // SAFETY: fbdev passes a valid `var`.
        let var = unsafe { &*var };
        if var.xoffset == 0 && var.yoffset == 0 {
            0
        } else {
            EINVAL.to_errno()
        }
    }

    /// # Safety
    ///
    /// Only fbdev's core calls this, for one of our `fb_info`s, with valid arguments.
    unsafe extern "C" fn blank(_blank: c_int, _info: *mut bindings::fb_info) -> c_int {
        // Blanking is the display's power management, which in-kernel clients leave alone.
        0
    }

    /// The last user is gone and the `fb_info` is unregistered: free it with its shadow and
    /// its reference to the handler.
    ///
    /// # Safety
    ///
    /// Only fbdev's core calls this, for one of our `fb_info`s, with valid arguments.
    unsafe extern "C" fn destroy(info: *mut bindings::fb_info) {
        // SAFETY: Unregistered and unused; deferred I/O is stopped before the shadow goes.
        unsafe {
            bindings::fb_deferred_io_cleanup(info);
            FbDevice::<T>::free(info);
        }
    }
}

#[cfg(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)]
pub mod testing;
