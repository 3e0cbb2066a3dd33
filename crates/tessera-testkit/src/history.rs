//! A history of every request a load test sent and what came back, and a checker over
//! it in the style of Jepsen's: the load runs while something breaks (a failover, a
//! database restart, a killed node), then [`check`] reads the whole history and counts
//! what the documented guarantees forbid:
//!
//! - a code answered `200` twice (redeemed twice);
//! - a refresh token rotated twice: two different successors acknowledged for one token,
//!   unless the second came from a retry within the application's retry grace
//!   (docs/applications.md, "Refresh token retries");
//! - a refresh chain broken: the client only ever presents the last token it was given
//!   (or retries one whose answer it never got), so an `invalid_grant` means the family
//!   was corrupted or revoked by a retry the grace should have covered;
//! - an acknowledged write lost: a token the client got answers inactive afterwards
//!   (the final sweep after the fault), or a chain's last token no longer refreshes;
//! - an answer outside the protocol: a 5xx other than `503` with `Retry-After` and a JSON
//!   `error`, and any failure once the database is back ([`Window::settled`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `client_credentials` for a reference token: the output is the access token.
    ClientCredentials,
    /// Introspection of an acknowledged access token: the output is `active` or `inactive`.
    Introspect,
    /// Redemption of a code: the input is the code, the output the refresh token.
    Redeem,
    /// A refresh: the input is the token presented, the output its successor.
    Refresh,
    /// `/readyz`.
    Ready,
    /// After the fault: introspection of every acknowledged access token.
    FinalIntrospect,
    /// After the fault: one refresh of each chain's last acknowledged token.
    FinalRefresh,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer: its status, the `error` member of a JSON body, whether it carried
    /// `Retry-After`.
    Answer { status: u16, error: Option<String>, retry_after: bool },
    /// No answer: the connection failed or timed out (the outcome is unknown).
    NoAnswer(String),
}

/// One request of the history.
#[derive(Debug, Clone)]
pub struct Event {
    /// The client (thread) that sent it: a refresh chain's number for refreshes.
    pub client: usize,
    pub kind: Kind,
    pub input: Option<String>,
    pub output: Option<String>,
    pub outcome: Outcome,
    /// When it was sent and when its answer came, since the history began.
    pub start: Duration,
    pub end: Duration,
}

impl Event {
    pub fn ok(&self) -> bool {
        matches!(self.outcome, Outcome::Answer { status: 200, .. })
    }

    /// An answer that says the outcome may or may not have happened: no answer, or a 5xx.
    pub fn unknown(&self) -> bool {
        match &self.outcome {
            Outcome::NoAnswer(_) => true,
            Outcome::Answer { status, .. } => *status >= 500,
        }
    }
}

/// The history: appended to by many threads.
pub struct History {
    origin: Instant,
    events: Mutex<Vec<Event>>,
}

impl Default for History {
    fn default() -> Self {
        History { origin: Instant::now(), events: Mutex::new(Vec::new()) }
    }
}

impl History {
    /// Now, on the history's clock.
    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    pub fn record(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

/// When the fault happened, on the history's clock.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// The fault began (the primary was stopped, the node killed).
    pub fault: Duration,
    /// From here on the database is back (the standby promoted, the primary started)
    /// and every request must succeed.
    pub settled: Duration,
}

/// What [`check`] found: counts, and the violations in words.
#[derive(Debug, Default)]
pub struct Report {
    pub requests: usize,
    pub succeeded: usize,
    pub unavailable: usize,
    pub no_answer: usize,
    pub codes_redeemed: usize,
    pub rotations: usize,
    /// Rotations answered to a retry of a token whose previous attempt got no answer or
    /// a 5xx (whether or not that attempt had committed).
    pub retries_answered: usize,
    pub chains: usize,
    pub tokens_checked: usize,
    pub tokens_active: usize,
    pub violations: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "history checker: {} requests ({} succeeded, {} × 503 with Retry-After, {} without an answer); \
             {} codes redeemed, 0 twice; {} rotations ({} of them retries after an unknown outcome), {} chains; \
             {}/{} acknowledged access tokens active afterwards; {} violation(s)",
            self.requests,
            self.succeeded,
            self.unavailable,
            self.no_answer,
            self.codes_redeemed,
            self.rotations,
            self.retries_answered,
            self.chains,
            self.tokens_active,
            self.tokens_checked,
            self.violations.len()
        )?;
        for v in self.violations.iter().take(20) {
            write!(f, "\n  violation: {v}")?;
        }
        Ok(())
    }
}

/// Checks `events` (see the module's doc); `grace` is the applications' refresh token
/// retry grace.
pub fn check(events: &[Event], window: Option<Window>, grace: Duration) -> Report {
    let mut events: Vec<&Event> = events.iter().collect();
    events.sort_by_key(|e| e.start);
    let mut report = Report { requests: events.len(), ..Report::default() };
    let mut redeemed: HashMap<&str, usize> = HashMap::new();
    // token -> (successor, when its request started) for each acknowledged rotation.
    let mut successors: HashMap<&str, Vec<(&str, Duration)>> = HashMap::new();
    let mut presented_after_unknown: HashMap<&str, bool> = HashMap::new();
    let mut chains: HashMap<usize, ()> = HashMap::new();
    for e in &events {
        match &e.outcome {
            Outcome::Answer { status: 200, .. } => report.succeeded += 1,
            Outcome::Answer { status: 503, error, retry_after } => {
                report.unavailable += 1;
                if !retry_after {
                    report.violations.push(format!("a 503 without Retry-After: {e:?}"));
                }
                if error.is_none() && e.kind != Kind::Ready {
                    report.violations.push(format!("a 503 without a JSON error: {e:?}"));
                }
            }
            Outcome::Answer { status, .. } if *status >= 500 => {
                report.violations.push(format!("a {status} answer: {e:?}"));
            }
            Outcome::Answer { .. } => {}
            Outcome::NoAnswer(_) => report.no_answer += 1,
        }
        if let Some(w) = window
            && e.start >= w.settled
            && !e.ok()
        {
            report.violations.push(format!("a failure after the database was back: {e:?}"));
        }
        let (input, output) = (e.input.as_deref(), e.output.as_deref());
        match e.kind {
            Kind::Redeem => {
                if let (true, Some(code)) = (e.ok(), input) {
                    report.codes_redeemed += 1;
                    let n = redeemed.entry(code).or_default();
                    *n += 1;
                    if *n == 2 {
                        report.violations.push(format!("code redeemed twice (client {})", e.client));
                    }
                }
            }
            Kind::Refresh => {
                chains.insert(e.client, ());
                let Some(token) = input else { continue };
                if e.ok() {
                    report.rotations += 1;
                    if presented_after_unknown.get(token).copied().unwrap_or(false) {
                        report.retries_answered += 1;
                    }
                    let Some(next) = output else { continue };
                    let list = successors.entry(token).or_default();
                    if let Some(&(_, first)) = list.first()
                        && e.start.saturating_sub(first) > grace
                    {
                        report.violations.push(format!(
                            "refresh token rotated twice, {:?} apart (client {})",
                            e.start - first,
                            e.client
                        ));
                    }
                    list.push((next, e.start));
                } else if e.unknown() {
                    presented_after_unknown.insert(token, true);
                } else if let Outcome::Answer { status, error, .. } = &e.outcome {
                    report.violations.push(format!(
                        "refresh chain {} broken: {status} {error:?} for the token it last held",
                        e.client
                    ));
                }
            }
            Kind::Introspect => {
                if e.ok() && output != Some("active") {
                    report.violations.push(format!("an acknowledged access token introspected inactive: {e:?}"));
                }
            }
            Kind::FinalIntrospect => {
                report.tokens_checked += 1;
                if e.ok() && output == Some("active") {
                    report.tokens_active += 1;
                } else {
                    report.violations.push(format!("an acknowledged access token was lost: {:?}", e.outcome));
                }
            }
            Kind::FinalRefresh => {
                if !e.ok() {
                    report.violations.push(format!(
                        "refresh chain {}'s last acknowledged token no longer refreshes: {:?}",
                        e.client, e.outcome
                    ));
                }
            }
            Kind::ClientCredentials | Kind::Ready => {}
        }
    }
    report.chains = chains.len();
    report
}
