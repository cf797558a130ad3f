//! The bots the API can start: each one's Taskcluster hook definition (`hooks/<bot>.json`, embedded
//! at build time) gives its schedules and the JSON schema of its parameters (the `parameters` of
//! the trigger payload `{"run_id", "parameters"}`).

use std::sync::{Arc, LazyLock};

use serde::Deserialize;
use serde_json::{Map, Value};

/// `(bot, hook definition)` for every file of `hooks/`.
const HOOKS: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/hooks.rs"));

/// A bot the API knows how to start.
#[derive(Clone)]
pub struct BotDefinition {
    pub name: String,
    /// Cron expressions with seconds, in UTC (`0 */30 * * * *`).
    pub schedules: Vec<String>,
    /// The command line of the hook's task, binary first; the local runner runs the same.
    pub command: Vec<String>,
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for BotDefinition {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("BotDefinition")
            .field("name", &self.name)
            .field("schedules", &self.schedules)
            .field("command", &self.command)
            .finish()
    }
}

/// Why a hook definition cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BotDefinitionError {
    #[error("hook definition of {bot}: {detail}")]
    Invalid { bot: String, detail: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HookFile {
    #[serde(default)]
    schedule: Vec<String>,
    trigger_schema: Value,
    task: HookTask,
}

#[derive(Deserialize)]
struct HookTask {
    payload: HookPayload,
}

#[derive(Deserialize)]
struct HookPayload {
    #[serde(default)]
    command: Vec<String>,
}

impl BotDefinition {
    /// Reads a bot's definition from its hook file.
    pub fn from_hook(bot: &str, hook_json: &str) -> Result<Self, BotDefinitionError> {
        let invalid = |detail: String| BotDefinitionError::Invalid { bot: bot.to_owned(), detail };
        let hook: HookFile = serde_json::from_str(hook_json).map_err(|error| invalid(error.to_string()))?;
        let parameters = hook
            .trigger_schema
            .pointer("/properties/parameters")
            .ok_or_else(|| invalid("triggerSchema has no `parameters` property".to_owned()))?;
        let mut definition = Self::new(bot, hook.schedule, parameters)?;
        definition.command = hook.task.payload.command;
        Ok(definition)
    }

    /// A definition from its parts (tests use fast schedules): `parameters_schema` is the JSON
    /// schema of the parameters.
    pub fn new(bot: &str, schedules: Vec<String>, parameters_schema: &Value) -> Result<Self, BotDefinitionError> {
        let validator = jsonschema::validator_for(parameters_schema).map_err(|error| BotDefinitionError::Invalid {
            bot: bot.to_owned(),
            detail: format!("triggerSchema.properties.parameters: {error}"),
        })?;
        Ok(Self { name: bot.to_owned(), schedules, command: Vec::new(), validator: Arc::new(validator) })
    }

    /// Checks parameters against the bot's trigger schema; the error names the first bad field.
    pub fn validate(&self, parameters: &Map<String, Value>) -> Result<(), (String, String)> {
        let instance = Value::Object(parameters.clone());
        match self.validator.iter_errors(&instance).next() {
            None => Ok(()),
            Some(error) => {
                let pointer = error.instance_path().to_string();
                let field = pointer.trim_start_matches('/').replace('/', ".");
                let field = if field.is_empty() { "parameters".to_owned() } else { format!("parameters.{field}") };
                Err((field, error.to_string()))
            }
        }
    }
}

/// The definitions of every bot with a hook file.
pub fn definitions() -> Arc<Vec<BotDefinition>> {
    static DEFINITIONS: LazyLock<Arc<Vec<BotDefinition>>> = LazyLock::new(|| {
        let definitions = HOOKS
            .iter()
            .map(|(bot, json)| BotDefinition::from_hook(bot, json))
            .collect::<Result<Vec<_>, _>>()
            .expect("the hook files are checked by the tests");
        Arc::new(definitions)
    });
    DEFINITIONS.clone()
}

/// The embedded hook files, for the test that checks them.
pub fn hook_files() -> &'static [(&'static str, &'static str)] {
    HOOKS
}
