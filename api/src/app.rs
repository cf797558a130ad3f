//! The server loop: the router served on a listener, with the sweeper of silent runs, the
//! pipeline engine and the sender of notifications beside it.

use std::future::Future;

use tokio::net::TcpListener;

use crate::state::AppState;

/// Serves `state` on `listener` until `shutdown` completes, while the sweeper marks silent
/// runs failed and the engine moves pipelines (unless `pipelines.engine` is off).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = tokio::spawn(crate::sweeper::sweep_silent_runs(state.clone()));
    let engine =
        state.config.pipelines.engine.then(|| {
            tokio::spawn(crate::pipelines::engine::run(state.clone(), state.listen_config.as_deref().cloned()))
        });
    // Whoever moves pipelines also tells people about their sign-offs.
    let notifications =
        state.config.pipelines.engine.then(|| tokio::spawn(crate::pipelines::services::run(state.clone())));
    let served = axum::serve(listener, crate::router::router(state)).with_graceful_shutdown(shutdown).await;
    sweeper.abort();
    for task in [engine, notifications].into_iter().flatten() {
        task.abort();
    }
    served
}
