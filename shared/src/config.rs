//! Layered configuration shared by every binary.
//!
//! Precedence, lowest first:
//! 1. the defaults of the configuration struct (`#[serde(default)]`);
//! 2. a TOML file: the path given with `--config`/`SHIPIT_CONFIG`, otherwise `shipit.toml` in the
//!    working directory when it exists;
//! 3. for bots, the Taskcluster secret named by `taskcluster.secret` (see `crate::secrets`);
//! 4. environment variables `SHIPIT_<KEY>`, with `__` between nested keys
//!    (`SHIPIT_BUGZILLA__API_KEY` sets `bugzilla.api_key`);
//! 5. command-line flags, applied by each binary after loading.
//!
//! Secrets are held in [`secrecy::SecretString`], whose `Debug` output is redacted, so a logged
//! configuration never shows them.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// The file read when no path is given and it exists in the working directory.
pub const DEFAULT_FILE: &str = "shipit.toml";

/// Prefix of the environment variables read by [`load`].
pub const ENV_PREFIX: &str = "SHIPIT";

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file given explicitly does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    /// A file or variable holds a value of the wrong shape.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] config::ConfigError),
}

/// Loads `T` from its defaults, the TOML file and the `SHIPIT_*` environment, in that order.
pub fn load<T: DeserializeOwned>(file: Option<&Path>) -> Result<T, ConfigError> {
    Layers::read(file, None)?.settings()
}

/// The configuration's layers, read once and deserialised into as many settings types as a
/// binary has (a bot's common sections and its own).
#[derive(Debug)]
pub struct Layers(config::Config);

impl Layers {
    /// The file (or `shipit.toml`), then `secret` (a JSON object in the file's shape), then
    /// the environment.
    pub fn read(
        file: Option<&Path>,
        secret: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        match file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.to_owned())),
            Some(path) => builder = builder.add_source(config::File::from(path).required(true)),
            None => {
                builder = builder.add_source(config::File::with_name(DEFAULT_FILE).required(false));
            }
        }
        if let Some(secret) = secret {
            let text = serde_json::Value::Object(secret.clone()).to_string();
            builder = builder.add_source(config::File::from_str(&text, config::FileFormat::Json));
        }
        let layers = builder
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX).prefix_separator("_").separator("__").try_parsing(true),
            )
            .build()?;
        Ok(Self(layers))
    }

    /// The layers as `T`.
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        Ok(self.0.clone().try_deserialize()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::{ExposeSecret, SecretString};
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(default)]
    struct Sample {
        listen: String,
        retries: u32,
        upstream: Upstream,
    }

    #[derive(Debug, Default, Deserialize)]
    struct Upstream {
        api_key: Option<SecretString>,
    }

    impl Default for Sample {
        fn default() -> Self {
            Self { listen: "127.0.0.1:8000".into(), retries: 3, upstream: Upstream::default() }
        }
    }

    #[test]
    fn file_overrides_defaults_and_secrets_stay_out_of_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bot.toml");
        std::fs::write(&path, "retries = 7\n[upstream]\napi_key = \"hunter2\"\n").unwrap();

        let sample: Sample = load(Some(&path)).unwrap();

        assert_eq!(sample.listen, "127.0.0.1:8000");
        assert_eq!(sample.retries, 7);
        assert_eq!(sample.upstream.api_key.as_ref().unwrap().expose_secret(), "hunter2");
        assert!(!format!("{sample:?}").contains("hunter2"));
    }

    #[test]
    fn a_secret_overrides_the_file_and_keeps_what_it_does_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bot.toml");
        std::fs::write(&path, "retries = 7\nlisten = \"0.0.0.0:1\"\n").unwrap();
        let secret = serde_json::json!({"retries": 9, "upstream": {"api_key": "from-the-secret"}});

        let sample: Sample = Layers::read(Some(&path), secret.as_object()).unwrap().settings().unwrap();

        assert_eq!(sample.retries, 9);
        assert_eq!(sample.listen, "0.0.0.0:1");
        assert_eq!(sample.upstream.api_key.as_ref().unwrap().expose_secret(), "from-the-secret");
    }

    #[test]
    fn an_explicit_file_that_does_not_exist_is_an_error() {
        let error = load::<Sample>(Some(Path::new("/nonexistent/shipit.toml"))).unwrap_err();
        assert!(matches!(error, ConfigError::MissingFile(_)));
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bot.toml");
        std::fs::write(&path, "retries = \"many\"\n").unwrap();

        let error = load::<Sample>(Some(&path)).unwrap_err();

        assert!(error.to_string().contains("retries"), "{error}");
    }
}
