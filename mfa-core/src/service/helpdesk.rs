//! The types of the help-desk operations; see [`crate::admin`].

use std::collections::HashSet;
use std::fmt;

use async_trait::async_trait;
use serde::Serialize;

use crate::events::AdminOperation;
use crate::secret::SecretString;
use crate::types::{Assurance, FactorSummary, Timestamp, UserId};

/// The host's answer to "may this administrator do this?", asked before every operation
/// of an [`Admin`](crate::Admin) handle made by [`Mfa::admin`](crate::Mfa::admin).
///
/// # Examples
///
/// ```
/// use async_trait::async_trait;
/// use mfa_core::admin::{AdminCheck, AdminOperation};
/// use mfa_core::UserId;
///
/// /// Help-desk staff may do everything but erase; nobody may act on an administrator.
/// #[derive(Debug)]
/// struct HelpDesk;
///
/// #[async_trait]
/// impl AdminCheck for HelpDesk {
///     async fn may(&self, admin: &UserId, operation: AdminOperation, subject: Option<&UserId>) -> bool {
///         admin.as_str().starts_with("staff-")
///             && operation != AdminOperation::Erase
///             && !subject.is_some_and(|s| s.as_str().starts_with("staff-"))
///     }
/// }
/// ```
#[async_trait]
pub trait AdminCheck: fmt::Debug + Send + Sync + 'static {
    /// Whether `admin` may perform `operation` on `subject` (`None` for deployment-wide
    /// reads such as coverage).
    async fn may(&self, admin: &UserId, operation: AdminOperation, subject: Option<&UserId>) -> bool;
}

/// An [`AdminCheck`] that allows a fixed set of administrators everything.
///
/// # Examples
///
/// ```
/// use mfa_core::admin::{AdminCheck, AdminOperation, Administrators};
/// use mfa_core::UserId;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mfa_core::Error> {
/// let check = Administrators::new([UserId::new("root")?]);
/// assert!(check.may(&UserId::new("root")?, AdminOperation::Reset, None).await);
/// assert!(!check.may(&UserId::new("alice")?, AdminOperation::Reset, None).await);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Administrators(HashSet<UserId>);

impl Administrators {
    /// The check allowing exactly these administrators.
    ///
    /// # Examples
    ///
    /// ```
    /// use mfa_core::admin::Administrators;
    /// use mfa_core::UserId;
    ///
    /// let check = Administrators::new([UserId::new("root")?, UserId::new("helpdesk-1")?]);
    /// # let _ = check;
    /// # Ok::<(), mfa_core::Error>(())
    /// ```
    pub fn new(admins: impl IntoIterator<Item = UserId>) -> Self {
        Self(admins.into_iter().collect())
    }
}

#[async_trait]
impl AdminCheck for Administrators {
    async fn may(&self, admin: &UserId, _operation: AdminOperation, _subject: Option<&UserId>) -> bool {
        self.0.contains(admin)
    }
}

/// One factor as a help desk sees it: the summary and its failure counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FactorState {
    /// The factor (no secret).
    pub factor: FactorSummary,
    /// Consecutive failed attempts.
    pub failures: u32,
    /// Until when attempts are refused, if they are.
    pub locked_until: Option<Timestamp>,
    /// Attempts are refused for good until an administrator unlocks it (a hard stop).
    pub disabled: bool,
}

/// A user's MFA as a help desk sees it ([`Admin::status`](crate::Admin::status)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MfaStatus {
    /// Whom it describes.
    pub user: UserId,
    /// Every factor, pending ones included, preferred and strongest first.
    pub factors: Vec<FactorState>,
    /// Unused recovery codes.
    pub recovery_codes_remaining: usize,
    /// Until when recovery-code attempts are refused, if they are.
    pub recovery_codes_locked_until: Option<Timestamp>,
    /// Recovery codes are refused for good until an administrator unlocks them.
    pub recovery_codes_disabled: bool,
    /// Remembered devices (expired ones included until purged).
    pub remembered_devices: usize,
    /// When the user's unused temporary access code expires, if they have one.
    pub temporary_access_expires_at: Option<Timestamp>,
}

impl MfaStatus {
    /// True if the user has an active factor.
    ///
    /// # Examples
    ///
    /// ```
    /// # use mfa_core::admin::Administrators;
    /// # use mfa_core::{AeadSealer, Mfa, UserId};
    /// # use mfa_store_memory::MemoryStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let root = UserId::new("root")?;
    /// # let mfa = Mfa::builder()
    /// #     .store(MemoryStore::new())
    /// #     .sealer(AeadSealer::ephemeral()?)
    /// #     .factor(mfa_otp::TotpFactor::new("Example")?)
    /// #     .admin_check(Administrators::new([root.clone()]))
    /// #     .build()?;
    /// # let alice = UserId::new("alice")?;
    /// assert!(!mfa.admin(&root).status(&alice).await?.has_active_factor());
    /// # Ok(())
    /// # }
    /// ```
    pub fn has_active_factor(&self) -> bool {
        self.factors.iter().any(|f| f.factor.status == crate::FactorStatus::Active)
    }
}

/// A temporary access code, as issued: show it to the administrator once (they pass it to
/// the user over a trusted channel); only its hash is stored. The code is zeroized on drop
/// and redacted in `Debug`.
#[derive(Debug)]
#[non_exhaustive]
pub struct TemporaryAccessCode {
    /// The code, formatted `XXXX-XXXX-XXXX-XXXX-XXXX`.
    pub code: SecretString,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// What signing in with it proves.
    pub assurance: Assurance,
    /// Wrong tries it allows before it is spent.
    pub max_attempts: u32,
}
