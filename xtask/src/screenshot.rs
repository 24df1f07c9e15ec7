//! What a screenshot shows: checks that the main job's picture is the splash, not QEMU's
//! placeholder for a display the guest never set up.

use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// Fewer colours than this is a blank or text screen; the splash's gradient has dozens.
const MIN_COLOURS: usize = 8;

/// Size and colour count of a decoded screenshot.
#[derive(Debug, PartialEq, Eq)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub colours: usize,
}

/// Decodes the PNG at `path`.
pub fn read(path: &Path) -> Result<Picture> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut decoder = png::Decoder::new(BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .with_context(|| format!("{} is not a PNG file", path.display()))?;
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader
        .next_frame(&mut pixels)
        .with_context(|| format!("cannot decode {}", path.display()))?;
    let channels = frame.color_type.samples();
    let colours: HashSet<&[u8]> = pixels[..frame.buffer_size()]
        .chunks_exact(channels)
        .collect();
    Ok(Picture {
        width: frame.width,
        height: frame.height,
        colours: colours.len(),
    })
}

/// Checks that the screenshot at `path` is a `width` x `height` picture with many colours.
pub fn check_shows_splash(path: &Path, (width, height): (u32, u32)) -> Result<Picture> {
    let picture = read(path)?;
    if (picture.width, picture.height) != (width, height) {
        bail!(
            "the screenshot is {}x{}, not the {width}x{height} splash: the display shows \
             something else (see {})",
            picture.width,
            picture.height,
            path.display()
        );
    }
    if picture.colours < MIN_COLOURS {
        bail!(
            "the screenshot has {} colour(s): the display is blank (see {})",
            picture.colours,
            path.display()
        );
    }
    Ok(picture)
}

/// The splash size the boot splash reported for `driver`, from its console line
/// `bootsplash: 1280x800 XRGB8888 splash on bochs-drm (...)`.
pub fn splash_size(console: &str, driver: &str) -> Option<(u32, u32)> {
    let marker = format!(" splash on {driver} ");
    let line = console
        .lines()
        .find(|line| line.contains("bootsplash:") && line.contains(&marker))?;
    let size = line
        .split("bootsplash:")
        .nth(1)?
        .split_whitespace()
        .next()?;
    let (width, height) = size.split_once('x')?;
    Some((width.parse().ok()?, height.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) {
        let file = File::create(path).unwrap();
        let mut encoder = png::Encoder::new(file, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        let mut data = Vec::new();
        for y in 0..height {
            for x in 0..width {
                data.extend_from_slice(&pixel(x, y));
            }
        }
        writer.write_image_data(&data).unwrap();
    }

    #[test]
    fn finds_the_size_the_splash_reported() {
        let console = "[    1.0] bootsplash: 1024x768 XRGB8888 splash on vkms (vgem, imported \
                       buffers), 8 frames\nbootsplash: 1280x800 XRGB8888 splash on bochs-drm \
                       (device dumb buffers), 8 frames flipped onto 1 output(s)\n";
        assert_eq!(splash_size(console, "bochs-drm"), Some((1280, 800)));
        assert_eq!(splash_size(console, "vkms"), Some((1024, 768)));
        assert_eq!(splash_size(console, "cirrus"), None);
    }

    #[test]
    fn accepts_a_gradient_and_refuses_blank_or_wrong_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let gradient = dir.path().join("gradient.png");
        write_png(&gradient, 64, 32, |x, y| [x as u8, y as u8, 7]);
        assert_eq!(
            check_shows_splash(&gradient, (64, 32)).unwrap(),
            Picture {
                width: 64,
                height: 32,
                colours: 64 * 32
            }
        );
        assert!(check_shows_splash(&gradient, (640, 480)).is_err());
        let blank = dir.path().join("blank.png");
        write_png(&blank, 64, 32, |_, _| [0, 0, 0]);
        let error = check_shows_splash(&blank, (64, 32)).unwrap_err();
        assert!(error.to_string().contains("blank"), "{error}");
    }
}
