//! The Taskcluster hook definitions in `hooks/`: each is a valid hook, names a bot binary that
//! exists and a Dockerfile that exists, and its schedules parse.

use std::path::Path;

use serde_json::Value;

fn repository() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn every_hook_is_valid_and_names_an_existing_binary_and_dockerfile() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(repository().join("hooks/hook-definition.schema.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let hooks = shipit_api::bots::hook_files();
    assert!(!hooks.is_empty());
    for (bot, text) in hooks {
        let hook: Value = serde_json::from_str(text).unwrap_or_else(|error| panic!("hooks/{bot}.json: {error}"));
        let errors: Vec<String> =
            validator.iter_errors(&hook).map(|error| format!("{}: {error}", error.instance_path())).collect();
        assert!(errors.is_empty(), "hooks/{bot}.json: {errors:?}");

        let binary = format!("{bot}-bot");
        assert_eq!(hook["task"]["payload"]["command"][0], binary.as_str(), "hooks/{bot}.json runs another binary");
        let manifest = std::fs::read_to_string(repository().join(format!("bots/{bot}/Cargo.toml")))
            .unwrap_or_else(|_| panic!("hooks/{bot}.json: no crate bots/{bot}"));
        assert!(manifest.contains(&format!("name = \"{binary}\"")), "bots/{bot} builds no binary {binary}");
        assert!(
            repository().join(format!("dockerfiles/{bot}.Dockerfile")).is_file(),
            "no dockerfiles/{bot}.Dockerfile"
        );
        let schema = &hook["triggerSchema"];
        assert!(jsonschema::validator_for(schema).is_ok(), "hooks/{bot}.json: triggerSchema is not a schema");
    }
}

#[tokio::test]
async fn every_schedule_parses_as_a_cron_expression_with_seconds() {
    for bot in shipit_api::bots::definitions().iter() {
        for schedule in &bot.schedules {
            let job = tokio_cron_scheduler::Job::new_async(schedule.as_str(), |_, _| Box::pin(async {}));
            assert!(job.is_ok(), "{}: {schedule:?} does not parse", bot.name);
        }
    }
    let five_fields = tokio_cron_scheduler::Job::new_async("*/30 * * * *", |_, _| Box::pin(async {}));
    assert!(five_fields.is_err(), "five-field crontab lines must be refused, as Taskcluster refuses them");
}
