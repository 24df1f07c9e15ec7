// SPDX-License-Identifier: GPL-2.0

//! Framebuffer geometry: formats, pitch and size with overflow checks, pixel rectangles.

use kernel::{
    drm_client::{Format, Layout, MAX_BUFFER_SIZE},
    error::code::{E2BIG, EINVAL, ERANGE},
    ktest::{CaseResult, Test},
    ktest_assert_eq, ktest_hostile, ktest_suite,
    vmap_cache::Rect,
};

fn formats_round_trip_their_fourcc(test: &Test) -> CaseResult {
    // DRM_FORMAT_XRGB8888 and DRM_FORMAT_RGB565 as drm_fourcc.h spells them.
    ktest_assert_eq!(test, Format::from_fourcc(0x3432_5258)?, Format::Xrgb8888);
    ktest_assert_eq!(test, Format::from_fourcc(0x3631_4752)?, Format::Rgb565);
    ktest_assert_eq!(test, Format::Xrgb8888.fourcc(), 0x3432_5258);
    ktest_assert_eq!(test, Format::Rgb565.bytes_per_pixel(), 2);
    // DRM_FORMAT_ARGB8888 ('AR24') is not a client format.
    ktest_hostile!(test, Format::from_fourcc(0x3432_5241), EINVAL);
    ktest_hostile!(test, Format::from_fourcc(0), EINVAL);
    Ok(())
}

fn pitch_and_size_follow_the_format(test: &Test) -> CaseResult {
    let xrgb = Layout::new(1024, 768, Format::Xrgb8888)?;
    ktest_assert_eq!(test, (xrgb.pitch(), xrgb.size()), (4096, 4096 * 768));
    let rgb565 = Layout::new(1366, 768, Format::Rgb565)?;
    ktest_assert_eq!(test, (rgb565.pitch(), rgb565.size()), (2732, 2732 * 768));
    Ok(())
}

fn bad_dimensions_fail_cleanly(test: &Test) -> CaseResult {
    ktest_hostile!(test, Layout::new(0, 768, Format::Xrgb8888), EINVAL);
    ktest_hostile!(test, Layout::new(1024, 0, Format::Xrgb8888), EINVAL);
    ktest_hostile!(
        test,
        Layout::new(u32::MAX, u32::MAX, Format::Xrgb8888),
        E2BIG
    );
    ktest_hostile!(test, Layout::new(16384, 16384, Format::Xrgb8888), E2BIG);
    // Exactly the largest buffer is allowed, one more row is not.
    let rows = u32::try_from(MAX_BUFFER_SIZE / 4096).unwrap_or(u32::MAX);
    Layout::new(1024, rows, Format::Xrgb8888)?;
    ktest_hostile!(test, Layout::new(1024, rows + 1, Format::Xrgb8888), E2BIG);
    Ok(())
}

fn aligned_pitches_are_kept(test: &Test) -> CaseResult {
    // A driver's dumb_create may align rows, as bochs does to 64 bytes... or not at all.
    let aligned = Layout::with_pitch(100, 10, Format::Rgb565, 256)?;
    ktest_assert_eq!(test, (aligned.pitch(), aligned.size()), (256, 2560));
    ktest_assert_eq!(test, aligned.rect(1, 1, 2, 2)?.offset, 256 + 2);
    ktest_hostile!(
        test,
        Layout::with_pitch(100, 10, Format::Rgb565, 199),
        EINVAL
    );
    ktest_hostile!(
        test,
        Layout::with_pitch(1, u32::MAX, Format::Rgb565, usize::MAX),
        E2BIG
    );
    Ok(())
}

fn pixel_rectangles_become_byte_rectangles(test: &Test) -> CaseResult {
    let layout = Layout::new(640, 480, Format::Xrgb8888)?;
    let expected = Rect {
        offset: 20 * 2560 + 10 * 4,
        pitch: 2560,
        row_len: 30 * 4,
        rows: 40,
    };
    ktest_assert_eq!(test, layout.rect(10, 20, 30, 40)?, expected);
    ktest_assert_eq!(test, layout.rect(0, 0, 640, 480)?.rows, 480);
    ktest_hostile!(test, layout.rect(600, 0, 41, 1), ERANGE);
    ktest_hostile!(test, layout.rect(0, 479, 1, 2), ERANGE);
    ktest_hostile!(test, layout.rect(u32::MAX, 0, 2, 1), ERANGE);
    ktest_hostile!(test, layout.rect(0, 0, 0, 1), EINVAL);
    Ok(())
}

ktest_suite!(
    drm_vmap_client_layout,
    [
        formats_round_trip_their_fourcc,
        pitch_and_size_follow_the_format,
        bad_dimensions_fail_cleanly,
        aligned_pitches_are_kept,
        pixel_rectangles_become_byte_rectangles,
    ]
);
