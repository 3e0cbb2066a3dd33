//! Step-up at authorize (docs/authentication.md): the level and recency a pending request
//! needs ([`requirement_for`]), and where the user goes when the session does not meet
//! it ([`step_up`]): a fresh sign-in, or the one factor missing on the factor page
//! ([`FACTOR_PATH`]). `authorize::decide` asks here after sign-in is established and
//! before required claims and consent, for browser and device requests alike; the
//! factor page asks [`requirement_for`] what to ask for.

use tessera_domain::{Acr, Requirement, ScopeSet, SignInPolicy, Step};
use tessera_store::applications::Application;
use tessera_store::config::Config;
use tessera_store::{AnyConnection, StoreResult};

use crate::authorize::request::{AuthorizationRequest, UNMET_AUTHENTICATION_REQUIREMENTS};
use crate::state::OidcState;

/// The page that asks for the one factor a pending request still needs (a TOTP code, a
/// recovery code or a passkey), as `FACTOR_PATH?request=…`.
pub(crate) const FACTOR_PATH: &str = "/login/factor";

/// What a pending request needs: the combination ([`Requirement::combine`]) of
/// - the sign-in policy, the stricter of the server's and the application's (a
///   `password` policy asks nothing a signed-in session lacks, so it adds nothing);
/// - the request's `acr_values` (the weakest known value, OIDC Core §3.1.2.1) and its
///   essential `acr` claim (§5.5.1.1);
/// - each requested API scope's requirement (its own, else its connection's).
///
/// `None`: any signed-in session will do. The request's own `max_age` is not part of it:
/// `authorize::decide` applies it first, as OIDC Core §3.1.2.1 says.
pub(crate) fn requirement_for(
    state: &OidcState,
    config: &Config,
    app: &Application,
    request: &AuthorizationRequest,
) -> Option<Requirement> {
    let policy = state.settings.sign_in_policy.stricter(app.settings.sign_in_policy);
    let policy = (policy != SignInPolicy::Password).then(|| Requirement { acr: policy.minimum(), max_age: None });
    let asked = request.acr_values.max(request.essential_acr).map(|acr| Requirement { acr, max_age: None });
    let scopes = ScopeSet::parse(&request.scope).ok().and_then(|scope| scope_requirement(config, &scope));
    Requirement::combine(Requirement::combine(policy, asked), scopes)
}

/// [`requirement_for`] with the configuration from memory, or, when it is due for a look,
/// read on `conn`: callers hold a transaction, and take no second pooled connection.
pub(crate) fn requirement_on(
    conn: &mut AnyConnection,
    state: &OidcState,
    app: &Application,
    request: &AuthorizationRequest,
    now: i64,
) -> StoreResult<Option<Requirement>> {
    let config = match state.store.config_if_current() {
        Some(config) => config,
        None => std::sync::Arc::new(Config::load(conn, now)?),
    };
    Ok(requirement_for(state, &config, app, request))
}

/// The combined requirement of the API scopes in `scope` (what the console's claims
/// preview shows, and what authorize adds for the scopes requested).
pub(crate) fn scope_requirement(config: &Config, scope: &ScopeSet) -> Option<Requirement> {
    scope.iter().map(|s| config.scope_requirement(s.as_str())).fold(None, Requirement::combine)
}

/// Where a pending request whose session does not meet its requirement goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StepUp {
    /// The page, given `?request=…`.
    pub path: &'static str,
    /// OIDC Core §3.1.2.6: the error a `prompt=none` request gets instead.
    pub error: &'static str,
    pub description: &'static str,
}

/// `None` when the session's authentication (`amr` at `auth_time`) meets the request's
/// requirement. Otherwise a recency passed
/// (or no authentication): a fresh sign-in, as `max_age` asks; a level not reached: the
/// factor page. Without a page (`prompt=none`): `login_required` for a sign-in,
/// `interaction_required` for a factor, and `unmet_authentication_requirements` (OpenID
/// Connect Unmet Authentication Requirements 1.0 §2) when the level the request insists
/// on as an essential `acr` is not reached: there the answer is certain, since no page
/// may be shown.
pub(crate) fn step_up(
    requirement: Option<Requirement>,
    request: &AuthorizationRequest,
    amr: &[String],
    auth_time: Option<i64>,
    now: i64,
) -> Option<StepUp> {
    let step = requirement?.next_step(amr, auth_time, now)?;
    let reached = Acr::of(amr);
    let essential_unmet = request.essential_acr.is_some_and(|essential| reached.is_none_or(|r| r < essential));
    let (path, error, description) = match step {
        Step::SignIn => {
            ("/login", "login_required", "the user must sign in again to reach the authentication required")
        }
        Step::SecondFactor => (FACTOR_PATH, "interaction_required", "the user must present a second factor"),
        Step::Passkey => (FACTOR_PATH, "interaction_required", "the user must present a passkey"),
    };
    let (error, description) = if essential_unmet && request.prompts("none") {
        (UNMET_AUTHENTICATION_REQUIREMENTS, "the essential acr requested is not met and no page may be shown")
    } else {
        (error, description)
    };
    Some(StepUp { path, error, description })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{ReplyTo, ResponseMode};

    fn request(prompt: &[&str], essential_acr: Option<Acr>) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "web".into(),
            reply: ReplyTo { redirect_uri: String::new(), response_mode: ResponseMode::Query, state: None },
            scope: "openid".into(),
            nonce: None,
            code_challenge: None,
            prompt: prompt.iter().map(|p| (*p).to_owned()).collect(),
            max_age: None,
            login_hint: None,
            hinted_sub: None,
            signed_in_at: None,
            consented: false,
            resources: Vec::new(),
            device: None,
            dpop_jkt: None,
            first_factor: None,
            acr_values: None,
            essential_acr,
        }
    }

    fn amr(values: &[&str]) -> Vec<String> {
        values.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn a_level_not_reached_goes_to_the_factor_page() {
        let two = Some(Requirement { acr: Acr::TwoFactor, max_age: None });
        let pwd = amr(&["pwd"]);
        let step = step_up(two, &request(&[], None), &pwd, Some(1_000), 1_000).unwrap();
        assert_eq!((step.path, step.error), (FACTOR_PATH, "interaction_required"));
        assert_eq!(step_up(two, &request(&[], None), &amr(&["mfa", "otp", "pwd"]), Some(1_000), 1_000), None);
        assert_eq!(step_up(None, &request(&[], None), &pwd, Some(1_000), 1_000), None);
    }

    #[test]
    fn a_recency_passed_asks_a_fresh_sign_in() {
        let recent = Some(Requirement { acr: Acr::OneFactor, max_age: Some(300) });
        let step = step_up(recent, &request(&[], None), &amr(&["pwd"]), Some(1_000), 1_301).unwrap();
        assert_eq!((step.path, step.error), ("/login", "login_required"));
        assert_eq!(step_up(recent, &request(&[], None), &amr(&["pwd"]), Some(1_000), 1_300), None);
    }

    #[test]
    fn an_essential_acr_unmet_without_a_page_is_unmet_authentication_requirements() {
        let two = Some(Requirement { acr: Acr::TwoFactor, max_age: None });
        let pwd = amr(&["pwd"]);
        let silent = step_up(two, &request(&["none"], Some(Acr::TwoFactor)), &pwd, Some(1_000), 1_000).unwrap();
        assert_eq!(silent.error, UNMET_AUTHENTICATION_REQUIREMENTS);
        let voluntary = step_up(two, &request(&["none"], None), &pwd, Some(1_000), 1_000).unwrap();
        assert_eq!(voluntary.error, "interaction_required");
    }
}
