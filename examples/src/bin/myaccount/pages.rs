//! Server-rendered HTML and the small script for the WebAuthn calls. Every value from a
//! user or the store is escaped on its way into a page.

use std::time::Duration;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use mfa_core::access::RememberedDevice;
use mfa_core::{
    Challenge, EnrolmentStart, Error, FactorId, FactorKind, FactorStatus, FactorSummary, Prompt, RecoveryCodeSet,
    Timestamp, settings::DeliveryCap,
};

use crate::session::Session;

/// A one-off message shown at the top of the next page.
#[derive(Clone, Debug)]
pub(crate) struct Flash {
    error: bool,
    message: String,
}

impl Flash {
    pub(crate) fn error(message: impl Into<String>) -> Self {
        Self { error: true, message: message.into() }
    }

    pub(crate) fn info(message: impl Into<String>) -> Self {
        Self { error: false, message: message.into() }
    }
}

/// A duration as people say it: "45 seconds", "2 minutes".
fn human(d: Duration) -> String {
    let secs = d.as_secs().max(1);
    if secs < 60 {
        format!("{secs} second{}", if secs == 1 { "" } else { "s" })
    } else {
        let mins = secs.div_ceil(60);
        format!("{mins} minute{}", if mins == 1 { "" } else { "s" })
    }
}

/// What to tell the user about an error. Never the internals.
pub(crate) fn describe(e: &Error) -> String {
    match e {
        Error::InvalidCode => "That code isn't right. Check it and try again.".into(),
        Error::Expired => "That has expired or was already used. Please start again.".into(),
        Error::Locked { retry_after } => {
            format!("Too many wrong attempts. Try again in {}.", human(*retry_after))
        }
        Error::Replayed => "That code was already used. Wait for your app to show a new one.".into(),
        Error::RateLimited { retry_after } => {
            format!("Too many codes were sent. You can ask for another in {}.", human(*retry_after))
        }
        Error::DeliveryCapped { cap: DeliveryCap::CostBudget, .. } => {
            "We can't send codes right now. Please use another way to sign in, or try again later.".into()
        }
        Error::DeliveryCapped { retry_after, .. } => {
            format!("Too many codes were sent recently. You can ask for another in {}.", human(*retry_after))
        }
        Error::AlreadyExists => "That is already registered.".into(),
        Error::NotFound => "We couldn't find that. It may have been removed.".into(),
        Error::InvalidInput { field, reason } => format!("Please check the {field}: {reason}."),
        Error::PossibleClone => {
            "This security key may have been copied, so it was refused. Use another way to sign in.".into()
        }
        Error::Disabled => "This sign-in method was turned off after too many wrong attempts. Use another way to \
                            sign in, then remove it and set it up again."
            .into(),
        Error::LimitReached { retry_after, .. } => {
            format!("Too many unfinished attempts. Finish or cancel one, or try again in {}.", human(*retry_after))
        }
        Error::FactorRequired => "Turn on 2-step verification first: recovery codes come with it.".into(),
        Error::ReauthRequired | Error::MfaRequired => "Please confirm it's you first.".into(),
        Error::Unsupported => "That isn't available here.".into(),
        Error::Delivery(_) => "We couldn't send the code. Please try again later.".into(),
        _ => "Something went wrong. Please try again.".into(),
    }
}

fn ago(now: Timestamp, then: Timestamp) -> String {
    let secs = (now.unix_secs() - then.unix_secs()).max(0) as u64;
    if secs < 60 { "just now".into() } else { format!("{} ago", human(Duration::from_secs(secs))) }
}

/// The page frame: header with the signed-in user, the flash message, the body.
pub(crate) fn layout(title: &str, session: &Session, flash: Option<&Flash>, body: &str) -> String {
    let user = match session.username() {
        Some(name) => format!(
            r#"<form method="post" action="/signout" class="inline"><span id="who">{}</span> {}<button id="sign-out">Sign out</button></form>"#,
            text(name),
            csrf_field(&session.csrf)
        ),
        None => String::new(),
    };
    let flash = flash.map_or(String::new(), |f| {
        format!(
            r#"<p id="flash" class="flash {}" role="{}">{}</p>"#,
            if f.error { "error" } else { "info" },
            if f.error { "alert" } else { "status" },
            text(&f.message)
        )
    });
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf" content="{csrf}"><title>{title} · My Account</title>
<link rel="stylesheet" href="/app.css"></head><body>
<header><h1><a href="/">My Account</a></h1>{user}</header>
{flash}<p id="js-error" class="flash error" role="alert" hidden></p>
<main><h2>{title}</h2>{body}</main>
<script src="/app.js"></script></body></html>"#,
        csrf = attr(&session.csrf),
        title = text(title),
    )
}

fn csrf_field(csrf: &str) -> String {
    format!(r#"<input type="hidden" name="csrf" value="{}">"#, attr(csrf))
}

pub(crate) fn signup(csrf: &str) -> String {
    format!(
        r#"<form method="post" action="/signup">{}
<p><label>Username <input type="text" name="username" id="username" autocomplete="username" required></label></p>
<p><label>Password <input type="password" name="password" id="password" autocomplete="new-password" minlength="8" required></label></p>
<p><button id="create-account">Create account</button></p></form>
<p>Already have an account? <a href="/signin">Sign in</a></p>"#,
        csrf_field(csrf)
    )
}

pub(crate) fn signin(csrf: &str) -> String {
    format!(
        r#"<form method="post" action="/signin">{}
<p><label>Username <input type="text" name="username" id="username" autocomplete="username webauthn" required></label></p>
<p><label>Password <input type="password" name="password" id="password" autocomplete="current-password" required></label></p>
<p><button id="sign-in">Sign in</button></p></form>
<p>or <button type="button" id="passkey-sign-in" data-action="passkey-sign-in">Sign in with a passkey</button></p>
<p>New here? <a href="/signup">Create an account</a></p>"#,
        csrf_field(csrf)
    )
}

pub(crate) fn reauth(csrf: &str, username: &str) -> String {
    format!(
        r#"<p>To continue, first confirm it's you, {}.</p>
<form method="post" action="/reauth">{}
<p><label>Password <input type="password" name="password" id="password" autocomplete="current-password" required></label></p>
<p><button id="confirm-password">Next</button></p></form>"#,
        text(username),
        csrf_field(csrf)
    )
}

fn kind_name(kind: &FactorKind) -> &'static str {
    match kind.as_str() {
        "totp" => "Authenticator app",
        "sms" => "Text message",
        "email" => "Email",
        "passkey" => "Passkey",
        "security-key" => "Security key",
        "older-device" => "Older security key",
        _ => "Second step",
    }
}

fn code_form(csrf: &str, action: &str, remember: bool) -> String {
    let remember = if remember {
        r#"<p><label><input type="checkbox" name="remember" id="remember" value="1"> Don't ask again on this device</label></p>"#
    } else {
        ""
    };
    format!(
        r#"<form method="post" action="{action}">{}
<p><label>Code <input type="text" name="code" id="code" inputmode="numeric" autocomplete="one-time-code" required autofocus></label></p>
{remember}<p><button id="verify">Verify</button></p></form>"#,
        csrf_field(csrf)
    )
}

fn alternatives(list: &[FactorSummary], remaining: usize) -> String {
    let mut html = String::from(r#"<details id="try-another-way"><summary>Try another way</summary><ul>"#);
    for f in list.iter().filter(|f| f.status == FactorStatus::Active) {
        html.push_str(&format!(
            r#"<li><a class="alternative" data-kind="{}" href="/mfa?factor={}">{}: {}</a></li>"#,
            attr(f.kind.as_str()),
            f.id,
            kind_name(&f.kind),
            text(&f.label)
        ));
    }
    if remaining > 0 {
        html.push_str(r#"<li><a id="use-recovery-code" href="/mfa/recovery">Use a recovery code</a></li>"#);
    }
    html.push_str("</ul></details>");
    html
}

/// The second step with the challenged factor's prompt.
pub(crate) fn mfa(csrf: &str, c: &Challenge, options: Option<&serde_json::Value>) -> String {
    let f = &c.factor;
    let prompt = match &c.prompt {
        Prompt::EnterCode => format!(
            "<p>Enter the 6-digit code from your authenticator app <strong>{}</strong>.</p>{}",
            text(&f.label),
            code_form(csrf, "/mfa", true)
        ),
        Prompt::CodeSent { masked_destination, .. } => format!(
            r#"<p>We sent a code to <strong id="sent-to">{}</strong>.</p>{}
<form method="post" action="/mfa/resend">{}<button id="resend">Send a new code</button></form>"#,
            text(masked_destination),
            code_form(csrf, "/mfa", true),
            csrf_field(csrf)
        ),
        Prompt::PublicKeyCredential { .. } => format!(
            r#"<p>Use your {} <strong>{}</strong>.</p>
<script type="application/json" id="webauthn-options">{}</script>
<p><label><input type="checkbox" id="remember"> Don't ask again on this device</label></p>
<p><button type="button" id="use-key" data-action="use-key">Use security key</button></p>"#,
            kind_name(&f.kind).to_lowercase(),
            text(&f.label),
            json_for_script(options)
        ),
        _ => "<p>This sign-in method can't be used here.</p>".into(),
    };
    format!(
        r#"<p class="muted">{}</p>{prompt}{}"#,
        kind_name(&f.kind),
        alternatives(&c.alternatives, c.recovery_codes_remaining)
    )
}

/// JSON inside a `<script type="application/json">`: `<` escaped so it cannot end the element.
fn json_for_script(value: Option<&serde_json::Value>) -> String {
    value.map_or_else(|| "null".into(), |v| v.to_string().replace('<', "\\u003c"))
}

/// The second step when the preferred factor can't be used right now (locked, say).
pub(crate) fn mfa_unavailable(_csrf: &str, factors: &[FactorSummary], remaining: usize) -> String {
    format!(r#"<p>Choose another way to confirm it's you.</p>{}"#, alternatives(factors, remaining))
}

/// The code form again after a wrong code (the challenge stays open).
pub(crate) fn mfa_retry(csrf: &str) -> String {
    format!(
        r#"{}<p><a id="try-another-way" href="/mfa">Start again or try another way</a></p>"#,
        code_form(csrf, "/mfa", true)
    )
}

pub(crate) fn recovery_entry(csrf: &str, remaining: usize) -> String {
    format!(
        r#"<p>Enter one of your recovery codes. Each works once; you have <span id="recovery-remaining">{remaining}</span> left.</p>{}
<p><a href="/mfa">Back</a></p>"#,
        code_form(csrf, "/mfa/recovery", false)
    )
}

/// Confirming a new factor: the QR code and key for an app, "we sent a code" otherwise.
pub(crate) fn enrol_confirm(csrf: &str, start: &EnrolmentStart) -> String {
    let intro = match &start.prompt {
        Prompt::SharedSecret(secret) => {
            let qr = secret.qr_png.as_ref().map_or(String::new(), |png| {
                format!(
                    r#"<p><img id="qr" alt="QR code to scan with your authenticator app" width="240" height="240" src="data:image/png;base64,{}"></p>"#,
                    data_encoding::BASE64.encode(png.expose())
                )
            });
            let key = secret.secret_base32.expose();
            let grouped: Vec<String> =
                key.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
            format!(
                r#"<ol><li>Open your authenticator app and scan this QR code:</li></ol>{qr}
<p>Can't scan it? Enter this key instead: <code id="manual-key" data-key="{}">{}</code></p>
<ol start="2"><li>Enter the 6-digit code the app shows.</li></ol>"#,
                attr(key),
                text(&grouped.join(" "))
            )
        }
        Prompt::CodeSent { masked_destination, .. } => {
            format!(
                r#"<p>We sent a code to <strong id="sent-to">{}</strong>. Enter it below.</p>"#,
                text(masked_destination)
            )
        }
        _ => String::new(),
    };
    format!("{intro}{}", confirm_form(csrf, &start.factor.id, start.factor.masked_destination.is_some()))
}

fn confirm_form(csrf: &str, factor: &FactorId, can_resend: bool) -> String {
    let resend = if can_resend {
        format!(
            r#"<form method="post" action="/security/resend">{}<input type="hidden" name="factor" value="{factor}"><button id="resend">Send a new code</button></form>"#,
            csrf_field(csrf)
        )
    } else {
        String::new()
    };
    format!(
        r#"<form method="post" action="/security/confirm">{}<input type="hidden" name="factor" value="{factor}">
<p><label>Code <input type="text" name="code" id="code" inputmode="numeric" autocomplete="one-time-code" required autofocus></label></p>
<p><button id="confirm">Confirm</button> <a href="/security">Cancel</a></p></form>{resend}"#,
        csrf_field(csrf)
    )
}

pub(crate) fn enrol_retry(csrf: &str, factor: &FactorId, pending: Option<&FactorSummary>) -> String {
    let resend = pending.is_some_and(|p| p.masked_destination.is_some());
    format!("<p>Enter the code to finish.</p>{}", confirm_form(csrf, factor, resend))
}

fn factor_row(csrf: &str, f: &FactorSummary, now: Timestamp) -> String {
    let preferred = if f.preferred { r#"<span class="badge preferred">Preferred</span>"# } else { "" };
    let destination = f.masked_destination.as_deref().map_or(String::new(), |d| format!(" · {}", text(d)));
    let used = f.last_used_at.map_or("never used".into(), |t| format!("last used {}", ago(now, t)));
    let set_preferred = if f.preferred {
        String::new()
    } else {
        format!(
            r#"<form method="post" action="/security/preferred" class="inline">{}<input type="hidden" name="factor" value="{}"><button class="set-preferred">Set preferred</button></form>"#,
            csrf_field(csrf),
            f.id
        )
    };
    let update = if f.kind == FactorKind::SMS || f.kind == FactorKind::EMAIL {
        let input = if f.kind == FactorKind::SMS { "tel" } else { "email" };
        format!(
            r#"<form method="post" action="/security/oob" class="inline">{}<input type="hidden" name="kind" value="{}"><input type="hidden" name="replaces" value="{}"><input type="{input}" name="destination" placeholder="new {}" required><button class="update">Update</button></form>"#,
            csrf_field(csrf),
            attr(f.kind.as_str()),
            f.id,
            if input == "tel" { "number" } else { "address" }
        )
    } else {
        String::new()
    };
    format!(
        r#"<li class="factor" data-factor="{id}" data-kind="{kind}"><strong class="label">{label}</strong>{preferred}<br>
<span class="muted">{kind_name}{destination} · added {added} · {used}</span><br>
<form method="post" action="/security/rename" class="inline">{csrf}<input type="hidden" name="factor" value="{id}"><input type="text" name="label" class="new-label" value="{label}" maxlength="64" aria-label="New name"><button class="rename">Rename</button></form>
{set_preferred} {update} <a class="remove" href="/security/remove?factor={id}">Remove</a></li>"#,
        id = f.id,
        kind = attr(f.kind.as_str()),
        label = attr(&f.label),
        kind_name = kind_name(&f.kind),
        added = ago(now, f.created_at),
        csrf = csrf_field(csrf),
    )
}

fn factor_list(csrf: &str, factors: &[&FactorSummary], now: Timestamp, none: &str) -> String {
    if factors.is_empty() {
        return format!(r#"<p class="muted">{none}</p>"#);
    }
    let rows: String = factors.iter().map(|f| factor_row(csrf, f, now)).collect();
    format!("<ul>{rows}</ul>")
}

/// The security page: every factor by kind, recovery codes and remembered devices.
pub(crate) fn security(
    csrf: &str,
    username: &str,
    factors: &[FactorSummary],
    recovery_remaining: usize,
    devices: &[RememberedDevice],
    now: Timestamp,
) -> String {
    let active: Vec<&FactorSummary> = factors.iter().filter(|f| f.status == FactorStatus::Active).collect();
    let of = |kinds: &[FactorKind]| -> Vec<&FactorSummary> {
        active.iter().copied().filter(|f| kinds.contains(&f.kind)).collect()
    };
    let status = if active.is_empty() {
        "2-Step Verification is <strong>off</strong>: add a second step below.".to_owned()
    } else {
        format!("2-Step Verification is <strong>on</strong> for {}.", text(username))
    };
    let c = csrf_field(csrf);
    let apps = factor_list(csrf, &of(&[FactorKind::TOTP]), now, "No authenticator app yet.");
    let phones = factor_list(csrf, &of(&[FactorKind::SMS]), now, "No phone number yet.");
    let emails = factor_list(csrf, &of(&[FactorKind::EMAIL]), now, "No email address yet.");
    let keys = factor_list(
        csrf,
        &of(&[FactorKind::PASSKEY, FactorKind::SECURITY_KEY, FactorKind::OLDER_DEVICE]),
        now,
        "No security devices yet.",
    );
    let recovery_button = if recovery_remaining == 0 { "Get recovery codes" } else { "Get new codes" };
    let recovery_note = if recovery_remaining == 0 {
        String::new()
    } else {
        "<p class=\"muted\">Getting new codes makes the old ones stop working.</p>".into()
    };
    let device_rows: String = devices
        .iter()
        .map(|d| {
            format!(
                r#"<li class="device">{} <span class="muted">· remembered {} · until {}</span> <form method="post" action="/security/devices/revoke" class="inline">{c}<input type="hidden" name="device" value="{}"><button class="revoke">Forget</button></form></li>"#,
                text(&d.label),
                ago(now, d.created_at),
                human_until(now, d.expires_at),
                d.id
            )
        })
        .collect();
    let devices_html = if devices.is_empty() {
        r#"<p class="muted">No remembered devices.</p>"#.to_owned()
    } else {
        format!(
            r#"<ul>{device_rows}</ul><form method="post" action="/security/devices/revoke-all">{c}<button id="forget-all">Forget all devices</button></form>"#
        )
    };
    format!(
        r#"<p id="mfa-status">{status}</p>
<section id="app"><h3>Authenticator app</h3>{apps}
<form method="post" action="/security/totp">{c}<button id="add-totp">Set up authenticator app</button></form></section>
<section id="phones"><h3>Phone numbers (text message)</h3>{phones}
<form method="post" action="/security/oob">{c}<input type="hidden" name="kind" value="sms">
<input type="tel" name="destination" id="new-phone" placeholder="+44 7700 900123" required> <button id="add-phone">Add phone number</button></form></section>
<section id="emails"><h3>Email addresses</h3>{emails}
<form method="post" action="/security/oob">{c}<input type="hidden" name="kind" value="email">
<input type="email" name="destination" id="new-email" placeholder="you@example.com" required> <button id="add-email">Add email address</button></form></section>
<section id="keys"><h3>Security devices</h3>{keys}
<p><label>Name <input type="text" id="key-label" placeholder="e.g. YubiKey, MacBook" maxlength="64"></label></p>
<p><button type="button" id="add-passkey" data-action="add-key" data-kind="passkey">Add a passkey (built-in sensor or phone)</button>
<button type="button" id="add-security-key" data-action="add-key" data-kind="security-key">Add a USB security key</button></p>
<p class="muted">Key not working? <button type="button" id="add-older-device" data-action="add-key" data-kind="older-device">Try with an older device</button></p></section>
<section id="recovery"><h3>Recovery codes</h3>
<p>You have <strong id="recovery-remaining">{recovery_remaining}</strong> unused recovery code{plural}. Use one when you can't use your other ways to sign in.</p>{recovery_note}
<form method="post" action="/security/recovery">{c}<button id="get-recovery-codes">{recovery_button}</button></form></section>
<section id="devices"><h3>Remembered devices</h3><p class="muted">These devices skip the second step when you sign in.</p>{devices_html}</section>"#,
        plural = if recovery_remaining == 1 { "" } else { "s" },
    )
}

fn human_until(now: Timestamp, until: Timestamp) -> String {
    let secs = (until.unix_secs() - now.unix_secs()).max(0) as u64;
    if secs >= 86_400 {
        format!("{} days from now", secs / 86_400)
    } else {
        format!("{} from now", human(Duration::from_secs(secs)))
    }
}

pub(crate) fn remove_confirm(csrf: &str, f: &FactorSummary) -> String {
    format!(
        r#"<p>Remove <strong>{}</strong> ({})? You won't be able to use it to sign in any more.</p>
<form method="post" action="/security/remove">{}<input type="hidden" name="factor" value="{}">
<button id="confirm-remove">Remove</button> <a href="/security">Cancel</a></form>"#,
        text(&f.label),
        kind_name(&f.kind),
        csrf_field(csrf),
        f.id
    )
}

/// New recovery codes: shown this once, with a download.
pub(crate) fn recovery_codes(set: &RecoveryCodeSet, username: &str) -> String {
    let items: String = set
        .codes()
        .iter()
        .map(|c| format!("<li><code class=\"recovery-code\">{}</code></li>", text(c.expose())))
        .collect();
    let mut file = format!("My Account recovery codes for {username}\nEach code works once.\n\n");
    for c in set.codes() {
        file.push_str(c.expose());
        file.push('\n');
    }
    format!(
        r#"<p>Keep these codes somewhere safe. <strong>They are shown only this once.</strong> Each one lets you sign in once without your other methods.</p>
<ol id="recovery-codes">{items}</ol>
<p><a id="download-codes" download="myaccount-recovery-codes.txt" href="data:text/plain;charset=utf-8;base64,{}">Download as .txt</a></p>
<p><a id="codes-done" href="/security">I've saved them</a></p>"#,
        data_encoding::BASE64.encode(file.as_bytes())
    )
}

/// The page style.
pub(crate) const STYLE: &str = r#"body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:0 auto;padding:1rem;color:#222}
header{display:flex;justify-content:space-between;align-items:center;border-bottom:1px solid #ddd;margin-bottom:1rem}
section{border:1px solid #ddd;border-radius:8px;padding:0 1rem 1rem;margin:1rem 0}
.flash{padding:.6rem 1rem;border-radius:6px} .error{background:#fde8e8;color:#8a1c1c} .info{background:#e8f4fd;color:#0b4a6f}
.badge{background:#1a73e8;color:#fff;border-radius:4px;padding:0 .4rem;font-size:.8rem;margin-left:.4rem}
.muted{color:#666;font-size:.9rem} .inline{display:inline} li.factor{margin:.6rem 0}
input[type=text],input[type=password],input[type=tel],input[type=email]{padding:.3rem;font-size:1rem}
button{padding:.3rem .8rem;font-size:.95rem;cursor:pointer} code{font-size:1.05rem}
"#;

/// The browser side of WebAuthn: a few calls, no build step.
pub(crate) const SCRIPT: &str = r#""use strict";
const csrf = () => document.querySelector('meta[name="csrf"]').content;
function showError(message) {
  const box = document.getElementById("js-error");
  box.textContent = message;
  box.hidden = false;
}
async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrf-token": csrf() },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (answer.redirect) { location.assign(answer.redirect); }
    throw new Error(answer.error || "Something went wrong. Please try again.");
  }
  return answer;
}
function explain(e) {
  if (e && e.name === "NotAllowedError") return "The request was cancelled or timed out. Try again.";
  if (e && e.name === "InvalidStateError") return "This device is already registered.";
  return (e && e.message) || String(e);
}
async function addKey(kind) {
  const label = document.getElementById("key-label").value;
  const start = await post("/security/keys/start", { kind, label });
  const created = await navigator.credentials.create({
    publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(start.options.publicKey),
  });
  const done = await post("/security/keys/finish", { factor: start.factor, credential: created.toJSON() });
  location.assign(done.redirect);
}
async function useKey() {
  const options = JSON.parse(document.getElementById("webauthn-options").textContent);
  const asserted = await navigator.credentials.get({
    publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey),
  });
  const remember = document.getElementById("remember").checked;
  const done = await post("/mfa/key", { credential: asserted.toJSON(), remember });
  location.assign(done.redirect);
}
async function passkeySignIn() {
  const start = await post("/passkey/start", {});
  const asserted = await navigator.credentials.get({
    publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(start.options.publicKey),
  });
  const done = await post("/passkey/finish", asserted.toJSON());
  location.assign(done.redirect);
}
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-action]");
  if (!button) return;
  event.preventDefault();
  const actions = {
    "add-key": () => addKey(button.dataset.kind),
    "use-key": useKey,
    "passkey-sign-in": passkeySignIn,
  };
  const action = actions[button.dataset.action];
  if (action) action().catch((e) => { console.error(e && e.name, e && e.message); showError(explain(e)); });
});
"#;
