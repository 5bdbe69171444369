//! The operations the lifecycle test draws, and who performs them.
//!
//! Every operation names what it acts on by position ([`Pick`]) in the list of things of
//! that sort created so far (by any user), resolved when it runs; a position past the end
//! is a guessed id nobody holds. So every operation is valid in every state, and shrinking
//! may drop any step of a failing sequence without a precondition to re-check.
//!
//! The help desk's operations name who asks ([`By`]): the administrator the deployment's
//! admin check allows, a user who is none, or an id nobody knows. A temporary access code
//! is used by a caller who has only the user's password, which is what the code is for.

use std::fmt;

use proptest::prelude::*;

/// The two users of the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum U {
    Alice,
    Bob,
}

impl U {
    pub(crate) fn name(self) -> &'static str {
        match self {
            U::Alice => "alice",
            U::Bob => "bob",
        }
    }
}

/// What the caller proved before the call: the host's `FreshAuth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Actor {
    /// The owner, with the password and a second factor just now.
    Owner,
    /// Only the password, just now: the user before MFA, or an attacker who phished it.
    PasswordOnly,
    /// A password checked longer ago than the re-authentication window.
    Stale,
}

/// The kinds of factor the test enrols: an authenticator app, a passkey, and codes by SMS
/// (each user has one phone number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Totp,
    Passkey,
    Sms,
}

/// Who asks for an administrative operation: the help desk (whom the deployment's admin
/// check allows), a user who is no administrator, or an id nobody knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum By {
    Helpdesk,
    Bob,
    Mallory,
}

impl By {
    pub(crate) fn name(self) -> &'static str {
        match self {
            By::Helpdesk => crate::support::world::ADMIN,
            By::Bob => U::Bob.name(),
            By::Mallory => "mallory",
        }
    }
}

/// Which failure counter an administrator clears: one factor's (by the pick of
/// [`Op::RemoveFactor`]: every factor ever stored), the recovery codes', the temporary access
/// codes' or the remembered-device tokens'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    Factor(Pick),
    Codes,
    Access,
    Devices,
}

/// The lifetime an administrator gives a temporary access code: a short one, the configured
/// default, or one beyond the configured maximum (refused as bad input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifetime {
    Short,
    Default,
    TooLong,
}

/// A position in a list of things created so far, `#0` the newest; see the module notes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pick(pub(crate) u8);

impl fmt::Debug for Pick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// How a proof is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// What the factor's holder would send now.
    Right,
    /// A well-formed proof that does not verify (another code; a spoilt signature).
    Wrong,
    /// The last proof this factor accepted, sent again.
    Replay,
    /// A proof of the wrong shape for the factor (a code for a passkey, a credential for
    /// an app): refused as bad input.
    Malformed,
}

/// One step of a sequence. `on` is the service instance (0 or 1, both on one store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Advance {
        secs: u64,
    },
    StartEnrolment {
        on: u8,
        user: U,
        actor: Actor,
        kind: Kind,
        replaces: Option<Pick>,
    },
    FinishEnrolment {
        on: u8,
        user: U,
        actor: Actor,
        factor: Pick,
        answer: Answer,
    },
    Verify {
        on: u8,
        user: U,
        factor: Pick,
        answer: Answer,
    },
    /// A challenge, or with `step_up` one bound to an action.
    StartChallenge {
        on: u8,
        user: U,
        factor: Pick,
        step_up: bool,
    },
    FinishChallenge {
        on: u8,
        user: U,
        challenge: Pick,
        answer: Answer,
    },
    StartPasswordless {
        on: u8,
    },
    /// A caller nobody authenticated answers passwordless ceremony `ceremony` with passkey
    /// `passkey` (`Right`, or `Wrong`: the signature spoilt), or with an unknown credential.
    FinishPasswordless {
        on: u8,
        ceremony: Pick,
        passkey: Pick,
        answer: Answer,
    },
    GenerateCodes {
        on: u8,
        user: U,
        actor: Actor,
        again: bool,
    },
    /// Recovery code `code` of all the codes shown so far (past the end: one nobody holds).
    UseCode {
        on: u8,
        user: U,
        code: Pick,
    },
    /// Remember the device after verification `verification` of all successful ones.
    RememberDevice {
        on: u8,
        verification: Pick,
    },
    CheckDevice {
        on: u8,
        user: U,
        token: Pick,
    },
    RevokeDevice {
        on: u8,
        user: U,
        device: Pick,
    },
    RevokeAllDevices {
        on: u8,
        user: U,
    },
    RemoveFactor {
        on: u8,
        user: U,
        actor: Actor,
        factor: Pick,
    },
    SetPreferred {
        on: u8,
        user: U,
        actor: Actor,
        factor: Pick,
    },
    Rename {
        on: u8,
        user: U,
        factor: Pick,
    },
    GetFactor {
        on: u8,
        user: U,
        factor: Pick,
    },
    /// A new code for a pending enrolment.
    ResendEnrolment {
        on: u8,
        user: U,
        factor: Pick,
    },
    /// A new challenge in place of an open one.
    ResendChallenge {
        on: u8,
        user: U,
        challenge: Pick,
    },
    /// The host's periodic clean-up.
    Purge,
    /// An administrator resets the user's MFA.
    AdminReset {
        on: u8,
        user: U,
        by: By,
    },
    /// An administrator clears one failure counter of the user, or all (`None`).
    AdminUnlock {
        on: u8,
        user: U,
        by: By,
        scope: Option<Counter>,
    },
    /// An administrator issues a temporary access code for the user.
    IssueAccess {
        on: u8,
        user: U,
        by: By,
        lifetime: Lifetime,
    },
    /// An administrator revokes the user's temporary access code.
    RevokeAccess {
        on: u8,
        user: U,
        by: By,
    },
    /// A caller with the user's password alone signs in with temporary access code `code`
    /// of all the codes issued so far (past the end: a guess); `Wrong` sends a well-formed
    /// code nobody was given, `Malformed` something that is no code.
    UseAccess {
        on: u8,
        user: U,
        code: Pick,
        answer: Answer,
    },
    /// `racers` copies of one right answer at once, spread over both instances.
    Race {
        racers: u8,
        op: Raced,
    },
}

/// What a race sends: the right answer to one of these (by the same picks as the
/// sequential operations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Raced {
    Verify { user: U, factor: Pick },
    FinishChallenge { user: U, challenge: Pick },
    UseCode { user: U, code: Pick },
    FinishPasswordless { ceremony: Pick, passkey: Pick },
    UseAccess { user: U, code: Pick },
}

impl Raced {
    /// The operation each racer performs, as a step of its own on instance `on`.
    pub(crate) fn op(self, on: u8) -> Op {
        let answer = Answer::Right;
        match self {
            Raced::Verify { user, factor } => Op::Verify { on, user, factor, answer },
            Raced::FinishChallenge { user, challenge } => Op::FinishChallenge { on, user, challenge, answer },
            Raced::UseCode { user, code } => Op::UseCode { on, user, code },
            Raced::FinishPasswordless { ceremony, passkey } => Op::FinishPasswordless { on, ceremony, passkey, answer },
            Raced::UseAccess { user, code } => Op::UseAccess { on, user, code, answer },
        }
    }
}

fn raced() -> impl Strategy<Value = Raced> {
    prop_oneof![
        4 => (user(), pick()).prop_map(|(user, factor)| Raced::Verify { user, factor }),
        4 => (user(), pick()).prop_map(|(user, challenge)| Raced::FinishChallenge { user, challenge }),
        4 => (user(), pick()).prop_map(|(user, code)| Raced::UseCode { user, code }),
        4 => (pick(), pick()).prop_map(|(ceremony, passkey)| Raced::FinishPasswordless { ceremony, passkey }),
        2 => (user(), access_pick()).prop_map(|(user, code)| Raced::UseAccess { user, code }),
    ]
}

fn on() -> impl Strategy<Value = u8> {
    0u8..2
}

fn user() -> impl Strategy<Value = U> {
    prop_oneof![6 => Just(U::Alice), 1 => Just(U::Bob)]
}

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![5 => Just(Actor::Owner), 3 => Just(Actor::PasswordOnly), 1 => Just(Actor::Stale)]
}

fn by() -> impl Strategy<Value = By> {
    prop_oneof![6 => Just(By::Helpdesk), 1 => Just(By::Bob), 1 => Just(By::Mallory)]
}

fn counter() -> impl Strategy<Value = Option<Counter>> {
    prop_oneof![
        3 => pick().prop_map(|p| Some(Counter::Factor(p))),
        1 => Just(Some(Counter::Codes)),
        1 => Just(Some(Counter::Access)),
        1 => Just(Some(Counter::Devices)),
        3 => Just(None),
    ]
}

fn lifetime() -> impl Strategy<Value = Lifetime> {
    prop_oneof![3 => Just(Lifetime::Short), 4 => Just(Lifetime::Default), 1 => Just(Lifetime::TooLong)]
}

/// A temporary access code mostly among the newest few issued (those most likely live).
fn access_pick() -> impl Strategy<Value = Pick> {
    prop_oneof![12 => Just(Pick(0)), 4 => (1u8..4).prop_map(Pick), 1 => Just(Pick(u8::MAX))]
}

fn access_answer() -> impl Strategy<Value = Answer> {
    prop_oneof![6 => Just(Answer::Right), 3 => Just(Answer::Wrong), 1 => Just(Answer::Malformed)]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![3 => Just(Kind::Totp), 2 => Just(Kind::Passkey), 2 => Just(Kind::Sms)]
}

/// Mostly something that exists (small positions wrap around), sometimes a guess.
fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![16 => (0u8..6).prop_map(Pick), 2 => (6u8..8).prop_map(Pick), 1 => Just(Pick(u8::MAX))]
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![8 => Just(Answer::Right), 3 => Just(Answer::Wrong), 1 => Just(Answer::Replay), 1 => Just(Answer::Malformed)]
}

fn secs() -> impl Strategy<Value = u64> {
    prop_oneof![Just(1), Just(10), Just(31), Just(61), Just(301), Just(3601)]
}

/// Any operation, weighted towards the lifecycle's main paths.
pub(crate) fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => secs().prop_map(|secs| Op::Advance { secs }),
        16 => (on(), user(), actor(), kind(), proptest::option::weighted(0.4, pick()))
            .prop_map(|(on, user, actor, kind, replaces)| Op::StartEnrolment { on, user, actor, kind, replaces }),
        16 => (on(), user(), actor(), pick(), answer())
            .prop_map(|(on, user, actor, factor, answer)| Op::FinishEnrolment { on, user, actor, factor, answer }),
        12 => (on(), user(), pick(), answer()).prop_map(|(on, user, factor, answer)| Op::Verify { on, user, factor, answer }),
        6 => (on(), user(), pick(), proptest::bool::weighted(0.3))
            .prop_map(|(on, user, factor, step_up)| Op::StartChallenge { on, user, factor, step_up }),
        6 => (on(), user(), pick(), answer())
            .prop_map(|(on, user, challenge, answer)| Op::FinishChallenge { on, user, challenge, answer }),
        4 => on().prop_map(|on| Op::StartPasswordless { on }),
        6 => (on(), pick(), pick(), answer())
            .prop_map(|(on, ceremony, passkey, answer)| Op::FinishPasswordless { on, ceremony, passkey, answer }),
        4 => (on(), user(), actor(), any::<bool>())
            .prop_map(|(on, user, actor, again)| Op::GenerateCodes { on, user, actor, again }),
        4 => (on(), user(), pick()).prop_map(|(on, user, code)| Op::UseCode { on, user, code }),
        4 => (on(), pick()).prop_map(|(on, verification)| Op::RememberDevice { on, verification }),
        4 => (on(), user(), pick()).prop_map(|(on, user, token)| Op::CheckDevice { on, user, token }),
        2 => (on(), user(), pick()).prop_map(|(on, user, device)| Op::RevokeDevice { on, user, device }),
        2 => (on(), user()).prop_map(|(on, user)| Op::RevokeAllDevices { on, user }),
        4 => (on(), user(), actor(), pick())
            .prop_map(|(on, user, actor, factor)| Op::RemoveFactor { on, user, actor, factor }),
        2 => (on(), user(), actor(), pick())
            .prop_map(|(on, user, actor, factor)| Op::SetPreferred { on, user, actor, factor }),
        2 => (on(), user(), pick()).prop_map(|(on, user, factor)| Op::Rename { on, user, factor }),
        2 => (on(), user(), pick()).prop_map(|(on, user, factor)| Op::GetFactor { on, user, factor }),
        2 => (on(), user(), pick()).prop_map(|(on, user, factor)| Op::ResendEnrolment { on, user, factor }),
        2 => (on(), user(), pick()).prop_map(|(on, user, challenge)| Op::ResendChallenge { on, user, challenge }),
        2 => Just(Op::Purge),
        4 => (prop_oneof![Just(2u8), Just(8), Just(64)], raced()).prop_map(|(racers, op)| Op::Race { racers, op }),
        // The help desk: rarer than the user's own operations, common enough that most
        // sequences issue a code and use it, or reset a user and go on (the weights above are
        // twice what they were before these, so their proportions are unchanged; a reset,
        // which empties the user's state, is rarer still).
        1 => (on(), user(), by()).prop_map(|(on, user, by)| Op::AdminReset { on, user, by }),
        1 => (on(), user(), by(), counter()).prop_map(|(on, user, by, scope)| Op::AdminUnlock { on, user, by, scope }),
        4 => (on(), user(), by(), lifetime())
            .prop_map(|(on, user, by, lifetime)| Op::IssueAccess { on, user, by, lifetime }),
        1 => (on(), user(), by()).prop_map(|(on, user, by)| Op::RevokeAccess { on, user, by }),
        5 => (on(), user(), access_pick(), access_answer())
            .prop_map(|(on, user, code, answer)| Op::UseAccess { on, user, code, answer }),
    ]
}
