//! The custom claims of one token, computed: the mappings, the script (run in the
//! sandbox with its `token`, `context` and environment), the grant-fixed values of a
//! refresh and the attributes, in the order of [`crate::compose`]. The token endpoint
//! and the console's preview both compute here; what a script failure means for the
//! request (refuse, or issue without its claims) is the caller's to decide.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::compose::{Composer, IssuedClaims, Rule};
use crate::context::{ApplicationInfo, GrantInfo, TokenKind, UserContext, UserProfile, refuse_registered, token_input};
use crate::mapping::MappingData;
use crate::script::{FetchPolicy, ScriptEngine, ScriptFailure, ScriptInput};

/// What the custom claims of one token are computed from.
pub struct Inputs<'a> {
    pub kind: TokenKind,
    /// The rules that apply to this token (the application's over the global ones).
    pub rules: Vec<Rule<'a>>,
    /// The access token's registered claims (the script's `token.payload`).
    pub payload: &'a Map<String, Value>,
    /// The user and the grant, for a user's token.
    pub user: Option<(&'a UserProfile, GrantInfo)>,
    pub application: ApplicationInfo,
    /// Attributes attached to the grant (`POST /api/v1/token/custom`).
    pub attributes: &'a Map<String, Value>,
    /// At a refresh: the claims of the grant's previous issuance.
    pub at_grant: Option<&'a IssuedClaims>,
}

/// The enabled script of the token's kind, and its decrypted environment (or why it
/// could not be had, which fails the run).
pub struct Script<'a> {
    pub source: &'a str,
    pub environment: Result<BTreeMap<String, String>, String>,
}

/// The computed claims; `failure` when the script failed (its claims are then left out).
#[derive(Debug)]
pub struct Computed {
    pub claims: IssuedClaims,
    pub failure: Option<ScriptFailure>,
    /// What the script wrote with `console.log` (the preview shows it).
    pub logs: Vec<String>,
}

/// Computes the claims of `inputs`, running `script` with `engine` and `fetch`.
pub fn compute(engine: &ScriptEngine, fetch: &FetchPolicy, inputs: Inputs<'_>, script: Option<Script<'_>>) -> Computed {
    let mut composer = Composer::new(inputs.rules);
    let user = inputs.user.as_ref().map(|(user, _)| *user);
    composer.map(&MappingData { user, application: &inputs.application });
    let mut failure = None;
    let mut logs = Vec::new();
    if let Some(script) = script {
        let context = inputs.user.as_ref().map(|(user, grant)| {
            UserContext { user: (*user).clone(), application: inputs.application.clone(), grant: grant.clone() }
                .to_value()
        });
        let outcome = match script.environment {
            Err(message) => Err(ScriptFailure::Engine { message }),
            Ok(environment_variables) => {
                let input =
                    ScriptInput { token: token_input(inputs.kind, inputs.payload), context, environment_variables };
                let report = engine.run_with_report(script.source, &input, fetch);
                logs = report.logs;
                report.outcome.and_then(refuse_registered)
            }
        };
        match outcome {
            Ok(claims) => composer.script(claims),
            Err(failed) => failure = Some(failed),
        }
    }
    if let Some(at_grant) = inputs.at_grant {
        composer.keep_fixed(at_grant);
    }
    composer.attributes(inputs.attributes);
    Computed { claims: composer.finish(), failure, logs }
}
