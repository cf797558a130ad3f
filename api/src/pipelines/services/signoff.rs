//! Sign-off steps: a policy of alternatives (`[{"relman": 1, "releng": 1}, {"boss@…": 1}]`), met
//! as soon as one alternative has every signature it asks for; signatures by people only, one
//! per person, for a group they belong to, never by someone kept apart; every sign, withdrawal
//! and refusal audited.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use shipit_shared::api_types::pipelines::{Signature, SignoffParameters, SignoffProgress, StepKind, StepServiceState};

use super::{Audit, StepError, end, finish, not_found, notify, object, tell_pipeline, typed};
use crate::db::steps::{self as queries, ServiceStepRow};
use crate::persons::Person;
use crate::pipelines::audit::Event;
use crate::state::AppState;

/// Who signs, as the API authenticated them.
#[derive(Clone, Copy, Debug)]
pub struct Signer<'a> {
    pub email: &'a str,
    pub groups: &'a [String],
    /// Signed in with a second factor.
    pub second_factor: bool,
    /// `local` or `oidc`.
    pub credential: &'a str,
}

impl<'a> Signer<'a> {
    /// The person as a signer.
    pub fn of(person: &'a Person) -> Self {
        Self {
            email: &person.email,
            groups: &person.groups,
            second_factor: person.second_factor,
            credential: person.credential,
        }
    }

    /// The groups (and own email) this signer may sign `progress` for now.
    pub fn may_sign_for(&self, progress: &SignoffProgress) -> Vec<String> {
        progress
            .may_sign
            .iter()
            .filter(|open| same_email(open, self.email) || self.groups.iter().any(|group| group == *open))
            .cloned()
            .collect()
    }
}

/// Policy is a list of alternatives, each a count per group or email.
type Policy = [BTreeMap<String, u32>];

/// What each alternative still needs after `signatures`: in each alternative a signature fills
/// one place, the signer's own email if it is named, else the group signed for.
fn remaining(policy: &Policy, signatures: &[Signature]) -> Vec<BTreeMap<String, u32>> {
    policy
        .iter()
        .map(|alternative| {
            let mut left = alternative.clone();
            for signature in signatures {
                for key in [&signature.email, &signature.group] {
                    if let Some(count) = left.get_mut(key.as_str())
                        && *count > 0
                    {
                        *count -= 1;
                        break;
                    }
                }
            }
            left
        })
        .collect()
}

/// Whether one alternative has every signature it asks for.
pub fn is_met(policy: &Policy, signatures: &[Signature]) -> bool {
    remaining(policy, signatures).iter().any(|left| left.values().all(|&count| count == 0))
}

/// Whether a signature of `email` for `group` would fill a place still open.
fn counts(policy: &Policy, signatures: &[Signature], email: &str, group: &str) -> bool {
    remaining(policy, signatures)
        .iter()
        .any(|left| [email, group].iter().any(|key| left.get(*key).is_some_and(|&count| count > 0)))
}

/// The groups and emails whose signature would still count.
fn may_sign(policy: &Policy, signatures: &[Signature]) -> Vec<String> {
    let open: BTreeSet<String> = remaining(policy, signatures)
        .into_iter()
        .flat_map(|left| left.into_iter().filter(|(_, count)| *count > 0).map(|(key, _)| key))
        .collect();
    open.into_iter().collect()
}

/// Where a sign-off step stands, for people.
pub fn progress(row: &ServiceStepRow, parameters: &SignoffParameters, signatures: Vec<Signature>) -> SignoffProgress {
    let may_sign =
        if row.state == StepServiceState::InProgress { may_sign(&parameters.policy, &signatures) } else { Vec::new() };
    SignoffProgress {
        policy: parameters.policy.clone(),
        signatures,
        may_sign,
        separate_from: parameters.separate_from.clone(),
        expires_at: row.expires_at,
    }
}

fn same_email(left: &str, right: &str) -> bool {
    left.eq_ignore_ascii_case(right)
}

/// Why `signer` may not sign for `group` now, if they may not.
fn refusal(
    state: &AppState,
    row: &ServiceStepRow,
    parameters: &SignoffParameters,
    signatures: &[Signature],
    signer: &Signer<'_>,
    group: &str,
) -> Option<StepError> {
    if parameters.separate_from.iter().any(|kept_apart| same_email(kept_apart, signer.email)) {
        return Some(StepError::Forbidden(format!("{} may not sign this step (separate_from)", signer.email)));
    }
    if state.config.signoff.require_mfa && !signer.second_factor {
        return Some(StepError::Forbidden(
            "signing needs a sign-in with a second factor (signoff.require_mfa)".to_owned(),
        ));
    }
    let own_email = same_email(group, signer.email);
    if !own_email && !signer.groups.iter().any(|held| held == group) {
        return Some(StepError::Forbidden(format!("{} is not a member of `{group}`", signer.email)));
    }
    if row.state != StepServiceState::InProgress {
        return Some(StepError::Conflict(format!("the step is not waiting for signatures: {}", row.state.as_str())));
    }
    if row.expires_at.is_some_and(|expiry| expiry <= Utc::now()) {
        return Some(StepError::Conflict("the step expired before it was signed".to_owned()));
    }
    if signatures.iter().any(|signature| same_email(&signature.email, signer.email)) {
        return Some(StepError::Conflict(format!("{} has signed this step already", signer.email)));
    }
    let email = signatures_key(signer.email, parameters);
    if !counts(&parameters.policy, signatures, &email, group) {
        let open = may_sign(&parameters.policy, signatures);
        return Some(StepError::Conflict(format!(
            "no signature for `{group}` is needed; still needed: {}",
            open.join(", ")
        )));
    }
    None
}

/// The signer's email as the policy spells it (emails are compared without case).
fn signatures_key(email: &str, parameters: &SignoffParameters) -> String {
    parameters
        .policy
        .iter()
        .flat_map(|alternative| alternative.keys())
        .find(|key| same_email(key, email))
        .cloned()
        .unwrap_or_else(|| email.to_owned())
}

/// Signs the step for `group`; the signature that meets the policy completes the step at once.
pub async fn sign(state: &AppState, uid: &str, signer: &Signer<'_>, group: &str) -> Result<ServiceStepRow, StepError> {
    let mut client = state.pool.get().await?;
    let transaction = client.transaction().await?;
    let mut audit = Audit::open(&transaction, uid).await?;
    let mut row = queries::get_step(&transaction, StepKind::Signoff, uid, true)
        .await?
        .ok_or_else(|| not_found(StepKind::Signoff, uid))?;
    let parameters: SignoffParameters = typed(&object(&row.parameters))?;
    let mut signatures = queries::signatures(&transaction, uid).await?;
    let base = Event { step: audit.step().map(str::to_owned), cause: "request".to_owned(), ..Event::default() }
        .by(signer.email)
        .with("service_step", uid)
        .with("group", group)
        .with("credential", signer.credential);
    if let Some(error) = refusal(state, &row, &parameters, &signatures, signer, group) {
        let event = Event { event: "sign_refused", ..base }.with("reason", error.to_string());
        audit.append(&transaction, event).await?;
        transaction.commit().await?;
        tracing::info!(step = uid, signer = signer.email, group, reason = %error, "signature refused");
        return Err(error);
    }
    let email = signatures_key(signer.email, &parameters);
    if !queries::insert_signature(&transaction, uid, &email, group, signer.credential).await? {
        return Err(StepError::Conflict(format!("{} has signed this step already", signer.email)));
    }
    audit.append(&transaction, Event { event: "signed", ..base }).await?;
    signatures.push(Signature {
        email,
        group: group.to_owned(),
        credential: signer.credential.to_owned(),
        signed_at: Utc::now(),
    });
    if is_met(&parameters.policy, &signatures) {
        let names: Vec<String> =
            signatures.iter().map(|signature| format!("{} ({})", signature.email, signature.group)).collect();
        end(&mut row, StepServiceState::Success, format!("signed off by {}", names.join(", ")));
        queries::update_step(&transaction, &row).await?;
        notify::queue(state, &transaction, &row, &parameters, notify::Occasion::Completed, &signatures).await?;
        let event = Event::transition(audit.step(), "in_progress", "success", "signature").by(signer.email);
        audit.append(&transaction, event).await?;
        tell_pipeline(&transaction, uid).await?;
    }
    transaction.commit().await?;
    tracing::info!(step = uid, signer = signer.email, group, state = row.state.as_str(), "signed");
    Ok(row)
}

/// Withdraws the signer's own signature while the step waits.
pub async fn withdraw(state: &AppState, uid: &str, signer: &Signer<'_>) -> Result<ServiceStepRow, StepError> {
    let mut client = state.pool.get().await?;
    let transaction = client.transaction().await?;
    let mut audit = Audit::open(&transaction, uid).await?;
    let row = queries::get_step(&transaction, StepKind::Signoff, uid, true)
        .await?
        .ok_or_else(|| not_found(StepKind::Signoff, uid))?;
    let base = Event { step: audit.step().map(str::to_owned), cause: "request".to_owned(), ..Event::default() }
        .by(signer.email)
        .with("service_step", uid);
    let signatures = queries::signatures(&transaction, uid).await?;
    let signed = signatures.iter().find(|signature| same_email(&signature.email, signer.email));
    let error = if row.state != StepServiceState::InProgress {
        Some(StepError::Conflict(format!("the step has finished ({}): signatures stay", row.state.as_str())))
    } else if signed.is_none() {
        Some(StepError::Conflict(format!("{} has not signed this step", signer.email)))
    } else {
        None
    };
    if let Some(error) = error {
        let event = Event { event: "withdraw_refused", ..base }.with("reason", error.to_string());
        audit.append(&transaction, event).await?;
        transaction.commit().await?;
        return Err(error);
    }
    let email = signed.map(|signature| signature.email.clone()).unwrap_or_default();
    queries::delete_signature(&transaction, uid, &email).await?;
    audit.append(&transaction, Event { event: "signature_withdrawn", ..base }).await?;
    transaction.commit().await?;
    tracing::info!(step = uid, signer = signer.email, "signature withdrawn");
    Ok(row)
}

/// Fails the step if it expired unsigned.
pub async fn refresh(state: &AppState, row: ServiceStepRow) -> Result<ServiceStepRow, StepError> {
    if row.expires_at.is_none_or(|expiry| expiry > Utc::now()) {
        return Ok(row);
    }
    let parameters: SignoffParameters = typed(&object(&row.parameters))?;
    let within = parameters.expires_in.unwrap_or_default();
    let message = format!("expired: not signed off within {within}");
    let ended = finish(state, StepKind::Signoff, &row.uid, StepServiceState::Failure, message, "expiry").await?;
    match ended {
        Some(row) => Ok(row),
        None => super::get(state, StepKind::Signoff, &row.uid).await,
    }
}

/// Fails every sign-off step past its expiry (those no one asks about included).
pub async fn expire_due(state: &AppState) -> Result<usize, StepError> {
    let client = state.pool.get().await?;
    let due = queries::expired(&client, 100).await?;
    drop(client);
    let mut expired = 0;
    for row in due {
        let uid = row.uid.clone();
        if refresh(state, row).await?.state == StepServiceState::Failure {
            tracing::info!(step = uid, "sign-off expired");
            expired += 1;
        }
    }
    Ok(expired)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse_policy(value: serde_json::Value) -> Vec<BTreeMap<String, u32>> {
        serde_json::from_value(value).unwrap()
    }

    fn signed(email: &str, group: &str) -> Signature {
        Signature { email: email.into(), group: group.into(), credential: "local".into(), signed_at: Utc::now() }
    }

    #[test]
    fn one_relman_and_one_releng_meet_the_policy_and_nothing_less() {
        let policy = parse_policy(json!([{"relman": 1, "releng": 1}]));
        let relman = signed("rm@example.com", "relman");
        assert!(!is_met(&policy, &[]));
        assert!(!is_met(&policy, std::slice::from_ref(&relman)));
        assert!(is_met(&policy, &[relman.clone(), signed("re@example.com", "releng")]));
        assert!(!is_met(&policy, &[relman, signed("rm2@example.com", "relman")]));
    }

    #[test]
    fn any_alternative_suffices_and_named_people_fill_their_own_place() {
        let policy = parse_policy(json!([{"dev": 2}, {"boss@example.com": 1}]));
        assert!(!is_met(&policy, &[signed("a@example.com", "dev")]));
        assert!(is_met(&policy, &[signed("a@example.com", "dev"), signed("b@example.com", "dev")]));
        assert!(is_met(&policy, &[signed("boss@example.com", "dev")]));
        // A named person who is also in the group fills their own place, not the group's.
        let mixed = policy_of_mixed();
        let boss = signed("boss@example.com", "relman");
        assert!(!is_met(&mixed, std::slice::from_ref(&boss)));
        assert!(counts(&mixed, std::slice::from_ref(&boss), "rm@example.com", "relman"));
        assert!(is_met(&mixed, &[boss, signed("rm@example.com", "relman")]));
    }

    fn policy_of_mixed() -> Vec<BTreeMap<String, u32>> {
        parse_policy(json!([{"boss@example.com": 1, "relman": 1}]))
    }

    #[test]
    fn a_signature_counts_only_where_a_place_is_open() {
        let policy = parse_policy(json!([{"relman": 1, "releng": 1}]));
        let done = [signed("rm@example.com", "relman")];
        assert!(!counts(&policy, &done, "rm2@example.com", "relman"));
        assert!(counts(&policy, &done, "re@example.com", "releng"));
        assert!(!counts(&policy, &done, "x@example.com", "qa"));
        assert_eq!(may_sign(&policy, &done), vec!["releng".to_owned()]);
        // Overlapping alternatives never underflow.
        let overlapping = parse_policy(json!([{"releng": 1}, {"releng": 2}]));
        let two = [signed("a@example.com", "releng"), signed("b@example.com", "releng")];
        assert!(is_met(&overlapping, &two));
        assert!(may_sign(&overlapping, &two).is_empty());
    }
}
