//! The JSON the endpoints take and answer: this layer's own types (the HTTP contract,
//! described in the OpenAPI document), made from the service's results. Nothing secret in
//! them except where a user must see it once (a new authenticator app's key, new recovery
//! codes).

use mfa_core::access::RememberedDevice;
use mfa_core::{Challenge, EnrolmentStart, FactorSummary, Prompt, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A factor as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FactorView {
    /// Its id.
    pub id: String,
    /// `totp`, `sms`, `email`, `security-key`, `passkey`, `older-device`, ...
    pub kind: String,
    /// Its name.
    pub label: String,
    /// `pending` (not proven yet) or `active`.
    pub status: String,
    /// What a verification with it proves (`replay_resistant_otp`, `phishing_resistant`, ...).
    pub assurance: String,
    /// Whether it is asked first at sign-in.
    pub preferred: bool,
    /// Where codes go, masked (SMS and email).
    pub masked_destination: Option<String>,
    /// When it was added (Unix milliseconds).
    pub created_at: i64,
    /// When it was last used to sign in (Unix milliseconds).
    pub last_used_at: Option<i64>,
    /// When a pending factor expires (Unix milliseconds).
    pub expires_at: Option<i64>,
    /// Non-secret details (an authenticator's model, transports, backup state).
    pub details: Vec<Detail>,
}

/// One detail of a factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Detail {
    /// What it is.
    pub name: String,
    /// Its value.
    pub value: String,
}

impl From<&FactorSummary> for FactorView {
    fn from(f: &FactorSummary) -> Self {
        Self {
            id: f.id.to_string(),
            kind: f.kind.to_string(),
            label: f.label.clone(),
            status: f.status.as_str().to_owned(),
            assurance: f.assurance.as_str().to_owned(),
            preferred: f.preferred,
            masked_destination: f.masked_destination.clone(),
            created_at: f.created_at.unix_millis(),
            last_used_at: f.last_used_at.map(Timestamp::unix_millis),
            expires_at: f.expires_at.map(Timestamp::unix_millis),
            details: f
                .details
                .iter()
                .map(|(name, value)| Detail { name: name.clone(), value: value.clone() })
                .collect(),
        }
    }
}

/// Views of several factors.
pub(crate) fn factors(list: &[FactorSummary]) -> Vec<FactorView> {
    list.iter().map(FactorView::from).collect()
}

/// A remembered device.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceView {
    /// Its id.
    pub id: String,
    /// Its name ("Chrome on Linux").
    pub label: String,
    /// When it was remembered (Unix milliseconds).
    pub created_at: i64,
    /// When it was last presented (Unix milliseconds).
    pub last_seen_at: Option<i64>,
    /// When it stops counting (Unix milliseconds).
    pub expires_at: i64,
}

impl From<&RememberedDevice> for DeviceView {
    fn from(d: &RememberedDevice) -> Self {
        Self {
            id: d.id.to_string(),
            label: d.label.clone(),
            created_at: d.created_at.unix_millis(),
            last_seen_at: d.last_seen_at.map(Timestamp::unix_millis),
            expires_at: d.expires_at.unix_millis(),
        }
    }
}

/// What to show the user to go on, as JSON: `{"type": "...", ...}`. A new authenticator
/// app's key is secret: `Debug` never prints it.
#[derive(Clone, Serialize, ToSchema)]
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
        expires_at: i64,
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
        #[schema(value_type = Object)]
        options: serde_json::Value,
    },
    /// Options for `navigator.credentials.create()` (`{"publicKey": ...}`).
    CredentialCreation {
        /// The options, as webauthn-rs made them.
        #[schema(value_type = Object)]
        options: serde_json::Value,
    },
}

impl PromptView {
    /// The view of a prompt; WebAuthn options are for `create()` at enrolment and for
    /// `get()` otherwise.
    pub(crate) fn of(prompt: &Prompt, creating: bool) -> Self {
        match prompt {
            Prompt::CodeSent { masked_destination, expires_at } => PromptView::CodeSent {
                masked_destination: masked_destination.clone(),
                expires_at: expires_at.unix_millis(),
            },
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
#[derive(Debug, Clone, Serialize, ToSchema)]
#[non_exhaustive]
pub struct ChallengeView {
    /// The factor challenged.
    pub factor: FactorView,
    /// What to show.
    pub prompt: PromptView,
    /// When the challenge expires (Unix milliseconds).
    pub expires_at: i64,
    /// The user's other factors, best first ("try another way").
    pub alternatives: Vec<FactorView>,
    /// Unused recovery codes the user holds.
    pub recovery_codes_remaining: usize,
}

impl ChallengeView {
    pub(crate) fn of(challenge: &Challenge) -> Self {
        Self {
            factor: FactorView::from(&challenge.factor),
            prompt: PromptView::of(&challenge.prompt, false),
            expires_at: challenge.expires_at.unix_millis(),
            alternatives: factors(&challenge.alternatives),
            recovery_codes_remaining: challenge.recovery_codes_remaining,
        }
    }
}

/// A started enrolment: the pending factor and what to show.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EnrolmentView {
    /// The pending factor.
    pub factor: FactorView,
    /// What to show (a QR code, "code sent to ...", WebAuthn creation options).
    pub prompt: PromptView,
    /// When the pending factor expires (Unix milliseconds).
    pub expires_at: i64,
}

impl EnrolmentView {
    pub(crate) fn of(start: &EnrolmentStart) -> Self {
        Self {
            factor: FactorView::from(&start.factor),
            prompt: PromptView::of(&start.prompt, true),
            expires_at: start.expires_at.unix_millis(),
        }
    }
}

/// A started passwordless sign-in: the WebAuthn request options.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PasswordlessView {
    /// What to hand to the browser: options for `navigator.credentials.get()`, with
    /// `"mediation": "conditional"` when the start asked for passkey autofill, without
    /// `mediation` otherwise.
    pub prompt: PromptView,
    /// When it expires (Unix milliseconds).
    pub expires_at: i64,
}

/// How a passwordless sign-in is started; an empty body asks for a passkey in the
/// browser's own dialog.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordlessStart {
    /// `conditional`: for passkey autofill (the browser offers the passkeys in the
    /// user-name field marked `autocomplete="username webauthn"`); `optional` (the
    /// default): when the user asks for it, e.g. with a button.
    #[serde(default)]
    pub mediation: Mediation,
}

/// How the browser asks the user for a passkey (the WebAuthn `mediation` of
/// `navigator.credentials.get()`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Mediation {
    /// In the browser's dialog, when the user asks for it.
    #[default]
    Optional,
    /// In the user-name field's autofill, as the sign-in page loads.
    Conditional,
}

/// This session's sign-in, as a page shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[non_exhaustive]
pub struct SessionView {
    /// Who signed in.
    pub user: String,
    /// Whether the sign-in meets the sign-in policy.
    pub complete: bool,
    /// How it started: `password`, or `passkey` (a passwordless sign-in, from autofill or
    /// a button).
    pub first_step: String,
    /// The second step that finished the sign-in at the sign-in endpoints (the first one
    /// of this session): a factor kind (`totp`, `sms`, `email`, `security-key`, `passkey`,
    /// `older-device`, ...), `recovery_code` or `temporary_access`. `None` when none did:
    /// a passwordless sign-in, a remembered device, a sign-in the policy finished with the
    /// password alone, or one still waiting for its second step.
    pub second_step: Option<String>,
    /// The strongest assurance verified in this session (`phishing_resistant_multi_factor`
    /// for a passkey, ...), not counting step-ups bound to one action.
    pub assurance: Option<String>,
    /// Whether a remembered device stands for the second step.
    pub remembered_device: bool,
    /// Whether to offer adding a passkey ("Add a passkey to sign in faster"): see the
    /// crate's "Passkey upgrade" section for when.
    pub offer_passkey: bool,
}

/// The answer once a sign-in step succeeded.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[non_exhaustive]
pub struct SignedIn {
    /// Whether the sign-in is complete under the sign-in policy (`false`: another step is
    /// needed, e.g. adding a factor).
    pub complete: bool,
    /// Where to go next (the host's [`after_sign_in`](crate::Host::after_sign_in)).
    pub next: String,
    /// Unused recovery codes left (after signing in with one: warn when few remain).
    pub recovery_codes_remaining: Option<usize>,
    /// The session's CSRF token (a sign-in renews it).
    pub csrf_token: String,
    /// Whether to offer adding a passkey now ("Add a passkey to sign in faster"), as
    /// [`SessionView::offer_passkey`].
    pub offer_passkey: bool,
}

/// The session's CSRF token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CsrfView {
    /// Send it as `x-csrf-token` with every change.
    pub csrf_token: String,
}

/// How many unused recovery codes are left.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RemainingView {
    /// Unused codes.
    pub remaining: usize,
}

/// New recovery codes, shown once. `Debug` never prints them.
#[derive(Clone, Serialize, ToSchema)]
pub struct CodesView {
    /// Each works once.
    pub codes: Vec<String>,
}

/// How many remembered devices were forgotten.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RevokedView {
    /// Devices forgotten.
    pub revoked: u64,
}

/// Which factor to challenge; the preferred one when absent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartChallenge {
    /// A factor id.
    pub factor: Option<String>,
}

/// The answer to a challenge or an enrolment: a typed code, or the browser's credential
/// response; and, at sign-in, whether to remember this device.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// The code typed.
    pub code: Option<String>,
    /// The `PublicKeyCredential`, JSON-encoded as webauthn-rs reads it.
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
    /// Remember this device (sign-in only).
    #[serde(default)]
    pub remember_device: bool,
}

/// A recovery code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryCodeBody {
    /// As typed; spaces and case do not matter.
    pub code: String,
}

/// A temporary access code an administrator issued.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemporaryAccessBody {
    /// As typed; spaces, dashes and case do not matter.
    pub code: String,
}

/// A credential response.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialBody {
    /// The `PublicKeyCredential`, JSON-encoded.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// A factor to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFactorBody {
    /// `totp`, `sms`, `email`, `security-key`, `passkey` or `older-device`.
    pub kind: String,
    /// A name; a default one otherwise.
    pub label: Option<String>,
    /// A phone number (SMS) or an email address.
    pub destination: Option<String>,
    /// The id of a factor of the same kind this one replaces once proven.
    pub replaces: Option<String>,
}

/// A new name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameBody {
    /// 1 to 64 characters.
    pub label: String,
}

/// The password, again.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// The user's password.
    pub password: String,
}

impl std::fmt::Debug for PromptView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PromptView::EnterCode => f.write_str("EnterCode"),
            PromptView::CodeSent { masked_destination, expires_at } => f
                .debug_struct("CodeSent")
                .field("masked_destination", masked_destination)
                .field("expires_at", expires_at)
                .finish(),
            PromptView::SharedSecret { .. } => f.write_str("SharedSecret([redacted])"),
            PromptView::CredentialRequest { .. } => f.write_str("CredentialRequest"),
            PromptView::CredentialCreation { .. } => f.write_str("CredentialCreation"),
        }
    }
}

impl std::fmt::Debug for CodesView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CodesView({} codes, [redacted])", self.codes.len())
    }
}

impl std::fmt::Debug for AnswerBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerBody")
            .field("code", &self.code.as_ref().map(|_| "[redacted]"))
            .field("credential", &self.credential.as_ref().map(|_| "[credential]"))
            .field("remember_device", &self.remember_device)
            .finish()
    }
}

impl std::fmt::Debug for RecoveryCodeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCodeBody([redacted])")
    }
}

impl std::fmt::Debug for TemporaryAccessBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TemporaryAccessBody([redacted])")
    }
}

impl std::fmt::Debug for PasswordBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordBody([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_with_secrets_never_print_them() {
        let answer: AnswerBody = serde_json::from_str(r#"{"code": "493817"}"#).unwrap();
        let code: RecoveryCodeBody = serde_json::from_str(r#"{"code": "ABCD-EFGH-IJKL"}"#).unwrap();
        let password: PasswordBody = serde_json::from_str(r#"{"password": "correct horse"}"#).unwrap();
        let temporary: TemporaryAccessBody = serde_json::from_str(r#"{"code": "QRST-UVWX"}"#).unwrap();
        let prompt =
            PromptView::SharedSecret { secret_base32: "JBSWY3DP".into(), uri: "otpauth://x".into(), qr_svg: None };
        let codes = CodesView { codes: vec!["WXYZ-1234".into()] };
        let printed = format!("{answer:?} {code:?} {password:?} {temporary:?} {prompt:?} {codes:?}");
        for secret in ["493817", "ABCD", "correct horse", "QRST", "JBSWY3DP", "otpauth", "WXYZ"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }
}
