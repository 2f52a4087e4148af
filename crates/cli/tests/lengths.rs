//! The house rules on size, computed over every Rust file of the workspace (crates, plugins, the
//! Python package, examples; tests included): no function over 100 lines, none outside the tests
//! over 80, and a source file over 600 lines says at its top why it is one long file.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::{Path, PathBuf};

/// The longest a function may be, in lines (its signature to its closing brace).
const MAX_FUNCTION_LINES: usize = 100;
/// The longest a function outside the tests may be (test files, `tests.rs` modules and what
/// follows a file's `#[cfg(test)]` are tests).
const MAX_CODE_FUNCTION_LINES: usize = 80;
/// A file longer than this says why at its top.
const MAX_FILE_LINES: usize = 600;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `.rs` files below `dir` (build folders left out).
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            if !p.ends_with("target") {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source with comments, string and character literals blanked (line breaks kept), so that
/// braces and `fn` are only those of the code.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        if c[i] == '/' && at(&c, i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && at(&c, i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(&c, i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(&c, i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
        } else if c[i] == 'r'
            && (at(&c, i + 1) == '"' || at(&c, i + 1) == '#')
            && (i == 0 || !ident(c[i - 1]))
        {
            // a raw string: r"..." or r#"..."#
            let mut j = i + 1;
            while j < c.len() && c[j] == '#' {
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            i = j + 1;
            while i < c.len() && !(c[i] == '"' && (1..=hashes).all(|k| at(&c, i + k) == '#')) {
                out.push(blank(c[i]));
                i += 1;
            }
            i += 1 + hashes;
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(blank(c.get(i).copied().unwrap_or(' ')));
                i += 1;
            }
            i += 1;
        } else if c[i] == '\'' && (at(&c, i + 1) == '\\' || at(&c, i + 2) == '\'') {
            // a character literal ('x', '\n', '\u{1F600}'); a lifetime ('a) is code
            i += 1;
            while i < c.len() && c[i] != '\'' {
                if c[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// The character at `i` (NUL past the end).
fn at(c: &[char], i: usize) -> char {
    c.get(i).copied().unwrap_or('\0')
}

/// Every function with a body: (its name, its first line from 1, its length in lines).
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let c: Vec<char> = code.chars().collect();
    let line_of = |at: usize| c[..at].iter().filter(|&&ch| ch == '\n').count() + 1;
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut found = Vec::new();
    for i in 0..c.len().saturating_sub(3) {
        let starts = c[i] == 'f' && c[i + 1] == 'n' && c[i + 2].is_whitespace();
        if !starts || (i > 0 && ident(c[i - 1])) {
            continue;
        }
        let mut j = i + 2;
        while j < c.len() && c[j].is_whitespace() {
            j += 1;
        }
        let name: String = c[j..].iter().take_while(|&&ch| ident(ch)).collect();
        if name.is_empty() {
            continue; // a function pointer type: fn(...)
        }
        // the body's opening brace, unless a `;` outside parentheses and brackets ends it first
        let (mut nesting, mut open) = (0i32, None);
        for (k, &ch) in c.iter().enumerate().skip(j) {
            match ch {
                '(' | '[' => nesting += 1,
                ')' | ']' => nesting -= 1,
                ';' if nesting <= 0 => break,
                '{' => {
                    open = Some(k);
                    break;
                }
                _ => {}
            }
        }
        let Some(open) = open else { continue };
        let mut depth = 0;
        for (k, &ch) in c.iter().enumerate().skip(open) {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        found.push((name, line_of(i), line_of(k) - line_of(i) + 1));
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    found
}

fn workspace_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["crates", "plugins", "python/src", "examples"] {
        rust_files(&repo().join(dir), &mut files);
    }
    files.sort();
    assert!(files.len() > 100, "{} files", files.len());
    files
}

fn relative(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap().display().to_string()
}

#[test]
fn no_function_is_over_100_lines() {
    let mut long = Vec::new();
    let mut counted = 0;
    for f in workspace_files() {
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        for (name, line, lines) in functions(&code) {
            counted += 1;
            if lines > MAX_FUNCTION_LINES {
                long.push(format!("{}:{line} {name}: {lines} lines", relative(&f)));
            }
        }
    }
    assert!(counted > 1000, "only {counted} functions found");
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines (split them into named steps):\n{}",
        long.join("\n")
    );
}

#[test]
fn no_function_outside_the_tests_is_over_80_lines() {
    let mut long = Vec::new();
    for f in workspace_files() {
        let rel = relative(&f);
        if rel.contains("/tests/") || rel.contains("/benches/") || rel.ends_with("tests.rs") {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        let code = code.split("#[cfg(test)]").next().unwrap_or_default();
        for (name, line, lines) in functions(code) {
            if lines > MAX_CODE_FUNCTION_LINES {
                long.push(format!("{rel}:{line} {name}: {lines} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions outside the tests over {MAX_CODE_FUNCTION_LINES} lines (split them into \
         named steps):\n{}",
        long.join("\n")
    );
}

#[test]
fn a_long_file_says_why_at_its_top() {
    let mut silent = Vec::new();
    for f in workspace_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines = text.lines().count();
        let top: String = text.lines().take(30).collect::<Vec<_>>().join("\n");
        if lines > MAX_FILE_LINES && !top.to_lowercase().contains("why") {
            silent.push(format!("{} ({lines} lines)", relative(&f)));
        }
    }
    assert!(
        silent.is_empty(),
        "files over {MAX_FILE_LINES} lines without a comment at their top saying why:\n{}",
        silent.join("\n")
    );
}

#[test]
fn the_measure_sees_through_comments_strings_and_signatures() {
    let src = r##"
/// fn not_a_function() {
fn short(a: [u8; 4]) -> Result<[f64; 6], ()> {
    let s = "} fn fake() {";
    let r = r#"}"#;
    let c = '}';
    let l: &'static str = "{";
    /* } */
    Ok([0.0; 6])
}
trait T {
    fn declared(&self) -> u8;
    fn provided(&self) -> u8 {
        0
    }
}
fn pointer(f: fn(u8) -> u8) -> u8 { f(1) }
"##;
    let found = functions(&code_only(src));
    let names: Vec<(&str, usize, usize)> = found
        .iter()
        .map(|(n, l, len)| (n.as_str(), *l, *len))
        .collect();
    assert_eq!(
        names,
        [("short", 3, 8), ("provided", 13, 3), ("pointer", 17, 1)]
    );
}
