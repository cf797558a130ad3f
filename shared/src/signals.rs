//! The signals that stop a long-running binary: SIGINT (Ctrl-C) and SIGTERM (Taskcluster,
//! containers, `kill`), handled the same way.

/// The signal that asked the process to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Interrupt,
    Terminate,
}

impl Stop {
    /// The signal's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }

    /// The exit status of a process stopped by this signal (128 + its number).
    pub fn exit_status(self) -> u8 {
        match self {
            Self::Interrupt => 130,
            Self::Terminate => 143,
        }
    }
}

/// Completes at the first SIGINT or SIGTERM. Should the handlers fail to install, it never
/// completes (the process then stops by the signal's default action).
pub async fn stop_requested() -> Stop {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        tracing::warn!("cannot install the signal handlers");
        return std::future::pending().await;
    };
    let stop = tokio::select! {
        _ = interrupt.recv() => Stop::Interrupt,
        _ = terminate.recv() => Stop::Terminate,
    };
    tracing::info!(signal = stop.name(), "stop requested");
    stop
}
