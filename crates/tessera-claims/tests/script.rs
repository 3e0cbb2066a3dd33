//! Integration tests of the custom-claims script engine, one module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod script {
    pub mod support;

    mod cache;
    mod check;
    mod denial;
    mod fetch;
    mod inputs;
    mod isolation;
    mod limits;
    mod results;
    mod sandbox;
}
