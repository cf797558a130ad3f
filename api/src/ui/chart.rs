//! Charts as SVG built on the server: a line chart whose points are links (a revision's page), a
//! bar chart of counts per day, and a pipeline's DAG. Hand-written: each point and node must be a
//! link or carry a state class, which charting crates' SVG backends do not offer.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::layout::state_class;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// A point of a line chart: when, the value, where it leads and what it says.
pub(super) struct Point {
    pub(super) at: DateTime<Utc>,
    pub(super) value: f64,
    pub(super) href: String,
    pub(super) label: String,
}

/// Values over time (percentages: the axis spans the values, padded, within 0–100).
pub(super) fn line_chart(title: &str, points: &[Point]) -> Markup {
    if points.is_empty() {
        return html! { p class="muted" { "No data for this chart." } };
    }
    let (low, high) =
        points.iter().fold((f64::MAX, f64::MIN), |(low, high), point| (low.min(point.value), high.max(point.value)));
    let pad = ((high - low) * 0.1).max(1.0);
    let (low, high) = ((low - pad).max(0.0), (high + pad).min(100.0));
    let first = points.iter().map(|point| point.at).min().expect("points is not empty");
    let last = points.iter().map(|point| point.at).max().expect("points is not empty");
    let span = (last - first).num_seconds().max(1) as f64;
    let x = |at: DateTime<Utc>| {
        if first == last {
            LEFT + (WIDTH - LEFT - RIGHT) / 2.0
        } else {
            LEFT + (at - first).num_seconds() as f64 / span * (WIDTH - LEFT - RIGHT)
        }
    };
    let y = |value: f64| TOP + (high - value) / (high - low).max(f64::EPSILON) * (HEIGHT - TOP - BOTTOM);
    let line: Vec<String> = points.iter().map(|point| format!("{:.1},{:.1}", x(point.at), y(point.value))).collect();
    let ticks = [low, (low + high) / 2.0, high];
    html! {
        figure class="chart" {
            // A group, not an image: its points are links.
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="group" aria-label=(title) {
                title { (title) }
                @for tick in ticks {
                    line class="grid" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(format!("{:.1}", y(tick))) y2=(format!("{:.1}", y(tick))) {}
                    text class="axis" x=(LEFT - 6.0) y=(format!("{:.1}", y(tick) + 4.0)) text-anchor="end" { (format!("{tick:.0}")) }
                }
                text class="axis" x=(LEFT) y=(HEIGHT - 8.0) { (first.format("%Y-%m-%d")) }
                text class="axis" x=(WIDTH - RIGHT) y=(HEIGHT - 8.0) text-anchor="end" { (last.format("%Y-%m-%d")) }
                polyline class="series" points=(line.join(" ")) {}
                @for point in points {
                    a href=(point.href) aria-label=(point.label) {
                        circle class="point" cx=(format!("{:.1}", x(point.at))) cy=(format!("{:.1}", y(point.value))) r="5" {
                            title { (point.label) }
                        }
                    }
                }
            }
            figcaption { (title) }
        }
    }
}

/// Counts per day, as bars, oldest on the left.
pub(super) fn bar_chart(title: &str, bars: &BTreeMap<chrono::NaiveDate, i64>) -> Markup {
    if bars.is_empty() {
        return html! { p class="muted" { "No data for this chart." } };
    }
    let most = bars.values().copied().max().unwrap_or(1).max(1) as f64;
    let slot = (WIDTH - LEFT - RIGHT) / bars.len() as f64;
    let plot = HEIGHT - TOP - BOTTOM;
    html! {
        figure class="chart" {
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(title) {
                title { (title) }
                text class="axis" x=(LEFT - 6.0) y=(TOP + 8.0) text-anchor="end" { (most as i64) }
                text class="axis" x=(LEFT - 6.0) y=(HEIGHT - BOTTOM) text-anchor="end" { "0" }
                @for (index, (day, count)) in bars.iter().enumerate() {
                    @let height = *count as f64 / most * plot;
                    rect class="bar" x=(format!("{:.1}", LEFT + index as f64 * slot + slot * 0.1)) y=(format!("{:.1}", TOP + plot - height))
                        width=(format!("{:.1}", slot * 0.8)) height=(format!("{height:.1}")) {
                        title { (day) ": " (count) }
                    }
                }
                @if let (Some(first), Some(last)) = (bars.keys().next(), bars.keys().next_back()) {
                    text class="axis" x=(LEFT) y=(HEIGHT - 8.0) { (first) }
                    text class="axis" x=(WIDTH - RIGHT) y=(HEIGHT - 8.0) text-anchor="end" { (last) }
                }
            }
            figcaption { (title) }
        }
    }
}

/// A node of a DAG: its id, its state, and the ids it requires.
pub(super) struct Node<'a> {
    pub(super) uid: &'a str,
    pub(super) state: &'a str,
    pub(super) requires: &'a [String],
}

const NODE_WIDTH: f64 = 150.0;
const NODE_HEIGHT: f64 = 40.0;
const GAP_X: f64 = 50.0;
const GAP_Y: f64 = 16.0;

/// A DAG drawn in columns: each node one column right of the deepest node it requires. Each
/// node's group carries `data-step` so the page's script can update its state live.
pub(super) fn dag(title: &str, nodes: &[Node<'_>]) -> Markup {
    let depth = depths(nodes);
    let mut rows: HashMap<usize, usize> = HashMap::new();
    let mut place: HashMap<&str, (f64, f64)> = HashMap::new();
    for node in nodes {
        let column = depth[node.uid];
        let row = rows.entry(column).or_default();
        place.insert(
            node.uid,
            (16.0 + column as f64 * (NODE_WIDTH + GAP_X), 16.0 + *row as f64 * (NODE_HEIGHT + GAP_Y)),
        );
        *row += 1;
    }
    let columns = depth.values().copied().max().map_or(1, |deepest| deepest + 1);
    let tallest = rows.values().copied().max().unwrap_or(1);
    let width = 32.0 + columns as f64 * (NODE_WIDTH + GAP_X) - GAP_X;
    let height = 32.0 + tallest as f64 * (NODE_HEIGHT + GAP_Y) - GAP_Y;
    html! {
        figure class="chart dag" {
            svg viewBox=(format!("0 0 {width:.0} {height:.0}")) role="img" aria-label=(title) {
                title { (title) }
                @for node in nodes {
                    @for required in node.requires {
                        @if let (Some(&(x1, y1)), Some(&(x2, y2))) = (place.get(required.as_str()), place.get(node.uid)) {
                            path class="edge" d=(format!("M{:.0},{:.0} C{:.0},{:.0} {:.0},{:.0} {:.0},{:.0}",
                                x1 + NODE_WIDTH, y1 + NODE_HEIGHT / 2.0,
                                x1 + NODE_WIDTH + GAP_X / 2.0, y1 + NODE_HEIGHT / 2.0,
                                x2 - GAP_X / 2.0, y2 + NODE_HEIGHT / 2.0,
                                x2, y2 + NODE_HEIGHT / 2.0)) {}
                        }
                    }
                }
                @for node in nodes {
                    @let (x, y) = place[node.uid];
                    g class={ "node " (state_class(node.state)) } data-step=(node.uid) {
                        rect x=(format!("{x:.0}")) y=(format!("{y:.0}")) width=(NODE_WIDTH) height=(NODE_HEIGHT) rx="6" {}
                        text x=(format!("{:.0}", x + 8.0)) y=(format!("{:.0}", y + 16.0)) class="uid" { (truncate(node.uid, 20)) }
                        text x=(format!("{:.0}", x + 8.0)) y=(format!("{:.0}", y + 32.0)) class="state" { (node.state) }
                        title { (node.uid) ": " (node.state) }
                    }
                }
            }
            figcaption { (title) }
        }
    }
}

/// Each node's column: 0 for a node that requires nothing, else one more than its deepest
/// requirement. A requirement that is not a node, or a cycle, counts as depth 0 (definitions
/// are checked for both when stored; the drawing must not loop on a bad one anyway).
fn depths<'a>(nodes: &[Node<'a>]) -> HashMap<&'a str, usize> {
    let by_uid: HashMap<&'a str, &Node<'a>> = nodes.iter().map(|node| (node.uid, node)).collect();
    let mut depth = HashMap::new();
    for node in nodes {
        depth_of(node.uid, &by_uid, &mut depth, &mut Vec::new());
    }
    depth
}

fn depth_of<'a>(
    uid: &str,
    by_uid: &HashMap<&'a str, &Node<'a>>,
    depth: &mut HashMap<&'a str, usize>,
    path: &mut Vec<&'a str>,
) -> usize {
    let Some(node) = by_uid.get(uid) else { return 0 };
    if let Some(&known) = depth.get(node.uid) {
        return known;
    }
    if path.contains(&node.uid) {
        return 0;
    }
    path.push(node.uid);
    let found = node
        .requires
        .iter()
        .map(|required| depth_of(required, by_uid, depth, path))
        .max()
        .map_or(0, |deepest| deepest + 1);
    path.pop();
    depth.insert(node.uid, found);
    found
}

fn truncate(text: &str, characters: usize) -> String {
    if text.chars().count() <= characters {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(characters - 1).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_node_sits_right_of_its_deepest_requirement() {
        let none: Vec<String> = Vec::new();
        let on_a = vec!["a".to_owned()];
        let on_a_and_b = vec!["a".to_owned(), "b".to_owned()];
        let nodes = [
            Node { uid: "c", state: "pending", requires: &on_a_and_b },
            Node { uid: "a", state: "done", requires: &none },
            Node { uid: "b", state: "running", requires: &on_a },
        ];
        let depth = depths(&nodes);
        assert_eq!((depth["a"], depth["b"], depth["c"]), (0, 1, 2));
    }

    #[test]
    fn a_cycle_or_an_unknown_requirement_does_not_loop() {
        let on_b = vec!["b".to_owned()];
        let on_a = vec!["a".to_owned()];
        let unknown = vec!["zz".to_owned()];
        let nodes = [
            Node { uid: "a", state: "pending", requires: &on_b },
            Node { uid: "b", state: "pending", requires: &on_a },
            Node { uid: "c", state: "pending", requires: &unknown },
        ];
        let depth = depths(&nodes);
        assert_eq!(depth.len(), 3);
        assert_eq!(depth["c"], 1);
        let drawn = dag("t", &nodes).into_string();
        assert_eq!(drawn.matches("data-step=").count(), 3);
    }

    #[test]
    fn every_point_of_a_line_chart_is_a_link() {
        let at = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let points = [
            Point { at, value: 50.0, href: "/ui/a?x=1&y=2".into(), label: "first".into() },
            Point { at: at + chrono::Duration::days(1), value: 60.0, href: "/ui/b".into(), label: "<second>".into() },
        ];
        let drawn = line_chart("History", &points).into_string();
        assert!(drawn.contains(r#"href="/ui/a?x=1&amp;y=2""#), "{drawn}");
        assert!(drawn.contains("&lt;second&gt;"), "labels are escaped: {drawn}");
        assert_eq!(drawn.matches("<circle").count(), 2);
    }
}
