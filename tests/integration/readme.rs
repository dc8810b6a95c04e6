//! The README's flags table is checked against the binary: every flag of every database
//! subcommand has a row, written as `--help` writes it, with the default the binary uses.

use std::collections::BTreeMap;

use sts_gen::engine::ENGINES;
use sts_gen::resolve::settings;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The rows of the table headed `| flag | default | meaning |`: flag cell → default cell.
fn table() -> Vec<(String, String)> {
    let text = readme();
    let mut rows = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("| flag | default | meaning |") {
            inside = true;
            continue;
        }
        if !inside || line.starts_with("|---") {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 3, "a row of three cells: {line}");
        rows.push((cells[0].to_owned(), cells[1].to_owned()));
    }
    assert!(!rows.is_empty(), "README.md has the flags table");
    rows
}

/// A flag as `--help` names it: `` `-r, --replicas N` ``.
fn spelling(arg: &clap::Arg) -> String {
    let mut s = String::from("`");
    if let Some(c) = arg.get_short() {
        s.push_str(&format!("-{c}, "));
    }
    s.push_str(&format!("--{}", arg.get_long().unwrap()));
    if arg.get_action().takes_values() {
        for name in arg.get_value_names().into_iter().flatten() {
            s.push_str(&format!(" {name}"));
        }
    }
    s.push('`');
    s
}

/// The value at a values path (`storage.size`) of a database's defaults, as text.
fn default_of(db: &str, key: &str) -> Option<String> {
    sts_gen::presets::defaults(db).get(key)
}

/// The default cell the binary implies: one value in backticks where every database that has
/// the flag shares it; else the values by database in the registry's order, the largest group
/// (of two or more) last as "others". Without a value: what the help says in `[default: …]`,
/// else `—`.
fn expected_default(arg: &clap::Arg, dbs: &[&str]) -> String {
    let long = arg.get_long().unwrap();
    let setting = ENGINES
        .iter()
        .flat_map(|e| settings(*e))
        .find(|s| s.flag == long);
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    if let Some(s) = setting.filter(|s| !matches!(s.value, sts_gen::settings::Kind::Switch(_))) {
        for db in dbs {
            if let Some(v) = default_of(db, s.key) {
                match groups.iter_mut().find(|(value, _)| *value == v) {
                    Some((_, members)) => members.push(db),
                    None => groups.push((v, vec![db])),
                }
            }
        }
    }
    if groups.is_empty() {
        if let Some(v) = arg
            .get_default_values()
            .first()
            .filter(|_| arg.get_action().takes_values())
        {
            return format!("`{}`", v.to_string_lossy());
        }
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        // (A setting's help ends in its database's default, which the presets gave above.)
        return match help.split_once("[default: ") {
            Some((_, rest)) => rest.trim_end_matches(']').to_owned(),
            None => "—".to_owned(),
        };
    }
    assert_eq!(
        groups.iter().map(|(_, m)| m.len()).sum::<usize>(),
        dbs.len(),
        "--{long}: every database has a default or none has"
    );
    if groups.len() == 1 {
        return format!("`{}`", groups[0].0);
    }
    let others = groups
        .iter()
        .enumerate()
        .max_by_key(|(i, (_, m))| (m.len(), *i))
        .filter(|(_, (_, m))| m.len() >= 2)
        .map(|(i, _)| i);
    let mut parts: Vec<String> = groups
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != others)
        .map(|(_, (v, m))| format!("`{v}` {}", m.join(", ")))
        .collect();
    if let Some(i) = others {
        parts.push(format!("`{}` others", groups[i].0));
    }
    parts.join("; ")
}

#[test]
fn the_flags_table_is_what_the_binary_does() {
    let mut cmd = sts_gen::cli::command();
    cmd.build();
    // Every flag of a database subcommand, with the databases that have it.
    let mut flags: BTreeMap<String, (clap::Arg, Vec<&str>)> = BTreeMap::new();
    for engine in ENGINES {
        let sub = cmd.find_subcommand(engine.name()).unwrap();
        let own = |a: &&clap::Arg| !matches!(a.get_id().as_str(), "help" | "version");
        for arg in sub
            .get_arguments()
            .filter(own)
            .filter(|a| a.get_long().is_some())
        {
            flags
                .entry(arg.get_long().unwrap().to_owned())
                .or_insert_with(|| (arg.clone(), Vec::new()))
                .1
                .push(engine.name());
        }
    }
    let rows = table();
    let mut wrong = Vec::new();
    for (long, (arg, dbs)) in &flags {
        let want_flag = spelling(arg);
        let want_default = expected_default(arg, dbs);
        match rows.iter().find(|(f, _)| *f == want_flag) {
            None => wrong.push(format!(
                "no row | {want_flag} | {want_default} | … (--{long})"
            )),
            Some((_, default)) if *default != want_default => wrong.push(format!(
                "{want_flag}: the default cell says {default:?}, the binary {want_default:?}"
            )),
            Some(_) => {}
        }
    }
    for (flag, _) in &rows {
        if !flags.values().any(|(a, _)| spelling(a) == *flag) {
            wrong.push(format!(
                "the row {flag} is no flag of a database subcommand"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "README.md's flags table:\n{}",
        wrong.join("\n")
    );
}
