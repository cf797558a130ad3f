//! A bot's settings kept in a Taskcluster secret, read through the task's taskcluster proxy
//! (`GET {proxy}/api/secrets/v1/secret/<name>`), as the original bots did: the secret's value is
//! `{"common": {…}, "<bot name>": {…}}`, the bot's section winning over the common one, both in
//! the shape of the configuration file (`{"bugzilla": {"api_key": "…"}}`).

use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use crate::http::{HttpError, UpstreamClient};

/// The answer of the Secrets service.
#[derive(Deserialize)]
struct SecretAnswer {
    secret: Value,
}

/// Why the secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The secret's name cannot be part of a URL path.
    #[error("`{0}` is not a secret name")]
    BadName(String),
    /// The proxy or the Secrets service refused or failed.
    #[error("cannot read the Taskcluster secret `{name}`: {source}")]
    Fetch {
        name: String,
        #[source]
        source: HttpError,
    },
    /// The secret holds something else than objects of settings.
    #[error("the Taskcluster secret `{name}`: {detail}")]
    Shape { name: String, detail: String },
}

/// The settings `bot` finds in secret `name`: its `common` object overlaid with its `<bot>`
/// object.
pub async fn fetch(
    http: &UpstreamClient,
    proxy: &Url,
    name: &str,
    bot: &str,
) -> Result<Map<String, Value>, SecretError> {
    let url = secret_url(proxy, name)?;
    let answer: SecretAnswer = http
        .send_json(http.client().get(url))
        .await
        .map_err(|source| SecretError::Fetch { name: name.to_owned(), source })?;
    let shape = |detail: &str| SecretError::Shape { name: name.to_owned(), detail: detail.to_owned() };
    let Value::Object(mut sections) = answer.secret else { return Err(shape("its value is not an object")) };
    let mut settings = Map::new();
    for section in ["common", bot] {
        match sections.remove(section) {
            None | Some(Value::Null) => {}
            Some(Value::Object(values)) => overlay(&mut settings, values),
            Some(_) => return Err(shape(&format!("`{section}` is not an object"))),
        }
    }
    Ok(settings)
}

/// `GET {proxy}/api/secrets/v1/secret/<name>`, the name one path segment (escaped: secret names
/// hold `/` and `:`).
fn secret_url(proxy: &Url, name: &str) -> Result<Url, SecretError> {
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(SecretError::BadName(name.to_owned()));
    }
    let mut url = proxy.clone();
    url.path_segments_mut()
        .map_err(|()| SecretError::BadName(name.to_owned()))?
        .pop_if_empty()
        .extend(["api", "secrets", "v1", "secret", name]);
    Ok(url)
}

/// Merges `values` into `settings`, objects key by key, anything else replaced.
fn overlay(settings: &mut Map<String, Value>, values: Map<String, Value>) {
    for (key, value) in values {
        match (settings.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(nested)) => overlay(existing, nested),
            (_, value) => {
                settings.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::http::RetryPolicy;

    fn client() -> UpstreamClient {
        let retry = RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(5),
        };
        UpstreamClient::new(Duration::from_secs(5), retry).unwrap()
    }

    #[tokio::test]
    async fn the_bot_section_wins_over_the_common_one_key_by_key() {
        let proxy = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/secrets/v1/secret/project%2Frelman%2Fshipit%2Fuplift"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "secret": {
                    "common": {"api": {"token": "common-token", "url": "https://shipit.example/"}},
                    "uplift": {"api": {"token": "uplift-token"}, "bugzilla": {"api_key": "k"}},
                    "coverage": {"api": {"token": "not-mine"}}
                },
                "expires": "2027-01-01T00:00:00.000Z"
            })))
            .expect(1)
            .mount(&proxy)
            .await;

        let settings =
            fetch(&client(), &proxy.uri().parse().unwrap(), "project/relman/shipit/uplift", "uplift").await.unwrap();

        assert_eq!(
            Value::Object(settings),
            json!({"api": {"token": "uplift-token", "url": "https://shipit.example/"}, "bugzilla": {"api_key": "k"}})
        );
    }

    #[tokio::test]
    async fn a_missing_secret_or_a_bad_shape_is_an_error_naming_the_secret() {
        let proxy = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/secrets/v1/secret/absent"))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({"code": "ResourceNotFound"})))
            .mount(&proxy)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/secrets/v1/secret/list"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"secret": [1, 2]})))
            .mount(&proxy)
            .await;
        let proxy_url: Url = proxy.uri().parse().unwrap();

        let absent = fetch(&client(), &proxy_url, "absent", "uplift").await.unwrap_err();
        let list = fetch(&client(), &proxy_url, "list", "uplift").await.unwrap_err();

        assert!(matches!(absent, SecretError::Fetch { .. }) && absent.to_string().contains("`absent`"), "{absent}");
        assert!(matches!(list, SecretError::Shape { .. }), "{list}");
        assert!(matches!(fetch(&client(), &proxy_url, "", "uplift").await, Err(SecretError::BadName(_))));
    }
}
