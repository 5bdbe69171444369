//! A soft U2F-era security key: wraps `SoftToken` and rewrites its registrations into a
//! `fido-u2f` attestation (all-zero AAGUID, one attestation certificate, signature over
//! `0x00 || rpIdHash || clientDataHash || credId || 0x04 || x || y`). Assertions come from
//! `SoftToken` unchanged (no user verification).
//!
//! It can also present its first credential again at a later registration, as a key whose
//! credential was copied would, to test that a credential id is never bound twice.

use std::collections::BTreeMap;

use crypto_glue::ecdsa_p256::{EcdsaP256Signature, EcdsaP256SigningKey};
use crypto_glue::pkcs8::PrivateKeyInfo;
use crypto_glue::traits::Signer;
use serde_cbor_2::Value;
use webauthn_authenticator_rs::AuthenticatorBackendHashedClientData;
use webauthn_authenticator_rs::error::WebauthnCError;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs_proto::{
    PublicKeyCredential, PublicKeyCredentialCreationOptions, PublicKeyCredentialRequestOptions,
    RegisterPublicKeyCredential,
};

pub(crate) struct U2fSoftKey {
    inner: SoftToken,
    attestation_key: EcdsaP256SigningKey,
    attestation_cert: Vec<u8>,
    /// The credential id and COSE key of the first registration.
    first: Option<Vec<u8>>,
    /// Present the first credential again at the next registrations.
    pub(crate) repeat_first_credential: bool,
}

fn unb64(s: &str) -> Vec<u8> {
    data_encoding::BASE64URL_NOPAD.decode(s.as_bytes()).expect("base64url")
}

impl U2fSoftKey {
    pub(crate) fn new() -> Self {
        let (inner, _ca) = SoftToken::new(false).expect("soft token");
        // SoftToken serialises its P-256 attestation key and certificate: reuse them.
        let v = serde_json::to_value(&inner).expect("serialise soft token");
        let key = unb64(v["intermediate_key"].as_str().expect("key"));
        let attestation_cert = unb64(v["intermediate_cert"].as_str().expect("cert"));
        let info = PrivateKeyInfo::try_from(key.as_slice()).expect("pkcs8");
        let attestation_key = EcdsaP256SigningKey::try_from(info).expect("p256 key");
        Self { inner, attestation_key, attestation_cert, first: None, repeat_first_credential: false }
    }
}

impl AuthenticatorBackendHashedClientData for U2fSoftKey {
    fn perform_register(
        &mut self,
        client_data_hash: Vec<u8>,
        options: PublicKeyCredentialCreationOptions,
        timeout_ms: u32,
    ) -> Result<RegisterPublicKeyCredential, WebauthnCError> {
        let mut reg = AuthenticatorBackendHashedClientData::perform_register(
            &mut self.inner,
            client_data_hash.clone(),
            options,
            timeout_ms,
        )?;
        let object: BTreeMap<String, Value> =
            serde_cbor_2::from_slice(&reg.response.attestation_object).map_err(|_| WebauthnCError::Cbor)?;
        let Some(Value::Bytes(mut auth_data)) = object.get("authData").cloned() else {
            return Err(WebauthnCError::Cbor);
        };
        // authData = rpIdHash(32) flags(1) counter(4) aaguid(16) credIdLen(2) credId coseKey
        auth_data[37..53].fill(0);
        match (&self.first, self.repeat_first_credential) {
            (Some(first), true) => {
                auth_data.truncate(53);
                auth_data.extend_from_slice(first);
                let id_len = usize::from(u16::from_be_bytes([first[0], first[1]]));
                reg.raw_id = first[2..2 + id_len].to_vec();
                reg.id = data_encoding::BASE64URL_NOPAD.encode(&first[2..2 + id_len]);
            }
            (None, _) => self.first = Some(auth_data[53..].to_vec()),
            _ => {}
        }
        let rp_id_hash = auth_data[0..32].to_vec();
        let id_len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
        let cred_id = auth_data[55..55 + id_len].to_vec();
        let cose: BTreeMap<i64, Value> =
            serde_cbor_2::from_slice(&auth_data[55 + id_len..]).map_err(|_| WebauthnCError::Cbor)?;
        let (Some(Value::Bytes(x)), Some(Value::Bytes(y))) = (cose.get(&-2), cose.get(&-3)) else {
            return Err(WebauthnCError::Cbor);
        };
        let mut signed = vec![0u8];
        signed.extend_from_slice(&rp_id_hash);
        signed.extend_from_slice(&client_data_hash);
        signed.extend_from_slice(&cred_id);
        signed.push(0x04);
        signed.extend_from_slice(x);
        signed.extend_from_slice(y);
        let sig: EcdsaP256Signature =
            self.attestation_key.try_sign(&signed).map_err(|_| WebauthnCError::CryptographyEcdsaSignature)?;
        let mut statement = BTreeMap::new();
        statement.insert(Value::Text("sig".into()), Value::Bytes(sig.to_der().as_bytes().to_vec()));
        statement.insert(Value::Text("x5c".into()), Value::Array(vec![Value::Bytes(self.attestation_cert.clone())]));
        let mut rewritten = BTreeMap::new();
        rewritten.insert(Value::Text("fmt".into()), Value::Text("fido-u2f".into()));
        rewritten.insert(Value::Text("attStmt".into()), Value::Map(statement));
        rewritten.insert(Value::Text("authData".into()), Value::Bytes(auth_data));
        reg.response.attestation_object =
            serde_cbor_2::to_vec(&Value::Map(rewritten)).map_err(|_| WebauthnCError::Cbor)?;
        reg.response.transports = None; // U2F keys report none
        Ok(reg)
    }

    fn perform_auth(
        &mut self,
        client_data_hash: Vec<u8>,
        options: PublicKeyCredentialRequestOptions,
        timeout_ms: u32,
    ) -> Result<PublicKeyCredential, WebauthnCError> {
        AuthenticatorBackendHashedClientData::perform_auth(&mut self.inner, client_data_hash, options, timeout_ms)
    }
}
