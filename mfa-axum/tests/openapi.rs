//! The OpenAPI document: every endpoint the router serves is in it, and everything in it
//! is served.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers panic on purpose

mod support;

use axum::http::{Method, StatusCode};
use support::World;

#[tokio::test]
async fn every_documented_operation_is_served_and_the_document_too() {
    let w = World::new().await;
    let document = mfa_axum::openapi("/mfa");
    let mut operations = Vec::new();
    for (path, item) in &document.paths.paths {
        let methods = [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PATCH, item.patch.is_some()),
            (Method::DELETE, item.delete.is_some()),
        ];
        for (method, present) in methods {
            if present {
                let path = path.replace("{id}", "0123456789abcdef0123456789abcdef").replace("{user}", "alice");
                operations.push((method, path));
            }
        }
    }
    // 9 sign-in operations, 2 for the session, 14 on the security page and 7 for the help desk.
    assert_eq!(operations.len(), 32, "{operations:?}");
    let mut browser = w.browser();
    for (method, path) in operations {
        let answer = browser.send(method.clone(), &path, None).await;
        assert!(
            ![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&answer.status)
                || !answer.code().is_empty(),
            "{method} {path} is not served: {}",
            answer.status
        );
    }
    let served = browser.get("/mfa/openapi.json").await;
    assert_eq!(served.status, StatusCode::OK);
    assert!(served.body["paths"]["/signin/challenge/finish"]["post"].is_object());
    let schemas = &served.body["components"]["schemas"];
    for schema in ["ErrorBody", "ChallengeView", "FactorView", "PromptView", "SignedIn", "AnswerBody"] {
        assert!(schemas[schema].is_object(), "{schema}");
    }
}
