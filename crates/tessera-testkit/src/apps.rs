//! Application settings for tests, made by the domain's one parser
//! ([`ApplicationInput::into_settings`]) the API and the CLI use: a test names only what
//! it cares about, every other setting takes the default an administrator would get, and
//! a new setting needs no change here.

use tessera_domain::{ApplicationInput, ApplicationSettings};

/// The settings an administrator giving `input` would get.
pub fn settings(input: ApplicationInput) -> ApplicationSettings {
    input.into_settings(None).unwrap_or_else(|e| panic!("test application settings: {e}"))
}

/// A confidential web application (`client_secret_basic`, authorization code and refresh
/// token grants), consent not asked, and the identity scopes
/// `openid profile email offline_access`. `redirect_uris` are stored as given, unchecked:
/// some tests store ones registration refuses, to show authorize refuses them too.
pub fn web_app(name: &str, redirect_uris: &[&str]) -> ApplicationSettings {
    let parsed = settings(ApplicationInput {
        name: name.into(),
        app_type: "web".into(),
        redirect_uris: vec!["https://app.example/callback".into()],
        allowed_scopes: Some(strings(&["openid", "profile", "email", "offline_access"])),
        require_consent: Some(false),
        ..Default::default()
    });
    ApplicationSettings { redirect_uris: strings(redirect_uris), ..parsed }
}

/// A machine application (`client_secret_basic`, client credentials only) that may ask
/// for `scopes`.
pub fn machine_app(name: &str, scopes: &[&str]) -> ApplicationSettings {
    settings(ApplicationInput {
        name: name.into(),
        app_type: "machine".into(),
        allowed_scopes: Some(strings(scopes)),
        ..Default::default()
    })
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}
