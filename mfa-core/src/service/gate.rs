//! The delivery gate: every limit of the [`DeliverySettings`] a send is counted under.

use super::*;

/// The service's answer to an adapter asking to send: every limit of the
/// [`DeliverySettings`], counted in the store.
pub(super) struct Gate<'a> {
    pub(super) mfa: &'a Mfa,
    pub(super) user: &'a UserId,
    pub(super) factor: FactorId,
    /// Whether the factor is active: its destination proven to be the user's. Sends to an
    /// unproven destination are counted under one counter shared by every account (so no
    /// number or mailbox is flooded through many accounts); sends to a proven one under the
    /// user's own (so nobody else can use up the owner's codes).
    pub(super) proven: bool,
    pub(super) now: Timestamp,
}

/// One counter a send is counted under, and the limit on it.
struct Limit {
    cap: DeliveryCap,
    key: String,
    rule: Rule,
}

enum Rule {
    /// The cooldown and cap per window of [`DeliverySettings`] (per factor, per destination).
    CooldownAndWindow,
    /// `amount` units under a fixed-window cap.
    Cap(WindowCap, u32),
}

impl Limit {
    fn next(
        &self,
        settings: &DeliverySettings,
        state: &CounterState,
        now: Timestamp,
    ) -> Result<CounterState, Duration> {
        match &self.rule {
            Rule::CooldownAndWindow => settings.count(state, now),
            Rule::Cap(cap, amount) => cap.count(state, now, *amount),
        }
    }
}

impl Gate<'_> {
    /// The counters a send on `channel` to `destination` is counted under, in the order
    /// they are counted.
    fn limits(&self, channel: DeliveryChannel, destination: &str) -> Vec<Limit> {
        let settings = &self.mfa.inner.settings.delivery;
        let canonical = canonical_destination(channel, destination);
        // The enrolment's sends and the sign-in's are counted apart, so the code that proved
        // a new number does not hold up the first sign-in to it.
        let (per_factor, per_destination) = if self.proven {
            let owned = format!("{}\0{canonical}", self.user.as_str());
            (format!("send:factor:{}", self.factor), hashed_key("send:dest", "user-destination", &owned))
        } else {
            (format!("send:enrol:{}", self.factor), hashed_key("send:dest", "destination", &canonical))
        };
        let mut limits = vec![
            Limit { cap: DeliveryCap::Factor, key: per_factor, rule: Rule::CooldownAndWindow },
            Limit { cap: DeliveryCap::Destination, key: per_destination, rule: Rule::CooldownAndWindow },
        ];
        if let Some(cap) = settings.per_user {
            let key = hashed_key("send:user", "send-user", self.user.as_str());
            limits.push(Limit { cap: DeliveryCap::User, key, rule: Rule::Cap(cap, 1) });
        }
        if let (Some(prefix), DeliveryChannel::Sms) = (&settings.prefix, channel) {
            let key = hashed_key("send:prefix", "number-prefix", &prefix.prefix_of(destination));
            limits.push(Limit { cap: DeliveryCap::Prefix, key, rule: Rule::Cap(prefix.cap(), 1) });
        }
        if let Some(budget) = &settings.cost_budget {
            let cost = budget.cost_of(channel, destination);
            // A free message cannot exceed the budget: it need not touch the shared counter.
            if cost > 0 {
                let key = "send:cost".to_owned();
                limits.push(Limit { cap: DeliveryCap::CostBudget, key, rule: Rule::Cap(budget.cap(), cost) });
            }
        }
        limits
    }

    /// Checks every limit, then counts every one; `Ok(Err(..))` is a refusal.
    async fn check_and_count(
        &self,
        channel: DeliveryChannel,
        destination: &str,
    ) -> Result<Result<(), (DeliveryCap, Duration)>> {
        let store = &self.mfa.inner.store;
        let settings = &self.mfa.inner.settings.delivery;
        let now = self.now;
        let limits = self.limits(channel, destination);
        // Check every limit before counting any, so a refusal counts nothing. When several
        // refuse, report the one that lasts longest: nothing can be sent before it ends.
        let mut read = Vec::with_capacity(limits.len());
        let mut refusal: Option<(DeliveryCap, Duration)> = None;
        for limit in &limits {
            let current = store.get_counter(&limit.key, now).await?;
            if let Err(wait) = limit.next(settings, &current, now)
                && refusal.is_none_or(|(_, longest)| wait > longest)
            {
                refusal = Some((limit.cap, wait));
            }
            read.push(current);
        }
        if let Some(refusal) = refusal {
            return Ok(Err(refusal));
        }
        // Count each with a compare-and-set that checks its limit again, starting from the
        // state just read, so no limit is exceeded however many sends race.
        for (limit, mut current) in limits.iter().zip(read) {
            let mut counted = false;
            for _ in 0..MAX_CAS_RETRIES {
                let next = match limit.next(settings, &current, now) {
                    Ok(next) => next,
                    Err(wait) => return Ok(Err((limit.cap, wait))),
                };
                if store.compare_and_set_counter(&limit.key, &current, &next, now).await? {
                    counted = true;
                    break;
                }
                current = store.get_counter(&limit.key, now).await?;
            }
            if !counted {
                return Err(Error::Backend("delivery counter contention".into()));
            }
        }
        Ok(Ok(()))
    }
}

#[async_trait]
impl DeliveryGate for Gate<'_> {
    async fn permit(&self, channel: DeliveryChannel, destination: &str) -> Result<()> {
        let Err((limit, retry_after)) = self.check_and_count(channel, destination).await? else {
            return Ok(());
        };
        let factor = self.factor;
        self.mfa.emit(self.user, self.now, EventKind::DeliveryLimited { factor, limit, retry_after }).await;
        Err(match limit {
            DeliveryCap::Factor | DeliveryCap::Destination => Error::RateLimited { retry_after },
            cap => Error::DeliveryCapped { cap, retry_after },
        })
    }
}

/// A counter key that holds a hash of `value` (a destination, a number's range, a user id),
/// so counters hold no phone numbers or addresses: `{prefix}:{32 hex digits}`.
///
/// The hash is not keyed: it keeps values out of keys and logs, but a short value (a number
/// range above all) can be found again by trying every candidate.
pub(super) fn hashed_key(prefix: &str, domain: &str, value: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"mfa-rs/")
        .chain_update(domain.as_bytes())
        .chain_update(b"/v1\0")
        .chain_update(value.as_bytes())
        .finalize();
    format!("{prefix}:{}", data_encoding::HEXLOWER.encode(&digest[..16]))
}

/// Every counter key the service derives from `user`, the user's `factors` and their
/// `destinations` (as stored, for SMS and email alike): what an erasure deletes. Keys shared
/// by many users (a number range, the cost budget, the passwordless bound) are not among
/// them: they name no one.
pub(super) fn user_counter_keys(user: &UserId, factors: &[FactorId], destinations: &[String]) -> Vec<String> {
    let mut keys = vec![
        hashed_key("open:challenges", "challenges-per-user", user.as_str()),
        hashed_key("send:user", "send-user", user.as_str()),
    ];
    for id in factors {
        keys.push(format!("send:factor:{id}"));
        keys.push(format!("send:enrol:{id}"));
    }
    for destination in destinations {
        for channel in [DeliveryChannel::Sms, DeliveryChannel::Email] {
            let canonical = canonical_destination(channel, destination);
            let owned = format!("{}\0{canonical}", user.as_str());
            keys.push(hashed_key("send:dest", "user-destination", &owned));
            keys.push(hashed_key("send:dest", "destination", &canonical));
        }
    }
    keys.sort();
    keys.dedup();
    keys
}
