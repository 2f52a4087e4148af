//! docs/writing-a-batcher.md is held to this crate: its code blocks, put together in order, are
//! exactly this crate's files (this file aside: it is the repository's check on the guide, not
//! part of what the guide builds), each block is a complete item, the blocks it quotes from other
//! files are in them, and each of its commands names what exists and is run by a test, is a cargo
//! command whose package and tests exist, or is listed below with why no test runs it.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the guide has the reader write this crate; its blocks name files under this prefix.
const WRITTEN_AT: &str = "plugins/batcher-round/";

/// This file: in the crate, not in the guide.
const NOT_QUOTED: &str = "tests/guide.rs";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn guide() -> String {
    read(&repo().join("docs/writing-a-batcher.md"))
}

/// The fenced blocks of a markdown text: (info string, lines).
fn blocks(text: &str) -> Vec<(String, Vec<&str>)> {
    let mut out = Vec::new();
    let mut open: Option<(String, Vec<&str>)> = None;
    for line in text.lines() {
        match (open.take(), line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_string(), Vec::new())),
            (Some(block), Some(_)) => out.push(block),
            (Some((info, mut lines)), None) => {
                lines.push(line);
                open = Some((info, lines));
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed code block");
    out
}

/// The file a block's first line names (`// path` or `# path`), if any.
fn named(lines: &[&str]) -> Option<String> {
    let first = lines.first().copied().unwrap_or_default();
    first
        .strip_prefix("// ")
        .or_else(|| first.strip_prefix("# "))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.contains(' '))
}

/// Whether the brackets of Rust code balance, outside strings, characters and comments.
fn balanced(code: &str) -> Result<(), String> {
    let c: Vec<char> = code.chars().collect();
    let mut stack = Vec::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            'r' if matches!(c.get(i + 1), Some('#' | '"'))
                && (i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_')) =>
            {
                let hashes = c[i + 1..].iter().take_while(|&&x| x == '#').count();
                let close: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let rest: String = c[i + 2 + hashes..].iter().collect();
                let end = rest.find(&close).ok_or("an unclosed raw string")?;
                i += 2 + hashes + rest[..end].chars().count() + close.len() - 1;
            }
            '"' => {
                i += 1;
                while i < c.len() && c[i] != '"' {
                    i += if c[i] == '\\' { 2 } else { 1 };
                }
                if i >= c.len() {
                    return Err("an unclosed string".into());
                }
            }
            // a character literal ('x', '\n'); a lifetime ('_, 'a) has no closing quote
            '\'' if c.get(i + 1) == Some(&'\\') => {
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
            }
            '\'' if c.get(i + 2) == Some(&'\'') => i += 2,
            open @ ('(' | '[' | '{') => stack.push(open),
            close @ (')' | ']' | '}') => {
                let want = match close {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if stack.pop() != Some(want) {
                    return Err(format!("an unmatched `{close}`"));
                }
            }
            _ => {}
        }
        i += 1;
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("unclosed {stack:?}"))
    }
}

/// This crate's files (relative paths), but this one.
fn crate_files() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for top in [
        "Cargo.toml",
        "src",
        "tests",
        "benches",
        "examples",
        "build.rs",
    ] {
        let p = base.join(top);
        if p.is_dir() {
            walk(&p, base, &mut out);
        } else if p.is_file() {
            out.push(top.to_string());
        }
    }
    out.retain(|f| f != NOT_QUOTED && !f.ends_with(".proptest-regressions"));
    out.sort();
    out
}

/// Every code block of the guide is checked. A block's first line names a file (`// path` or
/// `# path`); a ```sh block is a list of commands (checked by the next test) and names none.
/// Blocks of this crate (under `plugins/batcher-round/`): put together in order, one blank line
/// between them, they are exactly the crate's files, every file of the crate has its blocks, and
/// each Rust block is whole top-level items. Blocks of other files are in those files as they
/// are, or are lines to add modelled on `pack`'s: with `round` read as `pack`, they are whole
/// lines of the file. So the guide can neither drift from the code nor quote a fragment that does
/// not compile when pasted.
#[test]
fn every_code_block_of_the_guide_is_in_the_code() {
    let guide = guide();
    let blocks = blocks(&guide);
    assert!(blocks.len() >= 8, "{} blocks", blocks.len());
    let mut assembled: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (info, lines) in &blocks {
        if info == "sh" {
            for word in lines.iter().flat_map(|l| l.split_whitespace()) {
                let word = word.trim_matches('\'');
                if word.ends_with(".toml") && !word.starts_with(WRITTEN_AT) {
                    assert!(
                        repo().join(word).is_file(),
                        "the guide runs {word}: missing"
                    );
                }
            }
            continue;
        }
        let Some(path) = named(lines) else {
            panic!(
                "a ```{info} block names no file it is quoted from:\n{}",
                lines.join("\n")
            );
        };
        let body = lines[1..].join("\n");
        if info == "rust"
            && let Err(e) = balanced(&body)
        {
            panic!("a ```rust block of {path} is not whole items ({e}):\n{body}");
        }
        if let Some(file) = path.strip_prefix(WRITTEN_AT) {
            if info == "rust" {
                let first = body.lines().next().unwrap_or_default();
                assert!(
                    !first.starts_with(char::is_whitespace),
                    "a ```rust block of {path} starts inside an item:\n{body}"
                );
            }
            assembled.entry(file.to_string()).or_default().push(body);
            continue;
        }
        let file = repo().join(&path);
        assert!(file.is_file(), "a ```{info} block names {path}: missing");
        let source = read(&file);
        if source.contains(&body) {
            continue;
        }
        let as_pack = body.replace("round", "pack");
        assert!(
            body.contains("round") && source.contains(&format!("\n{as_pack}\n")),
            "a ```{info} block of the guide is not in {path}, nor is pack's same line:\n{body}"
        );
    }
    let files = crate_files();
    assert_eq!(
        assembled.keys().cloned().collect::<Vec<_>>(),
        files,
        "the guide's blocks of {WRITTEN_AT} (left) and the files of examples/batcher-round (right)"
    );
    for (file, parts) in &assembled {
        let want = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join(file));
        let got = format!("{}\n", parts.join("\n\n"));
        if got != want {
            let at = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| got.lines().count().min(want.lines().count()));
            panic!(
                "{file}: the guide's blocks put together differ from the file at line {} \
                 (guide: {:?}, file: {:?})",
                at + 1,
                got.lines().nth(at),
                want.lines().nth(at)
            );
        }
    }
}

/// The guide's `geobatch` commands that no test runs (by how they start), with why: each still
/// names only what exists, and its overrides are checked.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "batches configs/examples/qm9-pack.toml",
        "the study with the config's own batcher: round's run of the same config is tested",
    ),
    (
        "bench step",
        "trains SchNet (the model crates are no dependency here); its override is round's tested one",
    ),
    (
        "sweep",
        "trains SchNet for every run: seconds for the quick sweep, half an hour for the study",
    ),
    ("report", "reads a sweep's results"),
    ("data fetch", "downloads QM9 (104 MB)"),
];

/// The workspace's package named `name`: its folder.
fn package(name: &str) -> PathBuf {
    for group in ["crates", "plugins", "examples"] {
        for e in std::fs::read_dir(repo().join(group)).unwrap().flatten() {
            let Ok(text) = std::fs::read_to_string(e.path().join("Cargo.toml")) else {
                continue;
            };
            let table: toml::Table = toml::from_str(&text).unwrap();
            if table["package"]["name"].as_str() == Some(name) {
                return e.path();
            }
        }
    }
    panic!("the guide runs cargo on {name}: no such package in the workspace")
}

/// Checks one `cargo build|test|clippy|bench` command: its package, test targets, test names and
/// benches exist.
fn check_cargo(words: &[&str]) {
    let mut words = words.iter().copied().take_while(|&w| w != "--");
    let sub = words.next().unwrap();
    assert!(
        ["build", "test", "clippy", "bench"].contains(&sub),
        "cargo {sub}"
    );
    let (mut dir, mut tests, mut filters) = (None, Vec::new(), Vec::new());
    while let Some(w) = words.next() {
        match w {
            "-p" => dir = Some(package(words.next().unwrap())),
            "--test" => tests.push(words.next().unwrap()),
            "--bench" => {
                let bench = words.next().unwrap();
                let manifest = read(&dir.clone().unwrap().join("Cargo.toml"));
                assert!(
                    manifest.contains(&format!("[[bench]]\nname = \"{bench}\"")),
                    "no bench {bench}"
                );
            }
            "--release" | "--all-targets" => {}
            filter if !filter.starts_with('-') => filters.push(filter),
            flag => panic!("cargo {sub}: unchecked flag {flag}"),
        }
    }
    let dir = dir.unwrap_or_else(|| panic!("cargo {sub} without -p"));
    for t in &tests {
        assert!(
            !test_sources(&dir, t).is_empty(),
            "{}: no test target {t}",
            dir.display()
        );
    }
    for f in filters {
        assert!(
            tests.iter().any(|t| test_sources(&dir, t)
                .iter()
                .any(|p| read(p).contains(&format!("fn {f}(")))),
            "cargo {sub}: no test {f} in {tests:?}"
        );
    }
}

/// The source files of integration test target `t` of the package in `dir`: `tests/t.rs`, or
/// the `.rs` files of `tests/t/` (a target of modules, its `main.rs` first); none when neither.
fn test_sources(dir: &Path, t: &str) -> Vec<PathBuf> {
    let file = dir.join("tests").join(format!("{t}.rs"));
    if file.is_file() {
        return vec![file];
    }
    let folder = dir.join("tests").join(t);
    if !folder.join("main.rs").is_file() {
        return Vec::new();
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    files
}

/// The words of a command line as the shell splits them (single quotes group, `>` is a word).
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for ch in line.chars() {
        match ch {
            '\'' => (quoted, any) = (!quoted, true),
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            _ => {
                word.push(ch);
                any = true;
            }
        }
    }
    assert!(!quoted, "an unclosed quote: {line}");
    if any {
        words.push(word);
    }
    words
}

/// The experiment names the guide's results come from: its configs' and its overrides'.
fn experiment_names() -> Vec<String> {
    let mut names = Vec::new();
    for (_, lines) in blocks(&guide())
        .into_iter()
        .filter(|(info, _)| info == "sh")
    {
        for word in lines.iter().flat_map(|l| shell_words(l)) {
            if word.starts_with("configs/") && word.ends_with(".toml") {
                let config: toml::Table = toml::from_str(&read(&repo().join(&word))).unwrap();
                names.push(config["experiment"]["name"].as_str().unwrap().to_string());
            } else if let Some(name) = word.strip_prefix("experiment.name=") {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// Checks one `geobatch` command (the words after `cargo run --release --bin geobatch --`): the
/// command exists, so does its config, and each `--set KEY=VALUE` replaces a key of that config
/// with a TOML value; a `batcher` override is one tests/round.rs runs; a batching study with an
/// override is run by tests/round.rs on the same config; any other command is in NOT_RUN.
fn check_geobatch(args: &[String], line: &str, tested: &str) {
    let cli = read(&repo().join("crates/cli/src/main.rs"));
    let sub = args[0].as_str();
    // a variant of the CLI's `enum Command`: `    Name {`, `    Name(...)` or `    Name,`
    let variant = format!("\n    {}{}", sub[..1].to_uppercase(), &sub[1..]);
    assert!(
        [" {", "(", ","]
            .iter()
            .any(|end| cli.contains(&format!("{variant}{end}"))),
        "geobatch has no command {sub}: {line}"
    );
    let config = args.iter().find(|w| w.ends_with(".toml"));
    if let Some(config) = config {
        assert!(repo().join(config).is_file(), "{line}: {config} is missing");
    }
    let sets: Vec<&str> = args
        .windows(2)
        .filter(|w| w[0] == "--set")
        .map(|w| w[1].as_str())
        .collect();
    for set in &sets {
        let (key, value) = set.split_once('=').unwrap();
        // a value that is not TOML is taken as a string: only a plain word may be one
        let plain = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if let Err(e) = toml::from_str::<toml::Table>(&format!("v = {value}")) {
            assert!(plain, "`--set '{set}'`: not a TOML value: {e}");
        }
        let config = config.unwrap_or_else(|| panic!("{line}: --set without a config"));
        let mut table = toml::from_str::<toml::Value>(&read(&repo().join(config))).unwrap();
        for part in key.split('.') {
            table = table
                .get(part)
                .unwrap_or_else(|| panic!("`--set '{set}'`: {config} has no {key}"))
                .clone();
        }
        if key == "batcher" {
            assert!(
                tested.contains(&format!("r#\"{set}\"#")),
                "`--set '{set}'` is run by no test of tests/round.rs"
            );
        }
    }
    if args.join(" ") == "list --markdown > docs/plugins.md" {
        // the command the CLI's test asks for when docs/plugins.md is stale
        let cli_test = read(&repo().join("crates/cli/tests/cli/configs.rs"));
        assert!(
            cli_test.contains("`geobatch list --markdown > docs/plugins.md`"),
            "{line}"
        );
        return;
    }
    if sub == "report" {
        let name = args[1].strip_prefix("results/").unwrap();
        assert!(
            experiment_names().iter().any(|n| n == name),
            "no config or override of the guide writes results/{name}"
        );
    }
    if sub == "batches" && !sets.is_empty() {
        let config = config.unwrap();
        assert!(
            tested.contains(&format!("repo.join(\"{config}\")")),
            "`{line}`: tests/round.rs does not run {config}"
        );
        return;
    }
    let args = args.join(" ");
    assert!(
        NOT_RUN.iter().any(|(start, _)| args.starts_with(start)),
        "`{line}` is run by no test: run it in one, or list it in NOT_RUN with why"
    );
}

/// Every command of the guide's ```sh blocks is checked, one line each: the set-up commands do
/// what the guide says (the finished crate is the one removed, the `sed` takes it out of the
/// workspace's members, `mkdir` makes the folders the blocks' files go in); a cargo command names
/// a package of the workspace, and the test targets, tests and benches it names exist; a
/// `geobatch` command names an existing command and config, its `--set` overrides are run by
/// tests/round.rs (a batching study: with the same config), and a command no test runs is listed
/// in NOT_RUN with why.
#[test]
fn every_command_of_the_guide_is_checked() {
    let guide = guide();
    let tested = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/round.rs"));
    let written: Vec<String> = blocks(&guide)
        .iter()
        .filter_map(|(_, lines)| named(lines))
        .filter_map(|p| p.strip_prefix(WRITTEN_AT).map(str::to_string))
        .collect();
    let mut commands = 0;
    for (info, lines) in blocks(&guide) {
        if info != "sh" {
            continue;
        }
        for line in lines {
            commands += 1;
            let words = shell_words(line);
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            match words.as_slice() {
                ["rm", "-r", dir] => assert_eq!(
                    repo().join(dir).canonicalize().unwrap(),
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .canonicalize()
                        .unwrap(),
                    "{line}"
                ),
                ["sed", "-i", expr, "Cargo.toml"] => {
                    let parts: Vec<&str> = expr.split('|').collect();
                    let ["s", from, to, ""] = parts.as_slice() else {
                        panic!("{line}")
                    };
                    let manifest = read(&repo().join("Cargo.toml"));
                    assert_eq!(manifest.matches(from).count(), 1, "{line}");
                    let edited: toml::Table = toml::from_str(&manifest.replace(from, to)).unwrap();
                    let members = edited["workspace"]["members"].as_array().unwrap();
                    let members: Vec<&str> = members.iter().filter_map(|m| m.as_str()).collect();
                    assert!(
                        !members.contains(&"examples/batcher-round")
                            && members.contains(&"plugins/*"),
                        "{line}: {members:?}"
                    );
                }
                ["mkdir", "-p", dirs @ ..] => {
                    let mut made: Vec<&str> = dirs
                        .iter()
                        .map(|d| d.strip_prefix(WRITTEN_AT).unwrap())
                        .collect();
                    let mut needed: Vec<&str> = written
                        .iter()
                        .filter_map(|f| f.rsplit_once('/').map(|(d, _)| d))
                        .collect();
                    made.sort();
                    needed.sort();
                    needed.dedup();
                    assert_eq!(made, needed, "{line}");
                }
                [
                    "cargo",
                    "run",
                    "--release",
                    "--bin",
                    "geobatch",
                    "--",
                    args @ ..,
                ] => {
                    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                    check_geobatch(&args, line, &tested);
                }
                ["cargo", rest @ ..] => check_cargo(rest),
                _ => panic!("the guide runs `{line}`: no check of this test knows it"),
            }
        }
    }
    assert!(commands >= 10, "{commands} commands");
    let cli = read(&repo().join("crates/cli/Cargo.toml"));
    assert!(cli.contains("[[bin]]\nname = \"geobatch\""));
}
