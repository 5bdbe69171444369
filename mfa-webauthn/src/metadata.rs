//! The FIDO Metadata Service (MDS3): which authenticator models exist, what they are called,
//! which roots sign their attestation, and which were revoked or compromised.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use fido_mds::StatusReport;
use mfa_core::{Error, Result};
use webauthn_rs::prelude::{AttestationCaList, AttestationCaListBuilder, Uuid};

/// The FIDO Metadata Service's statements about authenticator models, read offline from
/// the blob the host downloads (<https://mds3.fidoalliance.org/>, refreshed by the host on
/// its own schedule, e.g. monthly). Parsed and checked by the `fido-mds` crate.
///
/// An [`AuthenticatorPolicy`](crate::AuthenticatorPolicy) with metadata names each
/// authenticator in the device list, refuses models the FIDO Alliance reports as revoked or
/// compromised, and can require attestation chaining to the roots listed for the model.
///
/// ```
/// use mfa_webauthn::Metadata;
///
/// let payload = r#"{"legalHeader": "", "no": 1, "nextUpdate": "2030-01-01", "entries": []}"#;
/// let metadata = Metadata::from_trusted_json(payload)?;
/// assert_eq!(metadata.len(), 0);
/// assert!(Metadata::from_blob("not a JWT").is_err());
/// # Ok::<(), mfa_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Metadata {
    serial: u32,
    next_update: String,
    entries: BTreeMap<Uuid, MetadataEntry>,
}

/// What the metadata says about one authenticator model (an AAGUID).
#[derive(Clone)]
pub struct MetadataEntry {
    description: String,
    status: &'static str,
    refused: bool,
    roots: Option<AttestationCaList>,
}

impl Metadata {
    /// Reads the MDS3 blob as downloaded: a JWT whose signature chains to the FIDO Alliance's
    /// GlobalSign roots, checked now. Only FIDO2 entries (those with an AAGUID) are kept.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if the blob is not a JWT, its signature does not verify, or its
    /// payload is not MDS3.
    pub fn from_blob(jwt: &str) -> Result<Metadata> {
        let raw = fido_mds::mds::FidoMds::from_str(jwt.trim())
            .map_err(|_| Error::Config("the FIDO metadata blob does not verify or is not MDS3"))?;
        Ok(Self::from_raw(raw))
    }

    /// Reads an MDS3 payload (the JSON inside the blob) the host has verified or produced
    /// itself: its own list of models, or a test fixture. Nothing here checks who wrote it.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if it is not an MDS3 payload.
    pub fn from_trusted_json(json: &str) -> Result<Metadata> {
        let raw: fido_mds::mds::FidoMds =
            serde_json::from_str(json).map_err(|_| Error::Config("not an MDS3 metadata payload"))?;
        Ok(Self::from_raw(raw))
    }

    /// Judges every FIDO2 entry from its raw status reports — an entry or report the
    /// `fido-mds` crate finds inconsistent is dropped there, and a dropped `REVOKED` must
    /// still count — and from the crate's own patches for known insecure models.
    fn from_raw(raw: fido_mds::mds::FidoMds) -> Metadata {
        let (serial, next_update) = (raw.no, raw.next_update.clone());
        let patched: BTreeMap<Uuid, bool> = fido_mds::FidoMds::from(raw.clone())
            .fido2
            .iter()
            .map(|device| (device.aaguid, judge_parsed(device.status_reports.iter())))
            .collect();
        let entries = raw
            .entries
            .iter()
            .filter_map(|device| {
                let aaguid = device.aaguid.or(device.metadata_statement.aaguid)?;
                let statement = &device.metadata_statement;
                let (status, refused) = judge_raw(&device.status_reports);
                let mut roots = AttestationCaListBuilder::new();
                let mut any_root = false;
                for cert in &statement.attestation_root_certificates {
                    let Ok(der) = data_encoding::BASE64.decode(cert.trim().as_bytes()) else { continue };
                    let description = statement.description.clone();
                    any_root |= roots.insert_device_der(&der, aaguid, description, BTreeMap::new()).is_ok();
                }
                let entry = MetadataEntry {
                    description: statement.description.clone(),
                    status,
                    refused: refused || patched.get(&aaguid).copied().unwrap_or(false),
                    roots: any_root.then(|| roots.build()),
                };
                Some((aaguid, entry))
            })
            .collect();
        Metadata { serial, next_update, entries }
    }

    /// How many authenticator models it describes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if it describes no model.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The blob's serial number (`no`), increasing with every release.
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// When the FIDO Alliance plans the next release (`nextUpdate`, an ISO 8601 date): a
    /// host can warn when its copy is older.
    pub fn next_update(&self) -> &str {
        &self.next_update
    }

    /// What the metadata says about the model with this AAGUID (hyphenated, any case).
    pub fn entry(&self, aaguid: &str) -> Option<&MetadataEntry> {
        Uuid::parse_str(aaguid).ok().and_then(|id| self.entries.get(&id))
    }

    pub(crate) fn get(&self, aaguid: &Uuid) -> Option<&MetadataEntry> {
        self.entries.get(aaguid)
    }
}

impl MetadataEntry {
    /// The model's name, in English ("YubiKey 5 Series with NFC").
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The model's latest status report, as MDS3 spells it (`FIDO_CERTIFIED_L1`,
    /// `REVOKED`, ...), or `NONE` without one.
    pub fn status(&self) -> &'static str {
        self.status
    }

    /// True if the policy refuses this model: a `REVOKED` report, any
    /// `ATTESTATION_KEY_COMPROMISE`, `USER_KEY_REMOTE_COMPROMISE` or
    /// `USER_KEY_PHYSICAL_COMPROMISE` report, or a latest report of
    /// `USER_VERIFICATION_BYPASS`. Firmware versions are not told apart: the attestation of
    /// most models does not say which firmware a key runs.
    pub fn is_refused(&self) -> bool {
        self.refused
    }

    pub(crate) fn roots(&self) -> Option<&AttestationCaList> {
        self.roots.as_ref()
    }
}

/// The status names that make a model refused whenever they were reported.
const REFUSED_EVER: [&str; 4] =
    ["REVOKED", "ATTESTATION_KEY_COMPROMISE", "USER_KEY_REMOTE_COMPROMISE", "USER_KEY_PHYSICAL_COMPROMISE"];

/// The latest status's name, and whether the reports make the model refused.
fn judge_raw(reports: &[fido_mds::mds::StatusReport]) -> (&'static str, bool) {
    let mut dated: Vec<(Option<&str>, &'static str)> =
        reports.iter().map(|r| (r.effective_date.as_deref(), raw_status_name(&r.status))).collect();
    // By effective date, undated reports last ("the latest").
    dated.sort_by(|a, b| match (a.0, b.0) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (Some(x), Some(y)) => x.cmp(y),
    });
    let refused_ever = dated.iter().any(|(_, name)| REFUSED_EVER.contains(name));
    let latest = dated.last().map_or("NONE", |(_, name)| *name);
    (latest, refused_ever || latest == "USER_VERIFICATION_BYPASS")
}

/// The same judgement on `fido-mds`'s parsed reports (which include its patches).
fn judge_parsed<'a>(reports: impl Iterator<Item = &'a StatusReport>) -> bool {
    let mut refused = false;
    let mut latest_bypass = false;
    for report in reports {
        refused |= matches!(
            report,
            StatusReport::Revoked { .. }
                | StatusReport::AttestationKeyCompromise { .. }
                | StatusReport::UserKeyRemoteCompromise { .. }
                | StatusReport::UserKeyPhysicalCompromise { .. }
        );
        latest_bypass = matches!(report, StatusReport::UserVerificationBypass { .. });
    }
    refused || latest_bypass
}

fn raw_status_name(status: &fido_mds::mds::AuthenticatorStatus) -> &'static str {
    use fido_mds::mds::AuthenticatorStatus as S;
    match status {
        S::NotFidoCertified => "NOT_FIDO_CERTIFIED",
        S::FidoCertified => "FIDO_CERTIFIED",
        S::UserVerificationBypass => "USER_VERIFICATION_BYPASS",
        S::AttestationKeyCompromise => "ATTESTATION_KEY_COMPROMISE",
        S::UserKeyRemoteCompromise => "USER_KEY_REMOTE_COMPROMISE",
        S::UserKeyPhysicalCompromise => "USER_KEY_PHYSICAL_COMPROMISE",
        S::UpdateAvailable => "UPDATE_AVAILABLE",
        S::Revoked => "REVOKED",
        S::SelfAssertionSubmitted => "SELF_ASSERTION_SUBMITTED",
        S::FidoCertifiedL1 => "FIDO_CERTIFIED_L1",
        S::FidoCertifiedL1Plus => "FIDO_CERTIFIED_L1plus",
        S::FidoCertifiedL2 => "FIDO_CERTIFIED_L2",
        S::FidoCertifiedL2Plus => "FIDO_CERTIFIED_L2plus",
        S::FidoCertifiedL3 => "FIDO_CERTIFIED_L3",
        S::FidoCertifiedL3Plus => "FIDO_CERTIFIED_L3plus",
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("serial", &self.serial)
            .field("next_update", &self.next_update)
            .field("models", &self.entries.len())
            .field("refused", &self.entries.values().filter(|e| e.refused).count())
            .finish()
    }
}

impl fmt::Debug for MetadataEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataEntry")
            .field("description", &self.description)
            .field("status", &self.status)
            .field("refused", &self.refused)
            .field("roots", &self.roots.as_ref().map_or(0, AttestationCaList::len))
            .finish()
    }
}
