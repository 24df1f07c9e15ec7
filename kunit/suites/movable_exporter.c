// SPDX-License-Identifier: GPL-2.0
/*
 * A dynamic dma-buf exporter whose memory moves, for the KUnit suites of the
 * Rust in-kernel DRM client layer.
 *
 * Hardware that evicts buffers and tells its importers first (amdgpu, xe)
 * cannot be emulated in QEMU, so this exporter plays its part: the buffer
 * lives in one of two vmalloc'd stores and moves to the other on request.
 * Before a move it calls dma_buf_move_notify(), so that importers drop what
 * they derived from the old store; a move requested while an importer has the
 * buffer pinned is deferred to the last unpin, as the dynamic dma-buf rules
 * ask. The store left behind is poisoned, so that an importer still reading
 * it sees POISON_FREE instead of plausible data.
 */

#include <drm/drm_vmap_client_test.h>
#include <linux/dma-buf.h>
#include <linux/dma-resv.h>
#include <linux/err.h>
#include <linux/iosys-map.h>
#include <linux/poison.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

/* Everything below the size is protected by the dma-buf's reservation lock. */
struct movable_buffer {
	size_t size;
	void *stores[2];
	unsigned int store;
	unsigned int pins;
	unsigned int vmaps;
	unsigned int moves;
	bool move_pending;
};

static struct sg_table *movable_map(struct dma_buf_attachment *attach,
				    enum dma_data_direction dir)
{
	/* CPU access only: nothing is mapped for a device. */
	return ERR_PTR(-EOPNOTSUPP);
}

static void movable_unmap(struct dma_buf_attachment *attach,
			  struct sg_table *sgt, enum dma_data_direction dir)
{
}

static void movable_release(struct dma_buf *dmabuf)
{
	struct movable_buffer *buffer = dmabuf->priv;

	vfree(buffer->stores[0]);
	vfree(buffer->stores[1]);
	kfree(buffer);
}

/* Moves the contents to the other store. Called with the lock held. */
static int movable_move_locked(struct dma_buf *dmabuf)
{
	struct movable_buffer *buffer = dmabuf->priv;
	unsigned int next = !buffer->store;

	dma_resv_assert_held(dmabuf->resv);
	buffer->move_pending = false;
	dma_buf_move_notify(dmabuf);
	/* A mapping an importer did not give up keeps the buffer in place. */
	if (buffer->vmaps)
		return -EBUSY;
	memcpy(buffer->stores[next], buffer->stores[buffer->store], buffer->size);
	memset(buffer->stores[buffer->store], POISON_FREE, buffer->size);
	buffer->store = next;
	buffer->moves++;
	return 0;
}

static int movable_pin(struct dma_buf_attachment *attach)
{
	struct movable_buffer *buffer = attach->dmabuf->priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	buffer->pins++;
	return 0;
}

static void movable_unpin(struct dma_buf_attachment *attach)
{
	struct movable_buffer *buffer = attach->dmabuf->priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (WARN_ON(!buffer->pins))
		return;
	if (--buffer->pins == 0 && buffer->move_pending)
		movable_move_locked(attach->dmabuf);
}

static int movable_vmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct movable_buffer *buffer = dmabuf->priv;

	dma_resv_assert_held(dmabuf->resv);
	iosys_map_set_vaddr(map, buffer->stores[buffer->store]);
	buffer->vmaps++;
	return 0;
}

static void movable_vunmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct movable_buffer *buffer = dmabuf->priv;

	dma_resv_assert_held(dmabuf->resv);
	WARN_ON(map->vaddr != buffer->stores[buffer->store]);
	buffer->vmaps--;
}

static const struct dma_buf_ops movable_ops = {
	.pin = movable_pin,
	.unpin = movable_unpin,
	.map_dma_buf = movable_map,
	.unmap_dma_buf = movable_unmap,
	.release = movable_release,
	.vmap = movable_vmap,
	.vunmap = movable_vunmap,
};

/**
 * drm_vmap_client_test_movable_export - export a buffer that moves
 * @size: bytes, zero-filled
 *
 * Returns: a dma-buf with one reference, or an ERR_PTR.
 */
struct dma_buf *drm_vmap_client_test_movable_export(size_t size)
{
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct movable_buffer *buffer;
	struct dma_buf *dmabuf;

	buffer = kzalloc(sizeof(*buffer), GFP_KERNEL);
	if (!buffer)
		return ERR_PTR(-ENOMEM);
	buffer->size = PAGE_ALIGN(size);
	buffer->stores[0] = vzalloc(buffer->size);
	buffer->stores[1] = vzalloc(buffer->size);
	if (!buffer->stores[0] || !buffer->stores[1]) {
		dmabuf = ERR_PTR(-ENOMEM);
		goto err;
	}
	info.ops = &movable_ops;
	info.size = buffer->size;
	info.flags = O_RDWR;
	info.priv = buffer;
	dmabuf = dma_buf_export(&info);
	if (!IS_ERR(dmabuf))
		return dmabuf;
err:
	vfree(buffer->stores[0]);
	vfree(buffer->stores[1]);
	kfree(buffer);
	return dmabuf;
}

/**
 * drm_vmap_client_test_movable_move - move a buffer to its other store
 * @dmabuf: from drm_vmap_client_test_movable_export()
 *
 * Returns: 0 if it moved, 1 if an importer has it pinned and the move will
 * happen at the last unpin, -EBUSY if a mapping that no importer gave up at
 * the notification holds it, or -EINTR on a signal.
 */
int drm_vmap_client_test_movable_move(struct dma_buf *dmabuf)
{
	struct movable_buffer *buffer = dmabuf->priv;
	int ret;

	ret = dma_resv_lock_interruptible(dmabuf->resv, NULL);
	if (ret)
		return ret;
	if (buffer->pins) {
		buffer->move_pending = true;
		ret = 1;
	} else {
		ret = movable_move_locked(dmabuf);
	}
	dma_resv_unlock(dmabuf->resv);
	return ret;
}

/**
 * drm_vmap_client_test_movable_state - what the exporter knows of a buffer
 * @dmabuf: from drm_vmap_client_test_movable_export()
 * @state: filled in under the reservation lock
 */
void drm_vmap_client_test_movable_state(struct dma_buf *dmabuf,
					struct drm_vmap_client_test_movable *state)
{
	struct movable_buffer *buffer = dmabuf->priv;

	dma_resv_lock(dmabuf->resv, NULL);
	state->store = buffer->store;
	state->pins = buffer->pins;
	state->vmaps = buffer->vmaps;
	state->moves = buffer->moves;
	state->move_pending = buffer->move_pending;
	dma_resv_unlock(dmabuf->resv);
}
