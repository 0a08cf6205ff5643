//! Just enough Prometheus for our services: labelled counters and
//! histograms, rendered in the text exposition format (version 0.0.4).
//!
//! A dependency-free registry rather than a metrics framework: each service
//! exports a handful of series, and this keeps `/metrics` one mutex away.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

/// Upper bounds (seconds) of every latency histogram.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 60.0, 600.0,
];

type Labels = Vec<(String, String)>;

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

struct Family {
    help: &'static str,
    kind: Kind,
    counters: BTreeMap<Labels, u64>,
    gauges: BTreeMap<Labels, f64>,
    histograms: BTreeMap<Labels, Histogram>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// A set of metric families; cheap to clone, shared by handlers.
#[derive(Clone, Default)]
pub struct Registry {
    families: Arc<Mutex<BTreeMap<&'static str, Family>>>,
    /// Labels put on every series, such as the service name.
    constant: Arc<Labels>,
}

impl Registry {
    /// A registry whose series all carry `constant` labels.
    pub fn with_constant_labels(constant: &[(&str, &str)]) -> Self {
        Registry {
            families: Arc::default(),
            constant: Arc::new(owned(constant)),
        }
    }

    /// Adds `by` to the counter `name{labels}`.
    pub fn count(&self, name: &'static str, help: &'static str, labels: &[(&str, &str)], by: u64) {
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let family = families
            .entry(name)
            .or_insert_with(|| Family::new(help, Kind::Counter));
        *family.counters.entry(owned(labels)).or_default() += by;
    }

    /// Sets the gauge `name{labels}` to `value`.
    pub fn set_gauge(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let family = families
            .entry(name)
            .or_insert_with(|| Family::new(help, Kind::Gauge));
        family.gauges.insert(owned(labels), value);
    }

    /// Drops every series of the gauge `name`, so series of things that
    /// are gone (a removed version, say) stop being exported.
    pub fn clear_gauge(&self, name: &'static str) {
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(family) = families.get_mut(name) {
            family.gauges.clear();
        }
    }

    /// Records one observation in the histogram `name{labels}`.
    pub fn observe(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        seconds: f64,
    ) {
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let family = families
            .entry(name)
            .or_insert_with(|| Family::new(help, Kind::Histogram));
        let h = family.histograms.entry(owned(labels)).or_default();
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.buckets[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The text exposition of every family.
    pub fn render(&self) -> String {
        let families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = process_metrics();
        for (name, family) in families.iter() {
            let kind = match family.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in &family.counters {
                let _ = writeln!(out, "{name}{} {value}", self.label_set(labels, None));
            }
            for (labels, value) in &family.gauges {
                let _ = writeln!(out, "{name}{} {value}", self.label_set(labels, None));
            }
            for (labels, h) in &family.histograms {
                for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                    let le = bound.to_string();
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {}",
                        self.label_set(labels, Some(&le)),
                        h.buckets[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {}",
                    self.label_set(labels, Some("+Inf")),
                    h.count
                );
                let _ = writeln!(out, "{name}_sum{} {}", self.label_set(labels, None), h.sum);
                let _ = writeln!(
                    out,
                    "{name}_count{} {}",
                    self.label_set(labels, None),
                    h.count
                );
            }
        }
        out
    }

    fn label_set(&self, labels: &Labels, le: Option<&str>) -> String {
        let mut parts: Vec<String> = self
            .constant
            .iter()
            .chain(labels.iter())
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        if let Some(le) = le {
            parts.push(format!("le=\"{le}\""));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", parts.join(","))
        }
    }
}

impl Family {
    fn new(help: &'static str, kind: Kind) -> Self {
        Family {
            help,
            kind,
            counters: BTreeMap::new(),
            gauges: BTreeMap::new(),
            histograms: BTreeMap::new(),
        }
    }
}

fn owned(labels: &[(&str, &str)]) -> Labels {
    labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Label values escape backslash, quote and newline (exposition format spec).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The process's own CPU time and resident memory, in the standard
/// Prometheus names, read from `/proc/self/stat` at scrape time. The cost
/// agent prices serving by `process_cpu_seconds_total`. Empty where there
/// is no procfs.
fn process_metrics() -> String {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return String::new();
    };
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, utime 14, stime 15, rss 24 (man 5 proc).
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return String::new();
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    // SAFETY: sysconf only reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
    let mut out = String::new();
    if let (Some(utime), Some(stime)) = (field(14), field(15))
        && ticks > 0.0
    {
        let _ = writeln!(
            out,
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {}",
            (utime + stime) / ticks
        );
    }
    if let Some(rss) = field(24)
        && page > 0.0
    {
        let _ = writeln!(
            out,
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}",
            rss * page
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let r = Registry::with_constant_labels(&[("service", "echo")]);
        r.count("calls_total", "Calls.", &[("tool", "a\"b")], 2);
        r.observe("call_seconds", "Latency.", &[("tool", "x")], 0.003);
        let text = r.render();
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
        assert!(text.contains("# TYPE calls_total counter"), "{text}");
        assert!(
            text.contains("calls_total{service=\"echo\",tool=\"a\\\"b\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("call_seconds_bucket{service=\"echo\",tool=\"x\",le=\"0.0025\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("call_seconds_bucket{service=\"echo\",tool=\"x\",le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("call_seconds_count{service=\"echo\",tool=\"x\"} 1"),
            "{text}"
        );
    }
}
