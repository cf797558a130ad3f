//! Validation of a pipeline definition, before anything is stored or started: uids, services,
//! dependencies (known, no cycle), timeouts, and each built-in service's parameters. Every error
//! names the step and the field.

use std::collections::HashMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use shipit_shared::api_types::pipelines::limits::{
    MAX_API_URL_BYTES, MAX_DESCRIPTION_CHARS, MAX_PARAMETERS_BYTES, MAX_PIPELINE_UID_BYTES, MAX_STEP_UID_BYTES,
    MAX_STEPS, MAX_TIMEOUT_SECS,
};
use shipit_shared::api_types::pipelines::{
    BotParameters, PipelineDefinition, SignoffParameters, StepKind, TaskclusterParameters,
};
use shipit_shared::runner::check_parameters;

use crate::bots::BotDefinition;
use crate::db::pipelines::NewStep;

/// Nested pipelines (steps of kind `pipeline`) go at most this deep.
const MAX_NESTING: usize = 4;

/// A definition refused: the field at fault (`steps[1].requires[0]`) and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {detail}")]
pub struct DefinitionError {
    pub field: String,
    pub detail: String,
}

fn refuse(field: impl Into<String>, detail: impl Into<String>) -> DefinitionError {
    DefinitionError { field: field.into(), detail: detail.into() }
}

/// Whether `uid` may name a pipeline: 1 to 200 of letters, digits, `.`, `_`, `-` and `~`, not
/// starting with `.` (`firefox-99.0b1`; a nested pipeline is `<parent>.<step>`).
pub fn check_pipeline_uid(uid: &str) -> Result<(), DefinitionError> {
    let plain = uid.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"._-~".contains(&byte));
    if uid.is_empty() || uid.len() > MAX_PIPELINE_UID_BYTES || !plain || uid.starts_with('.') {
        return Err(refuse(
            "uid",
            format!(
                "a pipeline uid is 1 to {MAX_PIPELINE_UID_BYTES} letters, digits, `.`, `_`, `-` and `~`, not starting with `.`"
            ),
        ));
    }
    Ok(())
}

/// What a definition is checked against: the bots a bot step may start, and the hosts of the
/// external step services a step may name (`pipelines.step_service_hosts`).
#[derive(Clone, Copy, Debug)]
pub struct Known<'a> {
    pub bots: &'a [BotDefinition],
    pub step_service_hosts: &'a [String],
}

/// Checks a definition and answers the steps to store, in their order.
pub fn validate(definition: &PipelineDefinition, known: Known<'_>) -> Result<Vec<NewStep>, DefinitionError> {
    validate_nested(definition, known, 0)
}

fn validate_nested(
    definition: &PipelineDefinition,
    known: Known<'_>,
    depth: usize,
) -> Result<Vec<NewStep>, DefinitionError> {
    if definition.steps.is_empty() || definition.steps.len() > MAX_STEPS {
        return Err(refuse("steps", format!("a pipeline has 1 to {MAX_STEPS} steps")));
    }
    let mut positions: HashMap<&str, usize> = HashMap::new();
    for (index, step) in definition.steps.iter().enumerate() {
        let field = format!("steps[{index}].uid");
        let plain = step.uid.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"_-".contains(&byte));
        if step.uid.is_empty() || step.uid.len() > MAX_STEP_UID_BYTES || !plain {
            return Err(refuse(
                field,
                format!("step {:?}: a step uid is 1 to {MAX_STEP_UID_BYTES} letters, digits, `_` and `-`", step.uid),
            ));
        }
        if positions.insert(&step.uid, index).is_some() {
            return Err(refuse(field, format!("step `{}`: another step has this uid", step.uid)));
        }
    }
    let mut steps = Vec::with_capacity(definition.steps.len());
    for (index, step) in definition.steps.iter().enumerate() {
        let at = |field: &str| format!("steps[{index}].{field}");
        let name = &step.uid;
        let api_url = match (&step.kind, &step.api_url) {
            (Some(_), None) => None,
            (None, Some(url)) => {
                let checked = check_api_url(url, known.step_service_hosts);
                Some(checked.map_err(|detail| refuse(at("api_url"), format!("step `{name}`: {detail}")))?)
            }
            _ => {
                return Err(refuse(at("kind"), format!("step `{name}`: give exactly one of `kind` and `api_url`")));
            }
        };
        for (position, required) in step.requires.iter().enumerate() {
            if !positions.contains_key(required.as_str()) {
                return Err(refuse(
                    at(&format!("requires[{position}]")),
                    format!("step `{name}` requires `{required}`, which is not a step of this pipeline"),
                ));
            }
        }
        if step.description.as_ref().is_some_and(|text| text.chars().count() > MAX_DESCRIPTION_CHARS) {
            return Err(refuse(
                at("description"),
                format!("step `{name}`: a description is at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        let timeout_secs = step
            .timeout
            .as_deref()
            .map(|text| parse_duration(text, "timeout"))
            .transpose()
            .map_err(|detail| refuse(at("timeout"), format!("step `{name}`: {detail}")))?
            .map(|duration| duration.as_secs_f64());
        let size = serde_json::to_vec(&step.parameters).map_or(usize::MAX, |json| json.len());
        if size > MAX_PARAMETERS_BYTES {
            return Err(refuse(
                at("parameters"),
                format!("step `{name}`: parameters are at most {MAX_PARAMETERS_BYTES} bytes of JSON"),
            ));
        }
        if let Some(kind) = step.kind {
            check_parameters_of(kind, &step.parameters, known, depth).map_err(|(field, detail)| {
                refuse(join(&at("parameters"), &field), format!("step `{name}`: {detail}"))
            })?;
        }
        steps.push(NewStep {
            uid: step.uid.clone(),
            kind: step.kind,
            api_url,
            parameters: Value::Object(step.parameters.clone()),
            requires: step.requires.clone(),
            description: step.description.clone(),
            timeout_secs,
        });
    }
    check_acyclic(definition)?;
    Ok(steps)
}

fn join(prefix: &str, field: &str) -> String {
    if field.is_empty() || field == "." { prefix.to_owned() } else { format!("{prefix}.{field}") }
}

/// A base URL without trailing slash: `http` or `https`, one of the `allowed` hosts, no query,
/// fragment or credentials.
fn check_api_url(text: &str, allowed: &[String]) -> Result<String, String> {
    if text.len() > MAX_API_URL_BYTES {
        return Err(format!("api_url is at most {MAX_API_URL_BYTES} bytes"));
    }
    let url = url::Url::parse(text).map_err(|error| format!("api_url is not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("api_url must be an http or https URL with a host".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err("api_url may not carry a query, a fragment or credentials".to_owned());
    }
    let host = url.host_str().unwrap_or_default();
    if !allowed.iter().any(|allowed| allowed.eq_ignore_ascii_case(host)) {
        return Err(format!(
            "api_url's host `{host}` is not one of the step service hosts this API may call (pipelines.step_service_hosts)"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A duration such as `90s`, `30m` or `72h`, more than zero and at most 30 days.
pub fn parse_duration(text: &str, field: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|error| format!("{field} must be a duration such as `30m` or `72h`: {error}"))?;
    if duration.is_zero() || duration.as_secs() > MAX_TIMEOUT_SECS {
        return Err(format!("{field} must be more than zero and at most 30 days"));
    }
    Ok(duration)
}

/// The parameters of a step created directly on a built-in service (the body of
/// `PUT /steps/{service}/{uid}`): the field at fault (relative to the body) and why.
pub fn check_builtin(kind: StepKind, parameters: &Map<String, Value>, known: Known<'_>) -> Result<(), DefinitionError> {
    let size = serde_json::to_vec(parameters).map_or(usize::MAX, |json| json.len());
    if size > MAX_PARAMETERS_BYTES {
        return Err(refuse("parameters", format!("parameters are at most {MAX_PARAMETERS_BYTES} bytes of JSON")));
    }
    check_parameters_of(kind, parameters, known, 0).map_err(|(field, detail)| {
        refuse(if field.is_empty() || field == "." { "parameters".to_owned() } else { field }, detail)
    })
}

/// The parameters of a built-in service, checked as that service will read them: the field at
/// fault (relative to `parameters`) and why.
fn check_parameters_of(
    kind: StepKind,
    parameters: &Map<String, Value>,
    known: Known<'_>,
    depth: usize,
) -> Result<(), (String, String)> {
    match kind {
        StepKind::Signoff => {
            let signoff: SignoffParameters = typed(parameters)?;
            signoff.check()
        }
        StepKind::Taskcluster => {
            let taskcluster: TaskclusterParameters = typed(parameters)?;
            taskcluster.check()
        }
        StepKind::Bot => {
            let bot: BotParameters = typed(parameters)?;
            let Some(definition) = known.bots.iter().find(|known| known.name == bot.bot) else {
                let names: Vec<&str> = known.bots.iter().map(|known| known.name.as_str()).collect();
                return Err(("bot".to_owned(), format!("unknown bot {:?}; known bots: {}", bot.bot, names.join(", "))));
            };
            check_parameters(&bot.parameters).map_err(|error| ("parameters".to_owned(), error.to_string()))?;
            definition.validate(&bot.parameters)
        }
        StepKind::Pipeline => {
            if depth + 1 >= MAX_NESTING {
                return Err((String::new(), format!("pipelines nest at most {MAX_NESTING} deep")));
            }
            let nested: PipelineDefinition = typed(parameters)?;
            validate_nested(&nested, known, depth + 1).map(drop).map_err(|error| (error.field, error.detail))
        }
    }
}

fn typed<T: DeserializeOwned>(parameters: &Map<String, Value>) -> Result<T, (String, String)> {
    let value = Value::Object(parameters.clone());
    serde_path_to_error::deserialize(value).map_err(|error| (error.path().to_string(), error.inner().to_string()))
}

/// Refuses a cycle, naming one of its steps and the cycle itself.
fn check_acyclic(definition: &PipelineDefinition) -> Result<(), DefinitionError> {
    let index: HashMap<&str, usize> =
        definition.steps.iter().enumerate().map(|(position, step)| (step.uid.as_str(), position)).collect();
    // 0 unvisited, 1 on the current path, 2 done.
    let mut marks = vec![0u8; definition.steps.len()];
    let mut path: Vec<usize> = Vec::new();
    fn visit(
        node: usize,
        definition: &PipelineDefinition,
        index: &HashMap<&str, usize>,
        marks: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        marks[node] = 1;
        path.push(node);
        for required in &definition.steps[node].requires {
            let next = index[required.as_str()];
            if marks[next] == 1 {
                let start = path.iter().position(|&step| step == next).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(next);
                return Some(cycle);
            }
            if marks[next] == 0
                && let Some(cycle) = visit(next, definition, index, marks, path)
            {
                return Some(cycle);
            }
        }
        path.pop();
        marks[node] = 2;
        None
    }
    for start in 0..definition.steps.len() {
        if marks[start] == 0
            && let Some(cycle) = visit(start, definition, &index, &mut marks, &mut path)
        {
            let names: Vec<&str> = cycle.iter().map(|&step| definition.steps[step].uid.as_str()).collect();
            return Err(refuse(
                format!("steps[{}].requires", cycle[0]),
                format!("step `{}` is in a dependency cycle: {}", names[0], names.join(" → ")),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn definition(steps: Value) -> PipelineDefinition {
        serde_json::from_value(json!({ "steps": steps })).unwrap()
    }

    const SERVICE: &str = "https://steps.example.com/api/";

    fn known(hosts: &[String]) -> Known<'_> {
        Known { bots: &[], step_service_hosts: hosts }
    }

    fn refused(steps: Value) -> DefinitionError {
        validate(&definition(steps), known(&["steps.example.com".to_owned()])).unwrap_err()
    }

    #[test]
    fn a_valid_definition_gives_its_steps_in_order_with_a_normalised_url_and_timeout() {
        let steps = validate(
            &definition(json!([
                {"uid": "B", "api_url": SERVICE, "timeout": "2h"},
                {"uid": "S", "api_url": SERVICE, "requires": ["B"], "parameters": {"x": 1}},
            ])),
            known(&["Steps.Example.com".to_owned()]),
        )
        .unwrap();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].api_url.as_deref(), Some("https://steps.example.com/api"));
        assert_eq!(steps[0].timeout_secs, Some(7200.0));
        assert_eq!(steps[1].requires, vec!["B".to_owned()]);
        assert_eq!(steps[1].parameters, json!({"x": 1}));
    }

    #[test]
    fn duplicates_unknown_dependencies_and_cycles_are_refused_naming_step_and_field() {
        let error = refused(json!([{"uid": "A", "api_url": SERVICE}, {"uid": "A", "api_url": SERVICE}]));
        assert_eq!(error.field, "steps[1].uid");
        assert!(error.detail.contains("`A`"), "{error}");

        let error = refused(json!([{"uid": "A", "api_url": SERVICE, "requires": ["Z"]}]));
        assert_eq!(error.field, "steps[0].requires[0]");
        assert!(error.detail.contains("`Z`"), "{error}");

        let error = refused(json!([
            {"uid": "A", "api_url": SERVICE},
            {"uid": "B", "api_url": SERVICE, "requires": ["A", "C"]},
            {"uid": "C", "api_url": SERVICE, "requires": ["B"]},
        ]));
        assert_eq!(error.field, "steps[1].requires");
        assert!(error.detail.contains("B → C → B"), "{error}");

        let error = refused(json!([{"uid": "A", "api_url": SERVICE, "requires": ["A"]}]));
        assert!(error.detail.contains("A → A"), "{error}");
    }

    #[test]
    fn a_step_needs_exactly_one_service() {
        assert_eq!(refused(json!([{"uid": "A"}])).field, "steps[0].kind");
        let both = refused(json!([{"uid": "A", "kind": "signoff", "api_url": SERVICE}]));
        assert_eq!(both.field, "steps[0].kind");
        assert_eq!(refused(json!([{"uid": "A", "api_url": "ftp://x"}])).field, "steps[0].api_url");
        assert_eq!(refused(json!([{"uid": "A", "api_url": "https://h/?q=1"}])).field, "steps[0].api_url");
    }

    #[test]
    fn a_step_service_must_be_on_a_configured_host() {
        for url in ["http://169.254.169.254/latest", "https://steps.example.com.evil.test/", "http://127.0.0.1:5432/"] {
            let error = refused(json!([{"uid": "A", "api_url": url}]));
            assert_eq!(error.field, "steps[0].api_url", "{url}");
            assert!(error.detail.contains("step_service_hosts"), "{error}");
        }
        let nothing_allowed = validate(&definition(json!([{"uid": "A", "api_url": SERVICE}])), known(&[]));
        assert_eq!(nothing_allowed.unwrap_err().field, "steps[0].api_url", "none are allowed by default");
        let nested = json!([{"uid": "N", "kind": "pipeline", "parameters": {"steps": [{"uid": "X", "api_url": "http://10.0.0.1/"}]}}]);
        assert_eq!(refused(nested).field, "steps[0].parameters.steps[0].api_url");
    }

    #[test]
    fn bad_uids_timeouts_and_sizes_are_refused() {
        assert_eq!(refused(json!([{"uid": "a.b", "api_url": SERVICE}])).field, "steps[0].uid");
        assert_eq!(refused(json!([])).field, "steps");
        assert_eq!(refused(json!([{"uid": "A", "api_url": SERVICE, "timeout": "soon"}])).field, "steps[0].timeout");
        assert_eq!(refused(json!([{"uid": "A", "api_url": SERVICE, "timeout": "0s"}])).field, "steps[0].timeout");
        let big = "x".repeat(MAX_PARAMETERS_BYTES);
        assert_eq!(
            refused(json!([{"uid": "A", "api_url": SERVICE, "parameters": {"x": big}}])).field,
            "steps[0].parameters"
        );
        assert!(check_pipeline_uid("firefox-99.0b1").is_ok());
        assert!(check_pipeline_uid(".hidden").is_err());
        assert!(check_pipeline_uid("a/b").is_err());
    }

    #[test]
    fn built_in_parameters_are_checked_by_their_service_schema() {
        let error = refused(json!([{"uid": "S", "kind": "signoff", "parameters": {"policy": []}}]));
        assert_eq!(error.field, "steps[0].parameters.policy");
        let error = refused(json!([{"uid": "S", "kind": "signoff", "parameters": {"policy": [{"relman": 0}]}}]));
        assert_eq!(error.field, "steps[0].parameters.policy[0].relman");
        let error = refused(
            json!([{"uid": "S", "kind": "signoff", "parameters": {"policy": [{"relman": 1}], "expires_in": "later"}}]),
        );
        assert_eq!(error.field, "steps[0].parameters.expires_in");
        let error =
            refused(json!([{"uid": "S", "kind": "signoff", "parameters": {"policy": [{"relman": 1}], "colour": 1}}]));
        assert_eq!(error.field, "steps[0].parameters.colour");
        assert!(error.detail.contains("unknown field"), "{error}");

        let error = refused(json!([{"uid": "B", "kind": "taskcluster", "parameters": {}}]));
        assert_eq!(error.field, "steps[0].parameters");
        let error = refused(json!([{"uid": "B", "kind": "taskcluster", "parameters": {"task_group_id": "no/slug"}}]));
        assert_eq!(error.field, "steps[0].parameters.task_group_id");
        let error = refused(json!([{"uid": "P", "kind": "taskcluster", "parameters": {"hook": {"group": "g"}}}]));
        assert_eq!(error.field, "steps[0].parameters.hook");

        let error = refused(json!([{"uid": "R", "kind": "bot", "parameters": {"bot": "nobody"}}]));
        assert_eq!(error.field, "steps[0].parameters.bot");

        let error = refused(json!([{"uid": "N", "kind": "pipeline", "parameters": {"steps": [{"uid": "X"}]}}]));
        assert_eq!(error.field, "steps[0].parameters.steps[0].kind");

        let signoff = json!({"policy": [{"relman": 1, "releng": 1}, {"dev": 2}], "expires_in": "72h",
            "notify": ["a@example.com"], "separate_from": ["starter@example.com"], "description": "publish"});
        let group = json!({"task_group_id": "BqoYe8UfRXGCH9DA_niFBA"});
        let hook = json!({"hook": {"group": "project-releng", "id": "publish", "payload": {}}});
        assert!(
            validate(
                &definition(json!([
                    {"uid": "B", "kind": "taskcluster", "parameters": group},
                    {"uid": "S", "kind": "signoff", "parameters": signoff, "requires": ["B"]},
                    {"uid": "P", "kind": "taskcluster", "parameters": hook, "requires": ["S"]},
                ])),
                known(&[])
            )
            .is_ok()
        );
    }
}
