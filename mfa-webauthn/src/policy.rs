//! Which authenticators a deployment accepts: attestation, models, synced passkeys.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use mfa_core::{Error, Result};
use serde::Deserialize;
use webauthn_rs::prelude::{
    AttestationCaList, AttestationMetadata, ParsedAttestationData, RegisterPublicKeyCredential, Uuid,
};
use webauthn_rs_core::attestation::verify_attestation_ca_chain;
use webauthn_rs_core::proto::Credential;

use crate::metadata::Metadata;

/// Which security keys and passkeys a deployment accepts. The default, [`any`](Self::any),
/// accepts every authenticator whose registration verifies, as consumer sites do;
/// enterprises narrow it.
///
/// | option | default | effect |
/// |---|---|---|
/// | [`trust_ca_pem`](Self::trust_ca_pem) / [`trust_ca_der`](Self::trust_ca_der) | none listed | registration needs an attestation chaining to a listed root |
/// | [`allow_aaguid`](Self::allow_aaguid) | every model | only these models (AAGUIDs) register or sign in |
/// | [`deny_aaguid`](Self::deny_aaguid) | none | these models never register or sign in |
/// | [`metadata`](Self::metadata) | none | names models in the device list; refuses revoked or compromised ones |
/// | [`require_metadata_attestation`](Self::require_metadata_attestation) | off | registration needs an attestation chaining to a root the metadata lists for the model |
/// | [`refuse_backup_eligible`](Self::refuse_backup_eligible) | off | synced (backup-eligible) passkeys are refused |
///
/// With roots listed or an allow list, registration asks the browser for `direct`
/// attestation; otherwise for none (no consent prompt), and the model is what the
/// authenticator reports, if anything. Without a trusted root, a model's AAGUID is the
/// authenticator's own claim: an allow list then keeps honest devices out, not a
/// determined attacker.
///
/// webauthn-rs 0.6 verifies `packed`, `fido-u2f`, `apple` and `android-key` attestation,
/// not `tpm` (Windows Hello asked for `direct`) nor `android-safetynet`: those
/// registrations are refused whatever the policy, so a deployment that requires
/// attestation cannot admit Windows Hello. Asked for no attestation, Windows Hello
/// registers as any passkey.
///
/// Registration checks everything. Each sign-in checks again what can be checked without
/// the attestation statement (which a sign-in does not carry): the allow and deny lists,
/// the metadata's verdict, backup eligibility (which an authenticator may start to report),
/// and — when attestation is required — that the root the credential was attested by is
/// still trusted. So tightening a policy, or a newer metadata blob revoking a model, takes
/// effect at the next sign-in, not only for new registrations.
///
/// A passkey that verified the user, attested by a trusted root, and not backup-eligible
/// proves [`Assurance::HardwareBound`](mfa_core::Assurance::HardwareBound).
///
/// ```
/// use mfa_webauthn::{AuthenticatorPolicy, WebauthnFactor};
///
/// let policy = AuthenticatorPolicy::any()
///     .deny_aaguid("00000000-0000-0000-0000-000000000001")?
///     .refuse_backup_eligible(true);
/// let factor = WebauthnFactor::builder("example.com", "Example", "https://example.com").policy(policy).build()?;
/// # Ok::<(), mfa_core::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct AuthenticatorPolicy {
    cas: AttestationCaList,
    allowed: BTreeSet<Uuid>,
    denied: BTreeSet<Uuid>,
    metadata: Option<Arc<Metadata>>,
    metadata_attestation: bool,
    refuse_backup_eligible: bool,
}

/// What the policy found out about an accepted registration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Admission {
    /// The model's AAGUID (hyphenated, lower case), unless the authenticator hides it.
    pub aaguid: Option<String>,
    /// The model's name from the metadata.
    pub name: Option<String>,
    /// True if its attestation chains to a trusted root (listed, or from the metadata).
    pub attested: bool,
    /// The trusted root it chains to: the SHA-256 of its certificate, hex.
    pub root: Option<String>,
    /// True if the credential may be synced to other devices (a synced passkey).
    pub backup_eligible: bool,
}

impl Admission {
    /// True if the key is attested and cannot leave the authenticator.
    pub fn device_bound(&self) -> bool {
        self.attested && !self.backup_eligible
    }
}

fn refused(reason: &'static str) -> Error {
    Error::AuthenticatorRefused { reason }
}

fn bad_aaguid(_: impl std::error::Error) -> Error {
    Error::InvalidInput { field: "aaguid", reason: "not a UUID" }
}

impl AuthenticatorPolicy {
    /// Accepts every authenticator whose registration verifies.
    pub fn any() -> Self {
        Self::default()
    }

    /// Trusts a root certificate (PEM): registrations must then present an attestation
    /// chaining to one of the listed roots. Call it once per root.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if it is not a PEM certificate.
    pub fn trust_ca_pem(mut self, pem: &str) -> Result<Self> {
        let list = AttestationCaList::try_from(pem.as_bytes())
            .map_err(|_| Error::Config("not a PEM attestation root certificate"))?;
        self.cas.union(&list);
        Ok(self)
    }

    /// As [`trust_ca_pem`](Self::trust_ca_pem), with a DER certificate.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if it is not a DER certificate.
    pub fn trust_ca_der(self, der: &[u8]) -> Result<Self> {
        let body = data_encoding::BASE64.encode(der);
        let lines: Vec<&str> = body.as_bytes().chunks(64).filter_map(|c| std::str::from_utf8(c).ok()).collect();
        let pem = format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"));
        self.trust_ca_pem(&pem).map_err(|_| Error::Config("not a DER attestation root certificate"))
    }

    /// Accepts only the listed models (call once per AAGUID): any other, or one that hides
    /// its model, is refused.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if `aaguid` is not a UUID.
    pub fn allow_aaguid(mut self, aaguid: &str) -> Result<Self> {
        self.allowed.insert(Uuid::parse_str(aaguid).map_err(bad_aaguid)?);
        Ok(self)
    }

    /// Refuses a model (call once per AAGUID).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if `aaguid` is not a UUID.
    pub fn deny_aaguid(mut self, aaguid: &str) -> Result<Self> {
        self.denied.insert(Uuid::parse_str(aaguid).map_err(bad_aaguid)?);
        Ok(self)
    }

    /// Uses FIDO metadata: models get their names in the device list, and revoked or
    /// compromised models are refused ([`MetadataEntry::is_refused`](crate::MetadataEntry::is_refused)).
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = Some(Arc::new(metadata));
        self
    }

    /// Requires an attestation chaining to a root the metadata lists for the model (as
    /// well as, or instead of, the listed roots). A model the metadata does not know is
    /// refused. Needs [`metadata`](Self::metadata).
    pub fn require_metadata_attestation(mut self, on: bool) -> Self {
        self.metadata_attestation = on;
        self
    }

    /// Refuses backup-eligible credentials — passkeys a platform may sync to other devices
    /// — for deployments that need keys bound to one device. Default off: synced passkeys
    /// are what most users have.
    pub fn refuse_backup_eligible(mut self, on: bool) -> Self {
        self.refuse_backup_eligible = on;
        self
    }

    /// True if registrations must be attested by a trusted root.
    pub fn requires_attestation(&self) -> bool {
        !self.cas.is_empty() || self.metadata_attestation
    }

    /// True if registration should ask for `direct` attestation: when roots must be
    /// verified, or only listed models are admitted (a browser asked for no attestation may
    /// hide the model, and an allow list would refuse it). A deny list and the metadata use
    /// the model when the authenticator reports it, and ask for nothing: `direct` makes
    /// browsers show a consent prompt, and Windows Hello then answers with a `tpm`
    /// statement, which webauthn-rs 0.6 cannot verify.
    pub(crate) fn wants_attestation(&self) -> bool {
        self.requires_attestation() || !self.allowed.is_empty()
    }

    /// Checks a verified registration: `registration` is the browser's response (JSON, as
    /// `toJSON()` makes it) and `credential` the credential webauthn-rs made of it (the
    /// JSON of its `Passkey` or `SecurityKey`). `now` is the time attestation certificates
    /// must be valid at.
    ///
    /// # Errors
    ///
    /// [`Error::AuthenticatorRefused`] with the reason; [`Error::InvalidInput`] if either
    /// JSON is not what it should be.
    pub fn check_registration(&self, registration: &str, credential: &[u8], now: SystemTime) -> Result<Admission> {
        let registration: RegisterPublicKeyCredential = serde_json::from_str(registration)
            .map_err(|_| Error::InvalidInput { field: "registration", reason: "not a WebAuthn registration" })?;
        let stored: Stored = serde_json::from_slice(credential)
            .map_err(|_| Error::InvalidInput { field: "credential", reason: "not a webauthn-rs credential" })?;
        self.admit(crate::aaguid_uuid(&registration), &stored.cred, now)
    }

    pub(crate) fn admit(&self, aaguid: Option<Uuid>, cred: &Credential, now: SystemTime) -> Result<Admission> {
        // The attested model, when the statement names one, else the authenticator data's.
        let aaguid = match &cred.attestation.metadata {
            AttestationMetadata::Packed { aaguid } | AttestationMetadata::Tpm { aaguid, .. } => Some(*aaguid),
            _ => aaguid,
        }
        .filter(|id| !id.is_nil());
        self.check_model(aaguid.as_ref(), cred.backup_eligible)?;
        let entry = aaguid.as_ref().and_then(|id| self.metadata.as_ref()?.get(id));
        let root = if self.requires_attestation() { Some(self.attested_root(aaguid, cred, now)?) } else { None };
        Ok(Admission {
            aaguid: aaguid.map(|id| id.hyphenated().to_string()),
            name: entry.map(|e| e.description().to_owned()),
            attested: root.is_some(),
            root,
            backup_eligible: cred.backup_eligible,
        })
    }

    /// The checks a sign-in repeats (see the type's documentation).
    pub(crate) fn check_sign_in(&self, aaguid: Option<&str>, backup_eligible: bool, root: Option<&str>) -> Result<()> {
        let aaguid = aaguid.and_then(|a| Uuid::parse_str(a).ok());
        self.check_model(aaguid.as_ref(), backup_eligible)?;
        if self.requires_attestation() {
            let trusted = root.is_some_and(|root| self.trusts_root(aaguid.as_ref(), root));
            if !trusted {
                return Err(refused("attestation_untrusted"));
            }
        }
        Ok(())
    }

    /// The name of a model, from the metadata.
    pub(crate) fn name_of(&self, aaguid: Option<&str>) -> Option<String> {
        let id = Uuid::parse_str(aaguid?).ok()?;
        Some(self.metadata.as_ref()?.get(&id)?.description().to_owned())
    }

    fn check_model(&self, aaguid: Option<&Uuid>, backup_eligible: bool) -> Result<()> {
        if self.refuse_backup_eligible && backup_eligible {
            return Err(refused("backup_eligible"));
        }
        if aaguid.is_some_and(|id| self.denied.contains(id)) {
            return Err(refused("aaguid_denied"));
        }
        if !self.allowed.is_empty() && !aaguid.is_some_and(|id| self.allowed.contains(id)) {
            return Err(refused("aaguid_not_allowed"));
        }
        let entry = aaguid.and_then(|id| self.metadata.as_ref()?.get(id));
        if entry.is_some_and(|e| e.is_refused()) {
            return Err(refused("authenticator_revoked"));
        }
        Ok(())
    }

    /// The trusted roots for a model: the listed ones, and the metadata's for it.
    fn roots_for(&self, aaguid: Option<&Uuid>) -> AttestationCaList {
        let mut roots = self.cas.clone();
        if self.metadata_attestation
            && let Some(listed) = aaguid.and_then(|id| self.metadata.as_ref()?.get(id)?.roots())
        {
            roots.union(listed);
        }
        roots
    }

    fn trusts_root(&self, aaguid: Option<&Uuid>, root: &str) -> bool {
        let listed = |list: &AttestationCaList| list.cas().keys().any(|kid| hex(kid) == root);
        listed(&self.cas)
            || (self.metadata_attestation
                && aaguid.and_then(|id| self.metadata.as_ref()?.get(id)?.roots()).is_some_and(listed))
    }

    /// Verifies the attestation chain to a trusted root; returns the root's digest.
    fn attested_root(&self, aaguid: Option<Uuid>, cred: &Credential, now: SystemTime) -> Result<String> {
        if matches!(cred.attestation.data, ParsedAttestationData::None | ParsedAttestationData::Self_) {
            return Err(refused("attestation_missing"));
        }
        let roots = self.roots_for(aaguid.as_ref());
        if roots.is_empty() {
            return Err(refused("attestation_untrusted"));
        }
        let ca = match verify_attestation_ca_chain(&cred.attestation.data, &roots, now) {
            Ok(Some(ca)) => ca,
            Ok(None) => return Err(refused("attestation_missing")),
            Err(e) => {
                tracing::debug!(target: "mfa::webauthn", error = ?e, "attestation does not chain to a trusted root");
                return Err(refused("attestation_untrusted"));
            }
        };
        // A root vouching only for some models vouches for nothing else.
        if !ca.blanket_allow() && !aaguid.is_some_and(|id| ca.aaguids().contains_key(&id)) {
            return Err(refused("attestation_untrusted"));
        }
        let kid = ca.get_kid().map_err(|_| refused("attestation_untrusted"))?;
        Ok(hex(&kid))
    }
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// webauthn-rs's `Passkey` and `SecurityKey` serialise as `{"cred": <Credential>}`.
#[derive(Deserialize)]
pub(crate) struct Stored {
    pub(crate) cred: Credential,
}

impl fmt::Debug for AuthenticatorPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatorPolicy")
            .field("trusted_roots", &self.cas.len())
            .field("allowed_aaguids", &self.allowed)
            .field("denied_aaguids", &self.denied)
            .field("metadata", &self.metadata)
            .field("require_metadata_attestation", &self.metadata_attestation)
            .field("refuse_backup_eligible", &self.refuse_backup_eligible)
            .finish()
    }
}
