//! SVG charts drawn by the app: lines over time with an optional threshold,
//! paired histograms, and traffic-split bars. Each has a text alternative
//! (a caption and a table or label) for screen readers.

use leptos::prelude::*;

use crate::components::short;

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;
const RIGHT: f64 = 8.0;

/// One line: `(x, y)` points, x usually seconds since the epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    /// Colour class: `s0`, `s1`, …
    pub class: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// Maps data to the plot area.
struct Scale {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Scale {
    fn fit(series: &[Series], threshold: Option<f64>) -> Scale {
        let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
        let ys = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(threshold);
        let (x0, x1) = bounds(xs);
        let (_, y1) = bounds(ys);
        // Scores and rates start at zero; a flat line still gets a height.
        let y1 = if y1 <= 0.0 { 1.0 } else { y1 * 1.1 };
        Scale {
            x0,
            x1: if x1 > x0 { x1 } else { x0 + 1.0 },
            y0: 0.0,
            y1,
        }
    }

    fn x(&self, x: f64) -> f64 {
        LEFT + (x - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, y: f64) -> f64 {
        HEIGHT - BOTTOM - (y - self.y0) / (self.y1 - self.y0) * (HEIGHT - BOTTOM - TOP)
    }
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
        .unwrap_or((0.0, 1.0))
}

/// The `d` of a polyline through `points`.
pub fn polyline(points: &[(f64, f64)], map: impl Fn((f64, f64)) -> (f64, f64)) -> String {
    let mut d = String::new();
    for (i, p) in points.iter().enumerate() {
        let (x, y) = map(*p);
        d.push_str(&format!("{}{x:.1},{y:.1}", if i == 0 { "M" } else { " L" }));
    }
    d
}

fn clock(seconds: f64) -> String {
    chrono::DateTime::from_timestamp(seconds as i64, 0)
        .map(|t| t.format("%H:%M").to_string())
        .unwrap_or_default()
}

/// Lines over time, with a dashed threshold when given.
#[component]
pub fn LineChart(
    title: String,
    series: Vec<Series>,
    #[prop(default = None)] threshold: Option<f64>,
    #[prop(optional, into)] unit: String,
) -> impl IntoView {
    let scale = Scale::fit(&series, threshold);
    let empty = series.iter().all(|s| s.points.is_empty());
    let lines = series
        .iter()
        .map(|s| {
            let d = polyline(&s.points, |(x, y)| (scale.x(x), scale.y(y)));
            let class = format!("line {}", s.class);
            view! { <path class=class d=d/> }
        })
        .collect_view();
    let limit = threshold.map(|t| {
        let y = scale.y(t);
        view! {
            <line class="threshold" x1=LEFT y1=y x2=WIDTH - RIGHT y2=y/>
            <text class="axis" x=WIDTH - RIGHT y=y - 3.0 text-anchor="end">{format!("threshold {}", short(t))}</text>
        }
    });
    let legend = series
        .iter()
        .map(|s| {
            let class = format!("key {}", s.class);
            let last = s.points.last().map(|p| short(p.1)).unwrap_or_else(|| "—".into());
            view! { <li><span class=class aria-hidden="true"></span>{s.name.clone()} ": " {last} {unit.clone()}</li> }
        })
        .collect_view();
    let y_top = short(scale.y1);
    let (x_left, x_right) = (clock(scale.x0), clock(scale.x1));
    view! {
        <figure class="chart">
            <figcaption>{title.clone()}</figcaption>
            {if empty {
                view! { <p class="muted">"No data in this window yet."</p> }.into_any()
            } else {
                view! {
                    <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=title>
                        <line class="axis-line" x1=LEFT y1=TOP x2=LEFT y2=HEIGHT - BOTTOM/>
                        <line class="axis-line" x1=LEFT y1=HEIGHT - BOTTOM x2=WIDTH - RIGHT y2=HEIGHT - BOTTOM/>
                        <text class="axis" x=LEFT - 4.0 y=TOP + 8.0 text-anchor="end">{y_top}</text>
                        <text class="axis" x=LEFT - 4.0 y=HEIGHT - BOTTOM text-anchor="end">"0"</text>
                        <text class="axis" x=LEFT y=HEIGHT - 6.0>{x_left}</text>
                        <text class="axis" x=WIDTH - RIGHT y=HEIGHT - 6.0 text-anchor="end">{x_right}</text>
                        {limit}
                        {lines}
                    </svg>
                }
                .into_any()
            }}
            <ul class="legend">{legend}</ul>
        </figure>
    }
}

/// Several series over the same bins, side by side in each bin: reference
/// vs current, or one bar per model version.
#[component]
pub fn Histogram(
    title: String,
    /// Bin labels (edges or categories).
    bins: Vec<String>,
    /// `(legend label, one value per bin)`; at most four are coloured apart.
    series: Vec<(String, Vec<f64>)>,
) -> impl IntoView {
    let n = bins.len().max(1) as f64;
    let top = series
        .iter()
        .flat_map(|(_, values)| values.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(f64::EPSILON);
    let slot = (WIDTH - LEFT - RIGHT) / n;
    let bar = slot * 0.8 / series.len().max(1) as f64;
    let height = |v: f64| v / top * (HEIGHT - BOTTOM - TOP);
    let bars = (0..bins.len())
        .flat_map(|i| {
            series.iter().enumerate().map(move |(k, (_, values))| {
                let x = LEFT + i as f64 * slot + slot * 0.1 + bar * k as f64;
                let v = values.get(i).copied().unwrap_or(0.0);
                let class = format!("bar s{}", k % 4);
                view! { <rect class=class x=x y=HEIGHT - BOTTOM - height(v) width=bar height=height(v)/> }
            })
        })
        .collect_view();
    let first = bins.first().cloned().unwrap_or_default();
    let last = bins.last().cloned().unwrap_or_default();
    let legend = series
        .iter()
        .enumerate()
        .map(|(k, (label, _))| {
            let key = format!("key s{}", k % 4);
            view! { <li><span class=key aria-hidden="true"></span>{label.clone()}</li> }
        })
        .collect_view();
    view! {
        <figure class="chart">
            <figcaption>{title.clone()}</figcaption>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=title>
                <line class="axis-line" x1=LEFT y1=HEIGHT - BOTTOM x2=WIDTH - RIGHT y2=HEIGHT - BOTTOM/>
                {bars}
                <text class="axis" x=LEFT y=HEIGHT - 6.0>{first}</text>
                <text class="axis" x=WIDTH - RIGHT y=HEIGHT - 6.0 text-anchor="end">{last}</text>
            </svg>
            <ul class="legend">{legend}</ul>
        </figure>
    }
}

/// A router's traffic split as one stacked bar: `(label, percent)`.
#[component]
pub fn TrafficBar(split: Vec<(String, f64)>) -> impl IntoView {
    let total: f64 = split.iter().map(|s| s.1).sum::<f64>().max(f64::EPSILON);
    let text = split
        .iter()
        .map(|(name, w)| format!("{name} {}%", short(*w)))
        .collect::<Vec<_>>()
        .join(", ");
    let mut offset = 0.0;
    let parts = split
        .iter()
        .enumerate()
        .map(|(i, (name, weight))| {
            let share = weight / total * 100.0;
            let x = offset;
            offset += share;
            let class = format!("bar s{}", i % 4);
            let label = format!("{name} {}%", short(*weight));
            view! {
                <rect class=class x=format!("{x:.2}%") y="0" width=format!("{share:.2}%") height="28"/>
                <text class="on-bar" x=format!("{:.2}%", x + 1.0) y="19">{(share >= 12.0).then_some(label)}</text>
            }
        })
        .collect_view();
    view! {
        <svg class="traffic" width="100%" height="28" role="img" aria-label=format!("Traffic: {text}")>
            {parts}
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_fit_the_plot() {
        let series = vec![Series {
            name: "a".into(),
            class: "s0",
            points: vec![(0.0, 0.0), (10.0, 2.0)],
        }];
        let scale = Scale::fit(&series, Some(4.0));
        assert_eq!(scale.x(0.0), LEFT);
        assert_eq!(scale.x(10.0), WIDTH - RIGHT);
        assert!(scale.y(4.0) >= TOP && scale.y(4.0) < scale.y(2.0));
        assert_eq!(scale.y(0.0), HEIGHT - BOTTOM);
        assert_eq!(
            polyline(&[(1.0, 2.0), (3.0, 4.0)], |p| p),
            "M1.0,2.0 L3.0,4.0"
        );
    }

    #[test]
    fn flat_and_empty_series_do_not_divide_by_zero() {
        let scale = Scale::fit(&[], None);
        assert!(scale.x(0.0).is_finite() && scale.y(0.0).is_finite());
    }
}
