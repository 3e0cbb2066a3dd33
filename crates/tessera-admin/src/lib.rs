//! Tessera's management REST API (`/api/v1`, described by an OpenAPI 3 document at
//! `/api/v1/openapi.json`) and its admin console (server-rendered pages under `/admin`),
//! both over the same operations (`api::*`), which the CLI calls too.
//!
//! What it is for: letting administrators' automation create, read, update, delete and
//! list what Tessera manages, authenticated by management API keys, every change written
//! to the audit log in the same transaction. What it is not for: protocol endpoints
//! (`tessera-oidc`), SQL (`tessera-store`), or the rules themselves (`tessera-domain`).
//! It depends only on the layers below it and never on `tessera-oidc`.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod console;
