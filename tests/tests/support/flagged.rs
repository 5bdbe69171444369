//! A software passkey that reports chosen backup flags (BE, BS) and model (AAGUID).
//!
//! webauthn-authenticator-rs's `SoftPasskey` never sets the backup flags, and its assertion
//! signatures cover the flags, so they cannot be edited afterwards. [`FlaggedPasskey`] is a
//! whole (small) authenticator: one P-256 credential, `none` attestation, user verified,
//! and the flags a test sets before each ceremony — as a synced passkey (BE=1) reports,
//! or one whose backup state changes between sign-ins.

use std::collections::BTreeMap;

use crypto_glue::ecdsa_p256::{EcdsaP256Signature, EcdsaP256SigningKey, new_key};
use crypto_glue::traits::Signer;
use serde_cbor_2::Value;
use sha2::{Digest, Sha256};
use webauthn_authenticator_rs::AuthenticatorBackendHashedClientData;
use webauthn_authenticator_rs::error::WebauthnCError;
use webauthn_rs_proto::{
    AuthenticationExtensionsClientOutputs, AuthenticatorAssertionResponseRaw, AuthenticatorAttestationResponseRaw,
    PublicKeyCredential, PublicKeyCredentialCreationOptions, PublicKeyCredentialRequestOptions,
    RegisterPublicKeyCredential, RegistrationExtensionsClientOutputs,
};

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;

/// See the [module documentation](self).
pub(crate) struct FlaggedPasskey {
    key: EcdsaP256SigningKey,
    cred_id: Vec<u8>,
    user_handle: Vec<u8>,
    counter: u32,
    /// The AAGUID it reports at registration.
    pub(crate) aaguid: [u8; 16],
    /// Backup eligible: the credential may be synced.
    pub(crate) backup_eligible: bool,
    /// Backed up: it is synced now.
    pub(crate) backup_state: bool,
}

impl FlaggedPasskey {
    /// A new passkey with a fresh key, reporting `aaguid` and the given flags.
    pub(crate) fn new(aaguid: [u8; 16], backup_eligible: bool, backup_state: bool) -> Self {
        let key = EcdsaP256SigningKey::from(new_key());
        let cred_id = Sha256::digest(key.verifying_key().to_sec1_bytes()).to_vec();
        Self { key, cred_id, user_handle: Vec::new(), counter: 0, aaguid, backup_eligible, backup_state }
    }

    fn flags(&self) -> u8 {
        let mut flags = UP | UV;
        if self.backup_eligible {
            flags |= BE;
        }
        if self.backup_state {
            flags |= BS;
        }
        flags
    }
}

impl AuthenticatorBackendHashedClientData for FlaggedPasskey {
    fn perform_register(
        &mut self,
        _client_data_hash: Vec<u8>,
        options: PublicKeyCredentialCreationOptions,
        _timeout_ms: u32,
    ) -> Result<RegisterPublicKeyCredential, WebauthnCError> {
        self.user_handle = options.user.id.to_vec();
        let point = self.key.verifying_key().to_sec1_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else { return Err(WebauthnCError::Internal) };
        let cose = Value::Map(BTreeMap::from([
            (Value::Integer(1), Value::Integer(2)),
            (Value::Integer(3), Value::Integer(-7)),
            (Value::Integer(-1), Value::Integer(1)),
            (Value::Integer(-2), Value::Bytes(x.to_vec())),
            (Value::Integer(-3), Value::Bytes(y.to_vec())),
        ]));
        let mut auth_data = Sha256::digest(options.rp.id.as_bytes()).to_vec();
        auth_data.push(self.flags() | AT);
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        auth_data.extend_from_slice(&self.aaguid);
        let id_len = u16::try_from(self.cred_id.len()).map_err(|_| WebauthnCError::Internal)?;
        auth_data.extend_from_slice(&id_len.to_be_bytes());
        auth_data.extend_from_slice(&self.cred_id);
        auth_data.extend(serde_cbor_2::to_vec(&cose).map_err(|_| WebauthnCError::Cbor)?);
        let object = Value::Map(BTreeMap::from([
            (Value::Text("fmt".into()), Value::Text("none".into())),
            (Value::Text("attStmt".into()), Value::Map(BTreeMap::new())),
            (Value::Text("authData".into()), Value::Bytes(auth_data)),
        ]));
        Ok(RegisterPublicKeyCredential {
            id: data_encoding::BASE64URL_NOPAD.encode(&self.cred_id),
            raw_id: self.cred_id.clone(),
            response: AuthenticatorAttestationResponseRaw {
                attestation_object: serde_cbor_2::to_vec(&object).map_err(|_| WebauthnCError::Cbor)?,
                client_data_json: Vec::new(),
                transports: None,
            },
            type_: "public-key".into(),
            extensions: RegistrationExtensionsClientOutputs::default(),
        })
    }

    fn perform_auth(
        &mut self,
        client_data_hash: Vec<u8>,
        options: PublicKeyCredentialRequestOptions,
        _timeout_ms: u32,
    ) -> Result<PublicKeyCredential, WebauthnCError> {
        self.counter += 1;
        let mut auth_data = Sha256::digest(options.rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags());
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&client_data_hash);
        let sig: EcdsaP256Signature =
            self.key.try_sign(&signed).map_err(|_| WebauthnCError::CryptographyEcdsaSignature)?;
        Ok(PublicKeyCredential {
            id: data_encoding::BASE64URL_NOPAD.encode(&self.cred_id),
            raw_id: self.cred_id.clone(),
            response: AuthenticatorAssertionResponseRaw {
                authenticator_data: auth_data,
                client_data_json: Vec::new(),
                signature: sig.to_der().as_bytes().to_vec(),
                user_handle: Some(self.user_handle.clone()),
            },
            type_: "public-key".into(),
            extensions: AuthenticationExtensionsClientOutputs::default(),
        })
    }
}
