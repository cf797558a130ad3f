//! What coverage reads look up, kept in memory so that a read of a report already asked for
//! costs no database round trip: which report answers a query (repository, changeset or the
//! newest, suite, platform), and the nodes of a report version.
//!
//! A node belongs to one version of a report (its id and upload time): it never changes, so it
//! is kept until the cache's byte budget pushes it out. Which report answers a query does change
//! when a report is uploaded: an upload through this API forgets every lookup at once, and a
//! lookup lives at most the TTL it was made with (`coverage_lookup_ttl_secs`), the time another API
//! process serving the same database may answer with the report it knew before.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use shipit_shared::api_types::coverage::PathCoverage;

use crate::db::coverage::ReportRef;

/// What identifies a lookup: repository, changeset (empty for the newest), suite, platform.
pub type LookupKey = (String, String, String, String);

/// A node's key: the report's id and upload time (microseconds), and the path.
type NodeKey = (i64, i64, String);

/// The in-memory coverage cache.
pub struct CoverageCache {
    lookups: Cache<LookupKey, ReportRef>,
    nodes: Cache<NodeKey, Arc<PathCoverage>>,
    /// False with a zero TTL: then every read asks the database.
    keeps_lookups: bool,
}

impl std::fmt::Debug for CoverageCache {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CoverageCache")
            .field("lookups", &self.lookups.entry_count())
            .field("nodes", &self.nodes.entry_count())
            .field("node_bytes", &self.nodes.weighted_size())
            .finish()
    }
}

/// The most lookups kept: each is a few hundred bytes.
const MAX_LOOKUPS: u64 = 10_000;

impl CoverageCache {
    /// A cache holding nodes of about `node_bytes` in all, and lookups for `lookup_ttl`; a zero
    /// budget or TTL keeps nothing.
    pub fn new(node_bytes: u64, lookup_ttl: Duration) -> Self {
        let lookups = Cache::builder().max_capacity(MAX_LOOKUPS).time_to_live(lookup_ttl.max(Duration::from_nanos(1)));
        let nodes = Cache::builder()
            .max_capacity(node_bytes)
            .weigher(|key: &NodeKey, node: &Arc<PathCoverage>| weight(&key.2, node));
        Self { lookups: lookups.build(), nodes: nodes.build(), keeps_lookups: !lookup_ttl.is_zero() }
    }

    /// The report that answered `key` lately.
    pub fn lookup(&self, key: &LookupKey) -> Option<ReportRef> {
        self.lookups.get(key)
    }

    /// Keeps the report answering `key`.
    pub fn keep_lookup(&self, key: LookupKey, report: &ReportRef) {
        if self.keeps_lookups {
            self.lookups.insert(key, report.clone());
        }
    }

    /// Forgets every lookup: a report was stored, and may now answer any of them.
    pub fn forget_lookups(&self) {
        self.lookups.invalidate_all();
    }

    /// The node of `path` in this version of the report.
    pub fn node(&self, report: &ReportRef, path: &str) -> Option<Arc<PathCoverage>> {
        self.nodes.get(&node_key(report, path))
    }

    /// Keeps the node of `path` in this version of the report.
    pub fn keep_node(&self, report: &ReportRef, path: &str, node: Arc<PathCoverage>) {
        self.nodes.insert(node_key(report, path), node);
    }
}

fn node_key(report: &ReportRef, path: &str) -> NodeKey {
    (report.id, report.uploaded_at.timestamp_micros(), path.to_owned())
}

/// About how many bytes a node holds: its lines, its children and their names and paths.
fn weight(path: &str, node: &PathCoverage) -> u32 {
    let lines = node.coverage.as_ref().map_or(0, Vec::len) * std::mem::size_of::<i64>();
    let children = node.children.iter().flatten().map(|(name, child)| 2 * name.len() + child.path.len() + 96);
    let bytes = 256 + 2 * path.len() + lines + children.sum::<usize>();
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn report(id: i64) -> ReportRef {
        ReportRef { id, revision: "abc".into(), push_id: 1, uploaded_at: Utc::now() }
    }

    fn node(lines: usize) -> Arc<PathCoverage> {
        Arc::new(PathCoverage {
            kind: "file".into(),
            path: "a.c".into(),
            changeset: "abc".into(),
            name: "a.c".into(),
            lines_total: lines as u64,
            lines_covered: 0,
            lines_missed: lines as u64,
            coverage_percent: 0.0,
            coverage: Some(vec![0; lines]),
            children: None,
        })
    }

    #[test]
    fn a_node_belongs_to_one_version_of_a_report() {
        let cache = CoverageCache::new(1 << 20, Duration::from_secs(5));
        let first = report(1);
        cache.keep_node(&first, "a.c", node(3));
        assert!(cache.node(&first, "a.c").is_some());
        assert!(cache.node(&first, "b.c").is_none());
        let replaced = ReportRef { uploaded_at: first.uploaded_at + chrono::Duration::seconds(1), ..first };
        assert!(cache.node(&replaced, "a.c").is_none(), "a replaced report has nodes of its own");
    }

    #[test]
    fn lookups_are_forgotten_on_upload_and_after_their_ttl() {
        let key: LookupKey = ("mozilla-central".into(), String::new(), "all".into(), "all".into());
        let cache = CoverageCache::new(1 << 20, Duration::from_secs(60));
        cache.keep_lookup(key.clone(), &report(1));
        assert_eq!(cache.lookup(&key).map(|report| report.id), Some(1));
        cache.forget_lookups();
        assert!(cache.lookup(&key).is_none());

        let short = CoverageCache::new(1 << 20, Duration::from_millis(50));
        short.keep_lookup(key.clone(), &report(2));
        std::thread::sleep(Duration::from_millis(120));
        assert!(short.lookup(&key).is_none(), "a lookup older than its TTL is asked again");

        let none = CoverageCache::new(0, Duration::ZERO);
        none.keep_lookup(key.clone(), &report(3));
        none.keep_node(&report(3), "a.c", node(1));
        none.nodes.run_pending_tasks();
        assert!(none.lookup(&key).is_none());
        assert!(none.node(&report(3), "a.c").is_none(), "a zero budget keeps no node");
    }

    #[test]
    fn the_byte_budget_bounds_the_nodes() {
        let cache = CoverageCache::new(64 * 1024, Duration::from_secs(5));
        let version = report(1);
        for index in 0..100 {
            cache.keep_node(&version, &format!("f{index}.c"), node(1000));
        }
        cache.nodes.run_pending_tasks();
        assert!(cache.nodes.weighted_size() <= 64 * 1024, "{}", cache.nodes.weighted_size());
        assert!(cache.nodes.entry_count() < 100);
    }
}
