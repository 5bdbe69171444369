//! Who is acting and from where: the request context a host attaches to its calls, carried
//! into every event the call records and into the texts it sends.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::types::UserId;

/// The longest user agent kept; a longer one is cut at a character boundary.
pub const MAX_USER_AGENT: usize = 256;
/// The longest locale tag accepted (BCP 47 tags in use are far shorter).
pub const MAX_LOCALE: usize = 35;

/// Who performed an operation.
///
/// # Examples
///
/// ```
/// use mfa_core::{context::Actor, UserId};
///
/// let admin = Actor::Admin(UserId::new("helpdesk-1")?);
/// assert_eq!(admin.to_string(), "admin:helpdesk-1");
/// assert_eq!(Actor::User.to_string(), "self");
/// # Ok::<(), mfa_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Actor {
    /// The user the operation is about, acting on their own account (the default).
    #[default]
    User,
    /// A help-desk administrator, by the host's id for them.
    Admin(UserId),
    /// The host itself: a scheduled task, a migration, an import.
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User => f.write_str("self"),
            Actor::Admin(id) => write!(f, "admin:{}", id.as_str()),
            Actor::System => f.write_str("system"),
        }
    }
}

/// What a host knows about the request behind a call: the actor, the client's address and
/// user agent (recorded on events), and the user's locale (for texts sent out of band).
///
/// Attach it with [`Mfa::with_context`](crate::Mfa::with_context); every call through the
/// returned handle carries it.
///
/// # Examples
///
/// ```
/// use mfa_core::context::RequestContext;
///
/// let ctx = RequestContext::new()
///     .ip("203.0.113.9".parse().unwrap())
///     .user_agent("Mozilla/5.0")
///     .locale("de-CH")?;
/// assert_eq!(ctx.locale_tag(), Some("de-CH"));
/// assert!(RequestContext::new().locale("de_CH; DROP").is_err());
/// # Ok::<(), mfa_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RequestContext {
    /// Who acts.
    pub actor: Actor,
    /// The client's address, as the host determined it.
    pub ip: Option<IpAddr>,
    /// The client's user agent, at most [`MAX_USER_AGENT`] bytes.
    pub user_agent: Option<String>,
    /// The user's locale (a BCP 47 tag such as `de` or `pt-BR`).
    pub locale: Option<String>,
}

impl RequestContext {
    /// An empty context: the user acting on their own account.
    pub fn new() -> Self {
        Self::default()
    }

    /// The context of a host task acting on its own.
    pub fn system() -> Self {
        Self { actor: Actor::System, ..Self::default() }
    }

    /// Sets the actor.
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }

    /// Sets the client's address.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// Sets the client's user agent; control characters are dropped and a long one is cut
    /// to [`MAX_USER_AGENT`] bytes.
    pub fn user_agent(mut self, agent: &str) -> Self {
        let mut kept = String::with_capacity(agent.len().min(MAX_USER_AGENT));
        for c in agent.chars().filter(|c| !c.is_control()) {
            if kept.len() + c.len_utf8() > MAX_USER_AGENT {
                break;
            }
            kept.push(c);
        }
        self.user_agent = (!kept.is_empty()).then_some(kept);
        self
    }

    /// Sets the user's locale.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] unless the tag is 1–35 letters, digits and hyphens,
    /// starting with a letter.
    pub fn locale(mut self, tag: &str) -> Result<Self> {
        let valid = !tag.is_empty()
            && tag.len() <= MAX_LOCALE
            && tag.starts_with(|c: char| c.is_ascii_alphabetic())
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            return Err(Error::InvalidInput { field: "locale", reason: "not a language tag" });
        }
        self.locale = Some(tag.to_owned());
        Ok(self)
    }

    /// The locale tag, if one was set.
    pub fn locale_tag(&self) -> Option<&str> {
        self.locale.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_agent_is_cut_at_a_character_boundary_and_loses_control_characters() {
        let long = "é".repeat(200);
        let ctx = RequestContext::new().user_agent(&long);
        let kept = ctx.user_agent.unwrap_or_default();
        assert!(kept.len() <= MAX_USER_AGENT && kept.len() >= MAX_USER_AGENT - 1);
        assert_eq!(RequestContext::new().user_agent("a\nb\r\u{0}").user_agent.as_deref(), Some("ab"));
        assert_eq!(RequestContext::new().user_agent("\n").user_agent, None);
    }

    #[test]
    fn locales_are_language_tags() {
        for ok in ["en", "de-CH", "pt-BR", "zh-Hant-TW"] {
            assert!(RequestContext::new().locale(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-en", "en_US", "de;", &"a".repeat(36), "1en"] {
            assert!(RequestContext::new().locale(bad).is_err(), "{bad}");
        }
    }
}
