//! The task graph's layout: layered by longest path from the roots, left to
//! right, computed here so the server and the browser draw the same picture.
//!
//! Pure and deterministic: the same nodes and edges always give the same
//! coordinates, so a live update moves only what changed.

use std::collections::HashMap;

/// Node box size and the gaps between layers and rows, in SVG units.
pub const NODE_WIDTH: f64 = 190.0;
pub const NODE_HEIGHT: f64 = 58.0;
const LAYER_GAP: f64 = 56.0;
const ROW_GAP: f64 = 22.0;
const MARGIN: f64 = 12.0;

/// Where one node goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// Index into the nodes given to [`layout`].
    pub index: usize,
    pub layer: usize,
    pub row: usize,
    /// Top-left corner.
    pub x: f64,
    pub y: f64,
}

/// One edge as an SVG path (`d` attribute), from the source's right side to
/// the target's left side.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub source: usize,
    pub target: usize,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Layout {
    pub nodes: Vec<Placed>,
    pub edges: Vec<Route>,
    pub width: f64,
    pub height: f64,
}

/// Lays out `ids` (node names) joined by `edges` (`[source, target]`).
/// Edges naming unknown nodes are ignored; nodes on a cycle (which a plan
/// should never have) go in one layer after everything else, so the graph
/// still draws.
pub fn layout(ids: &[&str], edges: &[(String, String)]) -> Layout {
    let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let links: Vec<(usize, usize)> = edges
        .iter()
        .filter_map(|(s, t)| Some((*index.get(s.as_str())?, *index.get(t.as_str())?)))
        .filter(|(s, t)| s != t)
        .collect();
    let n = ids.len();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(s, t) in &links {
        succs[s].push(t);
        preds[t].push(s);
    }

    // Longest path from the roots, in topological order (Kahn).
    let mut remaining: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut ready: Vec<usize> = (0..n).filter(|&i| remaining[i] == 0).collect();
    let mut layer = vec![0usize; n];
    let mut done = vec![false; n];
    let mut cursor = 0;
    while cursor < ready.len() {
        let node = ready[cursor];
        cursor += 1;
        done[node] = true;
        for &next in &succs[node] {
            layer[next] = layer[next].max(layer[node] + 1);
            remaining[next] -= 1;
            if remaining[next] == 0 {
                ready.push(next);
            }
        }
    }
    let deepest = (0..n).filter(|&i| done[i]).map(|i| layer[i]).max();
    for i in 0..n {
        if !done[i] {
            layer[i] = deepest.map_or(0, |d| d + 1);
        }
    }

    // Rows: each layer in order of its nodes' predecessors' mean row (one
    // barycentre pass cuts most crossings in plan-shaped graphs), ties by
    // the order the plan listed them.
    let layers = layer.iter().copied().max().map_or(0, |d| d + 1);
    let mut row = vec![0usize; n];
    let mut rows_in: Vec<usize> = vec![0; layers];
    for (current, size) in rows_in.iter_mut().enumerate() {
        let mut members: Vec<usize> = (0..n).filter(|&i| layer[i] == current).collect();
        let key = |i: usize| -> f64 {
            let placed: Vec<usize> = preds[i]
                .iter()
                .copied()
                .filter(|&p| layer[p] < current)
                .collect();
            if placed.is_empty() {
                i as f64
            } else {
                placed.iter().map(|&p| row[p] as f64).sum::<f64>() / placed.len() as f64
            }
        };
        members.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
        for (r, &i) in members.iter().enumerate() {
            row[i] = r;
        }
        *size = members.len();
    }
    let tallest = rows_in.iter().copied().max().unwrap_or(0);
    let column_height = |count: usize| count as f64 * (NODE_HEIGHT + ROW_GAP) - ROW_GAP;
    let height = if n == 0 {
        0.0
    } else {
        column_height(tallest) + 2.0 * MARGIN
    };
    let width = if n == 0 {
        0.0
    } else {
        layers as f64 * (NODE_WIDTH + LAYER_GAP) - LAYER_GAP + 2.0 * MARGIN
    };

    // Short layers are centred against the tallest.
    let nodes: Vec<Placed> = (0..n)
        .map(|i| {
            let offset = (column_height(tallest) - column_height(rows_in[layer[i]])) / 2.0;
            Placed {
                index: i,
                layer: layer[i],
                row: row[i],
                x: MARGIN + layer[i] as f64 * (NODE_WIDTH + LAYER_GAP),
                y: MARGIN + offset + row[i] as f64 * (NODE_HEIGHT + ROW_GAP),
            }
        })
        .collect();
    let edges = links
        .iter()
        .map(|&(s, t)| {
            let (a, b) = (&nodes[s], &nodes[t]);
            let (x1, y1) = (a.x + NODE_WIDTH, a.y + NODE_HEIGHT / 2.0);
            let (x2, y2) = (b.x, b.y + NODE_HEIGHT / 2.0);
            let bend = ((x2 - x1) / 2.0).max(LAYER_GAP / 2.0);
            Route {
                source: s,
                target: t,
                path: format!(
                    "M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}",
                    x1 + bend,
                    x2 - bend
                ),
            }
        })
        .collect();
    Layout {
        nodes,
        edges,
        width,
        height,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn layers_follow_the_longest_path() {
        // plan → (validate, drift, cost) → gate → canary → promote, and a
        // shortcut plan → promote that must not pull promote left.
        let ids = [
            "plan", "validate", "drift", "cost", "gate", "canary", "promote",
        ];
        let l = layout(
            &ids,
            &edges(&[
                ("plan", "validate"),
                ("plan", "drift"),
                ("plan", "cost"),
                ("validate", "gate"),
                ("drift", "gate"),
                ("cost", "gate"),
                ("gate", "canary"),
                ("canary", "promote"),
                ("plan", "promote"),
            ]),
        );
        let layers: Vec<usize> = l.nodes.iter().map(|p| p.layer).collect();
        assert_eq!(layers, vec![0, 1, 1, 1, 2, 3, 4]);
        let rows: Vec<usize> = l.nodes[1..4].iter().map(|p| p.row).collect();
        assert_eq!(rows, vec![0, 1, 2]);
        assert_eq!(l.edges.len(), 9);
        assert!(l.width > 5.0 * NODE_WIDTH && l.height > 3.0 * NODE_HEIGHT);
        // The gate is centred against the three checks.
        assert_eq!(l.nodes[4].y, l.nodes[2].y);
    }

    #[test]
    fn unknown_edges_self_loops_and_cycles_still_draw() {
        let ids = ["a", "b", "c"];
        let l = layout(
            &ids,
            &edges(&[("a", "a"), ("a", "zz"), ("b", "c"), ("c", "b")]),
        );
        assert_eq!(l.nodes.len(), 3);
        assert_eq!(l.nodes[0].layer, 0);
        // b and c are a cycle: placed after everything else.
        assert_eq!(l.nodes[1].layer, 1);
        assert_eq!(l.nodes[2].layer, 1);
        assert_eq!(l.edges.len(), 2);
    }

    #[test]
    fn empty_and_thirty_nodes() {
        assert_eq!(layout(&[], &[]), Layout::default());
        let names: Vec<String> = (0..30).map(|i| format!("n{i}")).collect();
        let ids: Vec<&str> = names.iter().map(String::as_str).collect();
        let chain: Vec<(String, String)> = (1..30)
            .map(|i| (format!("n{}", (i - 1) / 3), format!("n{i}")))
            .collect();
        let l = layout(&ids, &chain);
        assert_eq!(l.nodes.len(), 30);
        assert!(l.nodes.iter().all(|p| p.x >= 0.0 && p.y >= 0.0));
        assert!(
            l.nodes
                .iter()
                .all(|p| p.x + NODE_WIDTH <= l.width && p.y + NODE_HEIGHT <= l.height)
        );
    }
}
