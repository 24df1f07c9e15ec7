// SPDX-License-Identifier: GPL-2.0
/*
 * The baselines the benchmark suite of the Rust in-kernel DRM client layer
 * compares it with, as timed loops in C: what a client without a cached
 * mapping does (dma_buf_vmap_unlocked() per access), what the upstream C
 * client API does (drm_client_buffer_vmap_local() per access, as drm_log;
 * drm_client_buffer_vmap() for good, as fbdev-shmem), and raw memset() and
 * memcpy() into the same mapping and into plain kernel memory, the bandwidth
 * limit.
 *
 * Each function fills @ns with @samples durations in nanoseconds, each the
 * mean of @batch operations.
 */

#include <drm/drm_client.h>
#include <drm/drm_fourcc.h>
#include <drm/drm_gem.h>
#include <drm/drm_vmap_client_test.h>
#include <linux/dma-buf.h>
#include <linux/dma-resv.h>
#include <linux/io.h>
#include <linux/iosys-map.h>
#include <linux/ktime.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

static u64 per_op(u64 start, unsigned int batch)
{
	return div_u64(ktime_get_ns() - start, batch);
}

/**
 * drm_vmap_client_bench_dma_buf_vmap - map and unmap per access
 * @buf: dma-buf nobody else maps
 * @ns: @samples durations
 * @samples: number of samples
 * @batch: operations per sample
 *
 * Returns: 0, or the first mapping error.
 */
int drm_vmap_client_bench_dma_buf_vmap(struct dma_buf *buf, u64 *ns,
				       unsigned int samples, unsigned int batch)
{
	struct iosys_map map;
	unsigned int i, j;
	int ret;

	for (i = 0; i < samples; i++) {
		u64 start = ktime_get_ns();

		for (j = 0; j < batch; j++) {
			ret = dma_buf_vmap_unlocked(buf, &map);
			if (ret)
				return ret;
			dma_buf_vunmap_unlocked(buf, &map);
		}
		ns[i] = per_op(start, batch);
		cond_resched();
	}
	return 0;
}

/**
 * drm_vmap_client_bench_c_client - the upstream C client API, timed
 * @client: an initialised client of a KMS device
 * @width: buffer width
 * @height: buffer height
 * @local_ns: @samples durations of drm_client_buffer_vmap_local() +
 *            drm_client_buffer_vunmap_local(), one access each
 * @long_term_ns: @samples durations of drm_client_buffer_vmap() +
 *                drm_client_buffer_vunmap(), the set-up a long-term user pays
 *                once
 * @samples: number of samples
 * @batch: operations per sample
 *
 * Creates an XRGB8888 client framebuffer as C clients do and deletes it.
 *
 * Returns: 0, or the first error.
 */
int drm_vmap_client_bench_c_client(struct drm_client_dev *client, u32 width,
				   u32 height, u64 *local_ns, u64 *long_term_ns,
				   unsigned int samples, unsigned int batch)
{
	struct drm_client_buffer *buffer;
	struct iosys_map map;
	unsigned int i, j;
	int ret = 0;

	buffer = drm_client_framebuffer_create(client, width, height,
					       DRM_FORMAT_XRGB8888);
	if (IS_ERR(buffer))
		return PTR_ERR(buffer);
	for (i = 0; i < samples && !ret; i++) {
		u64 start = ktime_get_ns();

		for (j = 0; j < batch; j++) {
			ret = drm_client_buffer_vmap_local(buffer, &map);
			if (ret)
				break;
			drm_client_buffer_vunmap_local(buffer);
		}
		local_ns[i] = per_op(start, batch);
		start = ktime_get_ns();
		for (j = 0; j < batch && !ret; j++) {
			ret = drm_client_buffer_vmap(buffer, &map);
			if (ret)
				break;
			drm_client_buffer_vunmap(buffer);
		}
		long_term_ns[i] = per_op(start, batch);
		cond_resched();
	}
	drm_client_framebuffer_delete(buffer);
	return ret;
}

static void fill_map(struct iosys_map *map, size_t len, int value)
{
	if (map->is_iomem)
		memset_io(map->vaddr_iomem, value, len);
	else
		memset(map->vaddr, value, len);
}

static void copy_to_map(struct iosys_map *map, const void *src, size_t len)
{
	if (map->is_iomem)
		memcpy_toio(map->vaddr_iomem, src, len);
	else
		memcpy(map->vaddr, src, len);
}

/* Maps @buf's memory under its reservation lock, or allocates plain memory. */
static int raw_target(struct dma_buf *buf, size_t len, struct iosys_map *map)
{
	void *plain;
	int ret;

	if (!buf) {
		plain = vmalloc(len);
		if (!plain)
			return -ENOMEM;
		iosys_map_set_vaddr(map, plain);
		return 0;
	}
	ret = dma_resv_lock_interruptible(buf->resv, NULL);
	if (ret)
		return ret;
	ret = dma_buf_vmap(buf, map);
	if (ret)
		dma_resv_unlock(buf->resv);
	return ret;
}

static void raw_target_done(struct dma_buf *buf, struct iosys_map *map)
{
	if (!buf) {
		vfree(map->vaddr);
		return;
	}
	dma_buf_vunmap(buf, map);
	dma_resv_unlock(buf->resv);
}

/**
 * drm_vmap_client_bench_raw - memset() and memcpy() without the layer
 * @buf: dma-buf of at least @len bytes, or NULL for plain kernel memory
 * @len: bytes per operation
 * @copy: memcpy() from a vmalloc'd source instead of memset()
 * @ns: @samples durations
 * @samples: number of samples
 *
 * Into @buf's own mapping, held with the reservation lock so that a buffer
 * that may move stays put, or into a vmalloc'd area when @buf is NULL.
 *
 * Returns: 0, -ENOMEM, or the mapping's error.
 */
int drm_vmap_client_bench_raw(struct dma_buf *buf, size_t len, bool copy,
			      u64 *ns, unsigned int samples)
{
	struct iosys_map map;
	void *src = NULL;
	unsigned int i;
	int ret;

	if (copy) {
		src = vmalloc(len);
		if (!src)
			return -ENOMEM;
		memset(src, 0x5a, len);
	}
	ret = raw_target(buf, len, &map);
	if (ret)
		goto out;
	for (i = 0; i < samples; i++) {
		u64 start = ktime_get_ns();

		if (copy)
			copy_to_map(&map, src, len);
		else
			fill_map(&map, len, i);
		ns[i] = per_op(start, 1);
		cond_resched();
	}
	raw_target_done(buf, &map);
out:
	vfree(src);
	return ret;
}

/*
 * drm_vmap_client_bench=N on the kernel command line: how much the benchmark
 * suite measures. 0 (the default, what `cargo xtask test` boots with) makes one
 * quick iteration of each measurement, to show that it still works; 1 is the
 * full run of `cargo xtask bench`.
 */
static unsigned int bench_scale;
core_param(drm_vmap_client_bench, bench_scale, uint, 0444);

/**
 * drm_vmap_client_bench_scale - the drm_vmap_client_bench= parameter
 *
 * Returns: 0 for a smoke run, 1 or more for a full benchmark run.
 */
unsigned int drm_vmap_client_bench_scale(void)
{
	return bench_scale;
}
