//! Small PNG charts for the digest, the weekly summary and App Home, drawn with plotters into
//! an RGB buffer and encoded as PNG; text uses the DejaVu Sans font compiled into the binary
//! (assets/fonts, Bitstream Vera licence), never a system font lookup. They are shown at
//! 600×300 CSS pixels but drawn at [`SCALE`]× so they stay sharp on phones and retina screens.
//! Slack loads them from `SKYGENI_PUBLIC_URL/charts/<file>` behind an HMAC-signed, expiring
//! file name ([`super::chart_link`]).
use crate::domain::RiskCategory;
use crate::engine::PipelineMetrics;
use crate::notify::email::money_short;
use chrono::NaiveDate;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use std::sync::Once;

/// Display size in CSS pixels (the `<img width height>` of the emails).
pub const WIDTH: u32 = 600;
pub const HEIGHT: u32 = 300;
/// Pixel density: the PNG is `SCALE × WIDTH` by `SCALE × HEIGHT`.
pub const SCALE: u32 = 2;
/// Light horizontal guides only, at most this many (a chart is read for its shape).
const Y_LABELS: usize = 5;
const GRID: RGBColor = RGBColor(232, 232, 232);
/// Axis labels: #555 on white is 7.5:1.
const LABEL: RGBColor = RGBColor(0x55, 0x55, 0x55);

/// `v` CSS pixels in device pixels.
fn px(v: u32) -> u32 {
    v * SCALE
}
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// The charts we draw; the name is part of the signed URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Chart {
    RiskDistribution,
    WinRateTrend,
    RapvVsPipeline,
}

impl Chart {
    pub const ALL: [Chart; 3] = [
        Chart::RiskDistribution,
        Chart::WinRateTrend,
        Chart::RapvVsPipeline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Chart::RiskDistribution => "risk-distribution",
            Chart::WinRateTrend => "win-rate-trend",
            Chart::RapvVsPipeline => "rapv-vs-pipeline",
        }
    }

    pub fn parse(s: &str) -> Option<Chart> {
        Chart::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Alt text for Slack image blocks and email.
    pub fn title(self) -> &'static str {
        match self {
            Chart::RiskDistribution => "Open deals by risk category",
            Chart::WinRateTrend => "Weekly win rate",
            Chart::RapvVsPipeline => "Risk-adjusted pipeline (RAPV) vs raw pipeline",
        }
    }
}

type ChartResult = anyhow::Result<Vec<u8>>;

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("failed to draw chart: {e:?}")
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the embedded DejaVu Sans font is a valid TrueType font"));
    });
}

/// Draw with `draw` on a white canvas of WIDTH×HEIGHT at SCALE× and return the PNG bytes.
fn render(
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> anyhow::Result<()>,
) -> ChartResult {
    register_font();
    let (w, h) = (px(WIDTH), px(HEIGHT));
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    let mut out = Vec::with_capacity(16 * 1024);
    let mut enc = png::Encoder::new(&mut out, w, h);
    // pHYs says "2× of 72 dpi", a hint some viewers use to show the image at its CSS size.
    enc.set_pixel_dims(Some(png::PixelDimensions {
        xppu: 2835 * SCALE,
        yppu: 2835 * SCALE,
        unit: png::Unit::Meter,
    }));
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header()?;
    w.write_image_data(&rgb)?;
    w.finish()?;
    Ok(out)
}

fn hex(c: &str) -> RGBColor {
    let v = u32::from_str_radix(c.trim_start_matches('#'), 16).unwrap_or(0x888888);
    RGBColor((v >> 16) as u8, (v >> 8) as u8, v as u8)
}

fn segment_label(v: &SegmentValue<u32>, names: &[String]) -> String {
    match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            names.get(*i as usize).cloned().unwrap_or_default()
        }
        SegmentValue::Last => String::new(),
    }
}

/// Bars of open deals per risk category (low → critical) in the categories' Slack colours.
/// The daily digest's charts (risk distribution, RAPV vs raw pipeline) as inline images.
pub fn pipeline_inline_images(
    m: &PipelineMetrics,
) -> anyhow::Result<Vec<crate::notify::weekly::InlineImage>> {
    [
        (Chart::RiskDistribution, risk_distribution_png(m)?),
        (Chart::RapvVsPipeline, rapv_vs_pipeline_png(m)?),
    ]
    .into_iter()
    .map(|(chart, bytes)| {
        Ok(crate::notify::weekly::InlineImage {
            content_id: chart.as_str().to_string(),
            filename: format!("{}.png", chart.as_str()),
            mime_type: "image/png",
            bytes,
        })
    })
    .collect()
}

pub fn risk_distribution_png(m: &PipelineMetrics) -> ChartResult {
    let order = [
        RiskCategory::Low,
        RiskCategory::Medium,
        RiskCategory::High,
        RiskCategory::Critical,
    ];
    let counts: Vec<u32> = order
        .iter()
        .map(|c| {
            m.risk_distribution
                .iter()
                .filter(|b| b.category == *c)
                .map(|b| b.deals as u32)
                .sum()
        })
        .collect();
    let names: Vec<String> = order
        .iter()
        .zip(&counts)
        .map(|(c, n)| format!("{} ({n})", c.as_str()))
        .collect();
    let top = counts.iter().copied().max().unwrap_or(0).max(1) * 11 / 10 + 1;
    render(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(Chart::RiskDistribution.title(), caption())
            .margin(px(10))
            .x_label_area_size(px(30))
            .y_label_area_size(px(50))
            .build_cartesian_2d((0u32..3u32).into_segmented(), 0u32..top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_label_formatter(&|v| segment_label(v, &names))
            .y_desc("deals")
            .y_labels(Y_LABELS)
            .label_style(label_font())
            .axis_desc_style(label_font())
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(LABEL)
            .draw()
            .map_err(plot_err)?;
        for (i, (c, n)) in order.iter().zip(&counts).enumerate() {
            chart
                .draw_series(
                    Histogram::vertical(&chart)
                        .style(hex(c.slack_color()).filled())
                        .margin(px(18))
                        .data([(i as u32, *n)]),
                )
                .map_err(plot_err)?;
        }
        Ok(())
    })
}

/// One point per week: the share of closed deals won (weeks with no closes leave a gap).
/// The x range runs half a week past the first and last points so neither end is clipped.
pub fn win_rate_trend_png(weeks: &[(NaiveDate, Option<f64>)]) -> ChartResult {
    let n = weeks.len().max(1) as f64;
    let points: Vec<(f64, f64)> = weeks
        .iter()
        .enumerate()
        .filter_map(|(i, (_, r))| r.map(|r| (i as f64, r * 100.0)))
        .collect();
    // Every other week, counted back from the last one (the summary's own week is labelled).
    let label = |x: &f64| {
        let i = x.round();
        let last = weeks.len() as f64 - 1.0;
        if (x - i).abs() > 0.01 || i < 0.0 || (last - i) % 2.0 != 0.0 {
            return String::new();
        }
        weeks
            .get(i as usize)
            .map(|(d, _)| d.format("%b %-d").to_string())
            .unwrap_or_default()
    };
    render(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(Chart::WinRateTrend.title(), caption())
            .margin(px(12))
            .x_label_area_size(px(30))
            .y_label_area_size(px(50))
            .build_cartesian_2d(-0.5f64..(n - 0.5), 0f64..100f64)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            // A tick per week (labels only on every other one, see `label`).
            .x_labels(weeks.len().max(2))
            .x_label_formatter(&label)
            .y_labels(Y_LABELS)
            .y_label_formatter(&|v| format!("{v:.0}%"))
            .label_style(label_font())
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(LABEL)
            .draw()
            .map_err(plot_err)?;
        let blue = RGBColor(0x1D, 0x6F, 0xB8);
        chart
            .draw_series(LineSeries::new(points.clone(), blue.stroke_width(px(2))))
            .map_err(plot_err)?;
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, px(3), blue.filled())))
            .map_err(plot_err)?;
        Ok(())
    })
}

/// Raw pipeline value next to its risk-adjusted value (RAPV); the difference is the gap.
pub fn rapv_vs_pipeline_png(m: &PipelineMetrics) -> ChartResult {
    let values = [m.pipeline_value.max(0.0), m.rapv.max(0.0)];
    let names = vec![
        format!("Pipeline {}", money_short(values[0])),
        format!("RAPV {}", money_short(values[1])),
    ];
    let top = values.iter().copied().fold(1.0, f64::max) * 1.1;
    render(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("RAPV vs pipeline (optimism gap {:.0}%)", m.optimism_gap_pct),
                caption(),
            )
            .margin(px(10))
            .x_label_area_size(px(30))
            .y_label_area_size(px(60))
            .build_cartesian_2d((0u32..1u32).into_segmented(), 0f64..top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_label_formatter(&|v| segment_label(v, &names))
            .y_labels(Y_LABELS)
            .y_label_formatter(&|v| money_short(*v))
            .label_style(label_font())
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(LABEL)
            .draw()
            .map_err(plot_err)?;
        for (i, (v, color)) in values
            .iter()
            .zip([RGBColor(0x9A, 0xA5, 0xB1), RGBColor(0x2E, 0xB6, 0x7D)])
            .enumerate()
        {
            chart
                .draw_series(
                    Histogram::vertical(&chart)
                        .style(color.filled())
                        .margin(px(40))
                        .data([(i as u32, *v)]),
                )
                .map_err(plot_err)?;
        }
        Ok(())
    })
}

fn caption() -> TextStyle<'static> {
    (FAMILY, px(19))
        .into_font()
        .color(&RGBColor(0x1D, 0x1C, 0x1D))
}

fn label_font() -> TextStyle<'static> {
    (FAMILY, px(14)).into_font().color(&LABEL)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decoded RGB pixels of a chart PNG with its size.
    fn pixels(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    #[test]
    fn charts_are_drawn_at_twice_the_display_size() {
        let weeks: Vec<_> = (0..12)
            .map(|i| {
                (
                    NaiveDate::from_ymd_opt(2024, 1, 5).unwrap() + chrono::Duration::weeks(i),
                    Some(0.45),
                )
            })
            .collect();
        let (w, h, _) = pixels(&win_rate_trend_png(&weeks).unwrap());
        assert_eq!((w, h), (WIDTH * SCALE, HEIGHT * SCALE));
    }

    #[test]
    fn the_last_week_point_is_drawn_whole_and_gridlines_are_few() {
        // Only the last week has a value: its marker sits at the right edge of the data.
        let mut weeks: Vec<(NaiveDate, Option<f64>)> = (0..12)
            .map(|i| {
                (
                    NaiveDate::from_ymd_opt(2024, 1, 5).unwrap() + chrono::Duration::weeks(i),
                    None,
                )
            })
            .collect();
        weeks[11].1 = Some(0.5);
        let (w, h, buf) = pixels(&win_rate_trend_png(&weeks).unwrap());
        let blue = |x: u32, y: u32| {
            let i = ((y * w + x) * 3) as usize;
            (buf[i], buf[i + 1], buf[i + 2]) == (0x1D, 0x6F, 0xB8)
        };
        let marker: Vec<(u32, u32)> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .filter(|&(x, y)| blue(x, y))
            .collect();
        // A disc of radius 6 device pixels covers ~113 pixels; a clipped one about half.
        assert!(marker.len() >= 90, "marker has {} pixels", marker.len());
        let (xs, ys): (Vec<u32>, Vec<u32>) = marker.iter().copied().unzip();
        let (l, r) = (*xs.iter().min().unwrap(), *xs.iter().max().unwrap());
        let (t, b) = (*ys.iter().min().unwrap(), *ys.iter().max().unwrap());
        assert!(
            (r - l).abs_diff(b - t) <= 1,
            "round, not cut: {}×{}",
            r - l,
            b - t
        );
        assert!(r + px(12) <= w, "room right of the last point");
        // Light grey guides: whole rows of GRID colour inside the plot; at most Y_LABELS + 1.
        let grid_rows = (0..h)
            .filter(|&y| {
                let n = (0..w)
                    .filter(|&x| {
                        let i = ((y * w + x) * 3) as usize;
                        (buf[i], buf[i + 1], buf[i + 2]) == (GRID.0, GRID.1, GRID.2)
                    })
                    .count();
                n as u32 > w / 2
            })
            .count();
        assert!(
            (2..=Y_LABELS + 1).contains(&grid_rows),
            "{grid_rows} grid rows"
        );
    }
}
