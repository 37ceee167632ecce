//! Delivery of the outbox: finds due messages through their control-plane deadlines, claims
//! them so that exactly one sender (of any number of replicas) sends each, sends them by
//! SMTP or into the local mail directory, and records the outcome: `sent`, `failed` with the
//! next attempt after an exponential backoff with jitter, or `dead` after the last allowed
//! attempt. Logs carry message ids, statuses and SMTP reply codes, never an address or text.

use super::{DEADLINE_KIND, DeliveryState, MessagePurpose, SenderIdentity, TABLE, load_sender};
use crate::Identity;
use crate::entities::outbox;
use crate::error::IdentityError;
use chrono::{DateTime, SubsecRound, Utc};
use hub_kernel::pii::Pii;
use hub_tenant::TenantScope;
use hub_tenant::deadlines::DueDeadline;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use uuid::Uuid;

/// How many due messages one run looks at.
pub const BATCH: u64 = 100;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection (a relay on the same host or network only).
    None,
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Pii<String>>,
    /// For each SMTP command; a send that hangs fails with `timeout` and is retried.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `None`: every message is written as an `.eml` file into `mail_dir` instead.
    pub smtp: Option<SmtpSettings>,
    pub mail_dir: PathBuf,
    /// The platform's sender address; institutions send from it under their own name
    /// unless they set their own From.
    pub from_address: String,
    /// Attempts before a message is `dead`.
    pub max_attempts: u32,
    /// The first retry waits this long; each further one twice as long, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long a sender's claim on a message lasts; if the sender dies, another takes it.
    pub claim_lease: Duration,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Directory(PathBuf),
}

/// The outbox's sender: one per process.
pub struct Mailer {
    transport: Transport,
    settings: MailSettings,
}

impl Mailer {
    pub fn new(settings: MailSettings) -> Result<Self, IdentityError> {
        let transport = match &settings.smtp {
            Some(smtp) => {
                let tls = match smtp.tls {
                    SmtpTls::None => Tls::None,
                    SmtpTls::StartTls => Tls::Required(tls_parameters(&smtp.host)?),
                    SmtpTls::Tls => Tls::Wrapper(tls_parameters(&smtp.host)?),
                };
                let mut builder =
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
                        .port(smtp.port)
                        .tls(tls)
                        .timeout(Some(smtp.timeout));
                if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
                    builder = builder
                        .credentials(Credentials::new(user.clone(), password.expose().clone()));
                }
                Transport::Smtp(builder.build())
            }
            None => {
                std::fs::create_dir_all(&settings.mail_dir).map_err(|e| {
                    IdentityError::Mail(format!("{}: {e}", settings.mail_dir.display()))
                })?;
                Transport::Directory(settings.mail_dir.clone())
            }
        };
        Ok(Self {
            transport,
            settings,
        })
    }

    /// Where mail is written instead of sent, when no SMTP server is configured.
    pub fn mail_directory(&self) -> Option<&std::path::Path> {
        match &self.transport {
            Transport::Smtp(_) => None,
            Transport::Directory(dir) => Some(dir),
        }
    }

    pub fn platform_from(&self) -> &str {
        &self.settings.from_address
    }

    /// How long to wait before attempt `attempts + 1`: `retry_base · 2^(attempts-1)`, capped
    /// at `retry_max`, plus up to a quarter more. The jitter comes from the message id and
    /// the attempt, so retries of many messages spread out, yet every run computes the same.
    pub fn retry_delay(&self, id: Uuid, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        let delay = self
            .settings
            .retry_base
            .saturating_mul(1u32 << doublings)
            .min(self.settings.retry_max);
        let digest = Sha256::digest([id.as_bytes().as_slice(), &attempts.to_be_bytes()].concat());
        let fraction = u32::from(u16::from_be_bytes([digest[0], digest[1]]));
        delay + delay * fraction / (4 * 65_536)
    }

    async fn send(&self, id: Uuid, letter: Message) -> Result<(), String> {
        match &self.transport {
            Transport::Smtp(smtp) => smtp
                .send(letter)
                .await
                .map(|_| ())
                .map_err(|e| smtp_error_code(&e)),
            Transport::Directory(dir) => {
                // Written under a temporary name and renamed, so a reader never sees half.
                let partial = dir.join(format!(".{id}.eml.partial"));
                let done = dir.join(format!("{id}.eml"));
                tokio::fs::write(&partial, letter.formatted())
                    .await
                    .map_err(|_| "mail_dir_unwritable".to_string())?;
                tokio::fs::rename(&partial, &done)
                    .await
                    .map_err(|_| "mail_dir_unwritable".to_string())
            }
        }
    }
}

fn tls_parameters(host: &str) -> Result<TlsParameters, IdentityError> {
    TlsParameters::new(host.to_string()).map_err(|e| IdentityError::Mail(e.to_string()))
}

/// What went wrong, without anything the server said beyond its reply code (the text may
/// quote the recipient's address).
fn smtp_error_code(error: &lettre::transport::smtp::Error) -> String {
    if let Some(code) = error.status() {
        return format!("smtp_{code}");
    }
    if error.is_timeout() {
        "timeout"
    } else if error.is_tls() {
        "tls_failed"
    } else {
        "connection_failed"
    }
    .to_string()
}

/// What one delivery run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryRun {
    pub sent: usize,
    pub failed: usize,
    pub dead: usize,
}

impl DeliveryRun {
    pub fn total(&self) -> usize {
        self.sent + self.failed + self.dead
    }
}

/// A claimed message, opened and ready to send.
struct Claimed {
    id: Uuid,
    attempts: i32,
    letter: Result<Message, &'static str>,
    /// Why the consent gate holds a marketing message back (`None`: it may go).
    held: Option<&'static str>,
}

enum Outcome {
    Sent,
    Failed { code: String, next: DateTime<Utc> },
    Dead(String),
}

/// Claims the due messages among `ids` for this sender. On PostgreSQL the candidate rows
/// are locked `FOR UPDATE SKIP LOCKED`, so a concurrent sender skips them instead of
/// waiting; on both backends the conditional `UPDATE` (same status and attempt count as
/// read) is the claim itself (SQLite's equivalent: it has one writer at a time), so each
/// message moves to `sending` for exactly one sender.
async fn claim(
    scope: &TenantScope,
    ids: &[Uuid],
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<outbox::Model>, IdentityError> {
    let due_states = [
        DeliveryState::Queued.as_str(),
        DeliveryState::Failed.as_str(),
        // A claim whose lease ran out: its sender died.
        DeliveryState::Sending.as_str(),
    ];
    let candidates = outbox::Entity::find()
        .filter(outbox::Column::Id.is_in(ids.to_vec()))
        .filter(outbox::Column::Status.is_in(due_states))
        .filter(outbox::Column::NextAttemptAt.lte(now))
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(scope.db())
        .await?;
    let mut claimed = Vec::new();
    for row in candidates {
        let taken = outbox::Entity::update_many()
            .col_expr(
                outbox::Column::Status,
                Expr::value(DeliveryState::Sending.as_str()),
            )
            .col_expr(outbox::Column::Attempts, Expr::value(row.attempts + 1))
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(lease_until))
            .filter(outbox::Column::Id.eq(row.id))
            .filter(outbox::Column::Status.eq(row.status.clone()))
            .filter(outbox::Column::Attempts.eq(row.attempts))
            .exec(scope.db())
            .await?;
        if taken.rows_affected == 1 {
            claimed.push(outbox::Model {
                attempts: row.attempts + 1,
                ..row
            });
        }
    }
    Ok(claimed)
}

fn mailbox(name: &str, address: &str) -> Result<Mailbox, &'static str> {
    let address = address.parse().map_err(|_| "address_invalid")?;
    Ok(Mailbox::new(Some(name.to_string()), address))
}

fn letter(
    scope: &TenantScope,
    row: &outbox::Model,
    from: &Result<Mailbox, &'static str>,
    reply_to: &Option<Result<Mailbox, &'static str>>,
) -> Result<Result<Message, &'static str>, IdentityError> {
    let keys = scope.keys();
    let Some(recipient) = &row.recipient_sealed else {
        return Ok(Err("no_recipient"));
    };
    let to = keys.open_str(TABLE, "recipient", row.id, recipient)?;
    let subject = match &row.subject_sealed {
        Some(s) => keys.open_str(TABLE, "subject", row.id, s)?,
        None => "A message about your account".to_string(),
    };
    let text = keys.open_str(TABLE, "message", row.id, &row.message_sealed)?;
    let build = || -> Result<Message, &'static str> {
        let from = from.clone()?;
        let domain = from.email.domain().to_string();
        let to: Mailbox = Mailbox::new(None, to.parse().map_err(|_| "recipient_invalid")?);
        let mut builder = Message::builder()
            .message_id(Some(format!("<{}@{domain}>", row.id)))
            .from(from)
            .to(to)
            .subject(subject);
        if let Some(reply_to) = reply_to {
            builder = builder.reply_to(reply_to.clone()?);
        }
        builder
            .header(ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|_| "message_unbuildable")
    };
    Ok(build())
}

impl Identity {
    /// Where mail is written instead of sent (no SMTP server configured).
    pub fn mail_directory(&self) -> Option<&std::path::Path> {
        self.mail.mail_directory()
    }

    /// Sends what is due across institutions: one batch of up to 100 messages. Returns what
    /// it did; a run with a full batch may be followed at once by another.
    pub async fn deliver_due_mail(&self) -> Result<DeliveryRun, IdentityError> {
        let due = self.tenancy.due_deadlines(DEADLINE_KIND, BATCH).await?;
        let mut by_tenant: BTreeMap<Uuid, Vec<DueDeadline>> = BTreeMap::new();
        for deadline in due {
            by_tenant
                .entry(deadline.tenant_id)
                .or_default()
                .push(deadline);
        }
        let mut run = DeliveryRun::default();
        for (tenant_id, deadlines) in by_tenant {
            // One institution's trouble (its storage, its keys) does not hold up the others.
            if let Err(error) = self
                .deliver_for_tenant(tenant_id, &deadlines, &mut run)
                .await
            {
                tracing::warn!(%tenant_id, %error, "mail delivery for an institution failed; retrying next run");
            }
        }
        Ok(run)
    }

    async fn deliver_for_tenant(
        &self,
        tenant_id: Uuid,
        deadlines: &[DueDeadline],
        run: &mut DeliveryRun,
    ) -> Result<(), IdentityError> {
        let mailer = &self.mail;
        let Some(due) = deadlines.first() else {
            return Ok(());
        };
        // A suspended or offboarded institution's mail waits (or goes with it).
        let Some(scope) = self.tenancy.job_scope(due).await? else {
            return Ok(());
        };
        let now = Utc::now().trunc_subsecs(6);
        let lease = chrono::Duration::from_std(mailer.settings.claim_lease)
            .unwrap_or_else(|_| chrono::Duration::minutes(5));
        let lease_until = now + lease;
        let ids: Vec<Uuid> = deadlines.iter().map(|d| d.subject_id).collect();
        let rows = claim(&scope, &ids, now, lease_until).await?;
        self.tidy_unclaimed_deadlines(&scope, deadlines, &rows, now - lease)
            .await?;
        if rows.is_empty() {
            scope.commit().await?;
            return Ok(());
        }
        let sender: SenderIdentity = load_sender(&scope).await?;
        let institution = self.tenancy.tenant_name(tenant_id).await?;
        let from = mailbox(
            sender.from_name.as_deref().unwrap_or(&institution),
            sender
                .from_address
                .as_deref()
                .unwrap_or(&mailer.settings.from_address),
        );
        let reply_to = sender
            .reply_to
            .as_deref()
            .map(|r| mailbox(sender.from_name.as_deref().unwrap_or(&institution), r));
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            // Asked now, at the moment of sending, so a withdrawal made after the message
            // was queued holds it back.
            let held = if row.purpose == MessagePurpose::Essential.as_str() {
                None
            } else {
                super::consent_refusal(&self.tenancy, &scope, row.person_id, now).await?
            };
            claimed.push(Claimed {
                id: row.id,
                attempts: row.attempts,
                letter: letter(&scope, row, &from, &reply_to)?,
                held,
            });
        }
        scope.commit().await?;
        for message in &claimed {
            self.tenancy
                .reschedule_deadline(tenant_id, DEADLINE_KIND, message.id, lease_until)
                .await?;
        }

        let mut outcomes = Vec::with_capacity(claimed.len());
        for message in claimed {
            let attempts = u32::try_from(message.attempts).unwrap_or(u32::MAX);
            let outcome = if let Some(reason) = message.held {
                // Dropped, not retried: the person did not consent (or withdrew); the status
                // says why (`no_marketing_consent: consent_withdrawn`).
                Outcome::Dead(format!("no_marketing_consent: {reason}"))
            } else {
                match message.letter {
                    Err(code) => Outcome::Dead(code.into()),
                    Ok(letter) => match mailer.send(message.id, letter).await {
                        Ok(()) => Outcome::Sent,
                        Err(code) if attempts >= mailer.settings.max_attempts => {
                            Outcome::Dead(code)
                        }
                        Err(code) => Outcome::Failed {
                            code,
                            next: Utc::now().trunc_subsecs(6)
                                + chrono::Duration::from_std(
                                    mailer.retry_delay(message.id, attempts),
                                )
                                .unwrap_or_else(|_| chrono::Duration::hours(1)),
                        },
                    },
                }
            };
            outcomes.push((message.id, message.attempts, outcome));
        }

        let Some(scope) = self.tenancy.job_scope(due).await? else {
            return Ok(());
        };
        let sent_at = Utc::now().trunc_subsecs(6);
        for (id, attempts, outcome) in &outcomes {
            let (status, next, error, sent) = match outcome {
                Outcome::Sent => (DeliveryState::Sent, None, None, Some(sent_at)),
                Outcome::Failed { code, next } => {
                    (DeliveryState::Failed, Some(*next), Some(code.clone()), None)
                }
                Outcome::Dead(code) => (DeliveryState::Dead, None, Some(code.clone()), None),
            };
            // Only while this sender's claim stands (same attempt): a lapsed claim is
            // someone else's now.
            outbox::Entity::update_many()
                .col_expr(outbox::Column::Status, Expr::value(status.as_str()))
                .col_expr(outbox::Column::NextAttemptAt, Expr::value(next))
                .col_expr(outbox::Column::LastError, Expr::value(error))
                .col_expr(outbox::Column::SentAt, Expr::value(sent))
                .filter(outbox::Column::Id.eq(*id))
                .filter(outbox::Column::Status.eq(DeliveryState::Sending.as_str()))
                .filter(outbox::Column::Attempts.eq(*attempts))
                .exec(scope.db())
                .await?;
            // Delivered or given up: an address kept only for this message goes now.
            if !matches!(outcome, Outcome::Failed { .. }) {
                outbox::Entity::update_many()
                    .col_expr(
                        outbox::Column::RecipientSealed,
                        Expr::value(Option::<Vec<u8>>::None),
                    )
                    .filter(outbox::Column::Id.eq(*id))
                    .filter(outbox::Column::ForgetRecipient.eq(true))
                    .filter(outbox::Column::Status.eq(status.as_str()))
                    .exec(scope.db())
                    .await?;
            }
        }
        scope.commit().await?;
        for (id, attempts, outcome) in outcomes {
            match outcome {
                Outcome::Sent => {
                    run.sent += 1;
                    tracing::info!(message_id = %id, attempts, status = "sent", "mail delivered");
                    self.tenancy
                        .clear_deadline(tenant_id, DEADLINE_KIND, id)
                        .await?;
                }
                Outcome::Failed { code, next } => {
                    run.failed += 1;
                    tracing::warn!(message_id = %id, attempts, status = "failed", error = %code, next_attempt_at = %next, "mail delivery failed; will retry");
                    self.tenancy
                        .reschedule_deadline(tenant_id, DEADLINE_KIND, id, next)
                        .await?;
                }
                Outcome::Dead(code) => {
                    run.dead += 1;
                    tracing::warn!(message_id = %id, attempts, status = "dead", error = %code, "mail given up");
                    self.tenancy
                        .clear_deadline(tenant_id, DEADLINE_KIND, id)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Deadlines this sender did not claim: finished messages drop theirs, messages another
    /// sender holds (or that wait for a later retry) move theirs to that time, and a deadline
    /// whose message never appeared (its transaction rolled back) is dropped once it is
    /// older than a claim's lease.
    async fn tidy_unclaimed_deadlines(
        &self,
        scope: &TenantScope,
        deadlines: &[DueDeadline],
        claimed: &[outbox::Model],
        orphaned_before: DateTime<Utc>,
    ) -> Result<(), IdentityError> {
        let unclaimed: Vec<&DueDeadline> = deadlines
            .iter()
            .filter(|d| !claimed.iter().any(|c| c.id == d.subject_id))
            .collect();
        if unclaimed.is_empty() {
            return Ok(());
        }
        let rows = outbox::Entity::find()
            .filter(outbox::Column::Id.is_in(unclaimed.iter().map(|d| d.subject_id)))
            .all(scope.db())
            .await?;
        for deadline in unclaimed {
            let row = rows.iter().find(|r| r.id == deadline.subject_id);
            let state = row.map(|r| DeliveryState::from_stored(&r.status));
            match (row, state) {
                (None, _) if deadline.due_at >= orphaned_before => {}
                (None, _) | (_, Some(DeliveryState::Sent | DeliveryState::Dead)) => {
                    self.tenancy
                        .clear_deadline(deadline.tenant_id, DEADLINE_KIND, deadline.subject_id)
                        .await?;
                }
                (Some(row), _) => {
                    if let Some(next) = row.next_attempt_at {
                        self.tenancy
                            .reschedule_deadline(
                                deadline.tenant_id,
                                DEADLINE_KIND,
                                deadline.subject_id,
                                next,
                            )
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailer(dir: &std::path::Path) -> Mailer {
        Mailer::new(MailSettings {
            smtp: None,
            mail_dir: dir.to_path_buf(),
            from_address: "no-reply@hub.test".into(),
            max_attempts: 8,
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            claim_lease: Duration::from_secs(300),
        })
        .unwrap()
    }

    #[test]
    fn retries_back_off_exponentially_with_bounded_deterministic_jitter() {
        let dir = std::env::temp_dir().join(format!("hub-mail-{}", Uuid::now_v7()));
        let mailer = mailer(&dir);
        let id = Uuid::from_u128(42);
        let mut previous = Duration::ZERO;
        for attempts in 1..=6u32 {
            let delay = mailer.retry_delay(id, attempts);
            let floor = Duration::from_secs(30 * (1 << (attempts - 1)));
            assert!(delay >= floor && delay < floor + floor / 4 + Duration::from_secs(1));
            assert!(delay > previous);
            assert_eq!(delay, mailer.retry_delay(id, attempts), "deterministic");
            previous = delay;
        }
        let capped = mailer.retry_delay(id, 20);
        assert!(capped >= Duration::from_secs(3600) && capped <= Duration::from_secs(4500));
        // Different messages spread out.
        let spread: std::collections::BTreeSet<Duration> = (0..20u128)
            .map(|n| mailer.retry_delay(Uuid::from_u128(n), 3))
            .collect();
        assert!(spread.len() > 10);
        let _ = std::fs::remove_dir_all(dir);
    }
}
