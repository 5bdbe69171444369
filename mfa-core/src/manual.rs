//! The manual: the threat model, the defaults and why, and how to wire a service.
//!
//! Each page is a module with documentation only.

/// # Threat model
///
/// **Assets.** Factor secrets (TOTP seeds), one-time codes in flight, recovery codes,
/// ceremony state, and the integrity of "this user proved a second factor".
///
/// **Attackers we design against.**
///
/// | attacker | what they try | what stops them |
/// |---|---|---|
/// | online guesser with the password | brute-force TOTP, SMS or recovery codes | failures counted per user and factor in the store *before* evaluation; growing delay; `Locked { retry_after }`; parallel guesses cannot exceed the free attempts |
/// | replayer | re-submit a code seen on the wire or shoulder-surfed | per-factor replay marker advanced atomically (RFC 6238 §5.2); single-use challenges and recovery codes consumed atomically |
/// | second service instance race | submit one code to two instances at once | every single-use thing is decided by one atomic store operation, never by read-then-write in Rust |
/// | password-only session | add a "second" factor, remove factors, mint recovery codes | [`FreshAuth`](crate::FreshAuth): recent primary authentication, plus recent MFA once a factor exists (the CVE-2023-3597 pattern) |
/// | another tenant user | act on someone else's factor or challenge id | every store operation is scoped by user; foreign ids behave exactly like missing ones |
/// | database thief | read TOTP seeds or recovery codes from a dump | seeds are AEAD-sealed with a key outside the database, bound to user and factor; recovery codes are salted argon2id hashes |
/// | row swapper with write access | copy Alice's sealed seed onto Mallory's factor | associated data binds user and factor: the copy does not open |
/// | log reader | find codes or secrets in logs or error messages | secrets live in zeroize-on-drop types with redacted `Debug`; errors and events carry ids only |
/// | timing observer | learn whether a recovery code's lookup part exists | a miss runs one argon2 verification against a dummy hash, the same cost as a hit |
/// | password holder before the first factor | mint recovery codes or start an enrolment now, so they count once the user turns MFA on | codes exist only while a factor is active ([`Error::FactorRequired`](crate::Error::FactorRequired)), are discarded with the last factor and when the first one activates, and never sign in without one; `finish_enrolment` judges the [`FreshAuth`](crate::FreshAuth) again at finish time |
/// | caller with no session | lock or disable a user's passkey with forged passwordless sign-ins naming its (public) credential id; fill the store with ceremonies | passwordless failures never count against the factor ([`EventKind::PasswordlessFailed`](crate::EventKind::PasswordlessFailed) reports them); ceremonies bounded deployment-wide ([`StateLimits`](crate::limits::StateLimits)) |
/// | state grower | 10^5 pending enrolments, challenges or remembered devices for one user | per-user bounds in [`StateLimits`](crate::limits::StateLimits), exact under racing; [`Store::purge_expired`](crate::store::Store::purge_expired) removes what expired |
/// | cap dodger | send codes to `Victim@`, `VICTIM@`, `"victim"@`, `victim+1@` from many accounts | send limits keyed by [`canonical_destination`](crate::destination::canonical_destination) |
/// | flooder hiding in noise | make 10^5 refused attempts that no audit sees, or that drown it | refusals reported aggregated ([`EventKind::AttemptsRefused`](crate::EventKind::AttemptsRefused)): every one counted, about log2(n) events plus one a minute |
///
/// **The bootstrap period.** Before a user's first factor the host has only a password,
/// and so does whoever stole it. That holder can enrol the first factor (a host that cannot
/// accept that confirms the account another way first), but nothing it produced counts once
/// the user turns MFA on: no recovery code minted then, no enrolment started then and
/// finished after. Recovery codes are generated after the first factor is active, with the
/// MFA its enrolment just proved (stamp [`FreshAuth::with_mfa`](crate::FreshAuth::with_mfa)
/// with the time [`Mfa::finish_enrolment`](crate::Mfa::finish_enrolment) succeeded).
///
/// **Out of scope.** Compromise of the host process or its memory, of the sealing key, or
/// of the user's device; phishing of TOTP/SMS/email codes (only WebAuthn resists that, and
/// the [`Assurance`](crate::Assurance) of every result says which kind was used); the
/// host's own password checks and sessions (a separate lockout domain by design).
pub mod threat_model {}

/// # Defaults, and why
///
/// | setting | default | why |
/// |---|---|---|
/// | `Settings::reauth_window` | 5 minutes | long enough to finish an enrolment after re-entering the password, short enough that an unattended session cannot be used to change factors |
/// | `Settings::enrolment_ttl` | 10 minutes | a pending factor is useless until proven; it should not linger |
/// | `Settings::challenge_ttl` | 5 minutes | SMS and email delivery can be slow; NIST allows at most 10 minutes for out-of-band codes |
/// | `Settings::challenge_attempts` | 5 | per-challenge bound on top of the per-factor throttle |
/// | `ThrottleSettings::free_attempts` | 5 | enough for typos; then delays start |
/// | `ThrottleSettings::base_delay` | 60 s, doubling | after the free attempts: 1, 2, 4, ... minutes |
/// | `ThrottleSettings::max_delay` | 1 hour | caps the lockout a griefer can cause while keeping guesses to 33 a day |
/// | `ThrottleSettings::max_failures` | none | a hard stop (NIST: at most 100) disables the factor for good; off by default because it lets whoever knows the password disable the owner's factor |
/// | recovery codes | 10 codes, 100 bits each | NIST look-up secrets need 64 bits or more when rate limited; 80 of the 100 bits are hashed |
/// | recovery-code hash | argon2id, 19 MiB, t=2, p=1 | OWASP's recommendation; about 17 ms per verification on a small server |
/// | recovery-code hash floor | 7 MiB, t=1 | stored hashes cheaper than this are refused, since argon2 reads its cost from the hash |
/// | low recovery codes | 3 or fewer | time to prompt the user to regenerate |
/// | `DeliverySettings` cooldown and cap | 30 s apart, 5 per 15 minutes, per factor and per destination | enough for a slow SMS and a couple of resends; a flood of one phone stops quickly |
/// | `DeliverySettings::prefix` | 20 SMS per hour per 8-digit number range | an attacker cycling through a premium-rate range is stopped after 20 messages an hour; 8 digits keep genuine users of one city or operator in different ranges (see [`sms_pumping`]) |
/// | `DeliverySettings::per_user` | 10 per hour, all factors and channels | two full rounds of sign-in plus resends; one account cannot be a messaging gateway |
/// | `DeliverySettings::cost_budget` | off | what a message costs depends on the provider: set it once you know your prices |
/// | `StateLimits::pending_enrolments` | 5 per user | a few abandoned attempts, not a store filler |
/// | `StateLimits::challenges` | 30 per user per 5 minutes | several devices and resends at once; not 10^5 stored ceremonies |
/// | `StateLimits::passwordless` | 10,000 per 5 minutes, deployment-wide | far above a real sign-in rate; bounds what unauthenticated callers can store to 20,000 unexpired ceremonies (rate-limit the endpoint per client address too) |
/// | `StateLimits::devices` | 20 per user | every browser a user keeps; the oldest is forgotten past it |
///
/// With the default throttle, an attacker gets 5 guesses, then one after 1, 2, 4, 8, 16
/// and 32 minutes, then one an hour: 33 guesses in the first day
/// ([`ThrottleSettings::attempts_per_day`](crate::throttle::ThrottleSettings::attempts_per_day)).
/// Per factor per day that is:
///
/// | factor | one guess succeeds | 33 guesses succeed |
/// |---|---|---|
/// | TOTP, 6 digits, ±1 step | 3 in 10^6 | 9.9 × 10^-5 (1 in 10 100) |
/// | TOTP, 8 digits, ±1 step | 3 in 10^8 | 9.9 × 10^-7 |
/// | SMS or email code, 6 digits | 1 in 10^6 | 3.3 × 10^-5 |
/// | recovery code (80 secret bits) | 2^-80 | negligible |
/// | WebAuthn | a signature: not guessable | — |
///
/// A user with N guessable factors gives an attacker N counters, so N times the chance.
/// To hold a target instead, set `Settings::guess_budget` to a
/// [`GuessBudget`](crate::throttle::GuessBudget): each factor's schedule is then derived
/// from its guess space and the target shared across `factors_per_user`. For example a
/// target of 10^-4 per user per day with up to 3 TOTPs allows 11 guesses per factor per
/// day: 5 free attempts, then delays from 11 minutes 21 seconds, doubling (up to a day).
pub mod defaults {}

/// # SMS pumping (toll fraud)
///
/// **The attack.** A sign-up or sign-in form that sends SMS codes is a way to make the
/// service pay for messages. An attacker who shares in the revenue of some number ranges
/// (premium-rate or international ranges where operators pay for traffic) scripts the form
/// to send codes to thousands of numbers of those ranges, from many fresh accounts. Nobody
/// ever enters a code; the bill arrives at the end of the month. Limits per factor and per
/// destination alone do not help: every number and every account is new.
///
/// **The controls** ([`DeliverySettings`](crate::settings::DeliverySettings)), each counted in the store,
/// so they hold across sessions and service instances:
///
/// - **Per destination** (on): one number or address, whoever enrols it, gets at most 5
///   codes per 15 minutes, 30 s apart.
/// - **Per number range** ([`PrefixCap`](crate::settings::PrefixCap), on): SMS to numbers sharing
///   their first 8 digits share one cap of 20 per hour. Cycling through a range stops at 20
///   messages an hour per range. Email is not capped by domain: mail costs nothing per
///   message, and a few large providers hold most genuine addresses.
/// - **Per user** (on): 10 sends per hour over all of a user's factors, SMS and email.
/// - **Cost budget** ([`CostBudget`](crate::settings::CostBudget), off): a cost per SMS (by
///   longest-prefix match, so dear ranges count for more) and per email (0 by default),
///   and a budget per hour for the whole deployment. It bounds the damage of an attack the
///   other caps do not see, spread over many ranges. Once the hour's budget is spent, SMS
///   stop for everyone until the hour ends: set it well above your busiest genuine hour,
///   and alert on it.
///
/// A refused send sends nothing and counts nothing. The per-factor and per-destination
/// limits refuse with [`Error::RateLimited`](crate::Error::RateLimited), the others with
/// [`Error::DeliveryCapped`](crate::Error::DeliveryCapped) naming the
/// [`DeliveryCap`](crate::settings::DeliveryCap); either way an
/// [`EventKind::DeliveryLimited`](crate::EventKind::DeliveryLimited) event names the limit
/// (the default [`TracingEventSink`](crate::TracingEventSink) logs range and budget
/// refusals at WARN). No counter key, event, error or log holds a number or address:
/// counter keys hold a SHA-256 of the value instead. The hash is not keyed, so a number
/// range (8 digits) can be recovered from its key by trying every range; counters expire
/// with their window.
///
/// **Tuning.** A large deployment has more genuine sign-ins per range: raise
/// `PrefixCap::max` (watch the refusals in your events) rather than shortening
/// `PrefixCap::digits`, which would make more genuine users share one cap. Also consider:
/// refusing SMS to countries you do not serve (validate numbers in the host before
/// enrolment), offering an authenticator app or security key first, and a CAPTCHA on
/// sign-up. Your SMS provider may offer its own fraud controls; they complement these.
pub mod sms_pumping {}

/// # Wiring a service
///
/// 1. **Build one [`Mfa`](crate::Mfa)** at start-up and put it in your application state
///    (it is an `Arc` inside):
///    a store (`mfa_store_memory::MemoryStore` for one process, `mfa_store_sql` for
///    durable or shared state), an [`AeadSealer`](crate::AeadSealer) with a key from your
///    secret manager, the factor adapters you offer, an [`EventSink`](crate::EventSink)
///    that writes your audit log, and a [`Settings`](crate::Settings).
/// 2. **Sign-in.** After the password checks out, call
///    [`start_challenge(user, None)`](crate::Mfa::start_challenge); the preferred factor is
///    chosen and the alternatives listed. Keep the challenge id in the session; on submit,
///    [`finish_challenge`](crate::Mfa::finish_challenge). Store the returned
///    [`Verified::at`](crate::Verified) in the session. Offer
///    [`verify_recovery_code`](crate::Mfa::verify_recovery_code) as "try another way".
/// 3. **Security page.** List with [`list_factors`](crate::Mfa::list_factors). For changes,
///    ask for the password again and pass
///    `FreshAuth::primary(checked_at).with_mfa(session_mfa_at)`; on
///    [`Error::MfaRequired`](crate::Error::MfaRequired) run a challenge first.
/// 4. **Errors to users.** `InvalidCode` → "That code didn't work"; `Expired` → "That
///    code expired, send a new one"; `Locked { retry_after }` → "Too many attempts, try
///    again in N minutes"; `Replayed` → "That code was already used, wait for the next one".
/// 5. **Housekeeping.** Call [`Store::purge_expired`](crate::store::Store::purge_expired) every
///    few minutes on durable stores.
/// 6. **Keys.** See [`seal`](crate::seal) for key management and rotation.
pub mod wiring {}

/// # Architecture
///
/// How the pieces fit, and the decisions behind their shape. Kept true as the code changes.
///
/// ## Layers
///
/// ```text
///  host (axum, actix, ...) ── owns users, passwords, sessions, HTML
///        │  FreshAuth, Proof, UserId
///        ▼
///  Mfa (mfa-core) ── re-auth checks, labels, preferred factor, throttling, replay markers,
///        │            sealing, ceremony bookkeeping, recovery codes, events
///        ├──► FactorAdapter (mfa-otp, mfa-webauthn): make secrets, send codes, check proofs
///        ├──► Store (mfa-store-memory, mfa-store-sql): atomic state operations
///        ├──► SecretSealer (AeadSealer): seal / open reusable secrets
///        ├──► EventSink (TracingEventSink): audit and notification
///        └──► Clock (SystemClock, ManualClock)
/// ```
///
/// Adapters never touch the store, the throttle or the sealer: the service hands them the
/// opened secret and the ceremony payload, and acts on what they return
/// ([`ProofOutcome`](crate::adapter::ProofOutcome): a replay marker to advance, new adapter data).
/// So every factor kind gets the same throttling, replay protection, single-use ceremonies
/// and events without reimplementing them.
///
/// ## Decisions
///
/// - **Rules live in one place, atomicity in the store.** The throttle is a
///   compare-and-set on a small [`ThrottleState`](crate::store::ThrottleState); the
///   schedule ([`ThrottleSettings`](crate::throttle::ThrottleSettings)) is computed in the core. Stores
///   implement a few primitive atomic operations (compare-and-set, compare-and-advance,
///   single-use take, bounded attempt, replace-all, consume-if-unchanged, and a per-user
///   edit of factors decided by a plan the core supplies) and none of the rules, so SQL
///   stores stay simple and cannot drift from the memory store. The rules that choose
///   the preferred factor and remove a replaced one are written once, in
///   [`StoreExt`](crate::store::StoreExt), over
///   [`FactorStore::edit_factors`](crate::store::FactorStore::edit_factors).
/// - **Attempts are counted before evaluation.** `throttle_begin` reserves an attempt
///   atomically before the proof is checked; a success clears it. This is what bounds
///   parallel guessing.
/// - **Ceremonies: attempt, then take.** [`Store::attempt_ceremony`](crate::store::CeremonyStore::attempt_ceremony)
///   counts a try and returns the state; only a verified proof then
///   [`takes`](crate::store::CeremonyStore::take_ceremony) it, and only one taker wins. A resend creates
///   a new ceremony, so an old code can never come back.
/// - **The replay marker stamps last use.** Advancing a TOTP step and recording the use is
///   one store operation: one write on the hot path.
/// - **Recovery codes carry a public lookup part,** so verification is one argon2 call;
///   consumption is conditional on the hash read, so a regeneration between read and
///   consume cannot let an old code spend a new one.
/// - **Factor kinds are open strings** ([`FactorKind`](crate::FactorKind)) with constants for
///   the kinds this project ships: a host can add its own adapter without touching the core.
/// - **Prompts are generic shapes** ([`Prompt`](crate::Prompt)): enter a code, a code was
///   sent, a shared secret to provision, WebAuthn options. The core stays factor-agnostic
///   while hosts still get typed data to render.
/// - **Fresh authentication is uniform.** Every sensitive change (add, remove, set preferred,
///   regenerate recovery codes) needs a recent primary authentication, and recent MFA once
///   the user has an active factor: a password-only session can neither add a "second"
///   factor nor remove the real one or mint recovery codes that bypass it.
/// - **Sealing is synchronous.** It is on every verification's hot path; a KMS-backed sealer
///   unwraps data keys at start-up.
pub mod architecture {}

/// # The policy model
///
/// Whether a sign-in is complete, or a sensitive action may go ahead, is a pure function:
/// [`AccessPolicy::evaluate`](crate::access::AccessPolicy::evaluate) of the policy, the
/// user's factors and what the session has proven.
///
/// **Sources.** Keep a default policy, one per organisation (tenant) and optional per-user
/// overrides wherever you keep settings, and merge them with
/// [`AccessPolicy::strictest`](crate::access::AccessPolicy::strictest): the strictest
/// requirement, the intersection of allowed kinds, every denied kind, the highest minimum
/// assurance and the shortest verification age win.
///
/// **Rules.** Optional: users with a factor are asked for it; users without one pass.
/// Prompted: the same, and users without one are prompted to enrol (they may skip).
/// Required: everyone verifies; users without a suitable factor must enrol — after a grace
/// period, if one is set when Required is switched on.
///
/// **Assurance.** `min_assurance(Assurance::RestrictedOutOfBand)` asks for an AAL2-strength
/// second factor (email codes never count); `deny_kind(FactorKind::SMS)` refuses SMS;
/// `min_assurance(Assurance::PhishingResistant)` asks for WebAuthn.
///
/// **Step-up.** A sensitive action passes a [`StepUp`](crate::access::StepUp): a minimum
/// assurance, a maximum age, and optionally an [`ActionDigest`](crate::access::ActionDigest)
/// that the verification must have been bound to with
/// [`Mfa::start_step_up`](crate::Mfa::start_step_up), so it proves that one action (this
/// amount to this payee) and nothing else. Remembered devices never satisfy a step-up.
///
/// **Remembered devices.** After MFA, [`Mfa::remember_device`](crate::Mfa::remember_device)
/// issues a token for a long-lived cookie; [`Mfa::check_device`](crate::Mfa::check_device)
/// at the next sign-in turns it into evidence. Removing a factor or regenerating recovery
/// codes revokes them all (configurable in [`DeviceSettings`](crate::settings::DeviceSettings)).
///
/// ## Example wiring
///
/// ```
/// use std::time::Duration;
/// use mfa_core::access::{AccessPolicy, ActionDigest, Evidence, Outcome, Requirement, StepUp};
/// use mfa_core::{Assurance, FactorKind, Mfa, UserId, Verified};
///
/// /// The host's settings: a default, the user's organisation, the user.
/// fn policy_for(org_requires_mfa: bool, user_override: Option<&AccessPolicy>) -> AccessPolicy {
///     let default = AccessPolicy::new(Requirement::Optional);
///     let org = if org_requires_mfa {
///         AccessPolicy::new(Requirement::Required).min_assurance(Assurance::RestrictedOutOfBand)
///     } else {
///         AccessPolicy::new(Requirement::Prompted)
///     };
///     let mut sources = vec![&default, &org];
///     sources.extend(user_override);
///     AccessPolicy::strictest(sources)
/// }
///
/// /// After the password: what does this sign-in still need?
/// async fn after_password(mfa: &Mfa, user: &UserId, session: &[Verified]) -> Result<Outcome, mfa_core::Error> {
///     let policy = policy_for(true, None);
///     let factors = mfa.list_factors(user).await?;
///     let decision = policy.evaluate(user, &factors, &Evidence::verified(session.to_vec()), None, mfa.now());
///     tracing::info!(decision = %decision.explain());
///     // VerificationRequired: challenge decision.candidates[0] (the preferred one first);
///     // EnrolmentRequired: send the user to the security page; Satisfied: signed in.
///     Ok(decision.outcome)
/// }
///
/// /// Before a payment: a phishing-resistant verification from the last 5 minutes, for
/// /// exactly this payment.
/// fn payment_step_up(amount: &str, payee: &str) -> StepUp {
///     StepUp::within(Duration::from_secs(300))
///         .min_assurance(Assurance::PhishingResistant)
///         .for_action(ActionDigest::new("payment", &[("amount", amount), ("payee", payee)]))
/// }
/// # let _ = payment_step_up("1", "x");
/// ```
pub mod access_policies {}
