//! The parallel merge of many inputs: each rayon worker folds the inputs it takes into its own
//! [`Report`], then the per-worker reports are merged pairwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::error::CoverageError;
use crate::inputs::Input;
use crate::lcov::{ParseOptions, ParseStats};
use crate::report::Report;

/// What a merge produced, and what it ran into.
#[derive(Debug, Default)]
pub struct MergeOutcome {
    pub report: Report,
    pub stats: ParseStats,
    pub inputs: usize,
}

/// Parses and merges `inputs` in parallel.
pub fn merge_inputs(inputs: &[Input], options: &ParseOptions, progress: bool) -> Result<MergeOutcome, CoverageError> {
    let progress = Progress::new(inputs, progress);
    let (report, stats, _buf) = inputs
        .par_iter()
        .try_fold(
            || (Report::default(), ParseStats::default(), Vec::new()),
            |(mut report, mut stats, mut buf), input| {
                let parsed = input.parse_into(options, &mut report, &mut buf)?;
                stats.add(&parsed);
                progress.done(input);
                Ok::<_, CoverageError>((report, stats, buf))
            },
        )
        .try_reduce(
            || (Report::default(), ParseStats::default(), Vec::new()),
            |(a, mut a_stats, a_buf), (b, b_stats, _b_buf)| {
                a_stats.add(&b_stats);
                Ok((Report::merged(a, b), a_stats, a_buf))
            },
        )?;
    progress.finish();
    Ok(MergeOutcome { report, stats, inputs: inputs.len() })
}

/// An indicatif bar on a terminal; elsewhere (CI logs) a log line at most every few seconds.
struct Progress {
    bar: Option<ProgressBar>,
    total_bytes: u64,
    total_inputs: u64,
    done_bytes: AtomicU64,
    done_inputs: AtomicU64,
    last_log: Mutex<Instant>,
}

const LOG_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    fn new(inputs: &[Input], enabled: bool) -> Self {
        let total_bytes = inputs.iter().map(Input::size).sum();
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total_bytes);
            let style = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Self {
            bar,
            total_bytes,
            total_inputs: inputs.len() as u64,
            done_bytes: AtomicU64::new(0),
            done_inputs: AtomicU64::new(0),
            last_log: Mutex::new(Instant::now()),
        }
    }

    fn done(&self, input: &Input) {
        let bytes = self.done_bytes.fetch_add(input.size(), Ordering::Relaxed) + input.size();
        let inputs = self.done_inputs.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            bar.set_message(format!("{inputs}/{} inputs", self.total_inputs));
            return;
        }
        let Ok(mut last) = self.last_log.try_lock() else { return };
        if last.elapsed() >= LOG_EVERY {
            *last = Instant::now();
            tracing::info!(inputs, total_inputs = self.total_inputs, bytes, total_bytes = self.total_bytes, "merging");
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
