//! Fuzzes the parsing of Pulse message bodies by each of the three rules: whatever the bytes
//! (the first one picks the rule, the rest is the body), a message is a candidate, nothing to do,
//! or an error, never a panic. The body's first line is also tried as a routing key against the
//! rule's bindings (AMQP topic matching; the broker caps keys at 255 bytes).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use shipit_pulse_listener::RuleConfig;
use shipit_pulse_listener::rules::Rule;

static RULES: LazyLock<Vec<(Rule, &'static str)>> = LazyLock::new(|| {
    let rule = |config: serde_json::Value, routing_key: &'static str| {
        let config: RuleConfig = serde_json::from_value(config).expect("a valid rule");
        (Rule::new(config).expect("a valid rule"), routing_key)
    };
    vec![
        rule(
            serde_json::json!({
                "name": "code-coverage", "bot": "coverage", "kind": "code-coverage",
                "exchange": "exchange/taskcluster-queue/v1/task-group-resolved", "routing_keys": ["#"],
                "repositories": ["https://hg.mozilla.org/mozilla-central"]
            }),
            "primary.aPt9FbIdQwmhwDIPDYLuaw.gecko-level-3._",
        ),
        rule(
            serde_json::json!({
                "name": "risk", "bot": "risk", "kind": "risk", "exchange": "exchange/hgpushes/v2",
                "routing_keys": ["mozilla-central"], "repositories": ["https://hg.mozilla.org/mozilla-central"],
                "extensions": ["cpp"]
            }),
            "mozilla-central",
        ),
        rule(
            serde_json::json!({
                "name": "static-analysis", "bot": "static-analysis", "kind": "static-analysis",
                "exchange": "exchange/taskcluster-queue/v1/task-completed",
                "routing_keys": ["route.project.relman.codereview.v1.try_ending"],
                "route": "project.relman.codereview.v1.try_ending"
            }),
            "route.project.relman.codereview.v1.try_ending",
        ),
    ]
});

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let (rule, routing_key) = &RULES[usize::from(selector) % RULES.len()];
    let _outcome = rule.parse(&rule.config.exchange, routing_key, body);
    let first_line = body.split(|&byte| byte == b'\n').next().unwrap_or_default();
    let key = String::from_utf8_lossy(&first_line[..first_line.len().min(255)]);
    let _bound = rule.binds(&rule.config.exchange, &key);
});
