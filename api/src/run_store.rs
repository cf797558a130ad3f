//! The runner's record of runs when the API starts them itself: straight in the API's database.

use deadpool_postgres::Pool;
use shipit_shared::api_types::{NewRun, Run, RunFinish};
use shipit_shared::runner::{RunStore, RunnerError};

use crate::db::{self, runs::RunUpdate};

/// Runs recorded straight in the API's database.
#[derive(Clone, Debug)]
pub struct DbRunStore(pub Pool);

impl RunStore for DbRunStore {
    async fn open(&self, run: &NewRun) -> Result<Run, RunnerError> {
        db::runs::insert(&self.0, run).await.map_err(store_error)
    }

    async fn get(&self, id: i64) -> Result<Run, RunnerError> {
        db::runs::get(&self.0, id).await.map_err(store_error)?.ok_or_else(|| RunnerError::Store(format!("no run {id}")))
    }

    async fn finish(&self, id: i64, finish: &RunFinish) -> Result<Run, RunnerError> {
        match db::runs::finish(&self.0, id, finish).await.map_err(store_error)? {
            RunUpdate::Updated(run) => Ok(run),
            RunUpdate::NotFound => Err(RunnerError::Store(format!("no run {id}"))),
            RunUpdate::Closed(status) => Err(RunnerError::Store(format!("run {id} is {} already", status.as_str()))),
            RunUpdate::TooManyCounts => Err(RunnerError::Store(format!("run {id} holds too many counts"))),
        }
    }
}

fn store_error(error: db::DbError) -> RunnerError {
    RunnerError::Store(error.to_string())
}
