//! The parallel merge of many inputs: one worker thread per core takes inputs from a shared
//! queue (largest first) and adds every record it reads straight into one [`SharedReport`].

use std::cmp::Reverse;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::CoverageError;
use crate::inputs::Input;
use crate::lcov::{ParseOptions, ParseStats};
use crate::model::{Report, SharedReport};

/// What a merge produced, and what it ran into.
#[derive(Debug, Default)]
pub struct MergeOutcome {
    pub report: Report,
    pub stats: ParseStats,
    pub inputs: usize,
}

/// Parses and merges `inputs` in parallel, on as many threads as rayon would use (so
/// `RAYON_NUM_THREADS` applies). The first error stops the other workers at their next input;
/// when several inputs fail, the error of the first one in `inputs` order is returned.
pub fn merge_inputs(inputs: &[Input], options: &ParseOptions, progress: bool) -> Result<MergeOutcome, CoverageError> {
    let report = SharedReport::default();
    let stats = merge_inputs_into(inputs, options, progress, &report)?;
    Ok(MergeOutcome { report: report.into_report(), stats, inputs: inputs.len() })
}

/// [`merge_inputs`] into a report owned by the caller, which may already hold data (e.g. to add
/// inputs as they become available).
pub fn merge_inputs_into(
    inputs: &[Input],
    options: &ParseOptions,
    progress: bool,
    report: &SharedReport,
) -> Result<ParseStats, CoverageError> {
    let progress = Progress::new(inputs, progress);
    // Largest inputs first, so that no worker is left with a big one at the end while the
    // others are idle.
    let mut queue: Vec<usize> = (0..inputs.len()).collect();
    queue.sort_by_key(|&i| Reverse(inputs[i].size()));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<(usize, CoverageError)>> = Mutex::new(None);
    let stats = Mutex::new(ParseStats::default());
    let workers = rayon::current_num_threads().clamp(1, inputs.len().max(1));

    let worker = || {
        // One read buffer per worker, reused for all its inputs: the only input data held in
        // memory at any time is one buffer per worker.
        let mut buf = Vec::new();
        let mut own = ParseStats::default();
        while !failed.load(Ordering::Relaxed) {
            let Some(&index) = queue.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
            let input = &inputs[index];
            match input.parse_into(options, &mut &*report, &mut buf) {
                Ok(parsed) => {
                    own.add(&parsed);
                    progress.done(input);
                }
                Err(error) => {
                    failed.store(true, Ordering::Relaxed);
                    let mut first = first_error.lock().unwrap_or_else(PoisonError::into_inner);
                    if first.as_ref().is_none_or(|(known, _)| index < *known) {
                        *first = Some((index, error));
                    }
                }
            }
        }
        stats.lock().unwrap_or_else(PoisonError::into_inner).add(&own);
    };
    std::thread::scope(|scope| {
        for _ in 1..workers {
            scope.spawn(worker);
        }
        worker();
    });
    progress.finish();
    if let Some((_, error)) = first_error.into_inner().unwrap_or_else(PoisonError::into_inner) {
        return Err(error);
    }
    Ok(stats.into_inner().unwrap_or_else(PoisonError::into_inner))
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
