//! Charts drawn on the server as inline SVG: no script, no library, nothing fetched. Colours
//! come from the stylesheet by series class (`s-<key>`), since the console's content security
//! policy allows no inline styles. Every mark carries its series, day or row, and value as
//! `data-` attributes and a `<title>` (the browser's tooltip), so what a chart shows can be read
//! back exactly.

use jiff::civil::Date;
use maud::{html, Markup};

/// One series of a chart: a stylesheet key, a label for the legend, and its values.
pub struct Series<'a> {
    pub key: &'a str,
    pub label: &'a str,
    pub values: Vec<i64>,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `max`, so the axis reads in round numbers.
fn round_up(max: i64) -> i64 {
    if max <= 0 {
        return 1;
    }
    let mut step = 1i64;
    loop {
        for factor in [10, 20, 25, 50] {
            let candidate = step.saturating_mul(factor) / 10;
            if candidate >= max {
                return candidate.max(1);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// How many steps the axis up to `top` takes: four or five when they fall on whole values,
/// so a gridline's label is exactly the height it is drawn at (10 in fives: 0, 2, 4, …).
fn gridlines(top: i64) -> i64 {
    [4, 5, 2].into_iter().find(|n| top % n == 0).unwrap_or(1)
}

/// Where each part of a stack starts: the sum of the parts before it.
fn bases(parts: impl Iterator<Item = i64>) -> Vec<i64> {
    parts
        .scan(0i64, |sum, part| {
            let start = *sum;
            *sum += part.max(0);
            Some(start)
        })
        .collect()
}

fn day_text(date: Date) -> String {
    date.strftime("%Y-%m-%d").to_string()
}

/// Which days get a label under the axis: about eight, evenly spaced back from the last (today).
fn labelled(days: usize, i: usize) -> bool {
    let every = days.div_ceil(8).max(1);
    i < days && (days - 1 - i).is_multiple_of(every)
}

/// The axis, its gridlines and the day labels shared by the per-day charts.
fn frame(days: &[Date], top: i64, format: &dyn Fn(i64) -> String, slot: f64) -> Markup {
    let plot = HEIGHT - TOP - BOTTOM;
    html! {
        @let steps = gridlines(top);
        @for step in 0..=steps {
            @let value = top * step / steps;
            @let y = TOP + plot - plot * step as f64 / steps as f64;
            line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y) y2=(y) {}
            text.axis x=(LEFT - 6.0) y=(y + 4.0) text-anchor="end" { (format(value)) }
        }
        @for (i, day) in days.iter().enumerate() {
            @if labelled(days.len(), i) {
                // The last label ends at the chart's edge when the days are too narrow to centre it.
                @let last_narrow = i + 1 == days.len() && slot < 40.0;
                @let x = if last_narrow { WIDTH - RIGHT } else { LEFT + slot * (i as f64 + 0.5) };
                text.axis x=(x) y=(HEIGHT - 6.0) text-anchor=(if last_narrow { "end" } else { "middle" }) {
                    (day.strftime("%d %b").to_string())
                }
            }
        }
    }
}

fn legend(series: &[Series<'_>]) -> Markup {
    html! {
        ul.legend {
            @for s in series { li { span class={ "swatch s-" (s.key) } {} (s.label) } }
        }
    }
}

/// Bars per day, the series stacked from the bottom in the order given.
pub fn stacked_days(id: &str, title: &str, days: &[Date], series: &[Series<'_>]) -> Markup {
    let totals: Vec<i64> = (0..days.len()).map(|i| series.iter().map(|s| s.values[i]).sum()).collect();
    let top = round_up(totals.iter().copied().max().unwrap_or(0));
    let plot = HEIGHT - TOP - BOTTOM;
    let slot = (WIDTH - LEFT - RIGHT) / days.len().max(1) as f64;
    let bar = (slot * 0.75).max(1.0);
    html! {
        figure.chart {
            svg #(id) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(title) {
                (frame(days, top, &|v| v.to_string(), slot))
                @for (i, day) in days.iter().enumerate() {
                    @for (s, base) in series.iter().zip(bases(series.iter().map(|s| s.values[i]))) {
                        @let value = s.values[i];
                        @let y = TOP + plot - plot * (base + value) as f64 / top as f64;
                        @let h = plot * value as f64 / top as f64;
                        rect class={ "s-" (s.key) } x=(LEFT + slot * i as f64 + (slot - bar) / 2.0) y=(y) width=(bar) height=(h)
                            data-series=(s.key) data-day=(day_text(*day)) data-value=(value) {
                            title { (day_text(*day)) " · " (s.label) ": " (value) }
                        }
                    }
                }
            }
            (legend(series))
        }
    }
}

/// A line per series over the days, with a marker per day; `format` writes an axis value.
pub fn lines_by_day(
    id: &str,
    title: &str,
    days: &[Date],
    series: &[Series<'_>],
    format: &dyn Fn(i64) -> String,
) -> Markup {
    let max = series.iter().flat_map(|s| s.values.iter().copied()).max().unwrap_or(0);
    let top = round_up(max);
    let plot = HEIGHT - TOP - BOTTOM;
    let slot = (WIDTH - LEFT - RIGHT) / days.len().max(1) as f64;
    let x = |i: usize| LEFT + slot * (i as f64 + 0.5);
    // A marker per day; smaller when the days are narrow, so three months stay readable.
    let radius = if slot < 12.0 { 1.5 } else { 3.0 };
    let y = |v: i64| TOP + plot - plot * v.max(0) as f64 / top as f64;
    html! {
        figure.chart {
            svg #(id) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(title) {
                (frame(days, top, format, slot))
                @for s in series {
                    @let points: Vec<String> = s.values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v))).collect();
                    polyline class={ "line s-" (s.key) } points=(points.join(" ")) {}
                    @for (i, day) in days.iter().enumerate() {
                        circle class={ "s-" (s.key) } cx=(x(i)) cy=(y(s.values[i])) r=(radius)
                            data-series=(s.key) data-day=(day_text(*day)) data-value=(s.values[i]) {
                            title { (day_text(*day)) " · " (s.label) ": " (format(s.values[i])) }
                        }
                    }
                }
            }
            (legend(series))
        }
    }
}

/// One row of a horizontal chart: its label, an id for `data-row`, and its parts.
pub struct Row {
    pub id: i64,
    pub label: String,
    pub parts: Vec<i64>,
    /// Text written after the bar.
    pub note: String,
}

/// Horizontal bars, one per row, the parts (named by `series`, whose values are unused) stacked
/// left to right; `scale` is the value of the full width (the largest row's total when None).
pub fn stacked_rows(id: &str, title: &str, series: &[Series<'_>], rows: &[Row], scale: Option<i64>) -> Markup {
    const ROW: f64 = 26.0;
    const LABEL: f64 = 200.0;
    const NOTE: f64 = 150.0;
    let height = ROW * rows.len().max(1) as f64 + 8.0;
    let full = scale.unwrap_or_else(|| round_up(rows.iter().map(|r| r.parts.iter().sum::<i64>()).max().unwrap_or(0)));
    let width = WIDTH - LABEL - NOTE;
    html! {
        figure.chart {
            svg #(id) viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-label=(title) {
                @for (r, row) in rows.iter().enumerate() {
                    @let y = 4.0 + ROW * r as f64;
                    g data-row=(row.id) {
                        text.axis x=(LABEL - 8.0) y=(y + 16.0) text-anchor="end" { (row.label) }
                        rect.track x=(LABEL) y=(y + 3.0) width=(width) height=(ROW - 8.0) {}
                        @for ((s, value), start) in series.iter().zip(&row.parts).zip(bases(row.parts.iter().copied())) {
                            rect class={ "s-" (s.key) } x=(LABEL + width * start as f64 / full.max(1) as f64) y=(y + 3.0)
                                width=(width * (*value).max(0) as f64 / full.max(1) as f64) height=(ROW - 8.0)
                                data-series=(s.key) data-value=(value) {
                                title { (row.label) " · " (s.label) ": " (value) }
                            }
                        }
                        text.note x=(LABEL + width + 8.0) y=(y + 16.0) { (row.note) }
                    }
                }
            }
            @if series.len() > 1 { (legend(series)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(round_up(0), 1);
        assert_eq!(round_up(1), 1);
        assert_eq!(round_up(3), 5);
        assert_eq!(round_up(7), 10);
        assert_eq!(round_up(11), 20);
        assert_eq!(round_up(21), 25);
        assert_eq!(round_up(1250), 2000);
        assert_eq!(round_up(2100), 2500);
        assert_eq!(round_up(100), 100);
    }

    #[test]
    fn gridlines_fall_on_whole_values() {
        for top in [1, 2, 5, 10, 20, 25, 50, 100, 250, 1000, 2500] {
            let steps = gridlines(top);
            assert_eq!(top % steps, 0, "{top} in {steps}");
            assert!(top < 4 || steps >= 4, "{top} has only {steps} steps");
        }
        assert_eq!((gridlines(10), gridlines(2), gridlines(1)), (5, 2, 1));
    }

    #[test]
    fn about_eight_days_are_labelled_back_from_the_last() {
        let marked: Vec<usize> = (0..30).filter(|i| labelled(30, *i)).collect();
        assert_eq!(marked, vec![1, 5, 9, 13, 17, 21, 25, 29]);
        assert!((0..7).all(|i| labelled(7, i)));
    }
}
