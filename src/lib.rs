//! sts-gen: production-ready Kubernetes StatefulSets for replicated databases.
//!
//! Flow: `argv ─cli→ Request ─resolve→ Spec + Database ─engine→ Parts ─k8s::assemble→
//! [Manifest] ─output→ YAML/JSON`. Everything between argv and output is a pure function.
//! Layers, bottom first: `model`; `templates`, `settings`, `tls`; `engine`; `presets`;
//! `resolve`; `k8s`; `output`; `cli`; this file. A module imports only those below it
//! (tests/integration/layers.rs checks it).

pub mod cli;
pub mod engine;
pub mod k8s;
pub mod model;
pub mod output;
pub mod presets;
pub mod resolve;
pub mod settings;
pub mod templates;
pub mod tls;

use std::io::Write;

use anyhow::{Context, Result};

use cli::{Invocation, Output};
use k8s::Manifest;
use output::OutputFormat;
use resolve::{Request, Resolved};

/// Every object of a resolved request, in apply order.
pub fn generate(resolved: &Resolved) -> Result<Vec<Manifest>> {
    let spec = &resolved.spec;
    let mut parts = resolved.database.parts(spec)?;
    let s3 = k8s::backup::s3_scripts(spec, &parts)?;
    parts.scripts.extend(s3);
    Ok(k8s::assemble(spec, parts))
}

/// Run a parsed command line. `argv` (without the program name) goes into the output's header,
/// so that the output names the command that reproduces it. Manifests go to `out`; notes and
/// warnings to `err`.
pub fn run(
    invocation: Invocation,
    argv: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let header = output::header(&output::command_line(&reproducible(argv)));
    match invocation {
        Invocation::Generate { request, output } => {
            generate_command(&request, &output, &header, out, err)
        }
        Invocation::Render { files, output } => render_command(&files, &output, &header, out, err),
        Invocation::List => output::write_stdout(out, &list()),
        Invocation::Completions(shell) => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cli::command(), "sts-gen", &mut buf);
            output::write_stdout(out, &String::from_utf8_lossy(&buf))
        }
        Invocation::Man { page, out_dir } => man(page.as_deref(), out_dir.as_deref(), out),
    }
}

/// `sts-gen man`: the main page, one subcommand's page, or every page into a directory (as
/// `--out-dir` writes any output: only into a directory of sts-gen's own files).
fn man(page: Option<&str>, out_dir: Option<&std::path::Path>, out: &mut dyn Write) -> Result<()> {
    let mut cmd = cli::command().disable_help_subcommand(true);
    cmd.build();
    let pages = || cmd.get_subcommands().filter(|s| !s.is_hide_set());
    if let Some(dir) = out_dir {
        let mut files = vec![("sts-gen.1".to_owned(), man_page(&cmd, None)?)];
        for sub in pages() {
            let name = sub.get_name();
            files.push((format!("sts-gen-{name}.1"), man_page(&cmd, Some(name))?));
        }
        return output::write_dir(dir, &files);
    }
    if let Some(name) = page {
        anyhow::ensure!(
            pages().any(|s| s.get_name() == name),
            "sts-gen man {name:?}: no such subcommand: expected one of {}",
            pages().map(|s| s.get_name()).collect::<Vec<_>>().join(", ")
        );
    }
    output::write_stdout(out, &man_page(&cmd, page)?)
}

/// The man page of `sts-gen` (`None`) or of its subcommand `page`, titled `sts-gen-<page>`.
fn man_page(cmd: &clap::Command, page: Option<&str>) -> Result<String> {
    let mut buf = Vec::new();
    match page {
        None => clap_mangen::Man::new(cmd.clone()).render(&mut buf)?,
        Some(name) => {
            let sub = cmd
                .find_subcommand(name)
                .cloned()
                .with_context(|| format!("no subcommand {name}"))?;
            let title = format!("sts-gen-{name}");
            clap_mangen::Man::new(sub.name(title.clone()).bin_name(format!("sts-gen {name}")))
                .title(title)
                .render(&mut buf)?
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The arguments that reproduce the output: all but those that change where it goes or how
/// the run ends (`--out-dir DIR`, `--strict`), not what it is.
fn reproducible(argv: &[String]) -> Vec<String> {
    let mut words = vec!["sts-gen".to_owned()];
    let mut skip = false;
    for a in argv {
        if skip {
            skip = false;
        } else if a == "--out-dir" {
            skip = true;
        } else if !a.starts_with("--out-dir=") && a != "--strict" {
            words.push(a.clone());
        }
    }
    words
}

/// Resolves and generates one database, enforcing `--strict`; notes and warnings are returned
/// for printing after a successful write.
fn resolve_and_generate(request: &Request, strict: bool) -> Result<(Vec<Manifest>, Vec<String>)> {
    let resolved = resolve::resolve(request)?;
    if strict && !resolved.warnings.is_empty() {
        anyhow::bail!(
            "{} (--strict treats warnings as errors)",
            resolved.warnings.join("; ")
        );
    }
    let docs = generate(&resolved)?;
    let mut lines: Vec<String> = resolved
        .warnings
        .iter()
        .map(|w| format!("warning: {w}"))
        .collect();
    lines.extend(resolved.notes);
    Ok((docs, lines))
}

fn generate_command(
    request: &Request,
    o: &Output,
    header: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let (docs, lines) = resolve_and_generate(request, o.strict)?;
    match &o.out_dir {
        Some(dir) => output::write_dir(dir, &output::directory_files(&docs, o.format, header)?)?,
        None => output::write_stdout(out, &output::render(&docs, o.format, header)?)?,
    }
    output::write_notes(err, &lines);
    Ok(())
}

/// `sts-gen render FILE...`: each file names its database; everything is rendered before
/// anything is written.
fn render_command(
    files: &[std::path::PathBuf],
    args: &Output,
    header: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let mut rendered = Vec::new();
    let mut lines = Vec::new();
    let mut defined = std::collections::BTreeMap::new();
    // A YAML stream is written set by set as it is generated, so only its text stays in memory
    // (a thousand sets' objects would take five times as much); still all before any output.
    let stream_yaml = args.out_dir.is_none() && matches!(args.format, OutputFormat::Yaml);
    let mut stream = String::new();
    if stream_yaml {
        stream.push_str(header);
    }
    for file in files {
        let origin = file.display().to_string();
        let layer = settings::Layer::from_file(file)?;
        let engine = match layer.values.get("database") {
            Some(serde_json::Value::String(name)) => engine::find(name),
            Some(_) => None,
            None => anyhow::bail!(
                "{origin}: no `database:` key: expected one of {}",
                engine::names()
            ),
        }
        .with_context(|| {
            format!(
                "{origin}: database {} is not one sts-gen knows: expected one of {}",
                layer.values["database"],
                engine::names()
            )
        })?;
        // The file is read once: a pipe (`<(…)`) has nothing left for a second read.
        let request = Request {
            layers: vec![layer],
            ..Request::new(engine)
        };
        let (docs, file_lines) = resolve_and_generate(&request, args.strict).map_err(|e| {
            // Name the file, unless the error already starts with it.
            if format!("{e:#}").starts_with(&origin) {
                e
            } else {
                e.context(origin.clone())
            }
        })?;
        // Objects of two sets must not collide: applied together, one would overwrite the other.
        for doc in &docs {
            let meta = doc.metadata();
            let key = (doc.kind(), meta.namespace.clone(), doc.name().to_owned());
            if let Some(first) = defined.insert(key, origin.clone()) {
                let ns = meta
                    .namespace
                    .as_deref()
                    .map_or("without a namespace".to_owned(), |n| {
                        format!("in namespace {n}")
                    });
                anyhow::bail!(
                    "{first} and {origin} both define {} {} {ns}: give each set its own name or namespace",
                    doc.kind(),
                    doc.name()
                );
            }
        }
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
                    stem.starts_with(|c: char| c.is_alphanumeric()),
                    "values file {} would become --out-dir {}/{stem}: its name must start with a letter or digit",
                    file.display(),
                    dir.display()
                );
                anyhow::ensure!(
                    !sets.iter().any(|(s, _)| *s == stem),
                    "two values files are named {stem:?}: each becomes --out-dir {}/{stem}, so names must differ",
                    dir.display()
                );
                sets.push((stem, output::directory_files(docs, args.format, header)?));
            }
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create --out-dir {}", dir.display()))?;
            let dirs: Vec<_> = sets
                .into_iter()
                .map(|(stem, files)| (dir.join(stem), files))
                .collect();
            output::write_dirs(&dirs)?;
        }
        None if stream_yaml => output::write_stdout(out, &stream)?,
        None => {
            let all: Vec<Manifest> = rendered.into_iter().flat_map(|(_, d)| d).collect();
            output::write_stdout(out, &output::render(&all, args.format, header)?)?;
        }
    }
    output::write_notes(err, &lines);
    Ok(())
}

/// `sts-gen list`: every database, its defaults and its presets, from the preset files.
fn list() -> String {
    let mut s = String::new();
    for engine in engine::ENGINES {
        let db = engine.name();
        s.push_str(&format!("{db}  {}\n", engine.about()));
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

/// An error message as one line: control characters (a newline in a file name or a value)
/// escaped as Rust writes them.
pub fn error_line(message: &str) -> String {
    let line: Vec<char> = message
        .chars()
        .flat_map(|c| {
            let breaks = c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}');
            let text = if breaks {
                c.escape_default().to_string()
            } else {
                c.to_string()
            };
            text.chars().collect::<Vec<_>>()
        })
        .collect();
    // A value pasted whole (a 100 kB image name) would bury the message: its start and its end
    // (what is allowed) stay.
    const HEAD: usize = 600;
    const TAIL: usize = 300;
    if line.len() <= HEAD + TAIL + 100 {
        return line.into_iter().collect();
    }
    let head: String = line[..HEAD].iter().collect();
    let tail: String = line[line.len() - TAIL..].iter().collect();
    format!(
        "{head} … ({} characters left out) … {tail}",
        line.len() - HEAD - TAIL
    )
}

/// A closed pipe (`sts-gen … | head`) ends the output early; it is not an error.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
