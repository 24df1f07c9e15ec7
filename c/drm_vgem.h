/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-kernel access to vgem's DRM device, for in-kernel DRM clients that
 * allocate shmem buffers on vgem and import them into a KMS device.
 */

#ifndef __DRM_VGEM_H__
#define __DRM_VGEM_H__

struct drm_device;

struct drm_device *drm_vgem_device_get(void);

#endif
