//! Database failover under load (issue 20 point 2): a PostgreSQL primary with a
//! synchronous streaming-replication standby, both clusters of the test's own; Tessera
//! given both hosts (`target_session_attrs=read-write`); the primary killed mid-load
//! and the standby promoted. Meanwhile Tessera answers 503 with a JSON reason and
//! `Retry-After`; once the standby is promoted it reconnects by itself and every request
//! succeeds, without a restart. The history of every request is then checked
//! (`tessera_testkit::history`): no code redeemed twice, no refresh token rotated
//! twice, no chain broken, no acknowledged token lost. docs/operations.md, "Failover".
//!
//! The long form (`TESSERA_FAILOVER_SECONDS=60`, seconds of load on each side of the
//! failover) is the command in docs/operations.md.

use std::time::Duration;

use tessera_store::{DatabaseUrl, PoolOptions, Store};
use tessera_testkit::history::{self, Event, Kind, Outcome, Window};
use tessera_testkit::pg_cluster::{PgCluster, StopMode};

use crate::common::load::{self, Load};
use crate::common::{TestApp, settings_for_url};

/// The applications' refresh token retry grace (the default).
pub const GRACE: Duration = Duration::from_secs(10);

/// Seconds of load before the fault and after recovery: 2, or `TESSERA_FAILOVER_SECONDS`.
pub fn load_seconds() -> Duration {
    let seconds = std::env::var("TESSERA_FAILOVER_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    Duration::from_secs(seconds)
}

/// Checks the history, prints the checker's summary, and fails on any violation.
pub fn assert_history(what: &str, events: &[Event], window: Window) -> history::Report {
    let report = history::check(events, Some(window), GRACE);
    println!("{what}: {report}");
    assert!(report.violations.is_empty(), "{what}: {report}");
    let after: Vec<&Event> = events.iter().filter(|e| e.start >= window.settled).collect();
    for kind in [Kind::Refresh, Kind::Redeem, Kind::ClientCredentials, Kind::Introspect] {
        assert!(after.iter().any(|e| e.kind == kind && e.ok()), "{what}: no {kind:?} succeeded after recovery");
    }
    assert_eq!(report.tokens_active, report.tokens_checked);
    report
}

#[test]
fn a_failover_to_the_promoted_standby_loses_no_acknowledged_write_and_needs_no_restart() {
    let Some(primary) = PgCluster::primary("failover") else { return };
    let standby = primary.standby();
    primary.require_synchronous_standby();
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/tessera?target_session_attrs=read-write",
        primary.port, standby.port
    );
    let data_dir = std::env::temp_dir().join(format!("tessera-failover-{}", uuid::Uuid::now_v7().simple()));
    let app = TestApp::spawn_with(settings_for_url(&url, &data_dir));
    let parsed = DatabaseUrl::parse(&url).unwrap();
    let fixture = load::register(&Store::connect(&parsed, &PoolOptions::for_backend(parsed.backend())).unwrap());

    let load = Load::start(vec![app.base.clone()], &fixture, 4);
    std::thread::sleep(load_seconds());
    let fault = load.history.now();
    primary.stop(StopMode::Immediate);
    // No primary for a while: the standby refuses writes, the primary is gone.
    std::thread::sleep(Duration::from_millis(2500));
    standby.promote();
    let settled = load.history.now() + Duration::from_millis(500);
    std::thread::sleep(load_seconds() + Duration::from_millis(500));
    let history = load.finish(&app.base);

    let report = assert_history("failover", &history, Window { fault, settled });
    let during: Vec<&Event> = history.iter().filter(|e| e.start >= fault && e.start < settled).collect();
    assert!(
        during.iter().any(|e| matches!(&e.outcome, Outcome::Answer { status: 503, retry_after: true, .. })),
        "no 503 while there was no primary"
    );
    assert!(report.rotations > 0 && report.codes_redeemed > 0);
    drop(app);
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// The checker itself: each rule catches what it is about, and a clean history passes.
mod checker {
    use super::*;

    fn event(kind: Kind, input: &str, output: &str, status: u16, at: u64) -> Event {
        Event {
            client: 0,
            kind,
            input: Some(input.into()),
            output: Some(output.into()),
            outcome: Outcome::Answer { status, error: Some("x".into()), retry_after: status == 503 },
            start: Duration::from_millis(at),
            end: Duration::from_millis(at + 1),
        }
    }

    #[test]
    fn the_checker_finds_a_code_redeemed_twice_and_a_token_rotated_twice_outside_the_grace() {
        let clean = [event(Kind::Redeem, "c1", "r1", 200, 0), event(Kind::Refresh, "r1", "r2", 200, 5)];
        assert!(history::check(&clean, None, GRACE).violations.is_empty());
        let twice = [event(Kind::Redeem, "c1", "r1", 200, 0), event(Kind::Redeem, "c1", "r9", 200, 5)];
        assert_eq!(history::check(&twice, None, GRACE).violations.len(), 1);
        let within = [event(Kind::Refresh, "r1", "r2", 200, 0), event(Kind::Refresh, "r1", "r3", 200, 9_000)];
        assert!(history::check(&within, None, GRACE).violations.is_empty());
        let late = [event(Kind::Refresh, "r1", "r2", 200, 0), event(Kind::Refresh, "r1", "r3", 200, 11_000)];
        assert_eq!(history::check(&late, None, GRACE).violations.len(), 1);
        let broken = [event(Kind::Refresh, "r1", "", 400, 0)];
        assert_eq!(history::check(&broken, None, GRACE).violations.len(), 1);
    }

    #[test]
    fn the_checker_finds_failures_after_recovery_bare_5xx_and_lost_tokens() {
        let window = Window { fault: Duration::from_millis(10), settled: Duration::from_millis(100) };
        let during = [event(Kind::ClientCredentials, "", "t", 503, 50)];
        assert!(history::check(&during, Some(window), GRACE).violations.is_empty());
        let after = [event(Kind::ClientCredentials, "", "t", 503, 150)];
        assert_eq!(history::check(&after, Some(window), GRACE).violations.len(), 1);
        let bare = [event(Kind::ClientCredentials, "", "t", 500, 50)];
        assert_eq!(history::check(&bare, Some(window), GRACE).violations.len(), 1);
        let mut no_retry_after = event(Kind::ClientCredentials, "", "t", 503, 50);
        no_retry_after.outcome = Outcome::Answer { status: 503, error: Some("x".into()), retry_after: false };
        assert_eq!(history::check(&[no_retry_after], Some(window), GRACE).violations.len(), 1);
        let lost = [event(Kind::FinalIntrospect, "t", "inactive", 200, 200)];
        let report = history::check(&lost, None, GRACE);
        assert_eq!((report.tokens_checked, report.tokens_active, report.violations.len()), (1, 0, 1));
        let stale = [event(Kind::FinalRefresh, "r1", "", 400, 200)];
        assert_eq!(history::check(&stale, None, GRACE).violations.len(), 1);
    }
}
