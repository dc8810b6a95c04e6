//! File contents (scripts, server configuration) rendered from `templates/`. Templates never
//! produce Kubernetes objects; those are typed (see `k8s`).
//!
//! `build/templates.rs` compiles every `templates/<ID>.j2` into a Rust function at build time
//! (its header lists the Jinja subset), so a run neither lexes nor parses a template; this module
//! is what the generated code calls. IDs whose file name starts with `_` are partials, only included by
//! other templates. A context is any `Serialize` value, seen as JSON: a name that it lacks is an
//! error (Jinja's strict undefined), never an empty string.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// The JSON form of a template context (render several templates with one).
pub fn context<S: Serialize>(ctx: &S) -> Result<Value> {
    serde_json::to_value(ctx).context("template context")
}

/// Render the template `id` with `ctx` (see `context`).
pub fn render(id: &str, ctx: &Value) -> Result<String> {
    let mut out = String::with_capacity(size_hint(id) + 1024);
    let result = render_id(id, &mut out, &Scope::new(ctx));
    #[cfg(test)]
    reference::check(id, ctx, result.as_ref().map(|()| out.as_str()));
    result.with_context(|| format!("rendering template {id}"))?;
    Ok(out)
}

/// The file name a template becomes (the ConfigMap key): `mysql/init.sh` → `init.sh`.
pub fn file_name(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// A failed render; `at` is `templates/<ID>.j2:<line>`.
#[derive(Debug)]
pub enum Error {
    Undefined { name: String, at: &'static str },
    Type { what: String, at: &'static str },
    UnknownTemplate(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Undefined { name, at } => write!(f, "{at}: undefined value `{name}`"),
            Error::Type { what, at } => write!(f, "{at}: {what}"),
            Error::UnknownTemplate(id) => write!(f, "no template `{id}`"),
        }
    }
}

impl std::error::Error for Error {}

/// The names a template sees: the context's top-level keys, under the loop variables of the
/// `for` blocks around it.
pub struct Scope<'a> {
    ctx: &'a Value,
    local: Option<(&'static str, &'a Value, &'a Scope<'a>)>,
    /// How many includes deep the rendering is.
    depth: usize,
}

/// Includes deeper than this are an error (a template that includes itself), not a stack
/// overflow.
const MAX_INCLUDE_DEPTH: usize = 32;

impl<'a> Scope<'a> {
    pub fn new(ctx: &'a Value) -> Self {
        Scope {
            ctx,
            local: None,
            depth: 0,
        }
    }

    /// This scope with `name` bound to `value`.
    pub fn with<'b>(&'b self, name: &'static str, value: &'b Value) -> Scope<'b> {
        Scope {
            ctx: self.ctx,
            local: Some((name, value, self)),
            depth: self.depth,
        }
    }

    /// The value of `a.b.c`, given as `["a", "b", "c"]`.
    pub fn lookup(&self, path: &[&str], at: &'static str) -> Result<Val<'a>, Error> {
        let undefined = || Error::Undefined {
            name: path.join("."),
            at,
        };
        let mut scope = self;
        let mut value = loop {
            match scope.local {
                Some((name, value, _)) if name == path[0] => break Some(value),
                Some((_, _, parent)) => scope = parent,
                None => break self.ctx.get(path[0]),
            }
        };
        for attr in &path[1..] {
            value = value.and_then(|v| v.as_object()).and_then(|m| m.get(*attr));
        }
        value.map(Val::Json).ok_or_else(undefined)
    }
}

/// A value in an expression: from the context, or made by the template.
#[derive(Debug)]
pub enum Val<'a> {
    None,
    Bool(bool),
    Int(i64),
    Str(Cow<'a, str>),
    Json(&'a Value),
}

impl Val<'_> {
    /// Jinja's truth: false, 0, "", none and empty lists and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Val::None => false,
            Val::Bool(b) => *b,
            Val::Int(n) => *n != 0,
            Val::Str(s) => !s.is_empty(),
            Val::Json(v) => match v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(m) => !m.is_empty(),
            },
        }
    }

    /// The text `{{ value }}` prints, as Jinja writes it (`True`, `None`, `1.0`).
    pub fn to_text(&self, at: &'static str) -> Result<Cow<'_, str>, Error> {
        let bool_text = |b: bool| Cow::Borrowed(if b { "True" } else { "False" });
        Ok(match self {
            Val::None | Val::Json(Value::Null) => Cow::Borrowed("None"),
            Val::Bool(b) | Val::Json(Value::Bool(b)) => bool_text(*b),
            Val::Int(n) => Cow::Owned(n.to_string()),
            Val::Str(s) => Cow::Borrowed(s),
            Val::Json(Value::String(s)) => Cow::Borrowed(s),
            Val::Json(Value::Number(n)) => Cow::Owned(match n.as_f64() {
                Some(f) if n.is_f64() => float_text(f),
                _ => n.to_string(),
            }),
            Val::Json(Value::Array(_) | Value::Object(_)) => {
                return Err(Error::Type {
                    what: "a list or map is not text".into(),
                    at,
                });
            }
        })
    }

    /// A number, as Jinja compares it: booleans count as 0 and 1.
    fn number(&self) -> Option<Num> {
        match self {
            Val::Int(n) => Some(Num::Int((*n).into())),
            Val::Bool(b) | Val::Json(Value::Bool(b)) => Some(Num::Int((*b).into())),
            Val::Json(Value::Number(n)) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Some(Num::Int(i.into())),
                (_, Some(u)) => Some(Num::Int(u.into())),
                _ => n.as_f64().map(Num::Float),
            },
            _ => None,
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            Val::Json(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    fn boolean(&self) -> Option<bool> {
        match self {
            Val::Bool(b) | Val::Json(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    fn is_none(&self) -> bool {
        matches!(self, Val::None | Val::Json(Value::Null))
    }
}

#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    /// Integers compare exactly; a float makes it a float comparison.
    fn partial_cmp(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.float().partial_cmp(&b.float()),
        }
    }

    fn float(self) -> f64 {
        match self {
            Num::Int(n) => n as f64,
            Num::Float(f) => f,
        }
    }
}

/// Python's float text, as Jinja prints it: always with a point (`2.0`).
fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f < 0.0 { "-inf" } else { "inf" }.into()
    } else {
        let mut s = f.to_string();
        if !s.contains('.') {
            s.push_str(".0");
        }
        s
    }
}

/// `a <op> b`: numbers (and booleans, as 0 and 1) compare as numbers, text as text; `==` and
/// `!=` compare anything, lists and maps by their contents.
pub fn compare(a: &Val<'_>, op: &str, b: &Val<'_>, at: &'static str) -> Result<bool, Error> {
    let ord = if let (Some(x), Some(y)) = (a.boolean(), b.boolean()) {
        Some(x.cmp(&y))
    } else if let (Some(x), Some(y)) = (a.number(), b.number()) {
        x.partial_cmp(y)
    } else if let (Some(x), Some(y)) = (a.text(), b.text()) {
        Some(x.cmp(y))
    } else if a.is_none() && b.is_none() {
        Some(Ordering::Equal)
    } else if let (
        Val::Json(x @ (Value::Array(_) | Value::Object(_))),
        Val::Json(y @ (Value::Array(_) | Value::Object(_))),
    ) = (a, b)
        && matches!(op, "==" | "!=")
    {
        (x == y).then_some(Ordering::Equal)
    } else {
        None
    };
    Ok(match (op, ord) {
        ("==", o) => o == Some(Ordering::Equal),
        ("!=", o) => o != Some(Ordering::Equal),
        (_, None) => {
            return Err(Error::Type {
                what: format!("cannot compare {a:?} {op} {b:?}"),
                at,
            });
        }
        ("<", Some(o)) => o == Ordering::Less,
        ("<=", Some(o)) => o != Ordering::Greater,
        (">", Some(o)) => o == Ordering::Greater,
        (">=", Some(o)) => o != Ordering::Less,
        (_, Some(_)) => unreachable!("build/templates.rs emits only the six comparisons"),
    })
}

/// The items of a list, for `{% for %}`.
pub fn iterate<'a>(v: &Val<'a>, at: &'static str) -> Result<std::slice::Iter<'a, Value>, Error> {
    match v {
        Val::Json(Value::Array(items)) => Ok(items.iter()),
        _ => Err(Error::Type {
            what: format!("cannot loop over {v:?}"),
            at,
        }),
    }
}

/// `{% include id %}`: the template `id` with the includer's names.
pub fn render_include(
    id: &str,
    out: &mut String,
    sc: &Scope<'_>,
    at: &'static str,
) -> Result<(), Error> {
    if sc.depth >= MAX_INCLUDE_DEPTH {
        return Err(Error::Type {
            what: format!("includes nested more than {MAX_INCLUDE_DEPTH} deep at `{id}`"),
            at,
        });
    }
    let deeper = Scope {
        ctx: sc.ctx,
        local: sc.local,
        depth: sc.depth + 1,
    };
    #[cfg(test)]
    reference::note_rendered(id);
    render_id(id, out, &deeper)
}

/// `{{ v }}`.
pub fn write_value(out: &mut String, v: &Val<'_>, at: &'static str) -> Result<(), Error> {
    out.push_str(&v.to_text(at)?);
    Ok(())
}

/// minijinja, configured as Jinja with the syntax `build/templates.rs` compiles, renders every template a
/// unit test renders, and the two results must be equal: the compiled templates mean what Jinja
/// means.
#[cfg(test)]
mod reference {
    use minijinja::syntax::SyntaxConfig;
    use minijinja::{AutoEscape, Environment, UndefinedBehavior};
    use serde_json::Value;

    pub fn environment() -> Environment<'static> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            SyntaxConfig::builder()
                .comment_delimiters("{##", "##}")
                .keep_trailing_newline(true)
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .unwrap(),
        );
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_loader(|id| {
            let path = format!("{}/templates/{id}.j2", env!("CARGO_MANIFEST_DIR"));
            Ok(std::fs::read_to_string(path).ok())
        });
        env
    }

    thread_local! {
        static ENV: Environment<'static> = environment();
        /// The IDs this thread rendered, includes too.
        pub static RENDERED: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
    }

    use std::cell::RefCell;
    use std::collections::BTreeSet;

    pub fn note_rendered(id: &str) {
        RENDERED.with(|r| r.borrow_mut().insert(id.to_owned()));
    }

    /// `ours`: our output, or our error (then minijinja must fail too).
    pub fn check(id: &str, ctx: &Value, ours: Result<&str, &super::Error>) {
        note_rendered(id);
        let theirs = ENV.with(|env| {
            env.get_template(id)
                .and_then(|t| t.render(minijinja::value::Serde(ctx)))
        });
        let (ours, theirs) = match (ours, theirs) {
            (Ok(ours), Ok(theirs)) => (ours, theirs),
            (Err(_), Err(_)) => return,
            (Ok(_), Err(e)) => panic!("minijinja fails where we render: templates/{id}.j2: {e:#}"),
            (Err(e), Ok(_)) => panic!("minijinja renders where we fail: {e}"),
        };
        if ours != theirs {
            let line = ours
                .lines()
                .zip(theirs.lines())
                .position(|(a, b)| a != b)
                .map_or(ours.lines().count().min(theirs.lines().count()), |n| n)
                + 1;
            panic!(
                "templates/{id}.j2 renders differently from minijinja, first at output line {line}\n--- ours\n{ours}\n--- minijinja\n{theirs}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Value {
        json!({
            "name": "db",
            "empty": "",
            "zero": 0,
            "three": 3,
            "half": 0.5,
            "two": 2.0,
            "yes": true,
            "no": false,
            "nothing": null,
            "flavor": { "name": "mysql", "mariadb": false, "option": "skip_replica_start" },
            "pods": ["db-0", "db-1", "db-2"],
            "none_of_them": [],
            "map": { "a": 1 },
            "big1": 9007199254740993u64,
            "big2": 9007199254740992u64,
        })
    }

    #[test]
    fn the_language_means_what_jinja_means() {
        // The fixture uses every construct build/templates.rs compiles; render() compares with minijinja.
        let out = render("_selftest/jinja.txt", &ctx()).unwrap();
        for expected in [
            "db-0 db-1 db-2",
            "mixed types compare as Jinja compares them",
            "a conditional inside a condition",
            "\na block tag indented with a no-break space",
            "part for db-0,db-1,db-2, sees mysql\npart for",
        ] {
            assert!(out.contains(expected), "{expected:?} not in\n{out}");
        }
    }

    #[test]
    fn an_undefined_name_is_an_error_that_names_it_and_the_line() {
        let mut ctx = ctx();
        ctx.as_object_mut().unwrap().remove("flavor");
        let err = format!("{:#}", render("_selftest/jinja.txt", &ctx).unwrap_err());
        assert!(
            err.contains("templates/_selftest/jinja.txt.j2:")
                && err.contains("undefined value `flavor."),
            "{err}"
        );
    }

    #[test]
    fn a_difference_from_minijinja_is_caught() {
        // We refuse to print a list; minijinja prints its repr: the reference check notices.
        let mut ctx = ctx();
        ctx["name"] = json!(["a"]);
        let caught = std::panic::catch_unwind(|| render("_selftest/jinja.txt", &ctx));
        assert!(
            caught.is_err(),
            "the reference check must flag a difference"
        );
    }

    #[test]
    fn an_unknown_template_is_an_error() {
        let err = render("mysql/nope.sh", &ctx()).unwrap_err();
        assert!(format!("{err:#}").contains("no template `mysql/nope.sh`"));
    }

    #[test]
    fn every_template_of_every_engine_renders_as_minijinja_renders_it() {
        // render() checks each rendering against minijinja (mod reference): generate every
        // database with its presets and with backups to a claim and to a bucket.
        let mut rendered = 0;
        for db in [
            "mysql",
            "mariadb",
            "postgres",
            "mongodb",
            "redis",
            "elasticsearch",
        ] {
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
            if db == "elasticsearch" {
                variants.push(&["--no-privileged-init", "--http-tls"]);
            }
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
        assert_eq!(rendered, 55);
        let seen = reference::RENDERED.with(|r| r.borrow().clone());
        for id in IDS.iter().filter(|id| !id.starts_with("_selftest/")) {
            assert!(seen.contains(*id), "no variant renders templates/{id}.j2");
        }
    }

    #[test]
    fn every_template_file_is_compiled() {
        assert!(IDS.contains(&"mysql/init-data.sh"));
        assert!(IDS.contains(&"_partials/identity.sh"));
        assert!(IDS.windows(2).all(|w| w[0] < w[1]));
    }
}
