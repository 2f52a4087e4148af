//! docs/architecture.md is held to the code: each module map lists exactly the source files of
//! its folder, and every `path::name` it quotes names something defined in the sources.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn doc() -> String {
    std::fs::read_to_string(repo().join("docs/architecture.md")).unwrap()
}

/// The Rust files below `dir`, as paths relative to it (files named `tests.rs` included: a
/// module's tests are a module too).
fn rust_files(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, base, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.insert(
                p.strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/"),
            );
        }
    }
}

/// The code blocks of the doc that are module maps: a first line naming a `.../src/` folder,
/// then one line per file (its path first).
fn module_maps(doc: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut maps = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```" {
            continue;
        }
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        let Some(first) = block.first().map(|l| l.trim()) else {
            continue;
        };
        if !first.ends_with("/src/") {
            continue;
        }
        let files = block[1..]
            .iter()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| w.ends_with(".rs"))
            .map(str::to_string)
            .collect();
        maps.push((first.to_string(), files));
    }
    maps
}

#[test]
fn every_module_map_lists_exactly_its_folders_files() {
    let maps = module_maps(&doc());
    let folders: Vec<&str> = maps.iter().map(|(f, _)| f.as_str()).collect();
    for needed in [
        "crates/core/src/",
        "crates/nn/src/",
        "crates/runner/src/",
        "crates/cli/src/",
        "crates/report/src/",
        "crates/results/src/",
        "python/src/",
    ] {
        assert!(folders.contains(&needed), "no module map of {needed}");
    }
    for (folder, listed) in &maps {
        let dir = repo().join(folder);
        let mut actual = BTreeSet::new();
        rust_files(&dir, &dir, &mut actual);
        let missing: Vec<_> = actual.difference(listed).collect();
        let extra: Vec<_> = listed.difference(&actual).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "docs/architecture.md's map of {folder}: not listed {missing:?}, no such file {extra:?}"
        );
    }
}

/// Every name defined in the workspace's Rust sources: items, enum variants and module files.
fn defined_names() -> HashSet<String> {
    let root = repo();
    let mut files = BTreeSet::new();
    for dir in ["crates", "plugins", "python/src", "examples"] {
        let d = root.join(dir);
        rust_files(&d, &root, &mut files);
    }
    let mut names = HashSet::new();
    let keywords = [
        "fn", "struct", "enum", "trait", "type", "mod", "const", "static",
    ];
    for f in files.iter().filter(|f| !f.contains("/target/")) {
        let path = root.join(f);
        // module files and folders, and crate folders (`core::rules`)
        if let Some(stem) = path.file_stem() {
            names.insert(stem.to_string_lossy().into_owned());
        }
        names.extend(f.split('/').map(str::to_string));
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            let words: Vec<&str> = line
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .collect();
            for pair in words.windows(2) {
                if keywords.contains(&pair[0]) {
                    names.insert(pair[1].to_string());
                }
            }
            // an enum variant: a capitalised name alone at the start of an indented line
            let t = line.trim_start();
            if line.starts_with("    ") && t.starts_with(|c: char| c.is_ascii_uppercase()) {
                let name: String = t
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if t[name.len()..].starts_with([',', '(', ' ', '{']) {
                    names.insert(name);
                }
            }
        }
    }
    // the crates, by the name their code uses (`geobatch_potential::potential_of`)
    for f in files.iter().filter(|f| f.ends_with("/src/lib.rs")) {
        let manifest = root
            .join(f.trim_end_matches("src/lib.rs"))
            .join("Cargo.toml");
        let text = std::fs::read_to_string(manifest).unwrap_or_default();
        let package: Option<toml::Table> = text.parse().ok();
        let name = package
            .as_ref()
            .and_then(|t| t.get("package")?.get("name")?.as_str());
        names.extend(name.map(|n| n.replace('-', "_")));
    }
    names
}

#[test]
fn every_quoted_path_names_something_in_the_sources() {
    let doc = doc();
    let names = defined_names();
    let mut checked = 0;
    for (i, quoted) in doc.split('`').enumerate() {
        // odd pieces are inside backquotes
        if i % 2 == 0 || !quoted.contains("::") {
            continue;
        }
        let path = quoted.trim_end_matches("()");
        let segments: Vec<&str> = path.split("::").collect();
        if !segments
            .iter()
            .all(|s| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_'))
        {
            continue;
        }
        for s in &segments {
            assert!(
                names.contains(*s),
                "docs/architecture.md quotes `{quoted}`, but nothing is named {s} in the sources"
            );
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} quoted paths found");
}
