// SPDX-License-Identifier: GPL-2.0
/*
 * Test fixtures for the KUnit suites of the Rust in-kernel DRM client layer.
 *
 * Each one does to a DRM device what user space or the hardware would: open
 * the primary node and become DRM master, connect or disconnect every
 * connector, unbind the driver. The others look at a framebuffer the way the
 * display does, through the KMS device's own GEM objects, so that a test can
 * tell that what a client drew through its dma-buf is what is scanned out.
 */

#include <drm/drm_auth.h>
#include <drm/drm_connector.h>
#include <drm/drm_device.h>
#include <drm/drm_file.h>
#include <drm/drm_framebuffer.h>
#include <drm/drm_gem.h>
#include <drm/drm_gem_framebuffer_helper.h>
#include <drm/drm_gem_shmem_helper.h>
#include <drm/drm_gem_ttm_helper.h>
#include <drm/drm_gem_vram_helper.h>
#include <drm/drm_modeset_lock.h>
#include <drm/drm_plane.h>
#include <drm/drm_probe_helper.h>
#include <drm/drm_vmap_client_test.h>
#include <drm/ttm/ttm_bo.h>
#include <drm/ttm/ttm_device.h>
#include <drm/ttm/ttm_placement.h>
#include <drm/ttm/ttm_resource.h>
#include <linux/device.h>
#include <linux/dma-buf.h>
#include <linux/fb.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/iosys-map.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/vmalloc.h>

#include "../../../drm_internal.h"
#include "../../../../../video/fbdev/core/fb_internal.h"

/**
 * drm_vmap_client_test_open_master - open the primary node as DRM master
 * @dev: DRM device
 *
 * Does what drm_open() does for user space opening /dev/dri/cardN while no
 * one else holds it: the new file is counted as open and becomes DRM master.
 * Close it with drm_vmap_client_test_close(); closing the last open file
 * makes the DRM core restore the in-kernel clients.
 *
 * Returns: the file, or an ERR_PTR: -EBUSY if another file is master.
 */
struct file *drm_vmap_client_test_open_master(struct drm_device *dev)
{
	struct drm_file *priv;
	struct file *file;
	int ret;

	file = mock_drm_getfile(dev->primary, O_RDWR);
	if (IS_ERR(file))
		return file;
	/* drm_release() uncounts every file, as drm_open() counted it. */
	atomic_inc(&dev->open_count);

	priv = file->private_data;
	ret = drm_master_open(priv);
	if (!ret && !priv->is_master)
		ret = -EBUSY;
	if (ret) {
		drm_vmap_client_test_close(file);
		return ERR_PTR(ret);
	}
	return file;
}

/**
 * drm_vmap_client_test_close - close a file and wait until it is released
 * @file: file from drm_vmap_client_test_open_master()
 *
 * A kernel thread's last fput() is deferred; the flush completes it, so that
 * the master is dropped and the clients restored when this returns.
 */
void drm_vmap_client_test_close(struct file *file)
{
	fput(file);
	flush_delayed_fput();
}

static int count_handle(int id, void *object, void *count)
{
	(*(unsigned int *)count)++;
	return 0;
}

/**
 * drm_vmap_client_test_handle_count - GEM handles a DRM file holds
 * @file: DRM file (an in-kernel client's, for one)
 *
 * Returns: how many GEM handles @file holds.
 */
unsigned int drm_vmap_client_test_handle_count(struct drm_file *file)
{
	unsigned int count = 0;

	spin_lock(&file->table_lock);
	idr_for_each(&file->object_idr, count_handle, &count);
	spin_unlock(&file->table_lock);
	return count;
}

/**
 * drm_vmap_client_test_set_connected - plug or unplug every connector
 * @dev: DRM device
 * @connected: false to force every connector off, true to undo that
 *
 * Works as writing "off" or "detect" to each connector's sysfs status file,
 * then sends the hotplug event that the clients see.
 *
 * Returns: 0, or -ENODEV if the device has no connectors.
 */
int drm_vmap_client_test_set_connected(struct drm_device *dev, bool connected)
{
	enum drm_connector_force force = connected ? DRM_FORCE_UNSPECIFIED :
						     DRM_FORCE_OFF;
	struct drm_connector_list_iter iter;
	struct drm_connector *connector;
	unsigned int count = 0;

	mutex_lock(&dev->mode_config.mutex);
	drm_connector_list_iter_begin(dev, &iter);
	drm_for_each_connector_iter(connector, &iter) {
		connector->force = force;
		count++;
	}
	drm_connector_list_iter_end(&iter);
	mutex_unlock(&dev->mode_config.mutex);

	if (!count)
		return -ENODEV;
	drm_kms_helper_hotplug_event(dev);
	return 0;
}

/**
 * drm_vmap_client_test_scanout_fb_id - what the first primary plane shows
 * @dev: DRM device
 *
 * Returns: the ID of the framebuffer in the committed state of the first
 * primary plane that has one, or 0 if no primary plane shows anything.
 */
u32 drm_vmap_client_test_scanout_fb_id(struct drm_device *dev)
{
	struct drm_plane *plane;
	u32 id = 0;

	drm_modeset_lock_all(dev);
	drm_for_each_plane(plane, dev) {
		if (plane->type != DRM_PLANE_TYPE_PRIMARY || !plane->state ||
		    !plane->state->fb)
			continue;
		id = plane->state->fb->base.id;
		break;
	}
	drm_modeset_unlock_all(dev);
	return id;
}

/**
 * drm_vmap_client_test_fb_read - read a framebuffer as the display does
 * @fb: framebuffer
 * @offset: byte offset into its first plane
 * @dst: destination
 * @len: bytes to read
 *
 * Maps the framebuffer's GEM object through the KMS device, as a display
 * that composes in software (vkms) or copies to its scanout memory does.
 *
 * Returns: 0, -ERANGE outside the object, or the mapping's error.
 */
int drm_vmap_client_test_fb_read(struct drm_framebuffer *fb, size_t offset,
				 void *dst, size_t len)
{
	struct iosys_map map[DRM_FORMAT_MAX_PLANES];
	struct iosys_map data[DRM_FORMAT_MAX_PLANES];
	int ret;

	if (offset > fb->obj[0]->size || len > fb->obj[0]->size - offset)
		return -ERANGE;
	ret = drm_gem_fb_vmap(fb, map, data);
	if (ret)
		return ret;
	iosys_map_memcpy_from(dst, &data[0], offset, len);
	drm_gem_fb_vunmap(fb, map);
	return 0;
}

/**
 * drm_vmap_client_test_read_vram - read a PCI display's video memory
 * @dev: DRM device of a PCI display whose BAR 0 is its video memory
 * @offset: byte offset into the BAR
 * @dst: destination
 * @len: bytes to read
 *
 * Shows what a display that copies damaged areas into its own memory
 * (cirrus) actually scans out.
 *
 * Returns: 0, -ENODEV if @dev is not a PCI device, -ERANGE outside the BAR,
 * or -ENOMEM if it cannot be mapped.
 */
int drm_vmap_client_test_read_vram(struct drm_device *dev, size_t offset,
				   void *dst, size_t len)
{
	void __iomem *vram;
	struct pci_dev *pdev;

	if (!dev_is_pci(dev->dev))
		return -ENODEV;
	pdev = to_pci_dev(dev->dev);
	if (offset > pci_resource_len(pdev, 0) ||
	    len > pci_resource_len(pdev, 0) - offset)
		return -ERANGE;
	vram = pci_iomap_range(pdev, 0, offset, len);
	if (!vram)
		return -ENOMEM;
	memcpy_fromio(dst, vram, len);
	pci_iounmap(pdev, vram);
	return 0;
}

/**
 * drm_vmap_client_test_fb_shares_pages - check the zero-copy import
 * @fb: framebuffer whose GEM object a shmem driver imported
 * @buf: the dma-buf it should have imported
 *
 * Returns: 0 if the framebuffer's object was imported from @buf and its
 * pages are the pages the exporter maps, -EXDEV if not, or the mapping's
 * error.
 */
int drm_vmap_client_test_fb_shares_pages(struct drm_framebuffer *fb,
					 struct dma_buf *buf)
{
	struct drm_gem_object *obj = fb->obj[0];
	struct sg_page_iter iter;
	struct iosys_map map;
	size_t offset = 0;
	int ret;

	if (!obj->import_attach || obj->import_attach->dmabuf != buf)
		return -EXDEV;
	ret = dma_buf_vmap_unlocked(buf, &map);
	if (ret)
		return ret;
	if (map.is_iomem || !is_vmalloc_addr(map.vaddr)) {
		ret = -EXDEV;
		goto out;
	}
	for_each_sgtable_page(to_drm_gem_shmem_obj(obj)->sgt, &iter, 0) {
		if (offset >= buf->size ||
		    sg_page_iter_page(&iter) != vmalloc_to_page(map.vaddr + offset)) {
			ret = -EXDEV;
			break;
		}
		offset += PAGE_SIZE;
	}
	if (!ret && offset < buf->size)
		ret = -EXDEV;
out:
	dma_buf_vunmap_unlocked(buf, &map);
	return ret;
}

/**
 * drm_vmap_client_test_unbind - unbind a device's driver, as hot-unplug does
 * @dev: DRM device
 *
 * The driver's remove callback unplugs and unregisters @dev, which calls
 * each client's unregister callback.
 *
 * Returns: the parent device, with a reference, for
 * drm_vmap_client_test_rebind().
 */
struct device *drm_vmap_client_test_unbind(struct drm_device *dev)
{
	struct device *parent = get_device(dev->dev);

	device_release_driver(parent);
	return parent;
}

/**
 * drm_vmap_client_test_rebind - probe the device again
 * @parent: from drm_vmap_client_test_unbind(), whose reference this drops
 *
 * Returns: 0 if a driver bound, -ENODEV if none did, or the probe's error.
 */
int drm_vmap_client_test_rebind(struct device *parent)
{
	int ret = device_attach(parent);

	put_device(parent);
	if (ret < 0)
		return ret;
	return ret ? 0 : -ENODEV;
}

/*
 * Whether @fb's object is a GEM VRAM object: a TTM buffer object (its mmap is
 * TTM's) of a device with a VRAM manager.
 */
static bool fb_is_vram_object(struct drm_framebuffer *fb)
{
	struct drm_gem_object *obj = fb->obj[0];

	return obj->dev->vram_mm && obj->funcs &&
	       obj->funcs->mmap == drm_gem_ttm_mmap;
}

/**
 * drm_vmap_client_test_fb_placement - where TTM keeps a framebuffer's object
 * @fb: framebuffer whose object is a TTM buffer object (the VRAM helpers')
 * @placement: filled in under the reservation lock
 *
 * Returns: 0, or -EINVAL if the object is not a TTM buffer object.
 */
int drm_vmap_client_test_fb_placement(struct drm_framebuffer *fb,
				      struct drm_vmap_client_test_placement *placement)
{
	struct ttm_buffer_object *bo;

	if (!fb_is_vram_object(fb))
		return -EINVAL;
	bo = drm_gem_ttm_of_gem(fb->obj[0]);
	dma_resv_lock(bo->base.resv, NULL);
	placement->in_vram = bo->resource &&
			     bo->resource->mem_type == TTM_PL_VRAM;
	placement->pins = bo->pin_count;
	dma_resv_unlock(bo->base.resv);
	return 0;
}

/*
 * The pins of every TTM buffer object of @dev that is pinned: TTM keeps their
 * resources on the device's pinned list instead of an LRU.
 */
static unsigned int ttm_pins(struct drm_device *dev)
{
	struct ttm_device *bdev;
	struct ttm_resource *res;
	unsigned int pins = 0;

	if (!dev->vram_mm)
		return 0;
	bdev = &dev->vram_mm->bdev;
	spin_lock(&bdev->lru_lock);
	list_for_each_entry(res, &bdev->pinned, lru.link) {
		if (res->bo)
			pins += READ_ONCE(res->bo->pin_count);
	}
	spin_unlock(&bdev->lru_lock);
	return pins;
}

/**
 * drm_vmap_client_test_census - what exists on a device now
 * @dev: DRM device
 * @census: filled in
 *
 * For leak checks that do not trust the code under test: the GEM objects and
 * GEM mappings the core counts (patch 0011) and the device's TTM pins.
 */
void drm_vmap_client_test_census(struct drm_device *dev,
				 struct drm_vmap_client_test_census *census)
{
	census->gem_objects = atomic_read(&dev->gem_objects);
	census->gem_mappings = atomic_read(&dev->gem_mappings);
	census->ttm_pins = ttm_pins(dev);
}

/**
 * drm_vmap_client_test_vram_filler - a buffer pinned in video memory
 * @dev: DRM device with a VRAM manager
 * @size: bytes
 *
 * Memory pressure, as a display pinning a new scanout buffer causes it: to
 * make room, TTM evicts buffers that are neither pinned nor reserved.
 *
 * Returns: the pinned object, or an ERR_PTR: -ENOMEM once video memory holds
 * nothing more that can be evicted.
 */
struct drm_gem_vram_object *
drm_vmap_client_test_vram_filler(struct drm_device *dev, size_t size)
{
	struct drm_gem_vram_object *gbo;
	int ret;

	gbo = drm_gem_vram_create(dev, size, 0);
	if (IS_ERR(gbo))
		return gbo;
	ret = drm_gem_vram_pin(gbo, DRM_GEM_VRAM_PL_FLAG_VRAM);
	if (ret) {
		drm_gem_object_put(&gbo->bo.base);
		return ERR_PTR(ret);
	}
	return gbo;
}

/**
 * drm_vmap_client_test_vram_filler_free - unpin and free a filler
 * @gbo: from drm_vmap_client_test_vram_filler()
 */
void drm_vmap_client_test_vram_filler_free(struct drm_gem_vram_object *gbo)
{
	drm_gem_vram_unpin(gbo);
	drm_gem_object_put(&gbo->bo.base);
}

/**
 * drm_vmap_client_test_fb_place - move a framebuffer's TTM object
 * @fb: framebuffer whose object is a GEM VRAM object
 * @in_vram: into video memory, or else into system memory
 *
 * Pins the object where asked, which moves it there, and unpins it: it stays
 * until something moves it again.
 *
 * Returns: 0, -EINVAL if the object is not a GEM VRAM object, -EBUSY if it
 * is pinned elsewhere, or the pin's error.
 */
int drm_vmap_client_test_fb_place(struct drm_framebuffer *fb, bool in_vram)
{
	struct drm_gem_vram_object *gbo;
	int ret;

	if (!fb_is_vram_object(fb))
		return -EINVAL;
	gbo = drm_gem_vram_of_gem(fb->obj[0]);
	if (READ_ONCE(gbo->bo.pin_count))
		return -EBUSY;
	ret = drm_gem_vram_pin(gbo, in_vram ? DRM_GEM_VRAM_PL_FLAG_VRAM :
					      DRM_GEM_VRAM_PL_FLAG_SYSTEM);
	if (ret)
		return ret;
	return drm_gem_vram_unpin(gbo);
}

static bool vgem_hidden;

/**
 * drm_vmap_client_test_hide_vgem - make vgem look absent to the layer
 * @hidden: true to hide vgem, false to show it again
 *
 * The layer then gets no vgem device, as in a kernel built without vgem, so
 * that the fallback to a display's own buffers is tested in the same boot.
 */
void drm_vmap_client_test_hide_vgem(bool hidden)
{
	WRITE_ONCE(vgem_hidden, hidden);
}

/**
 * drm_vmap_client_test_vgem_hidden - whether vgem is hidden from the layer
 *
 * Returns: the last value given to drm_vmap_client_test_hide_vgem().
 */
bool drm_vmap_client_test_vgem_hidden(void)
{
	return READ_ONCE(vgem_hidden);
}

/*
 * drm_vmap_client_fail_on_purpose=1 on the kernel command line: the harness's
 * self-check boots with it to see its deliberately failing case fail.
 */
static bool fail_on_purpose;
core_param(drm_vmap_client_fail_on_purpose, fail_on_purpose, bool, 0444);

/**
 * drm_vmap_client_test_fail_on_purpose - whether a case should fail on purpose
 *
 * Returns: the drm_vmap_client_fail_on_purpose= parameter.
 */
bool drm_vmap_client_test_fail_on_purpose(void)
{
	return fail_on_purpose;
}

#if IS_ENABLED(CONFIG_DRM_VMAP_FBDEV)

/**
 * drm_vmap_client_test_fb_open - open framebuffer device @index
 * @index: the N of /dev/fbN
 *
 * Does what open() of /dev/fbN does, without a file: takes a reference on the
 * fb_info and calls its fb_open. Deferred I/O is not opened: the holder does
 * not mmap.
 *
 * Returns: the fb_info, for drm_vmap_client_test_fb_release(), or an error
 * pointer (-ENODEV if no framebuffer has that number).
 */
struct fb_info *drm_vmap_client_test_fb_open(unsigned int index)
{
	struct fb_info *info = get_fb_info(index);
	int ret = 0;

	if (IS_ERR(info))
		return info;
	if (!info)
		return ERR_PTR(-ENODEV);
	lock_fb_info(info);
	if (info->fbops->fb_open)
		ret = info->fbops->fb_open(info, 1);
	unlock_fb_info(info);
	if (ret) {
		put_fb_info(info);
		return ERR_PTR(ret);
	}
	return info;
}

/**
 * drm_vmap_client_test_fb_release - close what drm_vmap_client_test_fb_open()
 *                                   opened
 * @info: the fb_info, whose reference this drops
 *
 * The last reference of an unregistered framebuffer calls its fb_destroy.
 */
void drm_vmap_client_test_fb_release(struct fb_info *info)
{
	lock_fb_info(info);
	if (info->fbops->fb_release)
		info->fbops->fb_release(info, 1);
	unlock_fb_info(info);
	put_fb_info(info);
}

/**
 * drm_vmap_client_test_fb_registered - whether @info is still /dev/fbN
 * @info: an fb_info the caller holds a reference on
 *
 * Returns: true while @info is registered under its number, that is while
 * file operations on it reach it rather than failing with -ENODEV.
 */
bool drm_vmap_client_test_fb_registered(struct fb_info *info)
{
	struct fb_info *now = get_fb_info(info->node);
	bool same = now == info;

	if (!IS_ERR_OR_NULL(now))
		put_fb_info(now);
	return same;
}

/**
 * drm_vmap_client_test_fb_fillrect - draw as fbcon does, through fb_ops
 * @info: an fb_info the caller holds a reference on
 * @x: left edge
 * @y: top edge
 * @width: width
 * @height: height
 * @colour: palette index, below 16
 *
 * fbcon clips what it draws; fbdev's drawing helpers do not, so this checks.
 *
 * Returns: 0, or -EINVAL if the rectangle leaves the screen.
 */
int drm_vmap_client_test_fb_fillrect(struct fb_info *info, u32 x, u32 y,
				     u32 width, u32 height, u32 colour)
{
	struct fb_fillrect rect = {
		.dx = x, .dy = y, .width = width, .height = height,
		.color = colour, .rop = ROP_COPY,
	};

	if (x > info->var.xres || width > info->var.xres - x ||
	    y > info->var.yres || height > info->var.yres - y || colour > 15)
		return -EINVAL;
	info->fbops->fb_fillrect(info, &rect);
	return 0;
}
#endif

#ifdef CONFIG_FAULT_INJECTION
/**
 * drm_vmap_client_test_fail_nth - fail the current task's @nth next fault point
 * @nth: 1 for the next one; 0 for none
 *
 * What writing @nth to /proc/thread-self/fail-nth does: every fault point the
 * task passes (failslab, fail_page_alloc, and any other fault attribute)
 * counts down, and the @nth one fails.
 */
void drm_vmap_client_test_fail_nth(unsigned int nth)
{
	WRITE_ONCE(current->fail_nth, nth);
}

/**
 * drm_vmap_client_test_fail_nth_left - stop failing, and say whether it did
 *
 * Returns: how many fault points were still to pass before the failure: 0 if
 * the failure was injected.
 */
unsigned int drm_vmap_client_test_fail_nth_left(void)
{
	unsigned int left = READ_ONCE(current->fail_nth);

	WRITE_ONCE(current->fail_nth, 0);
	return left;
}
#endif
