//! A small builder around the real binary, with the environment cleared.

use std::process::{Command, Output, Stdio};

/// A stand-in for `getent` in script tests: `getent hosts NAME` resolves the pods named in
/// `$FAKE_PODS` (the first label of NAME), as the headless Service does.
pub const FAKE_GETENT: &str = r#"#!/bin/bash
# getent hosts NAME: the pods named in $FAKE_PODS resolve.
pod=${2%%.*}
for p in $FAKE_PODS; do
  if [ "$p" = "$pod" ]; then echo "10.0.0.1 $2"; exit 0; fi
done
exit 2
"#;

#[must_use]
pub struct Run {
    args: Vec<String>,
}

pub struct Done {
    pub cmdline: String,
    pub output: Output,
}

impl Run {
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(args: I) -> Run {
        Run {
            args: args.into_iter().map(|s| s.as_ref().to_owned()).collect(),
        }
    }

    pub fn run(self) -> Done {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sts-gen"));
        cmd.args(&self.args).env_clear().stdin(Stdio::null());
        let output = cmd.output().expect("sts-gen runs");
        Done {
            cmdline: format!("sts-gen {}", self.args.join(" ")),
            output,
        }
    }
}

impl Done {
    pub fn stdout(&self) -> String {
        String::from_utf8(self.output.stdout.clone()).expect("utf-8 stdout")
    }

    pub fn stderr(&self) -> String {
        String::from_utf8(self.output.stderr.clone()).expect("utf-8 stderr")
    }

    #[track_caller]
    pub fn code(&self, want: i32) -> &Done {
        assert_eq!(
            self.output.status.code(),
            Some(want),
            "{}\n--- stderr:\n{}\n--- stdout (first 400 bytes):\n{}",
            self.cmdline,
            self.stderr(),
            &self.stdout()[..self.stdout().len().min(400)]
        );
        self
    }

    /// A failed run: exit 1, nothing on stdout, exactly one `sts-gen: error:` line on stderr
    /// containing every needle.
    #[track_caller]
    pub fn fails_with(&self, needles: &[&str]) -> &Done {
        self.code(1);
        assert!(
            self.output.stdout.is_empty(),
            "{}: stdout not empty",
            self.cmdline
        );
        let err = self.stderr();
        assert_eq!(
            err.lines().count(),
            1,
            "{}: not one line:\n{err}",
            self.cmdline
        );
        assert!(
            err.starts_with("sts-gen: error: "),
            "{}: {err}",
            self.cmdline
        );
        for n in needles {
            assert!(
                err.contains(n),
                "{}: stderr lacks {n:?}:\n{err}",
                self.cmdline
            );
        }
        self
    }
}

pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("sts-gen-it-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
