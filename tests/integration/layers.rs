//! The architecture as a test: the modules of `src/` form layers, and a module imports only
//! the layers below it; within a folder, the files import each other without a cycle. Imports
//! are read from the source (`crate::<module>` and `super::<sibling>` paths), test modules
//! (everything from the first `#[cfg(test)]` on) aside.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom first. `lib.rs` and `main.rs` sit above all of them.
const LAYERS: &[&str] = &[
    "model",
    "tls",
    "templates",
    "settings",
    "engine",
    "presets",
    "resolve",
    "k8s",
    "output",
    "cli",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The code of a file without its test module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The identifiers that follow `prefix` in `code`: `crate::engine` → `engine`, and each name
/// of a `prefix{a, b::c}` group.
fn paths_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices(prefix) {
        let rest = &code[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            out.extend(group.split(',').map(|p| ident(p.trim())));
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// The top-level module a file belongs to (`src/engine/mysql.rs` → `engine`).
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (name != "lib" && name != "main").then_some(name)
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let mut seen = BTreeSet::new();
    let mut wrong = Vec::new();
    for path in files(&src()) {
        let Some(module) = module_of(&path) else {
            continue;
        };
        seen.insert(module.clone());
        let rank = LAYERS
            .iter()
            .position(|l| *l == module)
            .unwrap_or_else(|| panic!("src/{module} is not in LAYERS: place it in a layer"));
        for import in paths_after(&code(&path), "crate::") {
            if import == module {
                continue;
            }
            match LAYERS.iter().position(|l| *l == import) {
                Some(r) if r < rank => {}
                _ => wrong.push(format!(
                    "{} imports crate::{import}, which is not below {module}",
                    path.strip_prefix(src()).unwrap().display()
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let layers: BTreeSet<String> = LAYERS.iter().map(|s| s.to_string()).collect();
    assert_eq!(seen, layers, "LAYERS lists exactly the modules of src/");
}

#[test]
fn the_files_of_a_folder_import_each_other_without_a_cycle() {
    // Sibling imports within each folder: file → the siblings it names through `super::`.
    let mut graphs: BTreeMap<PathBuf, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for path in files(&src()) {
        let dir = path.parent().unwrap().to_path_buf();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if name == "mod" {
            continue; // the folder itself: it declares its files
        }
        let siblings: BTreeSet<String> = files(&dir)
            .iter()
            .filter(|p| p.parent() == Some(&dir))
            .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned())
            .filter(|s| s != "mod" && *s != name)
            .collect();
        let imports: BTreeSet<String> = paths_after(&code(&path), "super::")
            .into_iter()
            .filter(|s| siblings.contains(s))
            .collect();
        graphs.entry(dir).or_default().insert(name, imports);
    }
    for (dir, graph) in &graphs {
        // Depth-first search for a back edge.
        fn visit(
            node: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            stack: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(i) = stack.iter().position(|n| n == node) {
                let mut cycle = stack[i..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            if !done.insert(node.to_owned()) {
                return None;
            }
            stack.push(node.to_owned());
            for next in graph.get(node).into_iter().flatten() {
                if let Some(c) = visit(next, graph, stack, done) {
                    return Some(c);
                }
            }
            stack.pop();
            None
        }
        let mut done = BTreeSet::new();
        for node in graph.keys() {
            if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
                panic!(
                    "an import cycle in {}: {}",
                    dir.strip_prefix(src()).unwrap_or(dir).display(),
                    cycle.join(" → ")
                );
            }
        }
    }
}

#[test]
fn the_reader_finds_imports() {
    let code = "use crate::model::{Spec, Parts};\nuse super::{labels::Labels, pod};\nx = crate::engine::find(\"a\");";
    assert_eq!(
        paths_after(code, "crate::"),
        BTreeSet::from(["model".to_owned(), "engine".to_owned()])
    );
    assert_eq!(
        paths_after(code, "super::"),
        BTreeSet::from(["labels".to_owned(), "pod".to_owned()])
    );
}
