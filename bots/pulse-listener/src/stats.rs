//! Counters of one listener, and their Prometheus text rendering.
//!
//! They belong to the listener instance rather than to a process-wide recorder: tests run
//! several listeners in one process and read each one's counters, and `/metrics` renders the
//! same numbers.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Messages taken from the broker.
pub const RECEIVED: &str = "pulse_messages_received_total";
/// Messages acknowledged, by outcome: `triggered`, `duplicate`, `skipped`.
pub const ACKED: &str = "pulse_messages_acked_total";
/// Messages given back to the broker after a transient failure, by reason.
pub const REQUEUED: &str = "pulse_messages_requeued_total";
/// Messages sent to the dead-letter queue, by reason: `malformed`, `unroutable`, `trigger`…
pub const DEAD_LETTERED: &str = "pulse_messages_dead_lettered_total";
/// Bot runs started.
pub const TRIGGERED: &str = "pulse_triggers_total";
/// Handled events that could not be recorded in the API (a restart may trigger them again).
pub const RECORD_FAILED: &str = "pulse_event_records_failed_total";

const HELP: [(&str, &str); 6] = [
    (RECEIVED, "Messages taken from the broker"),
    (ACKED, "Messages acknowledged, by outcome"),
    (REQUEUED, "Messages requeued after a transient failure"),
    (DEAD_LETTERED, "Messages dead-lettered, by reason"),
    (TRIGGERED, "Bot runs started"),
    (RECORD_FAILED, "Handled events that could not be recorded in the API"),
];

/// The counters of one listener.
#[derive(Debug, Default)]
pub struct Stats {
    counters: Mutex<BTreeMap<(&'static str, String, &'static str), u64>>,
    reconnects: AtomicU64,
    connected: AtomicBool,
}

impl Stats {
    /// Adds one to `metric` for `rule`, with `label` (`""` for none).
    pub fn add(&self, metric: &'static str, rule: &str, label: &'static str) {
        let mut counters = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *counters.entry((metric, rule.to_owned(), label)).or_default() += 1;
    }

    /// The value of `metric` for `rule`, every label summed.
    pub fn get(&self, metric: &str, rule: &str) -> u64 {
        let counters = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        counters.iter().filter(|((m, r, _), _)| *m == metric && r == rule).map(|(_, value)| value).sum()
    }

    /// The value of `metric` for `rule` and `label`.
    pub fn get_labelled(&self, metric: &str, rule: &str, label: &str) -> u64 {
        let counters = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        counters.iter().filter(|((m, r, l), _)| *m == metric && r == rule && *l == label).map(|(_, value)| value).sum()
    }

    /// Connections re-established after the broker was lost.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    pub(crate) fn reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the listener is connected and consuming.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let counters = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut text = String::new();
        for (metric, help) in HELP {
            let _infallible = writeln!(text, "# HELP {metric} {help}\n# TYPE {metric} counter");
            for ((m, rule, label), value) in counters.iter() {
                if *m != metric {
                    continue;
                }
                let label = match metric {
                    ACKED => format!(",outcome=\"{label}\""),
                    REQUEUED | DEAD_LETTERED => format!(",reason=\"{label}\""),
                    _ => String::new(),
                };
                let _infallible = writeln!(text, "{metric}{{rule=\"{rule}\"{label}}} {value}");
            }
        }
        let _infallible = writeln!(
            text,
            "# HELP pulse_reconnects_total Connections re-established after losing the broker\n\
             # TYPE pulse_reconnects_total counter\npulse_reconnects_total {}\n\
             # HELP pulse_connected Whether the listener is connected and consuming\n\
             # TYPE pulse_connected gauge\npulse_connected {}",
            self.reconnects(),
            u8::from(self.connected())
        );
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_as_prometheus_text() {
        let stats = Stats::default();
        stats.add(RECEIVED, "risk", "");
        stats.add(ACKED, "risk", "skipped");
        stats.add(ACKED, "risk", "triggered");
        stats.add(DEAD_LETTERED, "risk", "malformed");
        stats.reconnected();
        assert_eq!(stats.get(ACKED, "risk"), 2);
        assert_eq!(stats.get_labelled(ACKED, "risk", "skipped"), 1);
        let text = stats.render();
        assert!(text.contains("pulse_messages_received_total{rule=\"risk\"} 1\n"), "{text}");
        assert!(text.contains("pulse_messages_acked_total{rule=\"risk\",outcome=\"triggered\"} 1\n"));
        assert!(text.contains("pulse_messages_dead_lettered_total{rule=\"risk\",reason=\"malformed\"} 1\n"));
        assert!(text.contains("pulse_reconnects_total 1\n"));
        assert!(text.contains("pulse_connected 0\n"));
    }
}
