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

/// What a trigger payload with these parameters and this run id looks like.
fn payload(parameters: &Value, run_id: &str) -> Value {
    serde_json::json!({"run_id": run_id, "parameters": parameters})
}

#[test]
fn no_hook_takes_the_run_id_or_any_shipit_variable_from_its_parameters() {
    for (bot, text) in shipit_api::bots::hook_files() {
        let hook: Value = serde_json::from_str(text).unwrap();
        let validator = jsonschema::validator_for(&hook["triggerSchema"]).unwrap();
        // The smallest payload the hook accepts: its required parameters, each a valid value.
        let parameters_schema = &hook["triggerSchema"]["properties"]["parameters"];
        let sample = |name: &str| -> Value {
            match name {
                "REPOSITORY" => "mozilla-central".into(),
                "PHABRICATOR_DIFF" => "12345".into(),
                "REVISIONS" => "0123456789abcdef0123456789abcdef01234567 89abcdef01".into(),
                other => panic!("hooks/{bot}.json: no sample value for required parameter {other}"),
            }
        };
        let required: serde_json::Map<String, Value> = parameters_schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|name| (name.as_str().unwrap().to_owned(), sample(name.as_str().unwrap())))
            .collect();
        let accepted = payload(&Value::Object(required.clone()), "12");
        assert!(validator.is_valid(&accepted), "hooks/{bot}.json refuses {accepted}");
        for reserved in ["SHIPIT_RUN_ID", "shipit_run_id", "SHIPIT_API__TOKEN", "SHIPIT_API_URL", "SHIPIT_ANYTHING"] {
            let mut parameters = required.clone();
            parameters.insert(reserved.to_owned(), "1".into());
            let refused = payload(&Value::Object(parameters), "12");
            assert!(!validator.is_valid(&refused), "hooks/{bot}.json accepts the parameter {reserved}");
        }
        // The run id is the payload's, never a parameter's, and parameters come from `parameters`.
        let mut references = text.match_indices("payload.").map(|(at, _)| &text[at..]);
        assert!(
            references.all(|rest| rest.starts_with("payload.run_id") || rest.starts_with("payload.parameters")),
            "hooks/{bot}.json reads the trigger payload outside `run_id` and `parameters`"
        );
        assert!(
            !text.contains("payload.parameters.SHIPIT"),
            "hooks/{bot}.json sets a variable of the runner from a parameter"
        );
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
