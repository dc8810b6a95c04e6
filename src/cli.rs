//! The command line, built from the registry: one subcommand per engine, whose value flags
//! come from the settings table (`settings::COMMON` and the engine's own), plus the meta
//! subcommands. Parsing yields an `Invocation`; nothing here validates values (`resolve` does).

use std::path::PathBuf;

use anyhow::Result;
use clap::builder::PossibleValuesParser;
use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::engine::{ENGINES, Engine};
use crate::model::PasswordSource;
use crate::output::OutputFormat;
use crate::resolve::{self, Request, Resolved};
use crate::settings::{Kind, Setting};

/// What the command line asks for.
pub enum Invocation {
    /// `sts-gen <database>`.
    Generate {
        request: Request,
        output: Output,
    },
    /// `sts-gen render FILE...`.
    Render {
        files: Vec<PathBuf>,
        output: Output,
    },
    List,
    Completions(clap_complete::Shell),
    /// `sts-gen man [SUBCOMMAND] [--out-dir DIR]`.
    Man {
        page: Option<String>,
        out_dir: Option<PathBuf>,
    },
}

/// Where and how the objects are written.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub format: OutputFormat,
    /// One file per object plus kustomization.yaml into this directory, instead of stdout.
    pub out_dir: Option<PathBuf>,
    /// Warnings are errors.
    pub strict: bool,
}

const ABOUT: &str = "Generate production-ready Kubernetes StatefulSets for replicated databases";

/// The whole command line.
pub fn command() -> Command {
    let mut cmd = Command::new("sts-gen")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .long_about(format!(
            "{ABOUT}.\n\nOne command writes everything a replicated database needs: credentials, \
             configuration and the scripts that derive each pod's identity from its ordinal, \
             clone a new replica from a running peer and wire replication; Services, the \
             StatefulSet and a PodDisruptionBudget. The manifests go to stdout; notes and \
             warnings go to stderr."
        ))
        .after_help(examples(&[
            "sts-gen mysql --replicas 3 > mysql.yaml",
            "sts-gen mysql --preset prod -n db --existing-secret mysql-credentials | kubectl apply -f -",
            "sts-gen list",
        ]))
        .propagate_version(true)
        .subcommand_required(true)
        .arg_required_else_help(true);
    for engine in ENGINES {
        // The arguments are built only for the subcommand that runs (or for help, completions
        // and man pages): the others cost nothing.
        cmd = cmd.subcommand(
            Command::new(engine.name())
                .about(engine.about())
                .defer(database_command),
        );
    }
    cmd.subcommands([
        Command::new("render")
            .about("Render databases described entirely by values files (each with a `database:` key)")
            .arg(
                Arg::new("files")
                    .required(true)
                    .num_args(1..)
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help("Values files, each describing one database (`database:` plus any values-file key)"),
            )
            .args(output_args("Write each database into DIR/<file name without .yaml>/ (objects plus kustomization.yaml)"))
            .after_help(format!(
                "{}\n\nA values file for render:\n  database: mysql\n  name: orders\n  namespace: shop\n  \
                 preset: prod\n  existingSecret: orders-credentials\n  storage:\n    size: 50Gi",
                examples(&[
                    "sts-gen render databases/orders-mysql.yaml databases/search.yaml > all.yaml",
                    "sts-gen render databases/*.yaml --out-dir deploy/   # one kustomize base per file",
                ])
            )),
        Command::new("list")
            .about("List the databases and their presets, with the values each preset sets")
            .after_help(examples(&["sts-gen list"])),
        Command::new("completions")
            .about("Print a shell completion script")
            .arg(
                Arg::new("shell")
                    .required(true)
                    .value_parser(clap::value_parser!(clap_complete::Shell))
                    .help("The shell to write completions for"),
            )
            .after_help(examples(&["sts-gen completions bash > /etc/bash_completion.d/sts-gen"])),
        Command::new("man")
            .about("Print a man page (roff), or write every page into a directory")
            .arg(
                Arg::new("page")
                    .value_name("SUBCOMMAND")
                    .help("The subcommand whose page to print, e.g. mysql [default: the main page]"),
            )
            .arg(
                Arg::new("out-dir")
                    .long("out-dir")
                    .value_name("DIR")
                    .value_parser(clap::value_parser!(PathBuf))
                    .conflicts_with("page")
                    .help("Write sts-gen.1 and a page per subcommand (sts-gen-mysql.1, …) into DIR"),
            )
            .after_help(examples(&[
                "sts-gen man | man -l -",
                "sts-gen man mysql | man -l -",
                "sts-gen man --out-dir /usr/local/share/man/man1",
            ])),
    ])
}

fn examples(lines: &[&str]) -> String {
    let mut s = String::from("Examples:");
    for l in lines {
        s.push_str("\n  ");
        s.push_str(l);
    }
    s
}

/// The arguments of `sts-gen <engine>`: the settings' flags, then those that are not values.
fn database_command(cmd: Command) -> Command {
    let engine = crate::engine::find(cmd.get_name()).expect("a database subcommand is an engine");
    let mut cmd = cmd.after_help(examples(engine.examples()));
    let defaults = crate::presets::defaults(engine.name());
    for setting in resolve::settings(engine) {
        let mut arg = setting_arg(setting);
        if !matches!(setting.value, Kind::Switch(_))
            && let Some(value) = defaults.get(setting.key)
        {
            // The database's own default; not clap's, which would hide the lower layers.
            arg = arg.help(format!("{} [default: {value}]", setting.help));
        }
        cmd = cmd.arg(arg);
    }
    cmd.args([
        Arg::new("values")
            .short('f')
            .long("values")
            .value_name("FILE")
            .action(ArgAction::Append)
            .value_parser(clap::value_parser!(PathBuf))
            .help("Values file (YAML, same keys as presets); repeatable, later files win"),
        Arg::new("set")
            .long("set")
            .value_name("KEY=VALUE")
            .action(ArgAction::Append)
            .help("Set one value by its values-file path, e.g. storage.size=20Gi; repeatable, later wins"),
        Arg::new("restore-from")
            .long("restore-from")
            .value_name("NAME")
            .help("Instead of the set, print what restores backup NAME into a fresh set's pod 0"),
    ])
    .args(output_args(
        "Write one file per object plus kustomization.yaml into DIR instead of stdout",
    ))
}

fn setting_arg(s: &'static Setting) -> Arg {
    let arg = Arg::new(s.flag).long(s.flag).help(s.help);
    let arg = match s.short {
        Some(c) => arg.short(c),
        None => arg,
    };
    match s.value {
        Kind::Switch(_) => arg.action(ArgAction::SetTrue),
        Kind::Choice(words) => arg
            .value_name(s.value_name)
            .value_parser(PossibleValuesParser::new(words)),
        // Negative numbers and quantities reach `resolve`, which names what is allowed.
        Kind::Count(_) | Kind::Quantity => arg.value_name(s.value_name).allow_hyphen_values(true),
        Kind::Text => arg.value_name(s.value_name),
    }
}

fn output_args(out_dir_help: &'static str) -> [Arg; 3] {
    [
        Arg::new("output")
            .short('o')
            .long("output")
            .value_name("FORMAT")
            .value_parser(["yaml", "json"])
            .default_value("yaml")
            .help("Output format"),
        Arg::new("out-dir")
            .long("out-dir")
            .value_name("DIR")
            .value_parser(clap::value_parser!(PathBuf))
            .help(out_dir_help),
        Arg::new("strict")
            .long("strict")
            .action(ArgAction::SetTrue)
            .help("Treat warnings (weak topologies, privileged containers) as errors, for CI"),
    ]
}

/// Parse the command line; a usage error is clap's (it prints it and exits 2 from `main`).
pub fn parse<I, T>(argv: I) -> Result<Invocation, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(argv)?;
    Ok(invocation(&matches))
}

fn invocation(matches: &ArgMatches) -> Invocation {
    let (name, sub) = matches
        .subcommand()
        .expect("clap requires a subcommand (subcommand_required)");
    match name {
        "render" => Invocation::Render {
            files: sub
                .get_many("files")
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
            output: output(sub),
        },
        "list" => Invocation::List,
        "completions" => Invocation::Completions(
            *sub.get_one("shell")
                .expect("clap requires the shell argument"),
        ),
        "man" => Invocation::Man {
            page: sub.get_one::<String>("page").cloned(),
            out_dir: sub.get_one::<PathBuf>("out-dir").cloned(),
        },
        database => {
            let engine = crate::engine::find(database).expect("every subcommand left is an engine");
            Invocation::Generate {
                request: request(engine, sub),
                output: output(sub),
            }
        }
    }
}

fn request(engine: &'static dyn Engine, m: &ArgMatches) -> Request {
    let strings = |id: &str| -> Vec<String> {
        m.get_many::<String>(id)
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    };
    let mut flags = Vec::new();
    for setting in resolve::settings(engine) {
        match setting.value {
            Kind::Switch(_) => {
                if m.get_flag(setting.flag) {
                    flags.push((setting, String::new()));
                }
            }
            _ => {
                if let Some(text) = m.get_one::<String>(setting.flag) {
                    flags.push((setting, text.clone()));
                }
            }
        }
    }
    Request {
        values: m
            .get_many::<PathBuf>("values")
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
        set: strings("set"),
        flags,
        restore_from: m.get_one::<String>("restore-from").cloned(),
        ..Request::new(engine)
    }
}

fn output(m: &ArgMatches) -> Output {
    Output {
        format: match m.get_one::<String>("output").map(String::as_str) {
            Some("json") => OutputFormat::Json,
            _ => OutputFormat::Yaml,
        },
        out_dir: m.get_one::<PathBuf>("out-dir").cloned(),
        strict: m.get_flag("strict"),
    }
}

/// Resolve `sts-gen ARGV...` (the subcommand first) with a chosen password source: how tests
/// enter the pipeline from a command line.
pub fn resolve_argv(argv: &[&str], password: PasswordSource) -> Result<Resolved> {
    match parse(std::iter::once("sts-gen").chain(argv.iter().copied()))? {
        Invocation::Generate { request, .. } => resolve::resolve_with(&request, password),
        _ => anyhow::bail!("{argv:?} is not a database subcommand"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn every_engine_has_a_subcommand_with_every_setting() {
        let mut cmd = command();
        cmd.build();
        for engine in ENGINES {
            let sub = cmd
                .find_subcommand(engine.name())
                .unwrap_or_else(|| panic!("no subcommand for {}", engine.name()));
            for s in resolve::settings(*engine) {
                assert!(
                    sub.get_arguments().any(|a| a.get_long() == Some(s.flag)),
                    "sts-gen {} has no --{}",
                    engine.name(),
                    s.flag
                );
            }
        }
    }
}
