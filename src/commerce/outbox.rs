//! Delivering the email outbox: a [`Dispatcher`] leases due rows, sends them
//! through a [`Mailer`] (SMTP with `lettre` when `streamcart.smtp` is set,
//! the log otherwise) and marks them sent, or retries them with
//! [`backoff`] until [`MAX_ATTEMPTS`]. Tests step it with `try_execute_task`.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::SmtpSettings;
use crate::store::{now_ms, Store, StoreResult};

/// Attempts before an email is marked `failed`.
pub const MAX_ATTEMPTS: i64 = 8;
/// How long one attempt owns a row.
pub const LEASE_MS: i64 = 60_000;
/// How often the dispatcher looks for due rows when idle.
pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// Delay before retry number `attempts` (1-based): 30 s doubling, at most an hour.
pub fn backoff(attempts: i64) -> Duration {
    let secs = 30u64.saturating_mul(1u64 << attempts.clamp(1, 16).saturating_sub(1) as u32);
    Duration::from_secs(secs.min(3600))
}

/// Where emails go.
#[derive(Clone)]
pub enum Mailer {
    /// No SMTP configured: each email is written to the log and counts as delivered.
    Log,
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, from: Mailbox },
}

impl Mailer {
    /// SMTP from settings, or the log when there are none.
    pub fn from_settings(smtp: Option<&SmtpSettings>) -> Result<Mailer, String> {
        let Some(smtp) = smtp else {
            return Ok(Mailer::Log);
        };
        let from: Mailbox = smtp.from.parse().map_err(|e| format!("streamcart.smtp.from: {e}"))?;
        let tls = smtp.tls.unwrap_or(true);
        let port = smtp.port.unwrap_or(if tls { 587 } else { 25 });
        let mut builder = match (tls, port) {
            (false, _) => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
            (true, 465) => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(|e| format!("streamcart.smtp: {e}"))?,
            (true, _) => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host).map_err(|e| format!("streamcart.smtp: {e}"))?,
        }
        .port(port)
        .timeout(Some(Duration::from_secs(20)));
        if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Mailer::Smtp { transport: builder.build(), from })
    }

    fn via(&self) -> &'static str {
        match self {
            Mailer::Log => "log",
            Mailer::Smtp { .. } => "smtp",
        }
    }

    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        match self {
            Mailer::Log => {
                tracing::info!(target: "streamcart::email", %to, %subject, %body, "email (no SMTP configured: logged instead of sent)");
                Ok(())
            }
            Mailer::Smtp { transport, from } => {
                let to: Mailbox = to.parse().map_err(|e| format!("recipient: {e}"))?;
                let message = Message::builder().from(from.clone()).to(to).subject(subject).body(body.to_string()).map_err(|e| e.to_string())?;
                transport.send(message).await.map(|_| ()).map_err(|e| e.to_string())
            }
        }
    }
}

/// What one step of the dispatcher did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Idle,
    Sent { id: String },
    Retry { id: String, error: String },
    GaveUp { id: String, error: String },
}

pub struct Dispatcher {
    store: Store,
    mailer: Mailer,
}

impl Dispatcher {
    pub fn new(store: Store, mailer: Mailer) -> Dispatcher {
        Dispatcher { store, mailer }
    }

    /// Sends at most one due email.
    pub async fn try_execute_task(&self, now: i64) -> StoreResult<Step> {
        let Some(row) = self.store.lease_due_email(now, LEASE_MS).await? else {
            return Ok(Step::Idle);
        };
        match self.mailer.send(&row.recipient, &row.subject, &row.body).await {
            Ok(()) => {
                self.store.mark_email_sent(&row.id, self.mailer.via()).await?;
                Ok(Step::Sent { id: row.id })
            }
            Err(error) if row.attempts + 1 >= MAX_ATTEMPTS => {
                self.store.mark_email_failed(&row.id, &error, None).await?;
                tracing::warn!(id = %row.id, %error, "email given up after {MAX_ATTEMPTS} attempts");
                Ok(Step::GaveUp { id: row.id, error })
            }
            Err(error) => {
                let retry_at = now + backoff(row.attempts + 1).as_millis() as i64;
                self.store.mark_email_failed(&row.id, &error, Some(retry_at)).await?;
                Ok(Step::Retry { id: row.id, error })
            }
        }
    }
}

/// Runs the dispatcher until aborted: drains due emails, then polls every [`POLL_EVERY`].
pub fn spawn_dispatcher(store: Store, mailer: Mailer) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let dispatcher = Dispatcher::new(store, mailer);
        loop {
            match dispatcher.try_execute_task(now_ms()).await {
                Ok(Step::Idle) => tokio::time::sleep(POLL_EVERY).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "email outbox unavailable; will retry");
                    tokio::time::sleep(POLL_EVERY).await;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_thirty_seconds_doubling_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(4), Duration::from_secs(240));
        assert_eq!(backoff(20), Duration::from_secs(3600));
    }

    #[test]
    fn without_smtp_settings_email_goes_to_the_log() {
        assert!(matches!(Mailer::from_settings(None), Ok(Mailer::Log)));
        let bad = SmtpSettings { host: "smtp.example.com".into(), from: "not an address".into(), ..Default::default() };
        assert!(Mailer::from_settings(Some(&bad)).is_err());
    }
}
