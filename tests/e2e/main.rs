//! End-to-end proof: the manifests' own scripts, run against real database servers by podsim
//! (a kubelet stand-in, see podsim.rs). Needs root and the servers from Debian (scripts/install-test-deps installs
//! them). Without them every test fails with the reason, unless STS_GEN_E2E=skip is set:
//! a silent skip would hide a broken CI.

mod mariadb;
mod mysql;
mod podsim;
mod postgres;
mod redis;
mod s3;
mod scenarios;

use podsim::Profile;

/// Returns false (the test returns early) only when skipping was asked for explicitly.
pub fn ready_to_run(profiles: &[&Profile]) -> bool {
    match podsim::preflight(profiles) {
        Ok(()) => true,
        Err(why) if std::env::var("STS_GEN_E2E").as_deref() == Ok("skip") => {
            eprintln!("e2e skipped (STS_GEN_E2E=skip): {why}");
            false
        }
        Err(why) => panic!(
            "the e2e suite cannot run here: {why}; set STS_GEN_E2E=skip to skip it on purpose"
        ),
    }
}

/// Polls `f` until it returns `want` (replication is asynchronous), for at most `secs`.
pub fn eventually(secs: u64, want: &str, mut f: impl FnMut() -> String) -> String {
    let start = std::time::Instant::now();
    let mut got = f();
    while got != want && start.elapsed() < std::time::Duration::from_secs(secs) {
        std::thread::sleep(std::time::Duration::from_millis(300));
        got = f();
    }
    got
}
