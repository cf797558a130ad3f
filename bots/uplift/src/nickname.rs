//! The `r=` nicknames of commit messages mapped to Bugzilla users, as Mozilla's reviewers write
//! them in their Bugzilla names (`Jane Doe [:jdoe]`, `:Gijs Kruitbosch`).
//!
//! A nickname is looked up first among the users the run already knows (those with a role on a
//! fetched bug: most reviewers set a review flag there), then in the directory kept between runs,
//! then with Bugzilla's user search (`GET /rest/user?match=:<nick>`). A nickname maps to a user
//! only when exactly one user carries it; an answer, found or not, is kept for
//! [`NicknameDirectory::KEPT_FOR`]. When the search fails (Bugzilla needs an API key for it, or
//! keeps failing), the rest of the run asks no more and the nicknames stay unmapped, uncached,
//! so that the next run asks again. Group reviewers (`r=#build`) are not people and are never
//! looked up.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::bugzilla::{Bugzilla, User};
use crate::error::Error;

/// The nicknames mapped to their user: only those that map.
pub type Reviewers = BTreeMap<String, User>;

/// The name of the directory's file in the repository's git directory, by default.
pub const DIRECTORY_FILE: &str = "shipit-uplift-nicknames.json";

/// The longest nickname looked up; Bugzilla's own names are far shorter.
const LONGEST_NICKNAME: usize = 64;

/// A larger directory file is not read (it would hold millions of nicknames).
const LARGEST_FILE: u64 = 16 << 20;

/// Whether `name` can be a person's nickname: not a group (`#build`), at most
/// [`LONGEST_NICKNAME`] characters of letters, digits, `_`, `-` and `.`.
pub fn is_nickname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= LONGEST_NICKNAME
        && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'))
}

/// Whether `user` carries the nickname: its `nick` field when Bugzilla sends one, else `:<nick>`
/// in its real name, not followed by another nickname character (`[:jdoe]` is not `:jd`).
pub fn carries(user: &User, nickname: &str) -> bool {
    if let Some(nick) = &user.nick {
        return nick.eq_ignore_ascii_case(nickname);
    }
    let real_name = user.real_name.to_lowercase();
    let wanted = format!(":{}", nickname.to_lowercase());
    real_name.match_indices(&wanted).any(|(start, _)| {
        let after = real_name[start + wanted.len()..].bytes().next();
        !after.is_some_and(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'))
    })
}

/// The one user among `users` carrying the nickname; `None` when none or several do.
pub fn owner<'a>(nickname: &str, users: impl IntoIterator<Item = &'a User>) -> Option<&'a User> {
    let mut carrying: Vec<&User> = users.into_iter().filter(|user| carries(user, nickname)).collect();
    carrying.sort_by_key(|user| user.id);
    carrying.dedup_by_key(|user| user.id);
    match carrying.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// One answer of the directory: the user, or none when no single user carries the nickname.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct Entry {
    user: Option<User>,
    checked_at: DateTime<Utc>,
}

/// The nicknames already looked up, kept in a file between runs.
#[derive(Debug)]
pub struct NicknameDirectory {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
    changed: bool,
}

impl NicknameDirectory {
    /// How long an answer is trusted: a nickname rarely changes hands.
    pub const KEPT_FOR: Duration = Duration::days(7);

    /// The directory saved at `path`; empty when there is none, or when it cannot be read (it
    /// is then rebuilt).
    pub fn load(path: &Path) -> Self {
        let entries = match read(path) {
            Ok(entries) => entries,
            Err(error) => {
                if path.exists() {
                    tracing::warn!(path = %path.display(), %error, "nickname directory unreadable, starting afresh");
                }
                BTreeMap::new()
            }
        };
        Self { path: path.to_owned(), entries, changed: false }
    }

    /// Maps the nicknames, as the module documentation says; `known` are the users the run has.
    pub async fn resolve(
        &mut self,
        bugzilla: &Bugzilla,
        nicknames: &BTreeSet<String>,
        known: &[User],
        now: DateTime<Utc>,
    ) -> Reviewers {
        let mut reviewers = Reviewers::new();
        let mut searching = true;
        for nickname in nicknames.iter().filter(|nickname| is_nickname(nickname)) {
            let key = nickname.to_lowercase();
            if let Some(user) = owner(&key, known) {
                reviewers.insert(nickname.clone(), user.clone());
                continue;
            }
            if let Some(entry) = self.entries.get(&key).filter(|entry| now - entry.checked_at < Self::KEPT_FOR) {
                reviewers.extend(entry.user.clone().map(|user| (nickname.clone(), user)));
                continue;
            }
            if !searching {
                continue;
            }
            match bugzilla.users_matching(&format!(":{key}")).await {
                Ok(found) => {
                    let user = owner(&key, &found).cloned();
                    reviewers.extend(user.clone().map(|user| (nickname.clone(), user)));
                    self.entries.insert(key, Entry { user, checked_at: now });
                    self.changed = true;
                }
                Err(error) => {
                    tracing::warn!(%error, "Bugzilla's user search failed: the nicknames left stay unmapped");
                    searching = false;
                }
            }
        }
        reviewers
    }

    /// Saves the directory when it changed, without its expired answers, whole or not at all
    /// ([`crate::files::write_whole`]).
    pub fn save(&mut self, now: DateTime<Utc>) -> Result<(), Error> {
        if !self.changed {
            return Ok(());
        }
        self.entries.retain(|_, entry| now - entry.checked_at < Self::KEPT_FOR);
        let bytes = serde_json::to_vec(&self.entries).expect("the directory is always serialisable");
        crate::files::write_whole(&self.path, &bytes)?;
        self.changed = false;
        Ok(())
    }
}

fn read(path: &Path) -> Result<BTreeMap<String, Entry>, String> {
    let size = std::fs::metadata(path).map_err(|error| error.to_string())?.len();
    if size > LARGEST_FILE {
        return Err(format!("{size} bytes, more than {LARGEST_FILE}"));
    }
    let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
    serde_json::from_slice(&bytes).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, real_name: &str) -> User {
        User { id, name: format!("u{id}@example.com"), real_name: real_name.into(), email: None, nick: None }
    }

    #[test]
    fn a_nickname_is_found_in_the_forms_reviewers_write() {
        assert!(carries(&user(1, "Jane Doe [:jdoe]"), "jdoe"));
        assert!(carries(&user(1, ":Gijs Kruitbosch"), "gijs"));
        assert!(carries(&user(1, "Jane Doe (:JDoe, PTO)"), "jdoe"));
        assert!(!carries(&user(1, "Jane Doe [:jdoe2]"), "jdoe"));
        assert!(!carries(&user(1, "jdoe"), "jdoe"));
        let nicked = User { nick: Some("Gijs".into()), ..user(1, "Gijs") };
        assert!(carries(&nicked, "gijs"));
    }

    #[test]
    fn a_nickname_two_users_carry_maps_to_no_one() {
        let users = [user(1, "A [:same]"), user(2, "B [:same]"), user(3, "C [:other]")];
        assert_eq!(owner("same", &users), None);
        assert_eq!(owner("other", &users).map(|user| user.id), Some(3));
        assert_eq!(owner("absent", &users), None);
    }

    #[test]
    fn groups_and_odd_names_are_not_nicknames() {
        assert!(is_nickname("jdoe"));
        assert!(is_nickname("jdoe.bugs"));
        assert!(!is_nickname("#build"));
        assert!(!is_nickname(""));
        assert!(!is_nickname("a&b"));
        assert!(!is_nickname("a\0b"));
        assert!(!is_nickname(&"x".repeat(LONGEST_NICKNAME + 1)));
    }

    #[test]
    fn a_directory_round_trips_and_forgets_expired_answers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DIRECTORY_FILE);
        let now = Utc::now();
        let mut directory = NicknameDirectory::load(&path);
        directory.entries.insert("fresh".into(), Entry { user: Some(user(1, "[:fresh]")), checked_at: now });
        let old = now - NicknameDirectory::KEPT_FOR - Duration::hours(1);
        directory.entries.insert("old".into(), Entry { user: None, checked_at: old });
        directory.changed = true;
        directory.save(now).unwrap();
        let loaded = NicknameDirectory::load(&path);
        assert_eq!(loaded.entries.keys().collect::<Vec<_>>(), ["fresh"]);
        std::fs::write(&path, b"{not json").unwrap();
        assert!(NicknameDirectory::load(&path).entries.is_empty());
    }
}
