//! sts-gen's output against a real Kubernetes control plane (kube-apiserver with Pod Security
//! admission, the controller manager and the scheduler of one release; tests/control-plane) and
//! kubectl of the same release. scripts/control-plane builds both once per machine; without Go, or
//! when the build or the start fails, every test fails with the reason, unless
//! STS_GEN_CLUSTER=skip is set on purpose.
//!
//! admission.rs: every output through admission (server-side dry-run). limits.rs: the edges of
//! sts-gen's bounds, the same way. updates.rs: which one-setting changes the server accepts over
//! a stored set (docs/update-rules.md). nodes.rs: three Nodes and a pool of PersistentVolumes, as
//! no kubelet registers any. controllers.rs: each database's prod output applied for real, and
//! what the controllers and the scheduler do with it.

mod admission;
mod control_plane;
mod controllers;
mod limits;
mod nodes;
mod updates;

use std::path::Path;
use std::process::{Command, Stdio};

/// Runs sts-gen; its stdout, or what it said on stderr.
pub fn sts_gen(args: &[&str]) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_sts-gen"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("sts-gen runs");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).expect("utf-8 output"))
    } else {
        Err(format!(
            "sts-gen {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Every database (one folder per database in presets/) with its presets: "default" (no
/// `--preset`) first, then the others by name.
pub fn databases() -> Vec<(String, Vec<String>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("presets");
    let mut dbs: Vec<(String, Vec<String>)> = std::fs::read_dir(&root)
        .expect("presets/")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let mut presets: Vec<String> = std::fs::read_dir(e.path())
                .expect("a preset folder")
                .filter_map(Result::ok)
                .filter_map(|f| {
                    f.file_name()
                        .to_str()?
                        .strip_suffix(".yaml")
                        .map(str::to_owned)
                })
                .collect();
            presets.sort_by_key(|p| (p != "default", p.clone()));
            (e.file_name().to_string_lossy().into_owned(), presets)
        })
        .collect();
    dbs.sort();
    dbs
}
