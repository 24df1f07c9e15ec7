/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test fixtures of the Rust in-kernel DRM client layer's KUnit suites: what
 * user space or the hardware would do to a client (take DRM master, plug a
 * monitor, unbind the driver), and views of a framebuffer from the KMS side.
 * Built only with CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST.
 */

#ifndef __DRM_VMAP_CLIENT_TEST_H__
#define __DRM_VMAP_CLIENT_TEST_H__

#include <linux/types.h>

struct device;
struct dma_buf;
struct drm_device;
struct drm_file;
struct drm_framebuffer;
struct drm_gem_vram_object;
struct file;

struct file *drm_vmap_client_test_open_master(struct drm_device *dev);
void drm_vmap_client_test_close(struct file *file);
unsigned int drm_vmap_client_test_handle_count(struct drm_file *file);
int drm_vmap_client_test_set_connected(struct drm_device *dev, bool connected);
u32 drm_vmap_client_test_scanout_fb_id(struct drm_device *dev);
int drm_vmap_client_test_fb_read(struct drm_framebuffer *fb, size_t offset,
				 void *dst, size_t len);
int drm_vmap_client_test_read_vram(struct drm_device *dev, size_t offset,
				   void *dst, size_t len);
int drm_vmap_client_test_fb_shares_pages(struct drm_framebuffer *fb,
					 struct dma_buf *buf);
struct device *drm_vmap_client_test_unbind(struct drm_device *dev);
int drm_vmap_client_test_rebind(struct device *parent);

/* Where TTM keeps a framebuffer's object. */
struct drm_vmap_client_test_placement {
	bool in_vram;
	unsigned int pins;
};

int drm_vmap_client_test_fb_placement(struct drm_framebuffer *fb,
				      struct drm_vmap_client_test_placement *placement);
/* What exists on a device: GEM objects, GEM mappings, TTM pins. */
struct drm_vmap_client_test_census {
	int gem_objects;
	int gem_mappings;
	unsigned int ttm_pins;
};

void drm_vmap_client_test_census(struct drm_device *dev,
				 struct drm_vmap_client_test_census *census);
struct drm_gem_vram_object *
drm_vmap_client_test_vram_filler(struct drm_device *dev, size_t size);
void drm_vmap_client_test_vram_filler_free(struct drm_gem_vram_object *gbo);

/* What the movable test exporter knows of one of its buffers. */
struct drm_vmap_client_test_movable {
	unsigned int store;
	unsigned int pins;
	unsigned int vmaps;
	unsigned int moves;
	bool move_pending;
};

struct dma_buf *drm_vmap_client_test_movable_export(size_t size);
int drm_vmap_client_test_movable_move(struct dma_buf *dmabuf);
void drm_vmap_client_test_movable_state(struct dma_buf *dmabuf,
					struct drm_vmap_client_test_movable *state);

int drm_vmap_client_test_fb_place(struct drm_framebuffer *fb, bool in_vram);
void drm_vmap_client_test_hide_vgem(bool hidden);
bool drm_vmap_client_test_vgem_hidden(void);
bool drm_vmap_client_test_fail_on_purpose(void);

/* Failure injection on the current task (CONFIG_FAULT_INJECTION). */
void drm_vmap_client_test_fail_nth(unsigned int nth);
unsigned int drm_vmap_client_test_fail_nth_left(void);

/* A framebuffer device held open as a file would hold it. */
struct fb_info;

struct fb_info *drm_vmap_client_test_fb_open(unsigned int index);
void drm_vmap_client_test_fb_release(struct fb_info *info);
bool drm_vmap_client_test_fb_registered(struct fb_info *info);
int drm_vmap_client_test_fb_fillrect(struct fb_info *info, u32 x, u32 y,
				     u32 width, u32 height, u32 colour);

/* Baselines of the benchmark suite (kunit/suites/bench_baselines.c). */
struct drm_client_dev;

int drm_vmap_client_bench_dma_buf_vmap(struct dma_buf *buf, u64 *ns,
				       unsigned int samples, unsigned int batch);
int drm_vmap_client_bench_c_client(struct drm_client_dev *client, u32 width,
				   u32 height, u64 *local_ns, u64 *long_term_ns,
				   unsigned int samples, unsigned int batch);
int drm_vmap_client_bench_raw(struct dma_buf *buf, size_t len, bool copy,
			      u64 *ns, unsigned int samples);
unsigned int drm_vmap_client_bench_scale(void);

#endif
