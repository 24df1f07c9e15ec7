// SPDX-License-Identifier: GPL-2.0
/*
 * fbtool: what the guest's /init needs to drive fbdev and DRM from user space.
 *
 *   fbtool master CARD MS       take DRM master on CARD, hold it MS ms, close
 *   fbtool con2fb FB TTY        show console TTY (1-based) on framebuffer FB
 *   fbtool pattern FB X Y W H   mmap FB, draw the test pattern, fsync
 *   fbtool unplug FB UNBIND ID  open and mmap FB, write ID to UNBIND (sysfs), then
 *                               read, write through the mapping (a page written
 *                               before and one never touched), mmap again,
 *                               fsync, close
 *
 * The pattern's pixel at (x, y) of the W x H box is red x * 255 / (W - 1),
 * green y * 255 / (H - 1), blue 0x80 (xtask/src/console_check.rs checks it).
 * Built statically by xtask; errors go to stderr with the errno, exit 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fb.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define DRM_IOCTL_SET_MASTER _IO('d', 0x1e)

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "fbtool: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

static int master(const char *card, long ms)
{
	struct timespec hold = { ms / 1000, (ms % 1000) * 1000000L };
	int fd = open(card, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return fail("open", card);
	/* The first opener is master already; this fails if someone else is. */
	if (ioctl(fd, DRM_IOCTL_SET_MASTER, 0))
		return fail("DRM_IOCTL_SET_MASTER", card);
	nanosleep(&hold, NULL);
	close(fd);
	return 0;
}

static int con2fb(const char *fb, unsigned int tty)
{
	struct fb_con2fbmap map = { .console = tty };
	int fd = open(fb, O_RDWR | O_CLOEXEC);
	const char *digits = strpbrk(fb, "0123456789");

	if (fd < 0)
		return fail("open", fb);
	map.framebuffer = digits ? (unsigned int)atoi(digits) : 0;
	if (ioctl(fd, FBIOPUT_CON2FBMAP, &map))
		return fail("FBIOPUT_CON2FBMAP", fb);
	close(fd);
	return 0;
}

static uint32_t pattern_pixel(long x, long y, long w, long h, uint32_t bpp)
{
	uint32_t red = (uint32_t)(x * 255 / (w > 1 ? w - 1 : 1));
	uint32_t green = (uint32_t)(y * 255 / (h > 1 ? h - 1 : 1));
	uint32_t blue = 0x80;

	if (bpp == 16)
		return (red >> 3) << 11 | (green >> 2) << 5 | blue >> 3;
	return red << 16 | green << 8 | blue;
}

static int pattern(const char *fb, long x0, long y0, long w, long h)
{
	struct fb_var_screeninfo var;
	struct fb_fix_screeninfo fix;
	uint8_t *pixels;
	uint32_t bytes;
	long x, y;
	int fd = open(fb, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return fail("open", fb);
	if (ioctl(fd, FBIOGET_VSCREENINFO, &var) || ioctl(fd, FBIOGET_FSCREENINFO, &fix))
		return fail("FBIOGET_*SCREENINFO", fb);
	bytes = var.bits_per_pixel / 8;
	if ((bytes != 2 && bytes != 4) || x0 < 0 || y0 < 0 || w <= 0 || h <= 0 ||
	    x0 + w > (long)var.xres || y0 + h > (long)var.yres) {
		errno = EINVAL;
		return fail("pattern outside the screen of", fb);
	}
	pixels = mmap(NULL, fix.smem_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (pixels == MAP_FAILED)
		return fail("mmap", fb);
	for (y = 0; y < h; y++) {
		for (x = 0; x < w; x++) {
			uint32_t pixel = pattern_pixel(x, y, w, h, var.bits_per_pixel);
			uint8_t *at = pixels + (y0 + y) * fix.line_length + (x0 + x) * bytes;

			memcpy(at, &pixel, bytes);
		}
	}
	/* Deferred I/O: fsync() returns once the written pages were handed over. */
	if (fsync(fd))
		return fail("fsync", fb);
	munmap(pixels, fix.smem_len);
	close(fd);
	return 0;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t written;

	if (fd < 0)
		return fail("open", path);
	written = write(fd, text, strlen(text));
	close(fd);
	return written == (ssize_t)strlen(text) ? 0 : fail("write", path);
}

static sigjmp_buf bus_error;

static void on_bus_error(int signal)
{
	siglongjmp(bus_error, signal);
}

/* Writes @byte at @at; "SIGBUS" if the kernel refused the access, else "succeeded". */
static const char *poke(volatile uint8_t *at, uint8_t byte)
{
	struct sigaction action = { .sa_handler = on_bus_error };
	struct sigaction old;

	sigemptyset(&action.sa_mask);
	sigaction(SIGBUS, &action, &old);
	if (sigsetjmp(bus_error, 1)) {
		sigaction(SIGBUS, &old, NULL);
		return "SIGBUS";
	}
	*at = byte;
	sigaction(SIGBUS, &old, NULL);
	return "succeeded";
}

/*
 * The device goes while a program has it open and mapped: file operations fail
 * with ENODEV, the mapping's next access gets SIGBUS, whether its page was
 * mapped before or not (the memory stays until the last close, not longer), a
 * new mmap fails, and fsync() runs deferred I/O on a device that no longer
 * flushes. Nothing of it may crash or warn. Prints what each step gave.
 */
static int unplug(const char *fb, const char *unbind, const char *id)
{
	struct fb_fix_screeninfo fix;
	uint8_t *pixels, *again, byte;
	ssize_t got;
	int fd = open(fb, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return fail("open", fb);
	if (ioctl(fd, FBIOGET_FSCREENINFO, &fix))
		return fail("FBIOGET_FSCREENINFO", fb);
	pixels = mmap(NULL, fix.smem_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (pixels == MAP_FAILED)
		return fail("mmap", fb);
	memset(pixels, 0x40, fix.line_length);
	if (write_file(unbind, id))
		return 1;
	got = read(fd, &byte, 1);
	printf("unplug: read: %s\n", got < 0 ? strerror(errno) : "succeeded");
	printf("unplug: mapped page written: %s\n", poke(pixels, 0x80));
	printf("unplug: new page written: %s\n", poke(pixels + fix.smem_len - 1, 0x80));
	again = mmap(NULL, fix.smem_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	printf("unplug: mmap: %s\n", again == MAP_FAILED ? strerror(errno) : "succeeded");
	if (again != MAP_FAILED)
		munmap(again, fix.smem_len);
	printf("unplug: fsync: %s\n", fsync(fd) ? strerror(errno) : "ok");
	munmap(pixels, fix.smem_len);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "master"))
		return master(argv[2], atol(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "con2fb"))
		return con2fb(argv[2], (unsigned int)atoi(argv[3]));
	if (argc == 7 && !strcmp(argv[1], "pattern"))
		return pattern(argv[2], atol(argv[3]), atol(argv[4]), atol(argv[5]),
			       atol(argv[6]));
	if (argc == 5 && !strcmp(argv[1], "unplug"))
		return unplug(argv[2], argv[3], argv[4]);
	fprintf(stderr,
		"usage: fbtool master CARD MS | con2fb FB TTY | pattern FB X Y W H | unplug FB UNBIND ID\n");
	return 2;
}
