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
/// | `Policy::reauth_window` | 5 minutes | long enough to finish an enrolment after re-entering the password, short enough that an unattended session cannot be used to change factors |
/// | `Policy::enrolment_ttl` | 10 minutes | a pending factor is useless until proven; it should not linger |
/// | `Policy::challenge_ttl` | 5 minutes | SMS and email delivery can be slow; NIST allows at most 10 minutes for out-of-band codes |
/// | `Policy::challenge_attempts` | 5 | per-challenge bound on top of the per-factor throttle |
/// | `ThrottlePolicy::free_attempts` | 5 | enough for typos; then delays start |
/// | `ThrottlePolicy::base_delay` | 60 s, doubling | after the free attempts: 1, 2, 4, ... minutes |
/// | `ThrottlePolicy::max_delay` | 1 hour | caps the lockout a griefer can cause while keeping guesses to about 34 a day |
/// | recovery codes | 10 codes, 100 bits each | NIST look-up secrets need 64 bits or more when rate limited; 80 of the 100 bits are hashed |
/// | recovery-code hash | argon2id, 19 MiB, t=2, p=1 | OWASP's recommendation; about 17 ms per verification on a small server |
/// | recovery-code hash floor | 7 MiB, t=1 | stored hashes cheaper than this are refused, since argon2 reads its cost from the hash |
/// | low recovery codes | 3 or fewer | time to prompt the user to regenerate |
///
/// With the default throttle, an attacker gets 5 guesses, then one after 1, 2, 4, 8, 16
/// and 32 minutes, then one an hour: about 34 guesses in the first day. Against a 6-digit
/// TOTP with a ±1-step window (3 valid codes in 10^6) that is a success chance of about
/// 1 in 10 000 per factor per day.
pub mod defaults {}

/// # Wiring a service
///
/// 1. **Build one [`Mfa`](crate::Mfa)** at start-up and put it in your application state
///    (it is an `Arc` inside):
///    a store (`mfa_store_memory::MemoryStore` for one process, `mfa_store_sql` for
///    durable or shared state), an [`AeadSealer`](crate::AeadSealer) with a key from your
///    secret manager, the factor adapters you offer, an [`EventSink`](crate::EventSink)
///    that writes your audit log, and a [`Policy`](crate::Policy).
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
/// 5. **Housekeeping.** Call [`Store::purge_expired`](crate::Store::purge_expired) every
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
/// ([`ProofOutcome`](crate::ProofOutcome): a replay marker to advance, new adapter data).
/// So every factor kind gets the same throttling, replay protection, single-use ceremonies
/// and events without reimplementing them.
///
/// ## Decisions
///
/// - **Policy logic lives in one place, atomicity in the store.** The throttle is a
///   compare-and-set on a small [`ThrottleState`](crate::store::ThrottleState); the
///   schedule ([`ThrottlePolicy`](crate::ThrottlePolicy)) is computed in the core. Stores
///   implement a few primitive atomic operations (compare-and-set, compare-and-advance,
///   single-use take, bounded attempt, replace-all, consume-if-unchanged) and none of the
///   rules, so SQL stores stay simple and cannot drift from the memory store.
/// - **Attempts are counted before evaluation.** `throttle_begin` reserves an attempt
///   atomically before the proof is checked; a success clears it. This is what bounds
///   parallel guessing.
/// - **Ceremonies: attempt, then take.** [`Store::attempt_ceremony`](crate::Store::attempt_ceremony)
///   counts a try and returns the state; only a verified proof then
///   [`takes`](crate::Store::take_ceremony) it, and only one taker wins. A resend creates
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
