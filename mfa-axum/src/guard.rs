//! [`RequireMfa`]: a route guard that evaluates an [`AccessPolicy`], never an ad-hoc check.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Redirect, Response};
use mfa_core::AccessPolicy;
use mfa_core::access::{Decision, Outcome, StepUp};
use tower_layer::Layer;
use tower_service::Service;

use crate::session::{Locale, decide};
use crate::{ApiError, MfaHttp, MfaSession};

/// How the guard answers a request that cannot go on yet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NextStep {
    /// A JSON refusal: `unauthenticated` (401); `verification_required` or
    /// `step_up_required` (401) with `candidates`, the factors that would do;
    /// `enrolment_required` (403).
    Json,
    /// A `303 See Other` to the host's pages.
    Redirect {
        /// Where to sign in with a password.
        sign_in: String,
        /// Where to answer a challenge (the sign-in step, or a step-up).
        verify: String,
        /// Where to add a factor.
        enrol: String,
    },
}

/// Guards routes: a request goes on only if the session's sign-in meets the policy (and
/// the step-up, if one is set). Otherwise the answer is the next step, as [`NextStep`]
/// says. Make it with [`MfaHttp::require`] and add it with `Router::route_layer`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, routing::post};
/// use mfa_axum::MfaHttp;
/// use mfa_core::access::StepUp;
/// use mfa_core::{AccessPolicy, Assurance};
///
/// fn routes(http: &MfaHttp) -> Router {
///     let payments = StepUp::within(Duration::from_secs(300)).min_assurance(Assurance::PhishingResistant);
///     Router::new()
///         .route("/payments", post(|| async { "paid" }))
///         .route_layer(http.require(AccessPolicy::default()).step_up(payments))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct RequireMfa {
    http: MfaHttp,
    policy: AccessPolicy,
    step_up: Option<StepUp>,
}

impl RequireMfa {
    pub(crate) fn new(http: MfaHttp, policy: AccessPolicy) -> Self {
        Self { http, policy, step_up: None }
    }

    /// Also requires a recent verification for these routes: a step-up.
    #[must_use]
    pub fn step_up(mut self, step_up: StepUp) -> Self {
        self.step_up = Some(step_up);
        self
    }

    /// Ok if the request may go on; otherwise the answer.
    async fn check(&self, parts: &mut axum::http::request::Parts) -> Result<(), Response> {
        let session =
            MfaSession::extract(parts, &self.http, Locale::RequestOnly).await.map_err(|e| self.http.respond(&e))?;
        let sign_in = match session.sign_in().await {
            Ok(Some(sign_in)) => sign_in,
            Ok(None) => return Err(self.refuse(Refusal::SignIn)),
            Err(e) => return Err(self.http.respond(&e)),
        };
        let decision = decide(&session.mfa(), &sign_in, &self.policy, self.step_up.as_ref())
            .await
            .map_err(|e| self.http.respond(&e))?;
        match decision.outcome {
            Outcome::Satisfied(_) => Ok(()),
            Outcome::EnrolmentRequired => Err(self.refuse(Refusal::Enrol)),
            _ => Err(self.refuse(Refusal::Verify(decision))),
        }
    }

    fn refuse(&self, refusal: Refusal) -> Response {
        if let NextStep::Redirect { sign_in, verify, enrol } = &self.http.inner.next_step {
            let to = match refusal {
                Refusal::SignIn => sign_in,
                Refusal::Verify(_) => verify,
                Refusal::Enrol => enrol,
            };
            return Redirect::to(to).into_response();
        }
        let error = match refusal {
            Refusal::SignIn => ApiError::Unauthenticated,
            Refusal::Verify(decision) => {
                ApiError::VerificationRequired { step_up: self.step_up.is_some(), candidates: decision.candidates }
            }
            Refusal::Enrol => ApiError::EnrolmentRequired,
        };
        self.http.respond(&error)
    }
}

/// Why the guard refused.
enum Refusal {
    SignIn,
    Verify(Decision),
    Enrol,
}

impl<S> Layer<S> for RequireMfa {
    type Service = RequireMfaService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireMfaService { guard: self.clone(), inner }
    }
}

/// The service [`RequireMfa`] wraps a route in.
#[derive(Debug, Clone)]
pub struct RequireMfaService<S> {
    guard: RequireMfa,
    inner: S,
}

impl<S> Service<Request> for RequireMfaService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            if let Err(answer) = guard.check(&mut parts).await {
                return Ok(answer);
            }
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}
