//! The enrollment mailer: on `user.provisioned` from a connection with
//! `send_enrollment_email`, one email to the user with a single-use enrollment link, and its
//! outcome recorded on the user's enrollment stream (docs/subscribers.md, ADR 0057, ADR 0075).
//!
//! Exactly once: the outcome is looked up before sending, so a redelivered or replayed event
//! sends nothing. A crash after the SMTP server accepted a message and before its
//! `enrollment.sent` committed sends it again at restart, with the same Message-ID and link
//! (both derived from the user and the event), so the duplicate can be told.
//!
//! Several emails are in flight at once ([`CONCURRENCY`]), each in a task of its own: the SMTP
//! round trips and database writes of one overlap the others'. An email the server defers (a 4xx
//! for its recipient) is retried on its own schedule while the others go on; the checkpoint stays
//! before the oldest email not finished ([`Subscriber::hold`]), so a restart takes it up again.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use bus::{Envelope, Subscriber};
use domain::enrollment::template::{escape_html, fill, EnrollmentTemplate, DEFAULT_SUBJECT, DEFAULT_TEXT};
use domain::enrollment::{Enrollment, EnrollmentCommand, Outcome};
use domain::{Owner, Principal, ResourceId, StreamKind, TenantSlug};
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;
use store::commands::{self, Expect};
use store::{Actor, EventMetadata, LogCursor, Store};
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::link_token::LinkToken;

/// The subscriber's name: its checkpoint and lease.
pub const NAME: &str = "mailer";
const PROVISIONED: &str = "scimledger.user.provisioned.v1";
/// Names the Message-IDs (version 5 UUIDs from the user and the event).
const MESSAGE_NAMESPACE: Uuid = Uuid::from_u128(0x3f0c_7d2e_91a4_4b6f_b2d8_5e1a_c0de_0001);
/// Emails in an SMTP transaction at once: below lettre's pool of 10 connections, so none waits
/// for a connection; each costs the SMTP server one session.
pub const CONCURRENCY: usize = 8;
/// Emails handed over and not finished (sending, or deferred): past this the mailer stops taking
/// events, and its lag shows it.
const IN_HAND: usize = 256;
/// An email's retry schedule: the pause doubles from the first to the last, each jittered.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(30);

pub struct MailerSettings {
    pub smtp_url: String,
    pub from: String,
    /// How long a link works.
    pub ttl: Duration,
    /// The built-in link's origin (`SCIMLEDGER_PUBLIC_URL`), for tenants without a template.
    pub public_origin: String,
}

pub struct Mailer {
    sender: Arc<Sender>,
    /// The `from` of each email in hand: the checkpoint stays before the oldest.
    pending: Arc<Mutex<BTreeSet<LogCursor>>>,
    in_hand: Arc<Semaphore>,
    tasks: Mutex<JoinSet<()>>,
}

/// What sends one email and records its outcome; shared by the emails' tasks.
struct Sender {
    store: Arc<dyn Store>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    key: [u8; 32],
    ttl: time::Duration,
    public_origin: String,
    sending: Semaphore,
    /// The last failure to reach the SMTP server at all, until a message gets through: while
    /// set, the mailer takes no new event (the follower retries it, and shows it retrying).
    away: Mutex<Option<String>>,
}

impl Mailer {
    pub async fn new(store: Arc<dyn Store>, settings: MailerSettings) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url)
            .context("SCIMLEDGER_SMTP_URL: use smtp://host:port, smtps://host or smtp://host?tls=required, with user:password@ if needed")?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        let from = settings.from.parse().with_context(|| format!("SCIMLEDGER_MAIL_FROM={:?} is not a mailbox", settings.from))?;
        let key = store.secret(super::link_token::ENROLLMENT_SECRET).await.context("reading the deployment's enrollment key")?;
        let ttl = time::Duration::try_from(settings.ttl).context("the enrollment link lifetime")?;
        let sender = Sender {
            store,
            transport,
            from,
            key,
            ttl,
            public_origin: settings.public_origin,
            sending: Semaphore::new(CONCURRENCY),
            away: Mutex::new(None),
        };
        Ok(Self {
            sender: Arc::new(sender),
            pending: Arc::default(),
            in_hand: Arc::new(Semaphore::new(IN_HAND)),
            tasks: Mutex::new(JoinSet::new()),
        })
    }
}

impl Sender {
    /// Sends the email `provisioned` calls for, if any, and records the outcome; a failure is
    /// retried on the email's own schedule until the outcome is recorded.
    async fn deliver(&self, provisioned: Provisioned) {
        let mut decided = None;
        let mut pause = FIRST_RETRY;
        let mut failed = false;
        loop {
            let step = match decided.take() {
                Some(outcome) => Ok(Some(outcome)),
                None => self.decide(&provisioned).await,
            };
            let error = match step {
                Ok(None) => break,
                // Sent: only the record is retried, never the email.
                Ok(Some(outcome)) => match self.record(&provisioned, outcome.clone()).await {
                    Ok(()) => break,
                    Err(e) => {
                        decided = Some(outcome);
                        e
                    }
                },
                Err(e) => e,
            };
            failed = true;
            let error = format!("{:#}", error.context(format!("subscriber {NAME} on event {}", provisioned.cause)));
            tracing::warn!(error = %error, "mailer: an email failed; retrying it while the others go on");
            telemetry::metrics::subscriber_failed(NAME);
            if let Err(e) = self.store.record_failure(NAME, &error).await {
                tracing::warn!(error = %e, "mailer: cannot record the failure");
            }
            tokio::time::sleep(pause.mul_f64(rand::random_range(0.5..=1.0))).await;
            pause = (pause * 2).min(LAST_RETRY);
        }
        if failed {
            if let Err(e) = self.store.clear_retrying(NAME).await {
                tracing::warn!(error = %e, "mailer: cannot record the recovery");
            }
        }
    }

    /// What happened to the email: `None` when there is nothing to send (decided before, or the
    /// connection does not send them); an error for a failure worth retrying.
    async fn decide(&self, provisioned: &Provisioned) -> anyhow::Result<Option<Outcome>> {
        if !self.sends_email(&provisioned.tenant, provisioned.owner).await? {
            return Ok(None);
        }
        let stream = Enrollment::stream_id(provisioned.user);
        let tenant = &provisioned.tenant;
        if !self.store.stream(tenant, StreamKind::Enrollment, stream).await?.is_empty() {
            return Ok(None); // decided before: a redelivery or replay
        }
        let Some(to) = provisioned.email.clone() else {
            return Ok(Some(Outcome::Skipped { reason: "no_email".into() }));
        };
        let Ok(mailbox) = to.parse::<Mailbox>() else {
            // No server would take it either: failed for good.
            return Ok(Some(Outcome::Failed { to, reason: "not an email address".into() }));
        };
        let expires_at = provisioned.recorded_at + self.ttl;
        let token = LinkToken { user: provisioned.user, cause: provisioned.cause, expires_at }.seal(&self.key, tenant);
        let template = store::directory::tenant(&*self.store, tenant).await?.and_then(|t| t.enrollment().cloned());
        let message_id = message_id(provisioned.user, provisioned.cause);
        let message = self.message(provisioned, mailbox, template.as_ref(), &token, &message_id)?;
        let sent = {
            let _turn = self.sending.acquire().await.context("the mailer is stopping")?;
            self.transport.send(message).await
        };
        match sent {
            Ok(_) => {
                *self.away.lock().unwrap_or_else(|p| p.into_inner()) = None;
                Ok(Some(Outcome::Sent { to, message_id, expires_at }))
            }
            Err(e) if e.is_permanent() => Ok(Some(Outcome::Failed { to, reason: e.to_string() })),
            // The server asks to come back later for this recipient (greylisting, a full
            // mailbox): this email waits, the others go on.
            Err(e) if e.is_transient() => Err(anyhow::Error::new(e).context("the SMTP server deferred the email")),
            // The server is away: every email would fail alike.
            Err(e) => {
                let e = anyhow::Error::new(e).context("sending the enrollment email");
                *self.away.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{e:#}"));
                Err(e)
            }
        }
    }

    fn message(
        &self,
        provisioned: &Provisioned,
        to: Mailbox,
        template: Option<&EnrollmentTemplate>,
        token: &str,
        message_id: &str,
    ) -> anyhow::Result<Message> {
        let link = match template {
            Some(t) => t.link(token),
            None => format!("{}/enroll/v1/{}?token={token}", self.public_origin, provisioned.tenant),
        };
        let (subject, text, html) = match template {
            Some(t) => (t.subject.as_str(), t.text.as_str(), t.html.as_deref()),
            None => (DEFAULT_SUBJECT, DEFAULT_TEXT, None),
        };
        let (name, user_name) = (provisioned.name.as_str(), provisioned.user_name.as_str());
        let text = SinglePart::plain(fill(text, name, user_name, &link));
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(fill(subject, name, user_name, &link))
            .message_id(Some(message_id.to_owned()));
        let message = match html {
            Some(html) => builder.multipart(MultiPart::alternative().singlepart(text).singlepart(
                SinglePart::builder().header(ContentType::TEXT_HTML).body(fill(
                    html,
                    &escape_html(name),
                    &escape_html(user_name),
                    &escape_html(&link),
                )),
            )),
            None => builder.singlepart(text),
        };
        message.context("building the enrollment email")
    }

    async fn record(&self, provisioned: &Provisioned, outcome: Outcome) -> anyhow::Result<()> {
        let stream = Enrollment::stream_id(provisioned.user);
        let command = EnrollmentCommand::Record { user: provisioned.user, cause: provisioned.cause, outcome };
        let metadata = EventMetadata::by(Actor::System(NAME.into()));
        commands::run::<Enrollment>(&*self.store, &provisioned.tenant, stream, command, &Principal::Operator, metadata, Expect::New)
            .await
            .context("recording the enrollment's outcome")?;
        Ok(())
    }

    /// Whether the connection that provisioned the user sends enrollment emails (as it is set
    /// now: a connection turned off since stops the emails still waiting).
    async fn sends_email(&self, tenant: &TenantSlug, owner: Owner) -> anyhow::Result<bool> {
        let Owner::Connection(id) = owner else { return Ok(false) };
        let connections = self.store.connections(tenant).await?;
        Ok(connections.iter().any(|c| c.id == id && c.settings.send_enrollment_email))
    }
}

#[async_trait]
impl Subscriber for Mailer {
    fn name(&self) -> &str {
        NAME
    }

    async fn handle(&self, envelope: &Envelope, from: LogCursor) -> anyhow::Result<()> {
        if envelope.json["type"] != PROVISIONED {
            return Ok(());
        }
        let provisioned = match Provisioned::of(envelope) {
            Ok(p) => p,
            Err(e) => {
                // Retrying cannot fix an event the log holds: say so and go on.
                tracing::error!(event = %envelope.id, error = %format!("{e:#}"), "mailer: cannot read the event; skipping it");
                return Ok(());
            }
        };
        if let Some(away) = self.sender.away.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            anyhow::bail!("the SMTP server cannot be reached: {away}");
        }
        let in_hand = Arc::clone(&self.in_hand).acquire_owned().await.context("the mailer is stopping")?;
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(from);
        let (sender, pending) = (Arc::clone(&self.sender), Arc::clone(&self.pending));
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            sender.deliver(provisioned).await;
            pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&from);
            drop(in_hand);
        });
        Ok(())
    }

    fn hold(&self) -> Option<LogCursor> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).first().copied()
    }

    async fn stop(&self) {
        // Dropping the tasks cancels them; their events come again from the checkpoint.
        drop(std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner())));
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).clear();
        *self.sender.away.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// What the mailer needs of a `user.provisioned` envelope.
struct Provisioned {
    tenant: TenantSlug,
    user: ResourceId,
    cause: Uuid,
    recorded_at: OffsetDateTime,
    owner: Owner,
    user_name: String,
    name: String,
    email: Option<String>,
}

impl Provisioned {
    fn of(envelope: &Envelope) -> anyhow::Result<Self> {
        let json = &envelope.json;
        let data = &json["data"];
        let text = |v: &Value, what: &str| v.as_str().map(str::to_owned).with_context(|| format!("no {what}"));
        let time = text(&json["time"], "time")?;
        let user_name = text(&data["user_name"], "user_name")?;
        let profile = &data["profile"];
        Ok(Self {
            tenant: TenantSlug::from_log(&text(&json["tenant"], "tenant")?)?,
            user: text(&data["id"], "id")?.parse()?,
            cause: envelope.id.parse()?,
            recorded_at: OffsetDateTime::parse(&time, &time::format_description::well_known::Rfc3339)?,
            owner: text(&data["owner"], "owner")?.parse()?,
            name: display_name(profile).unwrap_or_else(|| user_name.clone()),
            user_name,
            email: email(profile),
        })
    }
}

/// The primary email, else the first work one, else the first (Akamai's rule).
fn email(profile: &Value) -> Option<String> {
    let emails: Vec<&Value> = profile["emails"].as_array()?.iter().filter(|e| e["value"].as_str().is_some_and(|v| !v.is_empty())).collect();
    let chosen = emails
        .iter()
        .find(|e| e["primary"] == true)
        .or_else(|| emails.iter().find(|e| e["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("work"))))
        .or(emails.first())?;
    chosen["value"].as_str().map(str::to_owned)
}

/// How to greet the user: `name.formatted`, given and family names, or `displayName`.
fn display_name(profile: &Value) -> Option<String> {
    let name = &profile["name"];
    if let Some(formatted) = name["formatted"].as_str().filter(|f| !f.trim().is_empty()) {
        return Some(formatted.to_owned());
    }
    let parts: Vec<&str> = ["givenName", "familyName"].iter().filter_map(|p| name[*p].as_str()).filter(|p| !p.is_empty()).collect();
    if !parts.is_empty() {
        return Some(parts.join(" "));
    }
    profile["displayName"].as_str().filter(|d| !d.is_empty()).map(str::to_owned)
}

/// The same user and event always give the same Message-ID.
fn message_id(user: ResourceId, cause: Uuid) -> String {
    let mut name = user.as_uuid().as_bytes().to_vec();
    name.extend_from_slice(cause.as_bytes());
    format!("<{}@enrollment.scimledger>", Uuid::new_v5(&MESSAGE_NAMESPACE, &name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_primary_email_then_the_first_work_one_then_the_first() {
        let primary = json!({"emails": [{"value": "a@x", "type": "work"}, {"value": "b@x", "primary": true}]});
        assert_eq!(email(&primary).as_deref(), Some("b@x"));
        let work = json!({"emails": [{"value": "h@x", "type": "home"}, {"value": "w@x", "type": "Work"}]});
        assert_eq!(email(&work).as_deref(), Some("w@x"));
        let first = json!({"emails": [{"value": "h@x", "type": "home"}, {"value": "o@x", "type": "other"}]});
        assert_eq!(email(&first).as_deref(), Some("h@x"));
        assert_eq!(email(&json!({})), None);
        assert_eq!(email(&json!({"emails": [{"type": "work"}]})), None);
    }

    #[test]
    fn a_message_id_is_derived_from_the_user_and_the_event() {
        let (user, cause) = (ResourceId::new(), Uuid::new_v4());
        assert_eq!(message_id(user, cause), message_id(user, cause));
        assert_ne!(message_id(user, cause), message_id(user, Uuid::new_v4()));
    }

    #[test]
    fn the_greeting_prefers_the_formatted_name() {
        assert_eq!(display_name(&json!({"name": {"formatted": "Ada L", "givenName": "Ada"}})).as_deref(), Some("Ada L"));
        assert_eq!(display_name(&json!({"name": {"givenName": "Ada", "familyName": "Lovelace"}})).as_deref(), Some("Ada Lovelace"));
        assert_eq!(display_name(&json!({"displayName": "Ada"})).as_deref(), Some("Ada"));
        assert_eq!(display_name(&json!({})), None);
    }
}
