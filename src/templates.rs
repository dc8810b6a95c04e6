//! File contents (scripts, server configuration) rendered with minijinja from `templates/`.
//! Templates never produce Kubernetes objects; those are typed (see `k8s`).

use std::sync::OnceLock;

use anyhow::{Context, Result};
use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, value::Serde};
use serde::Serialize;

/// Every template: ID = path under `templates/` minus `.j2`. IDs whose file name starts with `_`
/// are partials, only included by other templates.
/// The ID and source of a template: `templates/<ID>.j2`, embedded at compile time.
macro_rules! template {
    ($id:literal) => {
        ($id, include_str!(concat!("../templates/", $id, ".j2")))
    };
}

pub const TEMPLATES: &[(&str, &str)] = &[
    template!("_partials/identity.sh"),
    template!("_partials/cluster.sh"),
    template!("_partials/backup.sh"),
    template!("_s3/s3.sh"),
    template!("elasticsearch/elasticsearch.yml"),
    template!("elasticsearch/init-config.sh"),
    template!("elasticsearch/init-sysctl.sh"),
    template!("elasticsearch/_api.sh"),
    template!("elasticsearch/backup.sh"),
    template!("elasticsearch/restore.sh"),
    template!("mongodb/mongod.conf"),
    template!("mongodb/init-keyfile.sh"),
    template!("mongodb/init-data.sh"),
    template!("mongodb/restore-root.js"),
    template!("mongodb/backup.sh"),
    template!("mongodb/member-state.js"),
    template!("mongodb/replica-set.sh"),
    template!("mongodb/replica-set.js"),
    template!("mongodb/readiness.js"),
    template!("mysql/_common.sh"),
    template!("mysql/_quoting.sh"),
    template!("mysql/_server.sh"),
    template!("mysql/backup.sh"),
    template!("mysql/_clone-mysql.sh"),
    template!("mysql/_clone-mariadb.sh"),
    template!("mysql/clone-server.sh"),
    template!("mysql/my.cnf"),
    template!("mysql/init-config.sh"),
    template!("mysql/init-data.sh"),
    template!("mysql/readiness.sh"),
    template!("postgres/postgresql.conf"),
    template!("postgres/pg_hba.conf"),
    template!("postgres/_passfile.sh"),
    template!("postgres/init-data.sh"),
    template!("postgres/backup.sh"),
    template!("redis/redis.conf"),
    template!("redis/init-config.sh"),
    template!("redis/backup.sh"),
    template!("redis/readiness.sh"),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            SyntaxConfig::builder()
                // Shell writes `${#array[@]}`: Jinja's default `{#` comment would swallow it.
                .comment_delimiters("{##", "##}")
                .keep_trailing_newline(true) // scripts and configs end with \n
                .trim_blocks(true) // block tags leave no blank lines
                .lstrip_blocks(true)
                .build()
                .expect("valid syntax config"),
        );
        env.set_auto_escape_callback(|_| AutoEscape::None);
        // Compiled on first use: one database needs a fifth of the templates, and compiling
        // them all was a third of a run's instructions (BENCHMARKS.md). A test compiles every
        // one.
        env.set_loader(|id| Ok(source(id)));
        env
    })
}

/// The embedded source of template `id`.
fn source(id: &str) -> Option<&'static str> {
    TEMPLATES
        .iter()
        .find_map(|&(t, src)| (t == id).then_some(src))
}

/// Render the template `id` with `ctx`.
pub fn render<S: Serialize>(id: &str, ctx: S) -> Result<String> {
    environment()
        .get_template(id)
        .and_then(|t| t.render(Serde(ctx)))
        .with_context(|| format!("rendering template {id}"))
}

/// The file name a template becomes (the ConfigMap key): `mysql/init.sh` → `init.sh`.
pub fn file_name(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for &(id, _) in TEMPLATES {
            if let Err(e) = environment().get_template(id) {
                panic!("templates/{id}.j2: {e:#}");
            }
        }
    }

    #[test]
    fn every_template_file_is_in_the_table() {
        fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, root, out);
                } else if let Some(id) = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .strip_suffix(".j2")
                {
                    out.push(id.to_owned());
                }
            }
        }
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates"));
        let mut ids = Vec::new();
        walk(root, root, &mut ids);
        for id in ids {
            assert!(
                TEMPLATES.iter().any(|(t, _)| *t == id),
                "templates/{id}.j2 is not in TEMPLATES"
            );
        }
    }

    #[test]
    fn strict_undefined_is_an_error() {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_template("t", "{{ missing }}").unwrap();
        assert!(env.get_template("t").unwrap().render(()).is_err());
    }
}
