//! sts-gen: production-ready Kubernetes StatefulSets for replicated databases.
//!
//! Flow: `argv ─clap→ GenerateArgs ─resolve→ Spec ─engine→ Parts ─k8s::assemble→ [Manifest]
//! ─output→ YAML/JSON`. Everything between argv and output is a pure function.

pub mod cli;
pub mod engine;
pub mod k8s;
pub mod labels;
pub mod names;
pub mod output;
pub mod presets;
pub mod quantity;
pub mod resolve;
pub mod spec;
pub mod templates;
pub mod tls;
pub mod values;

use std::io::Write;

use anyhow::Result;
use clap::{CommandFactory, ValueEnum};

use cli::{Cli, Command, DbKind, GenerateArgs};
use k8s::Manifest;
use spec::Spec;
use values::Values;

/// Every object of `spec`, in apply order.
pub fn generate(spec: &Spec) -> Result<Vec<Manifest>> {
    let parts = engine::for_kind(spec.db.kind()).parts(spec)?;
    Ok(k8s::assemble(spec, &parts))
}

/// Run a parsed command line. Manifests go to `out`; notes to `err`.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    match cli.command {
        Command::Mysql(args) => generate_command(DbKind::Mysql, &args, Values::default(), out, err),
        Command::Mongodb(args) => {
            let flags = Values {
                mongodb: Some(values::MongodbValues {
                    replica_set_name: args.replica_set,
                    ..Default::default()
                }),
                ..Default::default()
            };
            generate_command(DbKind::Mongodb, &args.common, flags, out, err)
        }
        Command::Elasticsearch(args) => {
            let flags = Values {
                elasticsearch: Some(values::ElasticsearchValues {
                    http_tls: args.http_tls.then_some(true),
                    privileged_init: args.no_privileged_init.then_some(false),
                }),
                ..Default::default()
            };
            generate_command(DbKind::Elasticsearch, &args.common, flags, out, err)
        }
        Command::List => output::write_stdout(out, &list()),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "sts-gen", &mut buf);
            output::write_stdout(out, &String::from_utf8_lossy(&buf))
        }
        Command::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
            output::write_stdout(out, &String::from_utf8_lossy(&buf))
        }
    }
}

/// `db_flags`: the database's own flags, as the top layer of values.
fn generate_command(
    db: DbKind,
    args: &GenerateArgs,
    db_flags: Values,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let resolved = resolve::resolve(db, args, db_flags)?;
    let docs = generate(&resolved.spec)?;
    match &args.out_dir {
        Some(dir) => output::write_dir(dir, &output::directory_files(&docs, args.output)?)?,
        None => output::write_stdout(out, &output::render(&docs, args.output)?)?,
    }
    output::write_notes(err, &resolved.notes);
    Ok(())
}

/// `sts-gen list`: every database, its defaults and its presets, from the preset files.
fn list() -> String {
    let mut s = String::new();
    for &db in DbKind::value_variants() {
        let about = Cli::command()
            .find_subcommand(db.as_str())
            .and_then(|c| c.get_about().map(|a| a.to_string()))
            .unwrap_or_default();
        s.push_str(&format!("{}  {about}\n", db.as_str()));
        let indent = |text: &str| -> String {
            text.lines()
                .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
                .map(|l| format!("      {l}\n"))
                .collect()
        };
        let defaults = presets::text(db, presets::DEFAULTS).unwrap_or_default();
        s.push_str(&format!("  defaults:\n{}", indent(defaults)));
        for name in presets::names(db) {
            let text = presets::text(db, name).unwrap_or_default();
            s.push_str(&format!("  preset {name}:\n{}", indent(text)));
        }
    }
    s
}

/// A closed pipe (`sts-gen … | head`) ends the output early; it is not an error.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
