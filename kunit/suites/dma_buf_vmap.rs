// SPDX-License-Identifier: GPL-2.0

//! The end-to-end path: a vgem shmem object, exported in-kernel as a dma-buf, mapped, written,
//! read back and released, plus the bad input that must fail cleanly.

use crate::common::{with_vgem_buffer, with_vgem_device};
use kernel::{
    drm_client::{
        testing::{self, Census},
        GemObject, MAX_BUFFER_SIZE,
    },
    error::code::{E2BIG, EINVAL, ERANGE},
    ktest::{CaseResult, Test},
    ktest_assert, ktest_assert_eq, ktest_assert_err, ktest_suite,
    vmap_cache::Rect,
};

/// Four pages, so that the pattern crosses page boundaries of the shmem object.
const BUFFER_SIZE: usize = 4 * 4096;

/// Bytes per row of the test pattern; rows start at every `ROW_STRIDE` bytes.
const ROW_LEN: usize = 64;
const ROW_STRIDE: usize = 1000;

/// Row 0 of the pattern, written out by hand so that the check does not trust the generator.
const EXPECTED_ROW_0: &[u8] = &[
    0x0b, 0x30, 0x55, 0x7a, 0x9f, 0xc4, 0xe9, 0x0e, 0x33, 0x58, 0x7d, 0xa2, 0xc7, 0xec, 0x11, 0x36,
    0x5b, 0x80, 0xa5, 0xca, 0xef, 0x14, 0x39, 0x5e, 0x83, 0xa8, 0xcd, 0xf2, 0x17, 0x3c, 0x61, 0x86,
    0xab, 0xd0, 0xf5, 0x1a, 0x3f, 0x64, 0x89, 0xae, 0xd3, 0xf8, 0x1d, 0x42, 0x67, 0x8c, 0xb1, 0xd6,
    0xfb, 0x20, 0x45, 0x6a, 0x8f, 0xb4, 0xd9, 0xfe, 0x23, 0x48, 0x6d, 0x92, 0xb7, 0xdc, 0x01, 0x26,
];

/// Row `row` of the pattern: bytes step by 37, rows start one apart.
fn pattern_row(row: usize) -> [u8; ROW_LEN] {
    let mut bytes = [0u8; ROW_LEN];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = ((i * 37 + 11 + row) & 0xff) as u8;
    }
    bytes
}

fn rows() -> impl Iterator<Item = (usize, usize)> {
    (0..)
        .map(|row| (row, row * ROW_STRIDE))
        .take_while(|(_, offset)| offset + ROW_LEN <= BUFFER_SIZE)
}

fn pattern_roundtrip(test: &Test) -> CaseResult {
    with_vgem_buffer(test, BUFFER_SIZE, |buf| {
        ktest_assert_eq!(test, buf.size(), BUFFER_SIZE);
        {
            let mut vmap = buf.vmap()?;
            ktest_assert_eq!(test, buf.vmap_count()?, 1);
            ktest_assert!(test, !vmap.is_iomem());
            let mut memory = vmap.memory();
            memory.fill(0, BUFFER_SIZE, 0)?;
            for (row, offset) in rows() {
                memory.write(offset, &pattern_row(row))?;
            }
            let mut readback = [0u8; ROW_LEN];
            memory.read(0, &mut readback)?;
            ktest_assert_eq!(test, &readback[..], EXPECTED_ROW_0);
            for (row, offset) in rows() {
                memory.read(offset, &mut readback)?;
                ktest_assert_eq!(test, readback, pattern_row(row));
            }
            let mut gap = [0xffu8; 8];
            memory.read(ROW_LEN, &mut gap)?;
            ktest_assert_eq!(test, gap, [0u8; 8]);
        }
        ktest_assert_eq!(test, buf.vmap_count()?, 0);
        Ok(())
    })
}

fn nested_vmaps_are_counted(test: &Test) -> CaseResult {
    with_vgem_buffer(test, BUFFER_SIZE, |buf| {
        let mut outer = buf.vmap()?;
        outer.memory().write(0, b"outer")?;
        {
            let mut inner = buf.vmap()?;
            ktest_assert_eq!(test, buf.vmap_count()?, 2);
            let mut word = [0u8; 5];
            inner.memory().read(0, &mut word)?;
            ktest_assert_eq!(test, &word, b"outer");
        }
        ktest_assert_eq!(test, buf.vmap_count()?, 1);
        drop(outer);
        ktest_assert_eq!(test, buf.vmap_count()?, 0);
        Ok(())
    })
}

fn zero_size_is_einval(test: &Test) -> CaseResult {
    with_vgem_device(test, |device| {
        ktest_assert_err!(test, GemObject::new_shmem(device, 0), EINVAL);
        Ok(())
    })
}

fn absurd_size_is_e2big(test: &Test) -> CaseResult {
    with_vgem_device(test, |device| {
        ktest_assert_err!(
            test,
            GemObject::new_shmem(device, MAX_BUFFER_SIZE + 1),
            E2BIG
        );
        ktest_assert_err!(test, GemObject::new_shmem(device, usize::MAX), E2BIG);
        Ok(())
    })
}

fn out_of_bounds_access_fails(test: &Test) -> CaseResult {
    with_vgem_buffer(test, BUFFER_SIZE, |buf| {
        {
            let mut vmap = buf.vmap()?;
            let mut memory = vmap.memory();
            let mut byte = [0u8; 1];
            ktest_assert_err!(test, memory.write(BUFFER_SIZE, &byte), ERANGE);
            ktest_assert_err!(test, memory.read(BUFFER_SIZE, &mut byte), ERANGE);
            ktest_assert_err!(test, memory.write(usize::MAX, &byte), ERANGE);
            ktest_assert_err!(test, memory.fill(1, BUFFER_SIZE, 0), ERANGE);
            ktest_assert_err!(test, memory.write(0, &[]), EINVAL);
            ktest_assert_err!(test, memory.fill(0, 0, 0), EINVAL);
            memory.write(BUFFER_SIZE - 1, &byte)?;
        }
        ktest_assert_eq!(test, buf.vmap_count()?, 0);
        Ok(())
    })
}

fn rectangles_copy_rows_within_bounds(test: &Test) -> CaseResult {
    // Three rows of 8 bytes, 100 bytes apart, from a source packed 8 bytes apart.
    const RECT: Rect = Rect {
        offset: 4000,
        pitch: 100,
        row_len: 8,
        rows: 3,
    };
    const SOURCE: &[u8; 24] = b"row-zerorow-one_row-two_";
    with_vgem_buffer(test, BUFFER_SIZE, |buf| {
        let mut vmap = buf.vmap()?;
        let mut memory = vmap.memory();
        memory.fill(0, BUFFER_SIZE, 0)?;
        memory.write_rect(RECT, SOURCE, 8)?;
        let mut back = [0u8; 24];
        memory.read_rect(RECT, &mut back, 8)?;
        ktest_assert_eq!(test, &back, SOURCE);
        // Between the rows nothing was touched.
        let mut gap = [0xffu8; 92];
        memory.read(RECT.offset + RECT.row_len, &mut gap)?;
        ktest_assert_eq!(test, gap, [0u8; 92]);
        let mut row = [0u8; 8];
        memory.read(RECT.offset + 2 * RECT.pitch, &mut row)?;
        ktest_assert_eq!(test, &row, b"row-two_");
        // A rectangle whose last row leaves the buffer fails before writing its first row.
        let tall = Rect {
            offset: 0,
            rows: BUFFER_SIZE / 100 + 2,
            ..RECT
        };
        let long_source = [0x77u8; 8 * (BUFFER_SIZE / 100 + 2)];
        ktest_assert_err!(test, memory.write_rect(tall, &long_source, 8), ERANGE);
        memory.read(0, &mut row)?;
        ktest_assert_eq!(test, row, [0u8; 8]);
        let far = Rect {
            offset: usize::MAX - 50,
            ..RECT
        };
        ktest_assert_err!(test, memory.write_rect(far, SOURCE, 8), ERANGE);
        let overlapping = Rect { pitch: 4, ..RECT };
        ktest_assert_err!(test, memory.write_rect(overlapping, SOURCE, 8), EINVAL);
        ktest_assert_err!(test, memory.write_rect(RECT, &SOURCE[..16], 8), EINVAL);
        ktest_assert_err!(test, memory.read_rect(RECT, &mut back, 4), EINVAL);
        let empty = Rect { rows: 0, ..RECT };
        ktest_assert_err!(test, memory.write_rect(empty, SOURCE, 8), EINVAL);
        Ok(())
    })
}

/// The census every leak check trusts counts what exists on each device, not what the layer
/// believes it holds: a GEM object, its mapping and a TTM pin each show in it, on their own
/// device, and go.
fn the_census_counts_objects_mappings_and_pins(test: &Test) -> CaseResult {
    with_vgem_device(test, |vgem| {
        let before = Census::now().on(vgem);
        let object = GemObject::new_shmem(vgem, BUFFER_SIZE)?;
        let made = Census::now().on(vgem);
        ktest_assert_eq!(test, made.gem_objects, before.gem_objects + 1);
        let buf = object.export()?;
        {
            let _vmap = buf.vmap()?;
            let mapped = Census::now().on(vgem);
            ktest_assert_eq!(test, mapped.gem_mappings, before.gem_mappings + 1);
        }
        let unmapped = Census::now().on(vgem);
        ktest_assert_eq!(test, unmapped.gem_mappings, before.gem_mappings);
        drop((buf, object));
        testing::wait_for_releases(test, || Census::now().on(vgem) == before);
        ktest_assert_eq!(test, Census::now().on(vgem), before);
        Ok(())
    })?;
    let bochs = testing::device_or_skip(test, b"bochs-drm")?;
    let before = Census::now();
    let on_bochs = before.on(&bochs);
    {
        let _filler = testing::VramFiller::pin(&bochs, 64 * 1024)?;
        let pinned = Census::now();
        let filled = pinned.on(&bochs);
        ktest_assert_eq!(test, filled.ttm_pins, on_bochs.ttm_pins + 1);
        ktest_assert_eq!(test, filled.gem_objects, on_bochs.gem_objects + 1);
        // The layer holds nothing of it.
        ktest_assert_eq!(test, pinned.held, before.held);
    }
    ktest_assert_eq!(test, Census::now(), before);
    Ok(())
}

ktest_suite!(
    drm_vmap_client_dma_buf,
    [
        pattern_roundtrip,
        nested_vmaps_are_counted,
        zero_size_is_einval,
        absurd_size_is_e2big,
        out_of_bounds_access_fails,
        rectangles_copy_rows_within_bounds,
        the_census_counts_objects_mappings_and_pins,
    ]
);
