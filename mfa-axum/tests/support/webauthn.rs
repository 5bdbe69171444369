//! Passkeys over HTTP with a software authenticator standing in for the browser and its
//! platform authenticator: registration and passwordless sign-in from a chosen origin.

use axum::http::StatusCode;
use mfa_webauthn::WebauthnFactorBuilder;
use serde_json::{Value, json};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::{AuthenticatorBackend, WebauthnAuthenticator};
use webauthn_rs::prelude::Url;
use webauthn_rs_proto::{
    AllowCredentials, CreationChallengeResponse, RequestChallengeResponse, ResidentKeyRequirement,
};

use super::{Answer, Browser, Setup};

/// A world whose service also has passkeys and security keys, configured by `factor`.
pub(crate) fn with_webauthn(factor: WebauthnFactorBuilder) -> Setup {
    let factor = factor.build().unwrap();
    Setup { extend: Box::new(move |builder| builder.factor(factor)), ..Setup::default() }
}

/// How the client talks to the authenticator: as a browser does (it refuses an origin
/// whose host is not under the RP id, or a plain-HTTP one other than localhost), or as a
/// mobile platform does for an app (the app's origin goes into the signed client data
/// as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Client {
    Browser,
    App,
}

/// A passkey on a software authenticator, and what the relying party told it.
pub(crate) struct Passkey {
    pub(crate) key: SoftPasskey,
    /// The credential id, once registered.
    pub(crate) id: Option<Vec<u8>>,
    /// The WebAuthn user handle of its account.
    pub(crate) handle: Vec<u8>,
}

impl Passkey {
    pub(crate) fn new() -> Self {
        Self { key: SoftPasskey::new(true), id: None, handle: Vec::new() }
    }

    /// `navigator.credentials.create()` from `origin` with the enrolment's options; the
    /// JSON the page posts. A software authenticator cannot keep resident keys, so the
    /// resident-key requirement is lifted client-side (a platform authenticator keeps it).
    pub(crate) fn create(&mut self, enrolment: &Value, origin: &str, client: Client) -> Value {
        let mut options: CreationChallengeResponse =
            serde_json::from_value(enrolment["prompt"]["options"].clone()).unwrap();
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Discouraged);
            selection.require_resident_key = false;
        }
        let options_json = serde_json::to_value(&options).unwrap();
        let handle = options_json["publicKey"]["user"]["id"].as_str().unwrap();
        self.handle = data_encoding::BASE64URL_NOPAD.decode(handle.as_bytes()).unwrap();
        let origin = Url::parse(origin).unwrap();
        let created = match client {
            Client::Browser => self.key.do_registration(origin, options).unwrap(),
            Client::App => {
                AuthenticatorBackend::perform_register(&mut self.key, origin, options.public_key, 60_000).unwrap()
            }
        };
        let created = serde_json::to_value(&created).unwrap();
        let id = created["rawId"].as_str().unwrap();
        self.id = Some(data_encoding::BASE64URL_NOPAD.decode(id.as_bytes()).unwrap());
        created
    }

    /// `navigator.credentials.get()` from `origin` with a passwordless start's options: the
    /// authenticator picks this passkey and gives its account's user handle.
    pub(crate) fn get(&mut self, start: &Value, origin: &str, client: Client) -> Value {
        let mut options: RequestChallengeResponse = serde_json::from_value(start["prompt"]["options"].clone()).unwrap();
        assert!(options.public_key.allow_credentials.is_empty(), "passwordless: no allow list");
        let id = self.id.clone().expect("registered first");
        options.public_key.allow_credentials =
            vec![AllowCredentials { type_: "public-key".into(), id, transports: None }];
        let origin = Url::parse(origin).unwrap();
        let mut asserted = match client {
            Client::Browser => self.key.do_authentication(origin, options).unwrap(),
            Client::App => {
                AuthenticatorBackend::perform_auth(&mut self.key, origin, options.public_key, 60_000).unwrap()
            }
        };
        asserted.response.user_handle = Some(self.handle.clone());
        serde_json::to_value(&asserted).unwrap()
    }
}

impl Browser {
    /// Adds a passkey from `origin` in one go (start, create, finish); answers the finish.
    pub(crate) async fn add_passkey(&mut self, passkey: &mut Passkey, origin: &str, client: Client) -> Answer {
        let start = self.post("/mfa/factors", json!({ "kind": "passkey" })).await;
        assert_eq!(start.status, StatusCode::CREATED, "{:?}", start.body);
        let credential = passkey.create(&start.body, origin, client);
        let id = start.body["factor"]["id"].as_str().unwrap().to_owned();
        self.post(&format!("/mfa/factors/{id}/finish"), json!({ "credential": credential })).await
    }

    /// Signs in with `passkey` from `origin`, without a password; keeps the new CSRF token.
    pub(crate) async fn passwordless(&mut self, passkey: &mut Passkey, origin: &str, client: Client) -> Answer {
        if self.csrf.is_none() {
            let csrf = self.get("/mfa/csrf").await;
            self.csrf = csrf.body["csrf_token"].as_str().map(str::to_owned);
        }
        let start = self.post("/mfa/signin/passwordless/start", json!({ "mediation": "conditional" })).await;
        assert_eq!(start.status, StatusCode::OK, "{:?}", start.body);
        let credential = passkey.get(&start.body, origin, client);
        let answer = self.post("/mfa/signin/passwordless/finish", json!({ "credential": credential })).await;
        if let Some(token) = answer.body["csrf_token"].as_str() {
            self.csrf = Some(token.to_owned());
        }
        answer
    }
}
