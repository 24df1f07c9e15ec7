// SPDX-License-Identifier: GPL-2.0
/*
 * Static inline functions of dma-buf, dma-resv, iosys-map and GEM that the
 * Rust in-kernel DRM client layer calls, and the one test of an exporter's
 * type that needs to compare C function addresses. Included from
 * rust/helpers/helpers.c.
 *
 * Sorted alphabetically.
 */

#include <drm/drm_client.h>
#include <drm/drm_device.h>
#include <drm/drm_drv.h>
#include <drm/drm_gem.h>
#include <drm/drm_gem_shmem_helper.h>
#include <drm/drm_gem_ttm_helper.h>
#include <drm/drm_prime.h>
#include <drm/drm_vgem.h>
#include <drm/drm_vmap_client_test.h>
#include <drm/ttm/ttm_bo.h>
#include <kunit/test.h>
#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/dma-resv.h>
#include <linux/efi-bgrt.h>
#include <linux/fault-inject.h>
#include <linux/fb.h>
#include <linux/firmware.h>
#include <linux/iosys-map.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/sched.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

#include "../bindings/drm_vmap_client.h"

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

bool rust_helper_dma_buf_is_dynamic(struct dma_buf *dmabuf)
{
	return dma_buf_is_dynamic(dmabuf);
}

/*
 * The TTM buffer object behind a dma-buf, or NULL. A dma-buf whose vmap is
 * GEM's PRIME one was exported by drm_gem_prime_export() and has the GEM
 * object as its priv; a GEM object whose mmap is drm_gem_ttm_mmap() is
 * embedded in a TTM buffer object (the GEM VRAM helpers, for one). TTM may
 * move such a buffer whenever it is neither pinned nor reserved.
 */
struct ttm_buffer_object *rust_helper_drm_vmap_client_ttm_of_dma_buf(struct dma_buf *dmabuf)
{
	struct drm_gem_object *obj;

	if (dmabuf->ops->vmap != drm_gem_dmabuf_vmap)
		return NULL;
	obj = dmabuf->priv;
	if (!obj->funcs || obj->funcs->mmap != drm_gem_ttm_mmap)
		return NULL;
	return drm_gem_ttm_of_gem(obj);
}

/*
 * Whether a device's GEM objects are shmem objects: a driver built on the
 * shmem helpers (DRM_GEM_SHMEM_DRIVER_OPS) imports with their sg-table hook,
 * and its gem_create_object, if any, must return a shmem object, which
 * drm_gem_shmem_create() relies on.
 */
bool rust_helper_drm_vmap_client_is_shmem_device(const struct drm_device *dev)
{
	return dev->driver->gem_prime_import_sg_table ==
	       drm_gem_shmem_prime_import_sg_table;
}

/*
 * vgem's device for in-kernel clients, or NULL when vgem is not built or not
 * registered (drm_vgem_device_get() is a stub then). KUnit builds can hide
 * vgem, to test the fallback without another kernel.
 */
struct drm_device *rust_helper_drm_vmap_client_vgem_device(void)
{
#if IS_ENABLED(CONFIG_DRM_VMAP_CLIENT_KUNIT_TEST)
	if (drm_vmap_client_test_vgem_hidden())
		return NULL;
#endif
	return drm_vgem_device_get();
}

/* kunit_mark_skipped() is a macro. */
void rust_helper_drm_vmap_client_kunit_skip(struct kunit *test,
					    const char *reason)
{
	kunit_mark_skipped(test, "%s", reason);
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

bool rust_helper_iosys_map_is_equal(const struct iosys_map *lhs,
				    const struct iosys_map *rhs)
{
	return iosys_map_is_equal(lhs, rhs);
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

unsigned int rust_helper_kref_read(const struct kref *kref)
{
	return kref_read(kref);
}

void rust_helper_dma_fence_put(struct dma_fence *fence)
{
	dma_fence_put(fence);
}

/*
 * Each kind of work gets its own lockdep class (@name, @key), as the C
 * macros give each call site one: with a single class for all the works
 * initialised here, lockdep took a splash's frame, which may unregister its
 * client, and the fbdev emulation's flush, which its unregister callback
 * cancels under the client list lock, for the same work.
 */
void rust_helper_drm_vmap_client_init_delayed_work(struct delayed_work *work,
						   work_func_t func,
						   const char *name,
						   struct lock_class_key *key)
{
	INIT_DELAYED_WORK(work, func);
#ifdef CONFIG_LOCKDEP
	lockdep_init_map(&work->work.lockdep_map, name, key, 0);
#endif
}

/* Animations run on the unbound workqueue: a frame may sleep for locks and fences. */
bool rust_helper_drm_vmap_client_queue_delayed_work(struct delayed_work *work,
						    unsigned long delay)
{
	return queue_delayed_work(system_unbound_wq, work, delay);
}

/* Whether user space holds DRM master on @dev, as drm_master_internal_acquire() checks. */
bool rust_helper_drm_vmap_client_master_present(struct drm_device *dev)
{
	bool present;

	mutex_lock(&dev->master_mutex);
	present = dev->master;
	mutex_unlock(&dev->master_mutex);
	return present;
}

/*
 * The firmware's boot logo (ACPI BGRT): its size in bytes and where the
 * firmware drew it, or -ENOENT if the firmware reported none that is shown
 * unrotated. efi_bgrt_init() reserved the image's memory for the kernel's
 * lifetime, as acpi/bgrt.c relies on too.
 */
long rust_helper_drm_vmap_client_boot_logo(u32 *x, u32 *y)
{
#ifdef CONFIG_ACPI_BGRT
	/* Bit 0: displayed; bits 1-2: rotation, which we do not draw. */
	if (!bgrt_tab.image_address || !bgrt_image_size || bgrt_tab.image_type != 0 ||
	    (bgrt_tab.status & 0x07) != 0x01)
		return -ENOENT;
	*x = bgrt_tab.image_offset_x;
	*y = bgrt_tab.image_offset_y;
	return min_t(size_t, bgrt_image_size, LONG_MAX);
#else
	return -ENOENT;
#endif
}

/* Copies the first @len bytes of the boot logo into @buf. */
int rust_helper_drm_vmap_client_boot_logo_copy(void *buf, size_t len)
{
#ifdef CONFIG_ACPI_BGRT
	void *image;

	if (!bgrt_tab.image_address || len > bgrt_image_size)
		return -ENOENT;
	image = memremap(bgrt_tab.image_address, len, MEMREMAP_WB);
	if (!image)
		return -ENOMEM;
	memcpy(buf, image, len);
	memunmap(image);
	return 0;
#else
	return -ENOENT;
#endif
}

/*
 * Loads firmware @name for @dev without the user-mode fallback and without a
 * warning when it is missing (a boot option names an optional image).
 */
int rust_helper_drm_vmap_client_request_firmware(struct drm_device *dev, const char *name,
						 const struct firmware **fw)
{
#ifdef CONFIG_FW_LOADER
	if (!dev->dev)
		return -ENODEV;
	return firmware_request_nowarn(fw, name, dev->dev);
#else
	return -ENOENT;
#endif
}

#ifdef CONFIG_FB_DEFERRED_IO
/*
 * The byte range [*first, *end) covered by the pages in a deferred I/O page
 * list; false if the list is empty.
 */
bool rust_helper_drm_vmap_client_fbdev_touched(struct list_head *pagereflist,
					       unsigned long *first,
					       unsigned long *end)
{
	struct fb_deferred_io_pageref *pageref;
	bool any = false;

	list_for_each_entry(pageref, pagereflist, list) {
		unsigned long start = pageref->offset;

		if (!any || start < *first)
			*first = start;
		if (!any || start + PAGE_SIZE > *end)
			*end = start + PAGE_SIZE;
		any = true;
	}
	return any;
}

/*
 * The page of a vmalloc shadow at @addr, with the reference that deferred
 * I/O's fault handler hands to the user mapping.
 */
struct page *rust_helper_drm_vmap_client_fbdev_shadow_page(const void *addr)
{
	struct page *page = vmalloc_to_page(addr);

	if (page)
		get_page(page);
	return page;
}

/*
 * Removes every user mapping of the @len bytes of vmalloc shadow at @shadow,
 * so that the next access faults. Deferred I/O points each page it mapped at
 * the mapping of the file that faulted it in; fbdev's lock keeps the last
 * close, which clears those pointers, away meanwhile. A fault that found its
 * page before the caller refused new ones may still map it afterwards: its
 * writes land in the shadow, which lives until the last close.
 */
void rust_helper_drm_vmap_client_fbdev_unmap_users(struct fb_info *info,
						   const void *shadow, size_t len)
{
	size_t offset;

	lock_fb_info(info);
	for (offset = 0; offset < len; offset += PAGE_SIZE) {
		struct page *page = vmalloc_to_page(shadow + offset);
		struct address_space *mapping = page ? READ_ONCE(page->mapping) : NULL;

		if (mapping)
			unmap_mapping_range(mapping, offset, PAGE_SIZE, 1);
	}
	unlock_fb_info(info);
}
#endif

/*
 * /sys/kernel/debug/dri/N/vmap_client: every registered client of the layer on
 * the device with its framebuffers (format, size, pitch, where the memory came
 * from, the cached mapping's statistics), then what the layer holds in all.
 */
static const struct drm_vmap_client_debugfs_ops *vmap_client_debugfs_ops;
static DEFINE_MUTEX(vmap_client_debugfs_lock);

static int vmap_client_show(struct seq_file *m, void *unused)
{
	const struct drm_vmap_client_debugfs_ops *ops = READ_ONCE(vmap_client_debugfs_ops);
	struct drm_device *dev = m->private;
	struct drm_client_dev *client;

	mutex_lock(&dev->clientlist_mutex);
	list_for_each_entry(client, &dev->clientlist, list) {
		if (client->funcs == ops->funcs)
			ops->show_client(m, client);
	}
	mutex_unlock(&dev->clientlist_mutex);
	ops->show_totals(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vmap_client);

void rust_helper_drm_vmap_client_debugfs_add(struct drm_device *dev,
					     const struct drm_vmap_client_debugfs_ops *ops)
{
	struct dentry *root = dev->primary ? dev->primary->debugfs_root : NULL;
	struct dentry *existing;

	/* Set even without debugfs: tests render the file's text themselves. */
	WRITE_ONCE(vmap_client_debugfs_ops, ops);
	if (IS_ERR_OR_NULL(root))
		return;
	mutex_lock(&vmap_client_debugfs_lock);
	existing = debugfs_lookup("vmap_client", root);
	if (existing)
		dput(existing);
	else
		debugfs_create_file("vmap_client", 0444, root, dev, &vmap_client_fops);
	mutex_unlock(&vmap_client_debugfs_lock);
}

/*
 * Shows what drm_vmap_client_debugfs_add()'s file shows, into @buf: for tests,
 * which run before debugfs is mounted. Returns the length written.
 */
size_t rust_helper_drm_vmap_client_debugfs_render(struct drm_device *dev,
						  char *buf, size_t size)
{
	struct seq_file m = { .buf = buf, .size = size, .private = dev };

	if (!READ_ONCE(vmap_client_debugfs_ops))
		return 0;
	vmap_client_show(&m, NULL);
	return min(m.count, size);
}

/*
 * The layer's own fault points (kernel::vmap_cache::fault_point), before C
 * calls that can fail without allocating. A kernel with fault injection
 * counts them in the task's fail-nth like its allocations; nothing else
 * fails them (the probability is 0), and quietly: the sweep logs each.
 */
#ifdef CONFIG_FAULT_INJECTION
static DECLARE_FAULT_ATTR(drm_vmap_client_call_fault);

bool rust_helper_drm_vmap_client_call_fails(void)
{
	return should_fail_ex(&drm_vmap_client_call_fault, 1, FAULT_NOWARN);
}
#endif
