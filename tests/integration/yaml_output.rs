//! The YAML sts-gen writes (`output::to_yaml`: serde-saphyr with our options) on hostile
//! strings: wherever a string can sit in our objects (mapping value, mapping key, sequence item,
//! map inside a sequence, deep nesting), the YAML reads back into the same k8s-openapi value, and
//! into the same strings when read untyped; words a YAML 1.1 or 1.2 reader could take for
//! something else are quoted; scripts are `|` blocks whose long lines are never folded.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, EnvVar, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Strings that a YAML writer can get wrong.
const NASTY: &[&str] = &[
    "",
    " ",
    "  ",
    " leading",
    "trailing ",
    "\ttab-led",
    "tab-ended\t",
    "a: b",
    "a:b",
    "a:",
    "a:\u{a0}",
    ":a",
    "http://x:80/y",
    "a #b",
    "a#b",
    "#comment",
    "a\u{a0}#b",
    "-",
    "-a",
    "- a",
    "--",
    "---",
    "--- a",
    "---a",
    "...",
    "... a",
    "?",
    "?a",
    "? a",
    "*alias",
    "&anchor",
    "!tag",
    "!!str",
    "|",
    "|-",
    ">",
    "%YAML",
    "@at",
    "`tick`",
    "'single'",
    "it's",
    "\"double\"",
    "say \"hi\"",
    "back\\slash",
    "C:\\path\\",
    "in\tside",
    "unicode é ü 字 🎉",
    "\u{a0}nbsp\u{a0}",
    "cr\rin",
    "crlf\r\nline",
    "\r",
    "bell\u{7}",
    "esc\u{1b}[0m",
    "nul\0byte",
    "\0",
    "del\u{7f}",
    "c1\u{85}nel",
    "c1\u{80}\u{9f}",
    "ls\u{2028}ps\u{2029}",
    "\u{feff}bom",
    "nonchar\u{fffe}\u{ffff}",
    "private\u{e000}",
    ".",
    "#",
    "a,b",
    "[a]",
    "{a}",
    "a[0]",
    "x{y}",
    ",",
    "null",
    "Null",
    "NULL",
    "~",
    "true",
    "True",
    "FALSE",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "Y",
    "0x1F",
    "0o17",
    "0b101",
    "0b",
    "017",
    "1e3",
    "1E+3",
    "-1.5e-3",
    "1.",
    ".5",
    "1.2.3",
    "8.4.7",
    "2",
    "-2",
    "+2",
    "1_000",
    "1__0",
    "_1",
    "1:30",
    "190:20:30",
    "1:60",
    ".inf",
    "-.Inf",
    ".NaN",
    "nan",
    "inf",
    "+inf",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5",
    "2001-1-1",
    "20261125T030000Z",
    "<<",
    "=",
    "0 3 * * *",
    "@daily",
    ":0CEB 00000000:0000 0A",
    "line\n",
    "line",
    "two\nlines",
    "two\nlines\n",
    "ends\n\n",
    "ends\n\n\n",
    "\n",
    "\n\n",
    "\nleading newline",
    "\n\nleading newlines\n",
    "  indented\nfirst line\n",
    "\n  indented after empty\n",
    "   \nspaces-only first line\n",
    "a\n   \nb\n",
    "trailing spaces   \nline  \n",
    "# comment line\n#!/bin/sh\necho hi\n",
    "- item\n- item\n",
    "key: value\nother: x\n",
    "|\n>\n",
    "tab\tin\nblock\n",
    "\tleading tab\nline\n",
    "block with cr\r\nline\n",
    "block with nul\0\n",
    "block\u{85}nel\n",
    "block\u{2028}ls\n",
    "\u{feff}block bom\n",
    "unicode\né\n字\n",
    "---\n...\n",
    "\"quoted\"\n'single'\n\\\n",
    "no final newline\nsecond",
];

/// Pieces the generated strings are made of.
const PIECES: &[&str] = &[
    "a",
    "Z",
    "0",
    "1",
    "9",
    ".",
    "e",
    "x",
    "_",
    ":",
    " ",
    "  ",
    "\t",
    "\n",
    "\r",
    "#",
    "-",
    "?",
    "'",
    "\"",
    "\\",
    ",",
    "[",
    "}",
    "|",
    ">",
    "%",
    "@",
    "`",
    "&",
    "*",
    "!",
    "~",
    "<<",
    "=",
    "---",
    "...",
    "true",
    "null",
    "no",
    "y",
    "inf",
    "nan",
    "0x",
    "0b",
    "é",
    "字",
    "\u{85}",
    "\u{a0}",
    "\u{2028}",
    "\u{feff}",
    "\0",
    "\u{7f}",
    "\u{1b}",
    "2001-12-14",
    "1:30",
    "+",
    "e5",
];

/// Deterministic strings of one to six pieces (xorshift, fixed seed).
fn generated(count: usize) -> Vec<String> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let pieces = 1 + (next() % 6) as usize;
            (0..pieces)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect()
        })
        .collect()
}

/// Written as sts-gen writes YAML, `value` reads back equal: typed, and untyped (every string
/// is still a string, every number a number).
fn check<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    what: &str,
    value: &T,
) -> String {
    let yaml = sts_gen::output::to_yaml(value).unwrap();
    let back: T = serde_saphyr::from_str(&yaml)
        .unwrap_or_else(|e| panic!("{what}: does not read back: {e}\n{yaml}"));
    assert_eq!(&back, value, "{what}: reads back differently from\n{yaml}");
    let untyped: serde_json::Value = serde_saphyr::from_str(&yaml)
        .unwrap_or_else(|e| panic!("{what}: does not read back untyped: {e}\n{yaml}"));
    assert_eq!(
        untyped,
        serde_json::to_value(value).unwrap(),
        "{what}: reads back untyped differently from\n{yaml}"
    );
    yaml
}

fn config_map(s: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some("c".into()),
            labels: Some(BTreeMap::from([("app".to_owned(), s.to_owned())])),
            annotations: Some(BTreeMap::from([(s.to_owned(), "v".to_owned())])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([
            ("k".to_owned(), s.to_owned()),
            (format!("{s}-key"), s.to_owned()),
        ])),
        ..Default::default()
    }
}

/// The string as a sequence item, a value in a mapping that is a sequence item, and deep down.
fn pod_spec(s: &str) -> PodSpec {
    PodSpec {
        containers: vec![Container {
            name: s.to_owned(),
            args: Some(vec![s.to_owned(), "x".to_owned(), s.to_owned()]),
            command: Some(vec![]),
            env: Some(vec![
                EnvVar {
                    name: s.to_owned(),
                    value: Some(s.to_owned()),
                    ..Default::default()
                },
                EnvVar {
                    name: "B".to_owned(),
                    value: Some(s.to_owned()),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        }],
        node_selector: Some(BTreeMap::from([(s.to_owned(), s.to_owned())])),
        ..Default::default()
    }
}

#[test]
fn nasty_strings_read_back() {
    for s in NASTY {
        check(&format!("ConfigMap {s:?}"), &config_map(s));
        check(&format!("PodSpec {s:?}"), &pod_spec(s));
        check(&format!("root {s:?}"), &s.to_string());
        check(&format!("list {s:?}"), &vec![s.to_string(), s.to_string()]);
        check(
            &format!("nested lists {s:?}"),
            &vec![
                vec![s.to_string()],
                vec![],
                vec![s.to_string(), s.to_string()],
            ],
        );
    }
}

#[test]
fn generated_strings_read_back() {
    for s in generated(4000) {
        check(&format!("ConfigMap {s:?}"), &config_map(&s));
    }
    for s in generated(1000) {
        check(&format!("PodSpec {s:?}"), &pod_spec(&s));
    }
}

#[test]
fn scalars_and_empty_collections_read_back() {
    check("empty map", &BTreeMap::<String, String>::new());
    check("empty list", &Vec::<String>::new());
    check("ints", &vec![0i64, -1, i64::MIN, i64::MAX]);
    check("uints", &vec![0u64, u64::MAX]);
    check(
        "bools",
        &BTreeMap::from([("t".to_owned(), true), ("f".to_owned(), false)]),
    );
    check(
        "int keys",
        &BTreeMap::from([(1u32, "one".to_owned()), (20, "twenty".to_owned())]),
    );
    check(
        "nesting",
        &serde_json::json!({
            "empty": {},
            "list": [],
            "maps in a list": [{}, {"a": [{"b": "c\nd\n"}, [], {}]}, {"x": {"y": {"z": []}}}],
            "lists in lists": [[["deep", "  indented\n"]], [[]], [{}], [1, [2, [3]]]],
            "block in a list": ["|\n", "one\ntwo"],
            "n": -3,
            "null": null,
        }),
    );
    check("options", &vec![Some(1), None]);
}

/// Words that YAML 1.1 (Kubernetes' reader, PyYAML) or YAML 1.2 would read as something other
/// than a string when plain.
const AMBIGUOUS: &[&str] = &[
    "yes",
    "Yes",
    "YES",
    "no",
    "No",
    "on",
    "On",
    "OFF",
    "off",
    "y",
    "Y",
    "n",
    "N",
    "true",
    "True",
    "FALSE",
    "false",
    "null",
    "Null",
    "NULL",
    "~",
    "",
    "0777",
    "017",
    "0o17",
    "0x1F",
    "0b101",
    "1e3",
    "1E+3",
    "-1.5e-3",
    "1.",
    ".5",
    "2",
    "-2",
    "+2",
    "1_000",
    "1:30",
    "190:20:30",
    ".inf",
    "-.Inf",
    ".NaN",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "<<",
    "=",
];

#[test]
fn ambiguous_words_are_quoted() {
    for &word in AMBIGUOUS {
        for (what, yaml, prefix) in [
            ("mapping value", check(word, &config_map(word)), "  k: "),
            ("sequence item", check(word, &vec![word.to_owned()]), "- "),
            ("document", check(word, &word.to_owned()), ""),
        ] {
            let line = yaml
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("{word:?} as a {what}: no line {prefix:?} in\n{yaml}"));
            assert!(
                line.starts_with('\'') || line.starts_with('"'),
                "{word:?} as a {what} is not quoted:\n{yaml}"
            );
        }
    }
}

#[test]
fn scripts_are_literal_blocks_and_long_lines_are_not_folded() {
    let long = format!("echo{}", " word".repeat(60));
    for script in [
        format!("#!/bin/sh\nset -eu\n{long}\n"),
        format!("#!/bin/sh\n{long}"),
        "[mysqld]\nlog_bin = ON\nport = 3306\n\n".to_owned(),
    ] {
        let yaml = check("script", &config_map(&script));
        let block = yaml
            .lines()
            .find_map(|l| l.strip_prefix("  k: "))
            .unwrap_or_else(|| panic!("no data line in\n{yaml}"));
        assert!(block.starts_with('|'), "not a literal block:\n{yaml}");
        for line in script.lines().filter(|l| !l.is_empty()) {
            assert!(
                yaml.contains(&format!("\n    {line}\n")),
                "{line:?} not kept whole in\n{yaml}"
            );
        }
    }
    // A long line on its own (an annotation, a command's argument) stays on one line too.
    let yaml = check("long line", &config_map(&long));
    assert!(
        yaml.contains(&format!("\n  k: {long}\n")),
        "long line folded:\n{yaml}"
    );
}
