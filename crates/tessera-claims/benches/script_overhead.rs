//! What a custom-claims script adds to token issuance: p50 and p99 of `ScriptEngine::run` for a
//! trivial and a realistic script, warm (the thread's runtime kept: the usual case) and cold (a
//! new engine, so a new runtime too: a thread's first run). Every run, warm or cold, builds a
//! fresh context and compiles the script in it.
//! Run it with `bench/script-overhead.sh`; `RUNS` sets the number of measured runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use tessera_claims::{FetchPolicy, Limits, ScriptEngine, ScriptInput};

const TRIVIAL: &str = "function getCustomJwtClaims(){ return { a: 1 } }";

/// About fifty lines of what admins write: roles, organisations, a plan lookup, string work.
const REALISTIC: &str = r#"// Realistic custom claims: roles, organisations, plan, display name.
const ROLE_PREFIX = "app:";
const PLAN_SEATS = { free: 1, pro: 5, enterprise: 50 };

function normalizeRole(name) {
  return String(name).trim().toLowerCase().replace(/\s+/g, "-");
}

function initials(name) {
  return name.split(/\s+/).filter(Boolean).map((part) => part[0].toUpperCase()).join("");
}

async function loadPlan(customData, fallback) {
  await null;
  const plan = customData && typeof customData.plan === "string" ? customData.plan : fallback;
  return { plan, seats: PLAN_SEATS[plan] ?? 0 };
}

const getCustomJwtClaims = async ({ token, context, environmentVariables, api }) => {
  if (!context) {
    return { machine: true, client: token.client_id };
  }
  const { user, application } = context;
  if (user.suspended) {
    api.denyAccess("This account is suspended.");
  }
  const roles = [...new Set((user.roles ?? []).map((role) => normalizeRole(role.name)))]
    .filter((role) => role.length > 0)
    .sort()
    .map((role) => ROLE_PREFIX + role);
  const organizations = (user.organizations ?? [])
    .filter((org) => org.active)
    .map((org) => ({ id: org.id, role: org.role }));
  const { plan, seats } = await loadPlan(user.customData, environmentVariables.DEFAULT_PLAN ?? "free");
  const scopes = String(token.scope ?? "").split(" ").filter(Boolean);
  const region = (environmentVariables.REGION ?? "eu").toUpperCase();
  const displayName = user.name ? `${user.name} (${initials(user.name)})` : user.email;
  return {
    roles,
    organizations,
    plan,
    seats,
    region,
    display_name: displayName,
    can_write: scopes.includes("orders:write") && roles.includes("app:editor"),
    app: application.name,
    issued_on: new Date(token.iat * 1000).toISOString().slice(0, 10),
    tenant: `${region.toLowerCase()}-${application.id}`,
  };
};
"#;

fn input() -> ScriptInput {
    ScriptInput {
        token: json!({ "sub": "u-1", "client_id": "shop", "scope": "openid orders:read orders:write", "iat": 1_790_000_000 }),
        context: Some(json!({
            "user": {
                "id": "u-1", "name": "Ada Lovelace", "email": "ada@example.com", "suspended": false,
                "roles": [{ "name": "Editor" }, { "name": " Billing Admin " }, { "name": "editor" }],
                "organizations": [{ "id": "o-1", "role": "owner", "active": true }, { "id": "o-2", "role": "member", "active": false }],
                "customData": { "plan": "pro" }
            },
            "application": { "id": "shop", "name": "Shop" }
        })),
        environment_variables: BTreeMap::from([
            ("REGION".to_owned(), "eu-west".to_owned()),
            ("DEFAULT_PLAN".to_owned(), "free".to_owned()),
        ]),
    }
}

struct Figures {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

fn measure(runs: usize, mut once: impl FnMut()) -> Figures {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            once();
            started.elapsed()
        })
        .collect();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    Figures { p50: at(0.50), p99: at(0.99), mean: times.iter().sum::<Duration>() / runs as u32 }
}

fn main() {
    let runs: usize = std::env::var("RUNS").ok().and_then(|runs| runs.parse().ok()).unwrap_or(2_000);
    let warmup = 200;
    let input = input();
    let policy = FetchPolicy::disabled();
    let engine = ScriptEngine::new(Limits::default());
    let expected = engine.run(REALISTIC, &input, &policy).expect("the realistic script runs");
    assert_eq!(expected["roles"], json!(["app:billing-admin", "app:editor"]));

    println!("ScriptEngine::run overhead: {runs} runs after {warmup} warm-up, one thread");
    println!("{:<46} {:>10} {:>10} {:>10}", "case", "p50", "p99", "mean");
    for (name, source) in [("trivial", TRIVIAL), ("realistic (50 lines, async)", REALISTIC)] {
        for _ in 0..warmup {
            engine.run(source, &input, &policy).unwrap();
        }
        let warm = measure(runs, || {
            engine.run(source, &input, &policy).unwrap();
        });
        print_row(&format!("{name}, runtime kept"), &warm);
        // Cold: a new engine each time, so the runtime is built too.
        let cold = measure(runs / 10, || {
            ScriptEngine::new(Limits::default()).run(source, &input, &policy).unwrap();
        });
        print_row(&format!("{name}, new runtime"), &cold);
    }
    let stats = engine.stats();
    println!("cached engine: {} runs, {} runtimes built", stats.runs, stats.runtimes);
}

fn print_row(name: &str, figures: &Figures) {
    println!("{name:<46} {:>10} {:>10} {:>10}", micros(figures.p50), micros(figures.p99), micros(figures.mean));
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}
