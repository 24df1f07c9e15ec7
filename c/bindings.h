/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C headers of the Rust in-kernel DRM client layer, included from
 * rust/bindings/bindings_helper.h so that bindgen generates their bindings.
 *
 * Sorted alphabetically.
 */

#include <drm/drm_client.h>
#include <drm/drm_device.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_framebuffer.h>
#include <drm/drm_gem.h>
#include <drm/drm_gem_shmem_helper.h>
#include <drm/drm_gem_ttm_helper.h>
#include <drm/drm_gem_vram_helper.h>
#include <drm/drm_mode_config.h>
#include <drm/drm_modes.h>
#include <drm/drm_plane.h>
#include <drm/drm_prime.h>
#include <drm/drm_vgem.h>
#include <drm/drm_vmap_client_test.h>
#include <drm/ttm/ttm_bo.h>
#include <kunit/assert.h>
#include <kunit/test.h>
#include <linux/cpu.h>
#include <linux/delay.h>
#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/dma-resv.h>
#include <linux/efi-bgrt.h>
#include <linux/fb.h>
#include <linux/file.h>
#include <linux/firmware.h>
#include <linux/iosys-map.h>
#include <linux/notifier.h>
#include <linux/seq_file.h>
#include <linux/workqueue.h>

/*
 * What /sys/kernel/debug/dri/N/vmap_client calls back into Rust for: the
 * client functions that mark a client as the layer's, and the writers of one
 * such client's buffers and of the layer's totals.
 */
struct drm_vmap_client_debugfs_ops {
	const struct drm_client_funcs *funcs;
	void (*show_client)(struct seq_file *m, struct drm_client_dev *client);
	void (*show_totals)(struct seq_file *m);
};
