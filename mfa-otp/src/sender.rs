//! Delivering one-time codes: the [`Sender`] trait and the senders that need no network.

use std::collections::VecDeque;
use std::fmt;
#[cfg(feature = "testing")]
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use mfa_core::SecretString;

use mfa_core::DeliveryChannel;

/// A message to deliver. The body holds a one-time code: it is secret, and `Debug` never
/// prints it.
#[derive(Clone)]
#[non_exhaustive]
pub struct Message {
    /// SMS or email.
    pub channel: DeliveryChannel,
    /// The destination: an E.164 phone number or an email address.
    pub to: String,
    /// The subject line (email only).
    pub subject: Option<String>,
    /// The text, with the code in it.
    pub body: SecretString,
}

impl Message {
    /// A message from its parts.
    pub fn new(channel: DeliveryChannel, to: String, subject: Option<String>, body: SecretString) -> Self {
        Self { channel, to, subject, body }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("channel", &self.channel)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("body", &"[redacted]")
            .finish()
    }
}

/// A delivery failure. Its message never contains the code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The provider refused the message or answered with an error status.
    #[error("the provider refused the message ({0})")]
    Refused(String),
    /// The provider could not be reached, or the transport failed.
    #[error("transport failure")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The sender cannot send on this channel or to this destination.
    #[error("unsupported destination or channel")]
    Unsupported,
}

/// Delivers a message to a phone or a mailbox. Async and dyn-compatible.
///
/// ```
/// use async_trait::async_trait;
/// use mfa_otp::{Message, SendError, Sender};
///
/// /// Sends through the host's own notification service.
/// #[derive(Debug)]
/// struct Notifier;
///
/// #[async_trait]
/// impl Sender for Notifier {
///     async fn send(&self, message: &Message) -> Result<(), SendError> {
///         let _text = message.body.expose(); // hand it to your provider, never to a log
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Sender: fmt::Debug + Send + Sync + 'static {
    /// Delivers `message`, or says why it could not.
    ///
    /// # Errors
    ///
    /// [`SendError`] when delivery failed; the factor then stays unusable.
    async fn send(&self, message: &Message) -> Result<(), SendError>;
}

#[allow(dead_code)]
fn _assert_dyn_compatible(_: &dyn Sender) {}

/// Keeps the last messages sent, for reading codes back in tests and demos.
#[derive(Debug, Clone, Default)]
struct Outbox {
    messages: Arc<Mutex<VecDeque<Message>>>,
    capacity: Option<usize>,
}

impl Outbox {
    fn push(&self, message: &Message) {
        let mut messages = self.messages.lock().unwrap_or_else(PoisonError::into_inner);
        messages.push_back(message.clone());
        if let Some(cap) = self.capacity {
            while messages.len() > cap {
                messages.pop_front();
            }
        }
    }

    #[cfg(feature = "testing")]
    fn messages(&self) -> Vec<Message> {
        self.messages.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect()
    }

    fn last_to(&self, to: &str) -> Option<Message> {
        self.messages.lock().unwrap_or_else(PoisonError::into_inner).iter().rev().find(|m| m.to == to).cloned()
    }
}

/// The first run of at least six digits in `text`.
fn first_code(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit()).find(|run| run.len() >= 6).map(str::to_owned)
}

/// **For development only:** prints every message, code included, to standard error
/// instead of sending it, and keeps the last 100 so a demo (or its browser tests) can read
/// codes back. Never use it in production. Clones share the outbox.
#[derive(Debug, Clone)]
pub struct DevConsoleSender {
    outbox: Outbox,
}

impl Default for DevConsoleSender {
    fn default() -> Self {
        Self::new()
    }
}

impl DevConsoleSender {
    /// A development sender.
    pub fn new() -> Self {
        Self { outbox: Outbox { capacity: Some(100), ..Outbox::default() } }
    }

    /// The last message "sent" to `to`.
    pub fn last_to(&self, to: &str) -> Option<Message> {
        self.outbox.last_to(to)
    }

    /// The code in the last message "sent" to `to` (its first run of 6 or more digits).
    pub fn last_code_to(&self, to: &str) -> Option<String> {
        self.last_to(to).and_then(|m| first_code(m.body.expose()))
    }
}

#[async_trait]
impl Sender for DevConsoleSender {
    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let subject = message.subject.as_deref().map(|s| format!(" [{s}]")).unwrap_or_default();
        eprintln!(
            "[mfa-otp development sender: nothing was really sent] {:?} to {}{subject}: {}",
            message.channel,
            message.to,
            message.body.expose()
        );
        self.outbox.push(message);
        Ok(())
    }
}

/// Records messages instead of sending them (feature `testing`). Clones share the
/// outbox. It can be told to fail, to test delivery errors.
#[cfg(feature = "testing")]
#[derive(Debug, Clone, Default)]
pub struct MemorySender {
    outbox: Outbox,
    failing: Arc<AtomicBool>,
}

#[cfg(feature = "testing")]
impl MemorySender {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message "sent" so far.
    pub fn messages(&self) -> Vec<Message> {
        self.outbox.messages()
    }

    /// The last message sent to `to`.
    pub fn last_to(&self, to: &str) -> Option<Message> {
        self.outbox.last_to(to)
    }

    /// The code in the last message sent to `to` (its first run of 6 or more digits).
    pub fn last_code_to(&self, to: &str) -> Option<String> {
        self.last_to(to).and_then(|m| first_code(m.body.expose()))
    }

    /// Makes every following send fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[cfg(feature = "testing")]
#[async_trait]
impl Sender for MemorySender {
    async fn send(&self, message: &Message) -> Result<(), SendError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(SendError::Refused("simulated failure".into()));
        }
        self.outbox.push(message);
        Ok(())
    }
}
