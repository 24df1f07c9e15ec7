//! A PNG chart of the ratios: one horizontal bar each, on a logarithmic axis.

use super::Ratio;
use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::Path;
use std::sync::Once;

/// The font the chart's text is drawn in (Debian's fonts-dejavu-core, which `cargo xtask setup`
/// installs).
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

const WIDTH: u32 = 1400;
const ROW_HEIGHT: u32 = 26;

/// Draws `ratios` into `png`.
pub fn draw(png: &Path, ratios: &[Ratio]) -> Result<()> {
    load_font()?;
    let height = 120 + ROW_HEIGHT * u32::try_from(ratios.len().max(1))?;
    let root = BitMapBackend::new(png, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let largest = ratios.iter().map(|r| r.value).fold(10.0, f64::max) * 4.0;
    let smallest = ratios.iter().map(|r| r.value).fold(0.1, f64::min) / 2.0;
    let rows = ratios.len();
    // The first ratio on top.
    let row_of = |index: usize| rows - 1 - index;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "drm-vmap-client: ratios of medians (log scale)",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(560)
        .build_cartesian_2d((smallest..largest).log_scale(), (0..rows).into_segmented())
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(rows)
        .y_label_formatter(&|row| match row {
            SegmentValue::CenterOf(row) if *row < rows => ratios
                .get(row_of(*row))
                .map(|ratio| ratio.name.clone())
                .unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc("ratio")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(plot_error)?;
    chart
        .draw_series(ratios.iter().enumerate().map(|(index, ratio)| {
            let colour = if ratio.value >= 1.0 { BLUE } else { GREEN };
            let row = row_of(index);
            Rectangle::new(
                [
                    (smallest, SegmentValue::Exact(row)),
                    (ratio.value.max(smallest), SegmentValue::Exact(row + 1)),
                ],
                colour.mix(0.6).filled(),
            )
        }))
        .map_err(plot_error)?;
    chart
        .draw_series(ratios.iter().enumerate().map(|(index, ratio)| {
            Text::new(
                format!(" {:.3}", ratio.value),
                (
                    ratio.value.max(smallest),
                    SegmentValue::CenterOf(row_of(index)),
                ),
                ("sans-serif", 13),
            )
        }))
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

fn load_font() -> Result<()> {
    static LOADED: Once = Once::new();
    let bytes = std::fs::read(FONT)
        .with_context(|| format!("cannot read the chart font {FONT} (run `cargo xtask setup`)"))?;
    let mut result = Ok(());
    LOADED.call_once(|| {
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        if register_font("sans-serif", FontStyle::Normal, bytes).is_err() {
            result = Err(anyhow!("{FONT} is not a font plotters can read"));
        }
    });
    result
}

fn plot_error<E: std::fmt::Debug>(error: E) -> anyhow::Error {
    anyhow!("drawing the chart failed: {error:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_a_png_of_the_expected_size() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("chart.png");
        let ratios = [
            Ratio {
                name: "per-access map / cached access (vgem) at 640x480".into(),
                value: 12_345.0,
            },
            Ratio {
                name: "fill through guard / raw memset (vgem) at 640x480".into(),
                value: 0.97,
            },
        ];
        draw(&png, &ratios).unwrap();
        let chart = image::open(&png).unwrap();
        assert_eq!(
            (chart.width(), chart.height()),
            (WIDTH, 120 + 2 * ROW_HEIGHT)
        );
    }
}
