//! The house rules on size, held by this one scanner over every Rust and Python file of the
//! repository (crates, plugins, the Python package and its native part, examples, benchmarks,
//! scripts; tests included), each read whole: no function outside the tests over 80 lines, no
//! test function over 100, no file over 600 lines.
//!
//! A function is measured from its signature to its last line; its documentation is not counted
//! (a Rust doc comment stands above the function, a Python docstring inside it, so a Python
//! function's docstring lines are left out). Tests are the test files (`tests/`, `benches/`,
//! `tests.rs`, Python's `test_*.py` and `conftest.py`) and, in a Rust file, the body of an item
//! marked `#[cfg(test)]`; a `#[cfg(test)] mod tests;` line marks nothing else of its file.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::{Path, PathBuf};

/// The longest a function outside the tests may be, in lines.
const MAX_CODE_FUNCTION_LINES: usize = 80;
/// The longest a test function may be.
const MAX_TEST_FUNCTION_LINES: usize = 100;
/// The longest a file may be.
const MAX_FILE_LINES: usize = 600;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `.rs` and `.py` files below `dir` (build folders, hidden folders and caches left out).
fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() {
            let skipped = name == "target" || name == "__pycache__" || name.starts_with('.');
            if !skipped {
                source_files(&p, out);
            }
        } else if name.ends_with(".rs") || name.ends_with(".py") {
            out.push(p);
        }
    }
}

/// Every source file the rules hold, sorted.
fn all_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [
        "crates", "plugins", "python", "examples", "bench", "scripts",
    ] {
        source_files(&repo().join(dir), &mut files);
    }
    files.sort();
    files
}

fn relative(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap().display().to_string()
}

/// Whether a whole file is tests.
fn test_file(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    rel.contains("/tests/")
        || rel.contains("/benches/")
        || name == "tests.rs"
        || (name.starts_with("test_") && name.ends_with(".py"))
        || name == "conftest.py"
}

/// A function found: its name, first line (from 1), length in lines, and whether it is a test.
#[derive(Debug, PartialEq)]
struct Function {
    name: String,
    line: usize,
    lines: usize,
    test: bool,
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

/// The byte ranges (in `code`, comments and strings blanked) of the items marked
/// `#[cfg(test)]` that have a body (`mod tests { ... }`, a test-only `fn` or `impl`); a
/// `mod tests;` declaration has none.
fn test_spans(code: &str) -> Vec<(usize, usize)> {
    const MARK: &str = "#[cfg(test)]";
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(k) = code[from..].find(MARK) {
        let start = from + k;
        from = start + MARK.len();
        // the item's body opens at its first brace, unless a `;` ends the item first
        let Some(open) = code[from..].find(['{', ';']).map(|i| from + i) else {
            continue;
        };
        if code.as_bytes()[open] == b';' {
            continue;
        }
        let mut depth = 0;
        for (i, ch) in code[open..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        spans.push((start, open + i));
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    spans
}

/// A Rust file's functions, each marked test or not.
fn rust_functions(text: &str, whole_file_is_test: bool) -> Vec<Function> {
    let code = code_only(text);
    let spans = test_spans(&code);
    let line_start: Vec<usize> = std::iter::once(0)
        .chain(code.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    functions(&code)
        .into_iter()
        .map(|(name, line, lines)| {
            let at = line_start[line - 1];
            let test = whole_file_is_test || spans.iter().any(|&(a, b)| a <= at && at <= b);
            Function {
                name,
                line,
                lines,
                test,
            }
        })
        .collect()
}

/// The indentation of a line, in bytes.
fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The first triple quote in `code` (a line's text, a `#` comment cut off): its position and
/// which quote.
fn first_triple_quote(code: &str) -> Option<(usize, &'static str)> {
    [r#"""""#, "'''"]
        .into_iter()
        .filter_map(|q| code.find(q).map(|i| (i, q)))
        .min()
}

/// For every line, whether it starts inside a triple-quoted string (its text is not code).
fn in_string(lines: &[&str]) -> Vec<bool> {
    let mut inside: Option<&str> = None;
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        out.push(inside.is_some());
        let mut rest = *line;
        loop {
            if let Some(q) = inside {
                let Some(i) = rest.find(q) else { break };
                rest = &rest[i + 3..];
                inside = None;
            } else {
                let code = rest.split('#').next().unwrap_or("");
                let Some((i, q)) = first_triple_quote(code) else {
                    break;
                };
                rest = &rest[i + 3..];
                inside = Some(q);
            }
        }
    }
    out
}

/// The line after a Python signature that starts at `start`: the first line that closes its
/// brackets and ends with a colon, plus one.
fn body_start(lines: &[&str], start: usize) -> usize {
    let mut depth = 0i32;
    for (j, line) in lines.iter().enumerate().skip(start) {
        for ch in line.split('#').next().unwrap_or("").chars() {
            match ch {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                _ => {}
            }
        }
        if depth <= 0 && line.trim_end().ends_with(':') {
            return j + 1;
        }
    }
    lines.len()
}

/// A Python file's functions (`def`, `async def`), docstrings not counted.
fn python_functions(text: &str, test: bool) -> Vec<Function> {
    let lines: Vec<&str> = text.lines().collect();
    let string = in_string(&lines);
    let code = |j: usize| {
        let t = lines[j].trim_start();
        !string[j] && !t.is_empty() && !t.starts_with('#')
    };
    let mut found = Vec::new();
    for i in 0..lines.len() {
        let t = lines[i].trim_start();
        let Some(rest) = t
            .strip_prefix("def ")
            .or_else(|| t.strip_prefix("async def "))
        else {
            continue;
        };
        if string[i] {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|ch| ch.is_alphanumeric() || *ch == '_')
            .collect();
        let own = indent(lines[i]);
        let body = body_start(&lines, i);
        // the last line before the next code line at this indentation or less
        let mut end = body.saturating_sub(1);
        for j in body..lines.len() {
            if code(j) && indent(lines[j]) <= own {
                break;
            }
            // a comment less indented than the body belongs to what follows
            if !lines[j].trim().is_empty() && (string[j] || indent(lines[j]) > own) {
                end = j;
            }
        }
        let doc = docstring_lines(&lines, &string, body, end);
        found.push(Function {
            name,
            line: i + 1,
            lines: end + 1 - i - doc,
            test,
        });
    }
    found
}

/// How many lines the docstring at the top of a Python body (lines `body..=end`) takes.
fn docstring_lines(lines: &[&str], string: &[bool], body: usize, end: usize) -> usize {
    let Some(first) = (body..=end).find(|&j| j < lines.len() && !lines[j].trim().is_empty()) else {
        return 0;
    };
    let t = lines[first]
        .trim_start()
        .trim_start_matches(['r', 'R', 'u', 'U']);
    let Some((0, q)) = first_triple_quote(t) else {
        return 0;
    };
    if t[3..].contains(q) {
        return 1;
    }
    // the lines that start inside it: the last of them closes it
    let mut last = first;
    while last < end && string[last + 1] {
        last += 1;
    }
    last + 1 - first
}

/// Every function and file over its limit, named with its path and line; and how many
/// functions were measured.
fn over_the_limits() -> (Vec<String>, usize) {
    let mut over = Vec::new();
    let mut counted = 0;
    for f in all_files() {
        let rel = relative(&f);
        let text = std::fs::read_to_string(&f).unwrap();
        let n = text.lines().count();
        if n > MAX_FILE_LINES {
            over.push(format!("{rel}: {n} lines (files: {MAX_FILE_LINES})"));
        }
        let test = test_file(&rel);
        let found = if rel.ends_with(".py") {
            python_functions(&text, test)
        } else {
            rust_functions(&text, test)
        };
        for func in found {
            counted += 1;
            let (limit, kind) = if func.test {
                (MAX_TEST_FUNCTION_LINES, "test functions")
            } else {
                (MAX_CODE_FUNCTION_LINES, "functions")
            };
            if func.lines > limit {
                over.push(format!(
                    "{rel}:{} {}: {} lines ({kind}: {limit})",
                    func.line, func.name, func.lines
                ));
            }
        }
    }
    (over, counted)
}

#[test]
fn no_function_or_file_is_over_its_limit() {
    let (over, counted) = over_the_limits();
    assert!(counted > 2000, "only {counted} functions found");
    assert!(
        over.is_empty(),
        "over the size rules (split them into named steps, and files into modules named for \
         what they hold):\n{}",
        over.join("\n")
    );
}

#[test]
fn the_scanner_reads_whole_rust_files() {
    let body = "    let x = 1;\n".repeat(81);
    // a test module declared at the top hides nothing below it; an inline one is tests
    let sample = format!(
        "#[cfg(test)]\nmod tests;\n\npub fn long() {{\n{body}}}\n#[cfg(test)]\nmod inline {{\n    fn t() {{\n{body}    }}\n}}\n"
    );
    let found: Vec<(String, usize, bool)> = rust_functions(&sample, false)
        .into_iter()
        .map(|f| (f.name, f.lines, f.test))
        .collect();
    assert_eq!(
        found,
        [("long".to_string(), 83, false), ("t".to_string(), 83, true)]
    );
}

#[test]
fn the_scanner_measures_python_functions_without_their_docstrings() {
    let body = "    x = 1\n".repeat(79);
    let src = [
        "def long(a,\n         b):\n    \"\"\"Doc.\n\n    More.\"\"\"\n",
        &body,
        "    return 2\n\n# a comment at column 0, in no function\nclass C:\n",
        "    def short(self):\n        s = \"\"\"\ndef not_a_function():\n\"\"\"\n        return s\n\n",
        "async def tail():\n    '''One line.'''\n    pass\n",
    ]
    .concat();
    let found: Vec<(String, usize, usize)> = python_functions(&src, false)
        .into_iter()
        .map(|f| (f.name, f.line, f.lines))
        .collect();
    // long: 2 signature lines and 80 body lines, its 3-line docstring left out
    let want = [("long", 1, 82), ("short", 89, 5), ("tail", 95, 2)];
    let want: Vec<(String, usize, usize)> = want
        .iter()
        .map(|&(n, l, len)| (n.to_string(), l, len))
        .collect();
    assert_eq!(found, want);
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
