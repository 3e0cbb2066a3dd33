//! Tessera's admin console (server-rendered askama pages under `/admin`) and its
//! management REST API (`/api/v1`, described by an OpenAPI document).
//!
//! This crate is empty until the admin-console issue lands: until then administrators
//! use the `tessera` command line (`tessera admin create-user`, …). It depends only on
//! the layers below it and never on `tessera-oidc`.
#![forbid(unsafe_code)]
