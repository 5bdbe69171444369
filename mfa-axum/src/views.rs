//! What the JSON endpoints answer: serde views of the service's results, with nothing
//! secret in them except where a user must see it once (a new authenticator app's key).

use mfa_core::{Challenge, FactorSummary, Prompt, Timestamp};
use serde::Serialize;

/// What to show the user to go on, as JSON: `{"type": "...", ...}`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PromptView {
    /// "Enter the code from your app".
    EnterCode,
    /// A code was sent to the masked destination; it works until `expires_at`.
    CodeSent {
        /// Where to, masked.
        masked_destination: String,
        /// Until when (Unix milliseconds).
        expires_at: Timestamp,
    },
    /// A new authenticator app's key, shown once: the QR code (SVG), the key for typing and
    /// the provisioning URI.
    SharedSecret {
        /// The key in base32.
        secret_base32: String,
        /// The `otpauth://` URI.
        uri: String,
        /// The QR code, an SVG document.
        qr_svg: Option<String>,
    },
    /// Options for `navigator.credentials.get()` (`{"publicKey": ...}`).
    CredentialRequest {
        /// The options, as webauthn-rs made them.
        options: serde_json::Value,
    },
    /// Options for `navigator.credentials.create()` (`{"publicKey": ...}`).
    CredentialCreation {
        /// The options, as webauthn-rs made them.
        options: serde_json::Value,
    },
}

impl PromptView {
    /// The view of a prompt; WebAuthn options are for `create()` at enrolment and for
    /// `get()` otherwise.
    pub(crate) fn of(prompt: &Prompt, creating: bool) -> Self {
        match prompt {
            Prompt::CodeSent { masked_destination, expires_at } => {
                PromptView::CodeSent { masked_destination: masked_destination.clone(), expires_at: *expires_at }
            }
            Prompt::SharedSecret(s) => PromptView::SharedSecret {
                secret_base32: s.secret_base32.expose().to_owned(),
                uri: s.uri.expose().to_owned(),
                qr_svg: s.qr_svg.as_ref().map(|svg| svg.expose().to_owned()),
            },
            Prompt::PublicKeyCredential { options_json } => {
                let options = serde_json::from_str(options_json).unwrap_or(serde_json::Value::Null);
                match creating {
                    true => PromptView::CredentialCreation { options },
                    false => PromptView::CredentialRequest { options },
                }
            }
            _ => PromptView::EnterCode,
        }
    }
}

/// A sign-in challenge in progress: which factor, what to show, and the other ways in.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ChallengeView {
    /// The factor challenged.
    pub factor: FactorSummary,
    /// What to show.
    pub prompt: PromptView,
    /// When the challenge expires (Unix milliseconds).
    pub expires_at: Timestamp,
    /// The user's other factors, best first ("try another way").
    pub alternatives: Vec<FactorSummary>,
    /// Unused recovery codes the user holds.
    pub recovery_codes_remaining: usize,
}

impl ChallengeView {
    pub(crate) fn of(challenge: &Challenge) -> Self {
        Self {
            factor: challenge.factor.clone(),
            prompt: PromptView::of(&challenge.prompt, false),
            expires_at: challenge.expires_at,
            alternatives: challenge.alternatives.clone(),
            recovery_codes_remaining: challenge.recovery_codes_remaining,
        }
    }
}

/// The answer once a sign-in step succeeded.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SignedIn {
    /// Whether the sign-in is complete under the default access policy (`false`: another
    /// step is needed, e.g. adding a factor).
    pub complete: bool,
    /// Where to go next (the host's [`after_sign_in`](crate::Host::after_sign_in)).
    pub next: String,
    /// Unused recovery codes left (after signing in with one: warn when few remain).
    pub recovery_codes_remaining: Option<usize>,
    /// The session's new CSRF token (the session was renewed).
    pub csrf_token: String,
}

/// The session's CSRF token.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CsrfView {
    pub(crate) csrf_token: String,
}
