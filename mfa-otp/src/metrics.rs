//! Sends counted and timed through the [`metrics`] facade (feature `metrics`):
//! [`MeteredSender`] wraps any [`Sender`].
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `mfa_otp_sends_total` | counter | `channel`, `outcome` | Messages handed to the sender: `channel` is `sms` or `email`; `outcome` is `ok`, `refused` (the provider said no), `transport` (it could not be reached) or `unsupported`. |
//! | `mfa_otp_send_duration_seconds` | histogram | `channel` | How long each send took, in seconds, failures included. |
//!
//! Labels never carry the destination, the provider's answer or the message.

use std::time::Instant;

use ::metrics::{Unit, counter, describe_counter, describe_histogram, histogram};
use async_trait::async_trait;
use mfa_core::DeliveryChannel;

use crate::sender::{Message, SendError, Sender};

/// `mfa_otp_sends_total`: messages handed to the sender, by `channel` and `outcome`.
pub const SENDS: &str = "mfa_otp_sends_total";
/// `mfa_otp_send_duration_seconds`: how long the sender took, by `channel`.
pub const SEND_DURATION: &str = "mfa_otp_send_duration_seconds";

/// A [`Sender`] that records, for every message it passes to `inner`, how long sending took
/// and how it ended (see the [table](self)).
///
/// # Examples
///
/// ```
/// use mfa_otp::{DevConsoleSender, MeteredSender};
///
/// // With a recorder installed in the host (metrics-exporter-prometheus, ...):
/// mfa_otp::metrics::describe();
/// // The sender to give `SmsFactor::builder` / `EmailFactor::builder`.
/// let sender = MeteredSender::new(DevConsoleSender::new());
/// assert!(sender.inner().last_to("+14155552671").is_none());
/// ```
#[derive(Debug, Clone)]
pub struct MeteredSender<S> {
    inner: S,
}

impl<S: Sender> MeteredSender<S> {
    /// Measures the sends of `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The wrapped sender.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

/// Registers the description and unit of both metrics with the installed recorder (the
/// Prometheus exporter prints them as `# HELP`). Call it once, after installing the
/// recorder; recording works without it.
pub fn describe() {
    describe_counter!(SENDS, "Messages with one-time codes handed to the sender, by channel and outcome");
    describe_histogram!(SEND_DURATION, Unit::Seconds, "How long sending a message took, by channel");
}

#[async_trait]
impl<S: Sender> Sender for MeteredSender<S> {
    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let channel = match message.channel {
            DeliveryChannel::Sms => "sms",
            DeliveryChannel::Email => "email",
            _ => "other",
        };
        let started = Instant::now();
        let result = self.inner.send(message).await;
        histogram!(SEND_DURATION, "channel" => channel).record(started.elapsed());
        let outcome = match &result {
            Ok(()) => "ok",
            Err(SendError::Refused(_)) => "refused",
            Err(SendError::Transport(_)) => "transport",
            Err(SendError::Unsupported) => "unsupported",
        };
        counter!(SENDS, "channel" => channel, "outcome" => outcome).increment(1);
        result
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use mfa_core::SecretString;

    use super::*;

    /// Fails every send to `+1555...` with the provider's refusal, sends everything else.
    #[derive(Debug)]
    struct Gateway;

    #[async_trait]
    impl Sender for Gateway {
        async fn send(&self, message: &Message) -> Result<(), SendError> {
            match message.to.starts_with("+1555") {
                true => Err(SendError::Refused("blocked number +15550100".into())),
                false => Ok(()),
            }
        }
    }

    fn message(channel: DeliveryChannel, to: &str) -> Message {
        Message::new(channel, to.into(), None, SecretString::from("Your code is 493817".to_owned()))
    }

    #[tokio::test]
    async fn sends_are_counted_by_channel_and_outcome_and_timed() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let _local = ::metrics::set_default_local_recorder(&recorder);
        let sender = MeteredSender::new(Gateway);
        sender.send(&message(DeliveryChannel::Sms, "+14155552671")).await.unwrap();
        sender.send(&message(DeliveryChannel::Sms, "+14155552672")).await.unwrap();
        assert!(sender.send(&message(DeliveryChannel::Sms, "+15550100")).await.is_err());
        sender.send(&message(DeliveryChannel::Email, "alice@example.com")).await.unwrap();

        let mut read = BTreeMap::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let labels: Vec<String> = key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            let n = match value {
                DebugValue::Counter(n) => n,
                DebugValue::Histogram(samples) => samples.len() as u64,
                DebugValue::Gauge(_) => continue,
            };
            read.insert(format!("{}{{{}}}", key.key().name(), labels.join(",")), n);
        }
        let expected = BTreeMap::from([
            ("mfa_otp_send_duration_seconds{channel=email}".to_owned(), 1),
            ("mfa_otp_send_duration_seconds{channel=sms}".to_owned(), 3),
            ("mfa_otp_sends_total{channel=email,outcome=ok}".to_owned(), 1),
            ("mfa_otp_sends_total{channel=sms,outcome=ok}".to_owned(), 2),
            ("mfa_otp_sends_total{channel=sms,outcome=refused}".to_owned(), 1),
        ]);
        assert_eq!(read, expected, "no destination, code or provider answer in a label");
    }
}
