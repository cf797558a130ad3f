//! Telling people about sign-off steps: when one starts (it waits for them), completes or ends
//! otherwise (expired, cancelled). Notifications are written in the transaction of the change
//! (an outbox), then sent by email (SMTP, lettre) and to a webhook (a JSON POST), each retried
//! with backoff until delivered or given up.

use std::collections::BTreeSet;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use serde_json::json;
use shipit_shared::api_types::pipelines::{Signature, SignoffParameters};

use super::StepError;
use crate::db::steps::{self as queries, NotificationRow, ServiceStepRow};
use crate::db::{self, DbError};
use crate::pipelines::transitions::pipeline_step_of;
use crate::state::AppState;

/// Notifications sent in one go at most.
pub const BATCH: i64 = 16;

/// How long a process holds the notifications it is sending.
const LEASE_SECS: f64 = 120.0;

/// Timeout of one delivery.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);

/// Why people are told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Occasion {
    /// The step waits for signatures.
    Started,
    Completed,
    /// Expired, cancelled or failed.
    Ended,
}

impl Occasion {
    fn event(self) -> &'static str {
        match self {
            Self::Started => "signoff_started",
            Self::Completed => "signoff_completed",
            Self::Ended => "signoff_ended",
        }
    }
}

/// Queues the notifications of `occasion` for every configured channel, inside the caller's
/// transaction. Recipients: the step's `notify` addresses and the people its policy names.
pub async fn queue(
    state: &AppState,
    client: &impl GenericClient,
    row: &ServiceStepRow,
    parameters: &SignoffParameters,
    occasion: Occasion,
    signatures: &[Signature],
) -> Result<(), DbError> {
    let settings = &state.config.notifications;
    let mut channels = Vec::new();
    if settings.smtp_url.is_some() {
        channels.push("email");
    }
    if settings.webhook_url.is_some() {
        channels.push("webhook");
    }
    if channels.is_empty() {
        return Ok(());
    }
    let mut recipients: BTreeSet<String> = parameters.notify.iter().map(|email| email.to_lowercase()).collect();
    let mut groups = Vec::new();
    for key in parameters.policy.iter().flat_map(|alternative| alternative.keys()) {
        if key.contains('@') {
            recipients.insert(key.to_lowercase());
        } else {
            groups.push(key.clone());
        }
    }
    recipients.extend(db::persons::group_members(client, &groups).await?);
    let recipients: Vec<String> = recipients.into_iter().collect();
    let public_url = state.config.public_url();
    let public_url = public_url.trim_end_matches('/');
    let step_url = format!("{public_url}/steps/signoff/{}", row.uid);
    let page = match pipeline_step_of(&row.uid) {
        Some((pipeline, _)) => format!("{public_url}/ui/pipelines/{pipeline}"),
        None => step_url.clone(),
    };
    let what = parameters.description.clone().unwrap_or_else(|| row.uid.clone());
    let (subject, body) = match occasion {
        Occasion::Started => (
            format!("[ShipIt] sign-off needed: {what}"),
            format!(
                "The sign-off step {} waits for signatures.\n\nPolicy (any one line suffices):\n{}\n\n{}Sign at {page}\n",
                row.uid,
                policy_lines(parameters),
                row.expires_at.map(|at| format!("It expires at {at}.\n\n")).unwrap_or_default(),
            ),
        ),
        Occasion::Completed => (
            format!("[ShipIt] signed off: {what}"),
            format!("The sign-off step {} is complete: {}.\n\n{page}\n", row.uid, row.message.as_deref().unwrap_or("")),
        ),
        Occasion::Ended => (
            format!("[ShipIt] sign-off ended unsigned: {what}"),
            format!("The sign-off step {} ended: {}.\n\n{page}\n", row.uid, row.message.as_deref().unwrap_or("")),
        ),
    };
    let payload = json!({
        "event": occasion.event(),
        "step": row.uid,
        "state": row.state,
        "message": row.message,
        "description": parameters.description,
        "policy": parameters.policy,
        "signatures": signatures,
        "expires_at": row.expires_at,
        "url": step_url,
        "page": page,
        "recipients": recipients,
    });
    for channel in channels {
        let notification = NotificationRow {
            id: 0,
            channel: channel.to_owned(),
            step_uid: row.uid.clone(),
            event: occasion.event().to_owned(),
            recipients: recipients.clone(),
            subject: subject.clone(),
            body: body.clone(),
            payload: payload.clone(),
            attempts: 0,
        };
        queries::insert_notification(client, &notification).await?;
    }
    Ok(())
}

fn policy_lines(parameters: &SignoffParameters) -> String {
    let lines: Vec<String> = parameters
        .policy
        .iter()
        .map(|alternative| {
            let parts: Vec<String> = alternative.iter().map(|(who, count)| format!("{count} × {who}")).collect();
            format!("  - {}", parts.join(" and "))
        })
        .collect();
    lines.join("\n")
}

/// Sends one batch of due notifications; answers how many were tried.
pub async fn send_due(state: &AppState) -> Result<usize, StepError> {
    let client = state.pool.get().await?;
    let due = queries::claim_notifications(&client, BATCH, LEASE_SECS).await?;
    let settings = &state.config.notifications;
    for notification in &due {
        match deliver(state, notification).await {
            Ok(()) => {
                queries::notification_sent(&client, notification.id).await?;
                tracing::info!(
                    id = notification.id,
                    channel = notification.channel,
                    event = notification.event,
                    step = notification.step_uid,
                    "notification sent"
                );
            }
            Err(error) => {
                let attempts = notification.attempts as u32 + 1;
                let give_up = attempts >= settings.max_attempts;
                let retry = (5.0 * 2f64.powi(attempts.min(20) as i32 - 1)).min(3600.0);
                let error: String = error.chars().take(1_000).collect();
                tracing::warn!(
                    id = notification.id,
                    channel = notification.channel,
                    attempts,
                    give_up,
                    error,
                    "notification not delivered"
                );
                queries::notification_failed(&client, notification.id, &error, retry, give_up).await?;
            }
        }
    }
    Ok(due.len())
}

async fn deliver(state: &AppState, notification: &NotificationRow) -> Result<(), String> {
    let settings = &state.config.notifications;
    match notification.channel.as_str() {
        "email" => {
            let url = settings.smtp_url.as_ref().ok_or("no SMTP server is configured any more")?;
            send_email(url.expose_secret(), &settings.from, notification).await
        }
        "webhook" => {
            let url = settings.webhook_url.as_ref().ok_or("no webhook is configured any more")?;
            let response = state
                .upstream
                .client()
                .post(url.clone())
                .timeout(DELIVERY_TIMEOUT)
                .json(&notification.payload)
                .send()
                .await
                .map_err(|error| format!("{url}: {error}"))?;
            if !response.status().is_success() {
                return Err(format!("{url} answered {}", response.status()));
            }
            Ok(())
        }
        other => Err(format!("unknown channel {other:?}")),
    }
}

async fn send_email(smtp_url: &str, from: &str, notification: &NotificationRow) -> Result<(), String> {
    let from: Mailbox = from.parse().map_err(|error| format!("bad sender {from:?}: {error}"))?;
    let mut builder = Message::builder().from(from).subject(&notification.subject);
    let mut any = false;
    for recipient in &notification.recipients {
        match recipient.parse::<Mailbox>() {
            Ok(mailbox) => {
                builder = builder.to(mailbox);
                any = true;
            }
            Err(error) => tracing::warn!(recipient, %error, "not an email address, left out"),
        }
    }
    if !any {
        // Nobody to tell is not a failure to retry.
        return Ok(());
    }
    let message = builder
        .header(ContentType::TEXT_PLAIN)
        .body(notification.body.clone())
        .map_err(|error| format!("cannot build the email: {error}"))?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
        .map_err(|error| format!("bad SMTP URL: {error}"))?
        .timeout(Some(DELIVERY_TIMEOUT))
        .build();
    transport.send(message).await.map(drop).map_err(|error| format!("SMTP: {error}"))
}
