//! Firefox's release calendar, from product-details: when each major version shipped
//! (`firefox_history_major_releases.json`) and which versions the channels carry now, with the next
//! release date (`firefox_versions.json`). It gives each uplift request its `release_delta`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use shipit_shared::http::UpstreamClient;
use url::Url;

use crate::error::Error;

/// product-details' public address.
pub const PRODUCT_DETAILS: &str = "https://product-details.mozilla.org/1.0/";

/// When versions ship, as product-details says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReleaseCalendar {
    /// Major versions released, with their release day.
    released: BTreeMap<u32, NaiveDate>,
    /// The major version on the release channel, and on beta.
    release: Option<u32>,
    beta: Option<u32>,
    /// When the next release (beta's version) ships.
    next_release: Option<NaiveDate>,
}

/// The fields of `firefox_versions.json` read here (it has more).
#[derive(Deserialize)]
struct Versions {
    #[serde(rename = "LATEST_FIREFOX_VERSION")]
    release: Option<String>,
    #[serde(rename = "LATEST_FIREFOX_DEVEL_VERSION")]
    beta: Option<String>,
    #[serde(rename = "NEXT_RELEASE_DATE")]
    next_release: Option<String>,
}

/// The major version of `141.0b9`, `140.0.4esr`, `140.0`.
fn major(version: &str) -> Option<u32> {
    version.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

impl ReleaseCalendar {
    /// The calendar from the two documents: `history` maps versions (`"140.0"`) to days
    /// (`"2025-06-24"`); entries that are not a major `N.0` release, or not a day, are ignored.
    pub fn from_documents(history: &BTreeMap<String, String>, versions: &serde_json::Value) -> Self {
        let released = history
            .iter()
            .filter_map(|(version, day)| {
                let major = version.strip_suffix(".0")?.parse().ok()?;
                Some((major, NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?))
            })
            .collect();
        let versions: Option<Versions> = serde_json::from_value(versions.clone()).ok();
        let versions = versions.unwrap_or(Versions { release: None, beta: None, next_release: None });
        Self {
            released,
            release: versions.release.as_deref().and_then(major),
            beta: versions.beta.as_deref().and_then(major),
            next_release: versions.next_release.and_then(|day| NaiveDate::parse_from_str(&day, "%Y-%m-%d").ok()),
        }
    }

    /// Reads both documents under `base` (product-details' `1.0/`).
    pub async fn fetch(http: &UpstreamClient, base: &Url) -> Result<Self, Error> {
        let url =
            |name: &str| base.join(name).map_err(|error| Error::Config(format!("product-details {base}: {error}")));
        let history: BTreeMap<String, String> =
            http.send_json(http.client().get(url("firefox_history_major_releases.json")?)).await?;
        let versions: serde_json::Value = http.send_json(http.client().get(url("firefox_versions.json")?)).await?;
        Ok(Self::from_documents(&history, &versions))
    }

    /// When the version a channel carries ships (shipped): `release` and `esr<N>` from the
    /// history, `beta` on the next release date (or from the history once shipped). `None` for
    /// other channels and versions the calendar does not know.
    pub fn release_date(&self, channel: &str) -> Option<DateTime<Utc>> {
        let version = match channel {
            "release" => self.release?,
            "beta" => self.beta?,
            _ => channel.strip_prefix("esr")?.parse().ok()?,
        };
        let day = match self.released.get(&version) {
            Some(&day) => day,
            None if Some(version) == self.beta => self.next_release?,
            None => return None,
        };
        Some(day.and_hms_opt(0, 0, 0)?.and_utc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_ship_on_the_days_product_details_gives() {
        let history: BTreeMap<String, String> = [("139.0", "2025-05-27"), ("140.0", "2025-06-24"), ("140.0.1", "x")]
            .into_iter()
            .map(|(version, day)| (version.to_owned(), day.to_owned()))
            .collect();
        let versions = serde_json::json!({
            "LATEST_FIREFOX_VERSION": "140.0.4",
            "LATEST_FIREFOX_DEVEL_VERSION": "141.0b9",
            "NEXT_RELEASE_DATE": "2025-07-22",
            "FIREFOX_ESR": "140.0.4esr",
        });
        let calendar = ReleaseCalendar::from_documents(&history, &versions);
        let day = |day: &str| {
            Some(NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc())
        };
        assert_eq!(calendar.release_date("release"), day("2025-06-24"));
        assert_eq!(calendar.release_date("beta"), day("2025-07-22"), "beta's version ships on the next release date");
        assert_eq!(calendar.release_date("esr139"), day("2025-05-27"));
        assert_eq!(calendar.release_date("esr153"), None, "a version the calendar does not know");
        assert_eq!(calendar.release_date("aurora"), None);
        assert_eq!(ReleaseCalendar::default().release_date("release"), None);
    }
}
