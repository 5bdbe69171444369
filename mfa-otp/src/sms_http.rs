//! An SMS sender for HTTP gateways, on reqwest.

use std::time::Duration;

use async_trait::async_trait;
use mfa_core::{Error, Result, SecretString};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};

use crate::sender::{Message, SendError, Sender};
use mfa_core::DeliveryChannel;

/// The body of the gateway request. In every value, `{to}` becomes the E.164 number and
/// `{body}` the message text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmsBody {
    /// `application/x-www-form-urlencoded` fields (values are templates).
    Form(Vec<(String, String)>),
    /// A JSON document; `{to}` and `{body}` are replaced by JSON strings (quotes included),
    /// e.g. `{"to": {to}, "text": {body}}`.
    Json(String),
}

/// Sends SMS through an HTTP gateway with a POST request (feature `sms-http`).
///
/// ```no_run
/// use mfa_otp::{HttpSmsSender, SmsBody};
///
/// // A Twilio-style form API:
/// let twilio = HttpSmsSender::twilio("AC0123", "auth-token".into(), "+15005550006")?;
///
/// // Any gateway taking JSON with a bearer token:
/// let custom = HttpSmsSender::new("https://sms.example.com/v1/send", SmsBody::Json(r#"{"to": {to}, "text": {body}}"#.into()))?
///     .header("authorization", "Bearer secret-token".into())?;
/// # Ok::<(), mfa_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpSmsSender {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: SmsBody,
}

impl HttpSmsSender {
    /// A sender posting `body` to `url`. The URL must be `https`, except on loopback
    /// addresses (local relays, tests).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid or plain-`http` non-loopback URL.
    pub fn new(url: &str, body: SmsBody) -> Result<Self> {
        let url = reqwest::Url::parse(url).map_err(|_| Error::Config("invalid SMS gateway URL"))?;
        let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(Error::Config("the SMS gateway URL must use https"));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|_| Error::Config("cannot build an HTTP client"))?;
        Ok(Self { client, url, headers: Vec::new(), body })
    }

    /// Adds a header (an API key, a bearer token); its value is marked sensitive.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid header name or value.
    pub fn header(mut self, name: &str, value: SecretString) -> Result<Self> {
        let name = HeaderName::try_from(name).map_err(|_| Error::Config("invalid header name"))?;
        let mut value = HeaderValue::from_str(value.expose()).map_err(|_| Error::Config("invalid header value"))?;
        value.set_sensitive(true);
        self.headers.push((name, value));
        Ok(self)
    }

    /// The Twilio-style preset: form fields `To`, `From`, `Body` posted to
    /// `https://api.twilio.com/2010-04-01/Accounts/{account_sid}/Messages.json` with HTTP
    /// basic authentication.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an account id with characters other than letters and digits.
    pub fn twilio(account_sid: &str, auth_token: SecretString, from: &str) -> Result<Self> {
        Self::twilio_at("https://api.twilio.com", account_sid, auth_token, from)
    }

    /// The Twilio-style preset against another base URL (a regional endpoint, a proxy, a
    /// test server).
    ///
    /// # Errors
    ///
    /// As [`HttpSmsSender::twilio`] and [`HttpSmsSender::new`].
    pub fn twilio_at(base_url: &str, account_sid: &str, auth_token: SecretString, from: &str) -> Result<Self> {
        if account_sid.is_empty() || !account_sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::Config("invalid account id"));
        }
        let url = format!("{}/2010-04-01/Accounts/{account_sid}/Messages.json", base_url.trim_end_matches('/'));
        let body = SmsBody::Form(vec![
            ("To".into(), "{to}".into()),
            ("From".into(), from.into()),
            ("Body".into(), "{body}".into()),
        ]);
        use data_encoding::BASE64;
        let basic = format!("{account_sid}:{}", auth_token.expose());
        let value = SecretString::new(format!("Basic {}", BASE64.encode(basic.as_bytes())));
        Self::new(&url, body)?.header(AUTHORIZATION.as_str(), value)
    }
}

fn fill(template: &str, to: &str, body: &str) -> String {
    template.replace("{to}", to).replace("{body}", body)
}

#[async_trait]
impl Sender for HttpSmsSender {
    async fn send(&self, message: &Message) -> Result<(), SendError> {
        if message.channel != DeliveryChannel::Sms {
            return Err(SendError::Unsupported);
        }
        let text = message.body.expose();
        let mut request = self.client.post(self.url.clone());
        for (name, value) in &self.headers {
            request = request.header(name.clone(), value.clone());
        }
        let request = match &self.body {
            SmsBody::Form(fields) => {
                let pairs: Vec<(String, String)> =
                    fields.iter().map(|(k, v)| (k.clone(), fill(v, &message.to, text))).collect();
                request.form(&pairs)
            }
            SmsBody::Json(template) => {
                let json = |s: &str| serde_json::to_string(s).unwrap_or_default();
                let doc = template.replace("{to}", &json(&message.to)).replace("{body}", &json(text));
                request.header(CONTENT_TYPE, "application/json").body(doc)
            }
        };
        let response = request.send().await.map_err(|e| SendError::Transport(Box::new(e.without_url())))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            // The response body may echo the message: keep only the status.
            Err(SendError::Refused(format!("HTTP {}", status.as_u16())))
        }
    }
}
