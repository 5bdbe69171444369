//! A software U2F-era security key, as the integration tests make one
//! (`tests/tests/support/u2f.rs`).
//!
//! webauthn-authenticator-rs has no U2F authenticator: its `SoftToken` registers with a
//! `packed` attestation and an AAGUID, as a CTAP2 key does. [`U2fSoftKey`] wraps a
//! `SoftToken` and rewrites each registration into what a FIDO U2F key gives a browser: a
//! `fido-u2f` attestation (all-zero AAGUID, one attestation certificate, a signature over
//! `0x00 || rpIdHash || clientDataHash || credId || 0x04 || x || y`) and no transports.
//! Assertions come from the `SoftToken` unchanged: a U2F key's assertions have the same
//! shape (user presence, no user verification), so verifying them costs what verifying
//! a real U2F key's does.

use std::collections::BTreeMap;
use std::fmt;

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

use crate::setup::BenchResult;

/// A software U2F key; see the [module documentation](self).
pub struct U2fSoftKey {
    inner: SoftToken,
    attestation_key: EcdsaP256SigningKey,
    attestation_cert: Vec<u8>,
}

impl fmt::Debug for U2fSoftKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("U2fSoftKey")
    }
}

impl U2fSoftKey {
    /// A new key, attesting with the `SoftToken`'s own P-256 attestation key and certificate.
    ///
    /// # Errors
    ///
    /// If the soft token cannot be made or its attestation key read back.
    pub fn new() -> BenchResult<Self> {
        let (inner, _ca) = SoftToken::new(false)?;
        // SoftToken serialises its attestation key and certificate: reuse them.
        let v = serde_json::to_value(&inner)?;
        let field = |name: &str| -> BenchResult<Vec<u8>> {
            let text = v[name].as_str().ok_or("the soft token has no attestation key")?;
            Ok(data_encoding::BASE64URL_NOPAD.decode(text.as_bytes())?)
        };
        let key = field("intermediate_key")?;
        let attestation_cert = field("intermediate_cert")?;
        let info = PrivateKeyInfo::try_from(key.as_slice()).map_err(|_| "the attestation key is not PKCS#8")?;
        let attestation_key = EcdsaP256SigningKey::try_from(info).map_err(|_| "the attestation key is not P-256")?;
        Ok(Self { inner, attestation_key, attestation_cert })
    }

    /// Rewrites a `packed` registration into a `fido-u2f` one.
    fn rewrite(&self, reg: &mut RegisterPublicKeyCredential, client_data_hash: &[u8]) -> Option<()> {
        let object: BTreeMap<String, Value> = serde_cbor_2::from_slice(&reg.response.attestation_object).ok()?;
        let Some(Value::Bytes(mut auth_data)) = object.get("authData").cloned() else { return None };
        // authData = rpIdHash(32) flags(1) counter(4) aaguid(16) credIdLen(2) credId coseKey
        auth_data.get_mut(37..53)?.fill(0);
        let rp_id_hash = auth_data.get(0..32)?.to_vec();
        let id_len = usize::from(u16::from_be_bytes([*auth_data.get(53)?, *auth_data.get(54)?]));
        let cred_id = auth_data.get(55..55 + id_len)?.to_vec();
        let cose: BTreeMap<i64, Value> = serde_cbor_2::from_slice(auth_data.get(55 + id_len..)?).ok()?;
        let (Some(Value::Bytes(x)), Some(Value::Bytes(y))) = (cose.get(&-2), cose.get(&-3)) else { return None };
        let mut signed = vec![0u8];
        signed.extend_from_slice(&rp_id_hash);
        signed.extend_from_slice(client_data_hash);
        signed.extend_from_slice(&cred_id);
        signed.push(0x04);
        signed.extend_from_slice(x);
        signed.extend_from_slice(y);
        let sig: EcdsaP256Signature = self.attestation_key.try_sign(&signed).ok()?;
        let mut statement = BTreeMap::new();
        statement.insert(Value::Text("sig".into()), Value::Bytes(sig.to_der().as_bytes().to_vec()));
        statement.insert(Value::Text("x5c".into()), Value::Array(vec![Value::Bytes(self.attestation_cert.clone())]));
        let mut rewritten = BTreeMap::new();
        rewritten.insert(Value::Text("fmt".into()), Value::Text("fido-u2f".into()));
        rewritten.insert(Value::Text("attStmt".into()), Value::Map(statement));
        rewritten.insert(Value::Text("authData".into()), Value::Bytes(auth_data));
        reg.response.attestation_object = serde_cbor_2::to_vec(&Value::Map(rewritten)).ok()?;
        reg.response.transports = None; // U2F keys report none
        Some(())
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
        self.rewrite(&mut reg, &client_data_hash).ok_or(WebauthnCError::Cbor)?;
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
