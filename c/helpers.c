// SPDX-License-Identifier: GPL-2.0
/*
 * Static inline functions of dma-buf, dma-resv, iosys-map and GEM that the
 * Rust in-kernel DRM client layer calls. Included from rust/helpers/helpers.c.
 *
 * Sorted alphabetically.
 */

#include <drm/drm_gem.h>
#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/dma-resv.h>
#include <linux/iosys-map.h>
#include <linux/list.h>
#include <linux/sched.h>

void rust_helper_cond_resched(void)
{
	cond_resched();
}

int rust_helper_dma_resv_lock(struct dma_resv *obj)
{
	return dma_resv_lock(obj, NULL);
}

int rust_helper_dma_resv_lock_interruptible(struct dma_resv *obj)
{
	return dma_resv_lock_interruptible(obj, NULL);
}

void rust_helper_dma_resv_unlock(struct dma_resv *obj)
{
	dma_resv_unlock(obj);
}

void rust_helper_drm_gem_object_get(struct drm_gem_object *obj)
{
	drm_gem_object_get(obj);
}

void rust_helper_drm_gem_object_put(struct drm_gem_object *obj)
{
	drm_gem_object_put(obj);
}

void rust_helper_get_dma_buf(struct dma_buf *dmabuf)
{
	get_dma_buf(dmabuf);
}

void rust_helper_iosys_map_memcpy_from(void *dst, const struct iosys_map *src,
				       size_t src_offset, size_t len)
{
	iosys_map_memcpy_from(dst, src, src_offset, len);
}

void rust_helper_iosys_map_memcpy_to(struct iosys_map *dst, size_t dst_offset,
				     const void *src, size_t len)
{
	iosys_map_memcpy_to(dst, dst_offset, src, len);
}

void rust_helper_iosys_map_memset(struct iosys_map *dst, size_t offset,
				  int value, size_t len)
{
	iosys_map_memset(dst, offset, value, len);
}

void rust_helper_list_del(struct list_head *entry)
{
	list_del(entry);
}

unsigned int rust_helper_kref_read(const struct kref *kref)
{
	return kref_read(kref);
}

void rust_helper_dma_fence_put(struct dma_fence *fence)
{
	dma_fence_put(fence);
}
