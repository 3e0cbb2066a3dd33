//! `relying-party`: reads its settings from the environment, signs one user in, and prints
//! the ID token's claims and the userinfo response.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use relying_party::Config;

fn main() -> ExitCode {
    let result = Config::from_env().map_err(relying_party::Error::from).and_then(|config| {
        relying_party::run(&config, |url| {
            println!("Open this URL in your browser:\n\n  {url}\n");
            println!("Waiting for the browser to come back to the redirect URI …");
        })
    });
    let sign_in = match result {
        Ok(sign_in) => sign_in,
        Err(error) => {
            eprintln!("relying-party: {error}");
            return ExitCode::from(2);
        }
    };
    println!("\nID token claims (signature, nonce and at_hash verified):");
    println!("{}", pretty(&sign_in.id_token_claims));
    println!("\nUserinfo:");
    println!("{}", pretty(&sign_in.userinfo));
    // Printed so the quickstart can call userinfo by hand; a real application keeps it to itself.
    println!("\nAccess token:\n{}", sign_in.access_token);
    ExitCode::SUCCESS
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}
