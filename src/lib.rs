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

use anyhow::{Context, Result};
use clap::{CommandFactory, ValueEnum};

use cli::{Cli, Command, DbKind, GenerateArgs, OutputFormat, RenderArgs};
use k8s::Manifest;
use spec::Spec;
use values::Values;

/// Every object of `spec`, in apply order.
pub fn generate(spec: &Spec) -> Result<Vec<Manifest>> {
    let mut parts = engine::for_kind(spec.db.kind()).parts(spec)?;
    let s3 = k8s::backup::s3_scripts(spec, &parts)?;
    parts.scripts.extend(s3);
    Ok(k8s::assemble(spec, parts))
}

/// Run a parsed command line. `argv` (without the program name) goes into the output's header,
/// so that the output names the command that reproduces it. Manifests go to `out`; notes and
/// warnings to `err`.
pub fn run(cli: Cli, argv: &[String], out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let header = output::header(&output::command_line(&reproducible(argv)));
    match cli.command {
        Command::Mysql(args) => {
            generate_command(DbKind::Mysql, &args, Values::default(), &header, out, err)
        }
        Command::Mongodb(args) => {
            let flags = Values {
                mongodb: Some(values::MongodbValues {
                    replica_set_name: args.replica_set,
                    ..Default::default()
                }),
                ..Default::default()
            };
            generate_command(DbKind::Mongodb, &args.common, flags, &header, out, err)
        }
        Command::Elasticsearch(args) => {
            let flags = Values {
                elasticsearch: Some(values::ElasticsearchValues {
                    http_tls: args.http_tls.then_some(true),
                    privileged_init: args.no_privileged_init.then_some(false),
                }),
                ..Default::default()
            };
            generate_command(
                DbKind::Elasticsearch,
                &args.common,
                flags,
                &header,
                out,
                err,
            )
        }
        Command::Postgres(args) => generate_command(
            DbKind::Postgres,
            &args,
            Values::default(),
            &header,
            out,
            err,
        ),
        Command::Mariadb(args) => {
            generate_command(DbKind::Mariadb, &args, Values::default(), &header, out, err)
        }
        Command::Redis(args) => {
            generate_command(DbKind::Redis, &args, Values::default(), &header, out, err)
        }
        Command::Render(args) => render_command(&args, &header, out, err),
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

/// The arguments that reproduce the output: all but `--out-dir DIR` (where it went, not what).
fn reproducible(argv: &[String]) -> Vec<String> {
    let mut words = vec!["sts-gen".to_owned()];
    let mut skip = false;
    for a in argv {
        if skip {
            skip = false;
        } else if a == "--out-dir" {
            skip = true;
        } else if !a.starts_with("--out-dir=") {
            words.push(a.clone());
        }
    }
    words
}

/// Resolves and generates one database, enforcing `--strict`; notes and warnings are returned
/// for printing after a successful write.
fn resolve_and_generate(
    db: DbKind,
    args: &GenerateArgs,
    db_flags: Values,
) -> Result<(Vec<Manifest>, Vec<String>)> {
    let resolved = resolve::resolve(db, args, db_flags)?;
    if args.strict && !resolved.warnings.is_empty() {
        anyhow::bail!(
            "{} (--strict treats warnings as errors)",
            resolved.warnings.join("; ")
        );
    }
    let docs = generate(&resolved.spec)?;
    let mut lines: Vec<String> = resolved
        .warnings
        .iter()
        .map(|w| format!("warning: {w}"))
        .collect();
    lines.extend(resolved.notes);
    Ok((docs, lines))
}

/// `db_flags`: the database's own flags, as the top layer of values.
fn generate_command(
    db: DbKind,
    args: &GenerateArgs,
    db_flags: Values,
    header: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let (docs, lines) = resolve_and_generate(db, args, db_flags)?;
    match &args.out_dir {
        Some(dir) => output::write_dir(dir, &output::directory_files(&docs, args.output, header)?)?,
        None => output::write_stdout(out, &output::render(&docs, args.output, header)?)?,
    }
    output::write_notes(err, &lines);
    Ok(())
}

/// `sts-gen render FILE...`: each file names its database; everything is rendered before
/// anything is written.
fn render_command(
    args: &RenderArgs,
    header: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let mut rendered = Vec::new();
    let mut lines = Vec::new();
    // A YAML stream is written set by set as it is generated, so only its text stays in memory
    // (a thousand sets' objects would take five times as much); still all before any output.
    let stream_yaml = args.out_dir.is_none() && matches!(args.output, OutputFormat::Yaml);
    let mut stream = String::new();
    if stream_yaml {
        stream.push_str(header);
    }
    for file in &args.files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read values file {}", file.display()))?;
        let origin = file.display().to_string();
        let db = Values::from_yaml(&text, &origin)?
            .database
            .with_context(|| {
                format!(
                    "{origin}: no `database:` key: expected one of {}",
                    DbKind::value_variants()
                        .iter()
                        .map(|d| d.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        let generate_args = GenerateArgs {
            values: vec![file.clone()],
            strict: args.strict,
            ..Default::default()
        };
        let (docs, file_lines) = resolve_and_generate(db, &generate_args, Values::default())
            .with_context(|| origin.clone())?;
        lines.extend(file_lines.into_iter().map(|l| format!("{origin}: {l}")));
        if stream_yaml {
            output::append_documents(&mut stream, &docs)?;
        } else {
            rendered.push((file, docs));
        }
    }
    match &args.out_dir {
        Some(dir) => {
            let mut sets = Vec::new();
            for (file, docs) in &rendered {
                let stem = file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                anyhow::ensure!(
                    !sets.iter().any(|(s, _)| *s == stem),
                    "two values files are named {stem:?}: each becomes --out-dir {}/{stem}, so names must differ",
                    dir.display()
                );
                sets.push((stem, output::directory_files(docs, args.output, header)?));
            }
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create --out-dir {}", dir.display()))?;
            for (stem, files) in &sets {
                output::write_dir(&dir.join(stem), files)?;
            }
        }
        None if stream_yaml => output::write_stdout(out, &stream)?,
        None => {
            let all: Vec<Manifest> = rendered.into_iter().flat_map(|(_, d)| d).collect();
            output::write_stdout(out, &output::render(&all, args.output, header)?)?;
        }
    }
    output::write_notes(err, &lines);
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
