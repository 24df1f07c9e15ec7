/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-kernel access to vgem's DRM device, for in-kernel DRM clients that
 * allocate shmem buffers on vgem and import them into a KMS device.
 */

#ifndef __DRM_VGEM_H__
#define __DRM_VGEM_H__

#include <linux/kconfig.h>
#include <linux/stddef.h>

struct drm_device;

#if IS_ENABLED(CONFIG_DRM_VGEM)
struct drm_device *drm_vgem_device_get(void);
#else
static inline struct drm_device *drm_vgem_device_get(void)
{
	return NULL;
}
#endif

#endif
