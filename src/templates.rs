//! File contents (scripts, server configuration) rendered from `templates/` by minijinja.
//! Templates never produce Kubernetes objects; those are typed (see `k8s`).
//!
//! The whole `templates/` folder is embedded in the binary; template `<ID>` is the file
//! `templates/<ID>.j2`, compiled the first time it is rendered or included. Partials, only
//! included by other templates, are those under `_partials/` and those whose file name starts
//! with `_`. Jinja as minijinja implements
//! it, with two choices: comments are `{## … ##}` (so `{#` stays free for the shell's
//! `${#array[@]}`), and undefined is strict: a name the context lacks is an error that names the
//! template and line, never an empty string.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use anyhow::{Context, Result};
use include_dir::{Dir, include_dir};
use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::Serialize;

/// `templates/`, embedded at compile time. A template file added later is seen by the next
/// build that recompiles this crate (include_dir cannot tell cargo about new files).
static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// Created on first use; each template is compiled when first asked for.
static ENV: LazyLock<Environment<'static>> = LazyLock::new(environment);

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        SyntaxConfig::builder()
            .comment_delimiters("{##", "##}")
            .keep_trailing_newline(true) // scripts and configs end with \n
            .trim_blocks(true) // block tags leave no blank lines
            .lstrip_blocks(true)
            .build()
            .expect("the syntax configuration is valid"),
    );
    // We render file contents, never HTML; YAML quoting is serde-saphyr's job.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_loader(|id| Ok(source(id)));
    env
}

/// The text of template `id`: `templates/<id>.j2`.
fn source(id: &str) -> Option<&'static str> {
    TEMPLATES.get_file(format!("{id}.j2"))?.contents_utf8()
}

/// Every template ID (`templates/<ID>.j2`), partials included, sorted.
pub fn ids() -> Vec<String> {
    fn walk(dir: &Dir<'static>, ids: &mut Vec<String>) {
        for file in dir.files() {
            if let Some(id) = file.path().to_str().and_then(|p| p.strip_suffix(".j2")) {
                ids.push(id.replace('\\', "/"));
            }
        }
        for sub in dir.dirs() {
            walk(sub, ids);
        }
    }
    let mut ids = Vec::new();
    walk(&TEMPLATES, &mut ids);
    ids.sort();
    ids
}

/// The value of a template context (render several templates with one).
pub fn context<S: Serialize>(ctx: &S) -> Result<Value> {
    Ok(Value::from(minijinja::value::Serde(ctx)))
}

/// Render the template `id` with `ctx` (see `context`).
pub fn render(id: &str, ctx: &Value) -> Result<String> {
    #[cfg(test)]
    tests::RENDERED.with(|r| r.borrow_mut().insert(id.to_owned()));
    ENV.get_template(id)
        .and_then(|t| t.render(ctx))
        .with_context(|| format!("rendering template {id}"))
}

/// Renders templates into ConfigMap data: file name (the ID's last part) → contents.
pub fn render_files<C: Serialize>(ids: &[&str], ctx: &C) -> Result<BTreeMap<String, String>> {
    let ctx = context(ctx)?;
    ids.iter()
        .map(|id| Ok((file_name(id).to_owned(), render(id, &ctx)?)))
        .collect()
}

/// The file name a template becomes (the ConfigMap key): `mysql/init.sh` → `init.sh`.
pub fn file_name(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// Whether `id` is a partial (only included by other templates).
pub fn is_partial(id: &str) -> bool {
    id.starts_with("_partials/") || file_name(id).starts_with('_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    thread_local! {
        /// The IDs this thread passed to `render` (includes are not seen here).
        pub static RENDERED: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
    }

    #[test]
    fn an_undefined_name_is_an_error_that_names_it_the_template_and_the_line() {
        let ctx = context(&serde_json::json!({ "port": 6379 })).unwrap();
        let err = format!("{:#}", render("redis/redis.conf", &ctx).unwrap_err());
        assert!(!err.contains('\n'), "one line: {err}");
        assert!(
            err.starts_with(
                "rendering template redis/redis.conf: undefined value: `names` is undefined"
            ) && err.contains("(in redis/redis.conf:"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_template_is_an_error() {
        let err = render("mysql/nope.sh", &context(&()).unwrap()).unwrap_err();
        assert!(format!("{err:#}").contains("mysql/nope.sh"), "{err:#}");
    }

    /// The IDs of the files under `templates/` now (not as embedded).
    fn files_on_disk() -> Vec<String> {
        fn walk(dir: &std::path::Path, root: &std::path::Path, ids: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, root, ids);
                } else if let Some(id) = path.to_str().and_then(|p| p.strip_suffix(".j2")) {
                    let id = std::path::Path::new(id).strip_prefix(root).unwrap();
                    ids.push(id.to_str().unwrap().replace('\\', "/"));
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut ids = Vec::new();
        walk(&root, &root, &mut ids);
        ids.sort();
        ids
    }

    #[test]
    fn ids_are_the_template_files() {
        let ids = ids();
        assert_eq!(
            ids,
            files_on_disk(),
            "templates/ changed since it was embedded: touch src/templates.rs and rebuild"
        );
        assert!(ids.contains(&"mysql/init-data.sh".to_owned()), "{ids:?}");
        assert!(ids.contains(&"_partials/identity.sh".to_owned()), "{ids:?}");
        assert!(is_partial("_partials/identity.sh") && is_partial("mysql/_common.sh"));
        assert!(!is_partial("_s3/s3.sh"));
    }

    #[test]
    fn every_template_of_every_engine_renders() {
        // Every database with its presets and with backups to a claim and to a bucket: each
        // template file is rendered by some variant, and each partial included.
        let mut rendered = 0;
        for engine in crate::engine::ENGINES {
            let db = engine.name();
            let mut variants: Vec<&[&str]> = vec![
                &[],
                &["--replicas", "1"],
                &["--preset", "prod"],
                &["--preset", "dev"],
                &["--backup-schedule", "0 3 * * *"],
                &["--backup-schedule", "0 3 * * *", "--backup-s3-secret", "s3"],
                &[
                    "--existing-secret",
                    "s",
                    "--preset",
                    "prod",
                    "--replicas",
                    "5",
                ],
                &[
                    "--existing-secret",
                    "s",
                    "--backup-schedule",
                    "0 3 * * *",
                    "--restore-from",
                    "20260101T000000Z",
                ],
                &[
                    "--existing-secret",
                    "s",
                    "--backup-schedule",
                    "0 3 * * *",
                    "--backup-s3-secret",
                    "s3",
                    "--restore-from",
                    "20260101T000000Z",
                ],
            ];
            // The engine's own switches, all given: what only they turn on is rendered too.
            let switches: Vec<String> = engine
                .flags()
                .iter()
                .filter(|s| matches!(s.value, crate::settings::Kind::Switch(_)))
                .map(|s| s.long())
                .collect();
            let switches: Vec<&str> = switches.iter().map(String::as_str).collect();
            variants.push(&switches);
            for extra in variants {
                let mut argv = vec!["sts-gen".to_owned(), db.to_owned()];
                argv.extend(extra.iter().map(|s| s.to_string()));
                let cli = crate::cli::parse(&argv).unwrap();
                let (mut out, mut err) = (Vec::new(), Vec::new());
                crate::run(cli, &argv[1..], &mut out, &mut err)
                    .unwrap_or_else(|e| panic!("{argv:?}: {e:#}"));
                rendered += 1;
            }
        }
        assert_eq!(rendered, 10 * crate::engine::ENGINES.len());
        let seen = RENDERED.with(|r| r.borrow().clone());
        // Loaded means rendered or included by some render (these, or another test's).
        let loaded: BTreeSet<&str> = ENV.templates().map(|(id, _)| id).collect();
        for id in ids() {
            if is_partial(&id) {
                assert!(
                    loaded.contains(id.as_str()),
                    "nothing includes templates/{id}.j2"
                );
            } else {
                assert!(seen.contains(&id), "no variant renders templates/{id}.j2");
            }
        }
    }
}
