//! Migrations from an empty database.

use shipit_api::db;
use shipit_api::testing::{TestDatabase, maintenance_config};

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_a_second_run_changes_nothing() {
    let database = TestDatabase::create_empty().await;
    let pool = db::pool(database.config().clone(), 2, std::time::Duration::from_secs(5));
    let tables = async || -> Vec<String> {
        let client = pool.get().await.unwrap();
        let rows = client
            .query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename", &[])
            .await
            .unwrap();
        rows.iter().map(|row| row.get(0)).collect()
    };
    assert!(tables().await.is_empty());

    db::migrate(&pool).await.unwrap();
    let after_first = tables().await;
    db::migrate(&pool).await.unwrap();

    assert_eq!(
        after_first,
        [
            "api_tokens",
            "coverage_paths",
            "coverage_reports",
            "events",
            "local_users",
            "notifications",
            "oidc_logins",
            "person_sessions",
            "pipeline_audit",
            "pipeline_steps",
            "pipelines",
            "refinery_schema_history",
            "risk_assessments",
            "risk_models",
            "runs",
            "service_steps",
            "signoff_signatures",
            "static_analysis_diffs",
            "static_analysis_issues",
            "ui_sessions",
            "uplift_bug_roles",
            "uplift_bugs",
            "uplift_channels",
            "uplift_contributors",
            "uplift_grafts",
        ]
    );
    assert_eq!(tables().await, after_first);
    pool.close();
}

#[tokio::test]
async fn two_processes_creating_the_database_at_once_both_go_on() {
    // `shipit-api serve` and `shipit-api token create` started together both create the database
    // of the embedded cluster: whichever loses the race must not fail.
    let maintenance = maintenance_config().await;
    let (client, connection) = maintenance.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    for round in 0..5 {
        let name = format!("shipit_race_{}_{round}", std::process::id());
        let (first, second) = tokio::join!(
            db::create_database_if_missing(&maintenance, &name),
            db::create_database_if_missing(&maintenance, &name),
        );
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await.unwrap();
        first.unwrap();
        second.unwrap();
    }
}
