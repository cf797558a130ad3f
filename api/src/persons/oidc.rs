//! OpenID Connect ID tokens (Mozilla's Auth0), as bearer tokens or from the dashboard's sign-in:
//! checked against the issuer's keys (its JWKS, cached in memory), the audience, the expiry and
//! the issuer, and for a sign-in its nonce; the person's email, groups and second factor (`amr`)
//! read from the claims. The provider's discovery document (cached too) also names where the
//! dashboard sends people to sign in and where it redeems their codes.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde_json::{Map, Value};
use shipit_shared::http::read_limited;
use tokio::sync::{Mutex, RwLock};

use super::Person;
use crate::config::OidcSettings;

/// The largest discovery document or JWKS read.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Clock skew allowed on `exp` and `nbf`, in seconds.
const LEEWAY_SECS: u64 = 60;
/// The only algorithms accepted: asymmetric ones (never `none` or HS*).
const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Why an ID token was refused; the text is the 401's detail.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the ID token is malformed")]
    Malformed,
    #[error("the ID token's algorithm is not accepted (only asymmetric ones are)")]
    Algorithm,
    #[error("the ID token names no key (kid) of the identity provider")]
    UnknownKey,
    #[error("the identity provider's keys cannot be fetched: {0}")]
    Keys(String),
    #[error("the identity provider's discovery document cannot be used: {0}")]
    Discovery(String),
    #[error("the ID token's signature is wrong")]
    Signature,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token is for another audience")]
    Audience,
    #[error("the ID token is from another issuer")]
    Issuer,
    #[error("the ID token's nonce is not the one of this sign-in")]
    Nonce,
    #[error("the ID token was issued to another client (azp)")]
    AuthorizedParty,
    #[error("the ID token is invalid: {0}")]
    Claims(String),
}

/// Keys fetched longer ago are fetched again (at most once per refresh interval), so that a key
/// the provider withdrew stops being trusted.
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
/// A discovery document fetched longer ago is fetched again.
const DISCOVERY_MAX_AGE: Duration = Duration::from_secs(3600);

/// Where the provider's discovery document says the dashboard's sign-in goes.
#[derive(Clone, Debug)]
pub struct SignInEndpoints {
    /// Where a browser is sent to sign in (`authorization_endpoint`).
    pub authorization: url::Url,
    /// Where a code is redeemed for an ID token (`token_endpoint`).
    pub token: url::Url,
}

/// The fields of the discovery document this API reads.
#[derive(Clone, Debug, Default)]
struct Discovery {
    jwks_uri: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
}

impl Discovery {
    fn of(document: &Value) -> Self {
        let text = |name: &str| document.get(name).and_then(Value::as_str).map(str::to_owned);
        Self {
            jwks_uri: text("jwks_uri"),
            authorization_endpoint: text("authorization_endpoint"),
            token_endpoint: text("token_endpoint"),
        }
    }
}

/// The discovery document last fetched, and when.
#[derive(Default)]
struct DiscoveryCache {
    discovery: Option<Discovery>,
    fetched_at: Option<Instant>,
    /// The last fetch, successful or not: while the provider cannot be reached, the document
    /// fetched before serves, and is asked for again at most once per refresh interval.
    attempted_at: Option<Instant>,
}

impl DiscoveryCache {
    /// The document, unless it must be fetched first: never fetched, or older than
    /// [`DISCOVERY_MAX_AGE`] with the last attempt older than `refresh`.
    fn lookup(&self, now: Instant, refresh: Duration) -> Option<Discovery> {
        let age = |at: Option<Instant>| at.map(|at| now.saturating_duration_since(at));
        let fresh = age(self.fetched_at).is_some_and(|age| age < DISCOVERY_MAX_AGE);
        let may_fetch = age(self.attempted_at).is_none_or(|age| age >= refresh);
        self.discovery.clone().filter(|_| fresh || !may_fetch)
    }
}

/// The keys last fetched, and when.
struct KeyCache {
    keys: JwkSet,
    /// The last successful fetch.
    fetched_at: Option<Instant>,
    /// The last fetch, successful or not: the provider is asked at most once per refresh
    /// interval.
    attempted_at: Option<Instant>,
}

impl KeyCache {
    /// The key named `kid`, or why there is none; `None` when the keys must be fetched first:
    /// they never were, or they are older than [`KEYS_MAX_AGE`] or lack the key, and the last
    /// attempt is older than `refresh`.
    fn lookup(&self, kid: &str, now: Instant, refresh: Duration) -> Option<Result<Jwk, OidcError>> {
        let age = |at: Option<Instant>| at.map(|at| now.saturating_duration_since(at));
        let key = self.keys.find(kid);
        let fresh = age(self.fetched_at).is_some_and(|age| age < KEYS_MAX_AGE);
        let may_fetch = age(self.attempted_at).is_none_or(|age| age >= refresh);
        match key {
            Some(jwk) if fresh || !may_fetch => Some(Ok(jwk.clone())),
            None if !may_fetch => Some(Err(OidcError::UnknownKey)),
            _ => None,
        }
    }
}

/// Checks ID tokens of one identity provider.
pub struct OidcVerifier {
    settings: OidcSettings,
    http: reqwest::Client,
    cache: RwLock<KeyCache>,
    /// Held while fetching, so that concurrent requests fetch once.
    fetching: Mutex<()>,
    discovery: RwLock<DiscoveryCache>,
    /// Held while fetching the discovery document.
    discovering: Mutex<()>,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("OidcVerifier").field("issuer", &self.settings.issuer.as_str()).finish_non_exhaustive()
    }
}

impl OidcVerifier {
    /// A verifier for the provider of `settings`; nothing is fetched before the first token.
    pub fn new(settings: OidcSettings) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .expect("an HTTP client with default TLS settings always builds");
        let cache = KeyCache { keys: JwkSet { keys: Vec::new() }, fetched_at: None, attempted_at: None };
        Self {
            settings,
            http,
            cache: RwLock::new(cache),
            fetching: Mutex::new(()),
            discovery: RwLock::new(DiscoveryCache::default()),
            discovering: Mutex::new(()),
        }
    }

    /// The provider's settings.
    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// The person an ID token identifies, once checked.
    pub async fn verify(&self, token: &str) -> Result<Person, OidcError> {
        let claims = self.checked_claims(token).await?;
        self.person(&claims)
    }

    /// The person of the ID token the token endpoint gave for a sign-in of the dashboard: checked
    /// as [`Self::verify`] checks a bearer token, and also holding the `nonce` the sign-in sent,
    /// and, when it names the client it was issued to (`azp`), this client.
    pub async fn verify_sign_in(&self, token: &str, nonce: &str) -> Result<Person, OidcError> {
        let claims = self.checked_claims(token).await?;
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(OidcError::Nonce);
        }
        if claims.get("azp").is_some_and(|azp| azp.as_str() != Some(self.settings.audience.as_str())) {
            return Err(OidcError::AuthorizedParty);
        }
        self.person(&claims)
    }

    /// The claims of an ID token whose signature, algorithm, audience, issuer and times are right.
    async fn checked_claims(&self, token: &str) -> Result<Map<String, Value>, OidcError> {
        let header = jsonwebtoken::decode_header(token).map_err(|error| match error.kind() {
            ErrorKind::InvalidAlgorithmName => OidcError::Algorithm,
            _ => OidcError::Malformed,
        })?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(OidcError::Algorithm);
        }
        let kid = header.kid.ok_or(OidcError::UnknownKey)?;
        let jwk = self.key(&kid).await?;
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_))
            || jwk.common.key_algorithm.is_some_and(|alg| alg.to_string().parse::<Algorithm>().ok() != Some(header.alg))
        {
            return Err(OidcError::Algorithm);
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|error| OidcError::Keys(format!("key {kid}: {error}")))?;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &self.validation(header.alg))
            .map_err(|error| match error.into_kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidRsaKey(_) => {
                    OidcError::Signature
                }
                ErrorKind::InvalidAlgorithm => OidcError::Algorithm,
                ErrorKind::ExpiredSignature => OidcError::Expired,
                ErrorKind::InvalidAudience => OidcError::Audience,
                ErrorKind::InvalidIssuer => OidcError::Issuer,
                ErrorKind::ImmatureSignature => OidcError::Claims("it is not valid yet (nbf)".to_owned()),
                ErrorKind::MissingRequiredClaim(claim) => OidcError::Claims(format!("no {claim} claim")),
                ErrorKind::InvalidClaimFormat(claim) => OidcError::Claims(format!("malformed {claim} claim")),
                _ => OidcError::Malformed,
            })?
            .claims;
        Ok(claims)
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_audience(&[&self.settings.audience]);
        validation.set_issuer(&self.issuer_names());
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation
    }

    /// The names of the issuer an `iss` may hold. An issuer without a path is the same URL with
    /// or without its `/` (RFC 3986, 6.2.3): providers write either, and `Url` always adds it.
    fn issuer_names(&self) -> Vec<&str> {
        let issuer = self.settings.issuer.as_str();
        if self.settings.issuer.path() == "/" && self.settings.issuer.query().is_none() {
            vec![issuer, issuer.trim_end_matches('/')]
        } else {
            vec![issuer]
        }
    }

    /// Whether `iss` (a claim, or the `iss` of an authorization answer, RFC 9207) names this
    /// provider.
    pub fn is_issuer(&self, iss: &str) -> bool {
        self.issuer_names().contains(&iss)
    }

    /// The person of checked claims.
    fn person(&self, claims: &Map<String, Value>) -> Result<Person, OidcError> {
        let email = claims
            .get(&self.settings.email_claim)
            .and_then(Value::as_str)
            .filter(|email| !email.is_empty())
            .ok_or_else(|| OidcError::Claims(format!("no {} claim", self.settings.email_claim)))?;
        if claims.get("email_verified").and_then(Value::as_bool) == Some(false) {
            return Err(OidcError::Claims("the email is not verified".to_owned()));
        }
        let groups = match claims.get(&self.settings.groups_claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(value) => strings(value).ok_or_else(|| {
                OidcError::Claims(format!("the {} claim is not a list of strings", self.settings.groups_claim))
            })?,
        };
        let methods = match claims.get("amr") {
            None | Some(Value::Null) => Vec::new(),
            Some(value) => {
                strings(value).ok_or_else(|| OidcError::Claims("the amr claim is not a list of strings".to_owned()))?
            }
        };
        let second_factor = methods.iter().any(|method| self.settings.mfa_values.contains(method));
        Ok(Person { email: email.to_owned(), groups, second_factor, credential: super::OIDC })
    }

    /// The key named `kid`, from the cache or fetched (see [`KeyCache::lookup`]).
    async fn key(&self, kid: &str) -> Result<Jwk, OidcError> {
        let refresh = Duration::from_secs(self.settings.jwks_refresh_secs);
        if let Some(found) = self.cache.read().await.lookup(kid, Instant::now(), refresh) {
            return found;
        }
        let _fetching = self.fetching.lock().await;
        // Another request may have fetched the keys while this one waited.
        if let Some(found) = self.cache.read().await.lookup(kid, Instant::now(), refresh) {
            return found;
        }
        let fetched = self.fetch_keys().await;
        let mut cache = self.cache.write().await;
        cache.attempted_at = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                tracing::info!(issuer = %self.settings.issuer, keys = keys.keys.len(), "fetched the identity provider's keys");
                cache.keys = keys;
                cache.fetched_at = cache.attempted_at;
            }
            Err(error) => {
                tracing::warn!(issuer = %self.settings.issuer, %error, "cannot fetch the identity provider's keys");
                // Keys fetched before still serve while the provider cannot be reached.
                return cache.keys.find(kid).cloned().ok_or(error);
            }
        }
        cache.keys.find(kid).cloned().ok_or(OidcError::UnknownKey)
    }

    /// The JWKS: from `jwks_url`, or from the `jwks_uri` of the issuer's discovery document.
    async fn fetch_keys(&self) -> Result<JwkSet, OidcError> {
        let jwks_url = match &self.settings.jwks_url {
            Some(url) => url.to_string(),
            None => self
                .discovery()
                .await?
                .jwks_uri
                .ok_or_else(|| OidcError::Keys(format!("{} names no jwks_uri", self.discovery_url())))?,
        };
        self.fetch_json(&jwks_url).await.map_err(OidcError::Keys)
    }

    /// Where the dashboard's sign-in sends people and redeems codes, from the discovery document:
    /// absolute URLs, over HTTPS unless the issuer itself is plain HTTP (a test or a developer's
    /// provider).
    pub async fn sign_in_endpoints(&self) -> Result<SignInEndpoints, OidcError> {
        let discovery = self.discovery().await?;
        let endpoint = |name: &str, value: Option<String>| {
            let text = value.ok_or_else(|| OidcError::Discovery(format!("it names no {name}")))?;
            let url = url::Url::parse(&text).map_err(|error| OidcError::Discovery(format!("{name}: {error}")))?;
            let plain_http_allowed = self.settings.issuer.scheme() == "http";
            if !(url.scheme() == "https" || (url.scheme() == "http" && plain_http_allowed)) || url.fragment().is_some()
            {
                return Err(OidcError::Discovery(format!("{name} is not an https URL without a fragment")));
            }
            Ok(url)
        };
        Ok(SignInEndpoints {
            authorization: endpoint("authorization_endpoint", discovery.authorization_endpoint)?,
            token: endpoint("token_endpoint", discovery.token_endpoint)?,
        })
    }

    fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.settings.issuer.as_str().trim_end_matches('/'))
    }

    /// The discovery document, from the cache or fetched (see [`DiscoveryCache::lookup`]); the
    /// one fetched before serves while the provider cannot be reached.
    async fn discovery(&self) -> Result<Discovery, OidcError> {
        let refresh = Duration::from_secs(self.settings.jwks_refresh_secs);
        if let Some(found) = self.discovery.read().await.lookup(Instant::now(), refresh) {
            return Ok(found);
        }
        let _discovering = self.discovering.lock().await;
        if let Some(found) = self.discovery.read().await.lookup(Instant::now(), refresh) {
            return Ok(found);
        }
        let url = self.discovery_url();
        let fetched = self.fetch_json::<Value>(&url).await;
        let mut cache = self.discovery.write().await;
        cache.attempted_at = Some(Instant::now());
        match fetched {
            Ok(document) => {
                let discovery = Discovery::of(&document);
                cache.discovery = Some(discovery.clone());
                cache.fetched_at = cache.attempted_at;
                Ok(discovery)
            }
            Err(error) => {
                tracing::warn!(issuer = %self.settings.issuer, %error, "cannot fetch the identity provider's discovery document");
                cache.discovery.clone().ok_or(OidcError::Discovery(error))
            }
        }
    }

    /// A JSON document of at most [`MAX_DOCUMENT_BYTES`], or why not (naming the URL).
    async fn fetch_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let failed = |error: &dyn std::fmt::Display| format!("{url}: {error}");
        let response = self.http.get(url).send().await.map_err(|error| failed(&error))?;
        if !response.status().is_success() {
            return Err(failed(&response.status()));
        }
        let body = read_limited(response, MAX_DOCUMENT_BYTES).await.map_err(|error| failed(&error))?;
        serde_json::from_slice(&body).map_err(|error| failed(&error))
    }
}

/// A JSON list of strings.
fn strings(value: &Value) -> Option<Vec<String>> {
    value.as_array()?.iter().map(|item| item.as_str().map(str::to_owned)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(kid: &str) -> Jwk {
        let mut jwk: Jwk =
            serde_json::from_value(serde_json::json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}))
                .expect("a JWK");
        jwk.common.key_id = Some(kid.to_owned());
        jwk
    }

    #[test]
    fn the_discovery_document_is_fetched_first_then_when_old_and_serves_while_the_provider_is_away() {
        let refresh = Duration::from_secs(60);
        let start = Instant::now();
        let later = |secs| start + Duration::from_secs(secs);
        assert!(DiscoveryCache::default().lookup(start, refresh).is_none(), "never fetched: fetch");
        let cache = DiscoveryCache {
            discovery: Some(Discovery::default()),
            fetched_at: Some(start),
            attempted_at: Some(start),
        };
        assert!(cache.lookup(later(3599), refresh).is_some());
        assert!(cache.lookup(later(3600), refresh).is_none(), "old: fetch");
        let failed = DiscoveryCache { attempted_at: Some(later(3600)), ..cache };
        assert!(failed.lookup(later(3610), refresh).is_some(), "the old document serves until the next try");
        assert!(failed.lookup(later(3660), refresh).is_none());
    }

    #[test]
    fn keys_are_fetched_first_then_again_for_an_unknown_kid_or_when_old_at_most_once_per_interval() {
        let refresh = Duration::from_secs(60);
        let start = Instant::now();
        let empty = KeyCache { keys: JwkSet { keys: vec![] }, fetched_at: None, attempted_at: None };
        assert!(empty.lookup("a", start, refresh).is_none(), "never fetched: fetch");

        let cache =
            KeyCache { keys: JwkSet { keys: vec![jwk("a")] }, fetched_at: Some(start), attempted_at: Some(start) };
        let later = |secs| start + Duration::from_secs(secs);
        assert!(matches!(cache.lookup("a", later(1), refresh), Some(Ok(_))));
        assert!(
            matches!(cache.lookup("b", later(1), refresh), Some(Err(OidcError::UnknownKey))),
            "within the interval"
        );
        assert!(cache.lookup("b", later(60), refresh).is_none(), "past the interval: fetch");
        assert!(matches!(cache.lookup("a", later(3599), refresh), Some(Ok(_))));
        assert!(cache.lookup("a", later(3600), refresh).is_none(), "old keys: fetch");

        // The provider could not be reached a moment ago: the old key serves until the next try.
        let failed = KeyCache { attempted_at: Some(later(3600)), ..cache };
        assert!(matches!(failed.lookup("a", later(3610), refresh), Some(Ok(_))));
        assert!(failed.lookup("a", later(3660), refresh).is_none());
    }
}
