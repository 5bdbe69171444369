//! An email sender over SMTP, on lettre.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mfa_core::{Error, Result, SecretString};

use crate::sender::{Message, SendError, Sender};
use mfa_core::DeliveryChannel;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmtpTls {
    /// TLS from the first byte (usually port 465).
    Wrapper,
    /// Plain connection upgraded with STARTTLS, which is required (usually port 587).
    StartTls,
    /// No encryption: only for a relay on the same host or a trusted local network
    /// (messages carry one-time codes).
    None,
}

/// Sends email over SMTP (feature `smtp`).
///
/// ```no_run
/// use mfa_otp::{SmtpSender, SmtpTls};
/// let sender = SmtpSender::builder("smtp.example.com", "Example <no-reply@example.com>")
///     .port(587)
///     .tls(SmtpTls::StartTls)
///     .credentials("no-reply@example.com", "app-password".into())
///     .build()?;
/// # Ok::<(), mfa_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// Configures an [`SmtpSender`].
#[derive(Debug)]
#[must_use]
pub struct SmtpBuilder {
    host: String,
    from: String,
    port: Option<u16>,
    tls: SmtpTls,
    credentials: Option<(String, SecretString)>,
    timeout: Duration,
}

impl SmtpSender {
    /// Starts configuring a sender for `host` with sender address `from`
    /// (`"Name <address>"` or a bare address). Defaults: STARTTLS on port 587, 10 s timeout.
    pub fn builder(host: impl Into<String>, from: impl Into<String>) -> SmtpBuilder {
        SmtpBuilder {
            host: host.into(),
            from: from.into(),
            port: None,
            tls: SmtpTls::StartTls,
            credentials: None,
            timeout: Duration::from_secs(10),
        }
    }
}

impl SmtpBuilder {
    /// The port (default: 465 for [`SmtpTls::Wrapper`], 587 for STARTTLS, 25 without TLS).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The TLS mode.
    pub fn tls(mut self, tls: SmtpTls) -> Self {
        self.tls = tls;
        self
    }

    /// A user name and password for SMTP authentication.
    pub fn credentials(mut self, user: impl Into<String>, password: SecretString) -> Self {
        self.credentials = Some((user.into(), password));
        self
    }

    /// How long to wait for the server.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builds the sender (it connects when it first sends).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid `from` address or host.
    pub fn build(self) -> Result<SmtpSender> {
        let from: Mailbox = self.from.parse().map_err(|_| Error::Config("invalid SMTP sender address"))?;
        let mut builder = match self.tls {
            SmtpTls::Wrapper => AsyncSmtpTransport::<Tokio1Executor>::relay(&self.host)
                .map_err(|_| Error::Config("invalid SMTP host"))?,
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&self.host)
                .map_err(|_| Error::Config("invalid SMTP host"))?,
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host).port(25),
        };
        if let Some(port) = self.port {
            builder = builder.port(port);
        }
        if let Some((user, password)) = self.credentials {
            builder = builder.credentials(Credentials::new(user, password.expose().to_owned()));
        }
        let transport = builder.timeout(Some(self.timeout)).build();
        Ok(SmtpSender { transport, from })
    }
}

#[async_trait]
impl Sender for SmtpSender {
    async fn send(&self, message: &Message) -> Result<(), SendError> {
        if message.channel != DeliveryChannel::Email {
            return Err(SendError::Unsupported);
        }
        let to: Mailbox = message.to.parse().map_err(|_| SendError::Unsupported)?;
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone().unwrap_or_default())
            .header(ContentType::TEXT_PLAIN)
            .body(message.body.expose().to_owned())
            .map_err(|e| SendError::Transport(Box::new(e)))?;
        self.transport.send(email).await.map_err(|e| SendError::Transport(Box::new(e)))?;
        Ok(())
    }
}
