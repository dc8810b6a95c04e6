//! The real control plane (tests/control-plane, built by scripts/control-plane) and kubectl of
//! the same release, shared by every test of this binary: started once, on first use, and stopped
//! when the test process exits (it holds the control plane's standard input; `--stop-on-eof`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

pub struct ControlPlane {
    kubectl: PathBuf,
    kubeconfig: PathBuf,
    /// Dropped only when the process exits: the control plane then reads end of file and stops.
    _stdin: Mutex<ChildStdin>,
}

/// What a kubectl run said.
pub struct Kubectl {
    pub cmdline: String,
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Kubectl {
    /// Its stdout; panics with everything it said when it failed.
    #[track_caller]
    pub fn expect_ok(self) -> String {
        assert!(
            self.ok,
            "{}\n--- stderr:\n{}\n--- stdout:\n{}",
            self.cmdline, self.stderr, self.stdout
        );
        self.stdout
    }
}

fn project() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shared control plane, started on first use; `None` (the test returns early) only when
/// STS_GEN_CLUSTER=skip asks for it. A machine that cannot build or start it fails the test with
/// the reason: a silent skip would hide a broken CI.
pub fn shared() -> Option<&'static ControlPlane> {
    static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
    if std::env::var("STS_GEN_CLUSTER").as_deref() == Ok("skip") {
        eprintln!("skipped (STS_GEN_CLUSTER=skip): no control plane");
        return None;
    }
    match SHARED.get_or_init(start) {
        Ok(control_plane) => Some(control_plane),
        Err(why) => panic!(
            "the test control plane cannot run here: {why}; set STS_GEN_CLUSTER=skip to skip these tests on purpose"
        ),
    }
}

/// `scripts/control-plane WHAT`: builds both binaries when the cache lacks them, prints a path.
fn built(what: &str) -> Result<PathBuf, String> {
    let out = Command::new(project().join("scripts/control-plane"))
        .arg(what)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("scripts/control-plane {what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/control-plane {what} failed ({})",
            out.status
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn start() -> Result<ControlPlane, String> {
    let binary = built("build")?;
    let kubectl = built("kubectl")?;
    let log_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("control-plane.log");
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let started = Instant::now();
    let mut child = Command::new(&binary)
        .arg("--stop-on-eof")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let failed = |why: String| {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "{why} (its log, {}, ends with:\n{})",
            log_path.display(),
            tail.join("\n")
        )
    };
    let kubeconfig = loop {
        match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(line) => {
                if let Some(path) = line.strip_prefix("kubeconfig: ") {
                    break PathBuf::from(path);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                return Err(failed(
                    "the control plane was not ready within 180 s".into(),
                ));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                return Err(failed(format!(
                    "the control plane exited before /readyz ({status})"
                )));
            }
        }
    };
    eprintln!(
        "control plane ready in {:.1} s ({}; log: {})",
        started.elapsed().as_secs_f64(),
        binary.display(),
        log_path.display()
    );
    Ok(ControlPlane {
        kubectl,
        kubeconfig,
        _stdin: Mutex::new(stdin),
    })
}

impl ControlPlane {
    /// Runs kubectl with ARGS against the control plane, STDIN on its standard input.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Kubectl {
        let mut cmd = Command::new(&self.kubectl);
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env(
                "KUBECACHEDIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("kube-cache"),
            )
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl runs");
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().expect("piped stdin");
            let text = text.to_owned();
            std::thread::spawn(move || pipe.write_all(text.as_bytes()));
        }
        let out = child.wait_with_output().expect("kubectl runs");
        Kubectl {
            cmdline: format!("kubectl {}", args.join(" ")),
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// A JSON object from `kubectl get ... -o json`.
    #[track_caller]
    pub fn get(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["get", "-o", "json"];
        all.extend_from_slice(args);
        let text = self.kubectl(&all, None).expect_ok();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("kubectl {all:?}: {e}\n{text}"))
    }

    /// A fresh namespace NAME (deleted first when a previous run left it) whose Pod Security
    /// level is LEVEL for enforce, warn and audit alike: `enforce` alone would let a pod
    /// template that breaks the level through without a word (only Pods are enforced).
    #[track_caller]
    pub fn namespace(&self, name: &str, level: &str) {
        self.kubectl(
            &[
                "delete",
                "namespace",
                name,
                "--ignore-not-found",
                "--wait=true",
            ],
            None,
        )
        .expect_ok();
        let manifest = format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels:\n{}",
            ["enforce", "warn", "audit"]
                .map(|mode| format!("    pod-security.kubernetes.io/{mode}: {level}\n"))
                .concat()
        );
        self.kubectl(&["apply", "--server-side", "-f", "-"], Some(&manifest))
            .expect_ok();
    }
}

/// Polls `f` until it returns `Some`, for at most `secs`; panics with `what` then.
#[track_caller]
pub fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "not within {secs} s: {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
