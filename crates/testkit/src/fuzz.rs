//! Mutation fuzzing of parsers: real files, damaged the way files get damaged (lines lost,
//! repeated or swapped, values replaced by hostile ones, bytes flipped, files cut short), as
//! proptest strategies. A parser under test must return an error or a value for every mutant,
//! never panic, hang or allocate without bound.

use proptest::prelude::*;

/// Values that break parsers: empty, signs, huge and tiny magnitudes, non-finite spellings,
/// quotes, brackets and the syntax words of the formats geobatch reads.
pub const HOSTILE: &[&str] = &[
    "",
    "-1",
    "0",
    "-0",
    "1e308",
    "-1e308",
    "1e-300",
    "99999999999",
    "18446744073709551615",
    "-9223372036854775808",
    "4294967296",
    "nan",
    "inf",
    "-inf",
    "abc",
    "'",
    "\"",
    "[",
    "]",
    "[[",
    "{",
    "}",
    ",",
    ";",
    "#",
    "loop_",
    "data_x",
    "_atom_site_fract_x",
    "_atom_site_label",
    "_cell_length_a",
    "null",
    "true",
    "\u{feff}",
    "é",
];

/// One damage done to a text.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Removes the line at this index (modulo the line count).
    DeleteLine(usize),
    /// Repeats the line at this index.
    DuplicateLine(usize),
    /// Swaps two lines.
    SwapLines(usize, usize),
    /// Replaces the n-th whitespace/comma/quote/bracket-separated token with a hostile value.
    ReplaceToken(usize, usize),
    /// Replaces the n-th token with a number of this many digits.
    LongNumber(usize, usize),
    /// Overwrites the byte at this index with this byte.
    FlipByte(usize, u8),
    /// Cuts the text at this byte index.
    Truncate(usize),
}

/// One mutation of any kind.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), 0..HOSTILE.len()).prop_map(|(t, v)| Mutation::ReplaceToken(t, v)),
        (any::<usize>(), 10usize..400).prop_map(|(t, d)| Mutation::LongNumber(t, d)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::FlipByte(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

/// Byte ranges of the tokens of `text`: runs of characters that are not whitespace, commas,
/// quotes or brackets.
fn tokens(text: &str) -> Vec<(usize, usize)> {
    let sep = |c: char| c.is_whitespace() || ",'\"[]{}():".contains(c);
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (sep(c), start) {
            (true, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

/// The nearest character boundary at or below `i`.
fn floor_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl Mutation {
    /// Applies this damage to `text` as bytes (the result need not be UTF-8).
    pub fn apply(&self, text: &[u8]) -> Vec<u8> {
        let s = String::from_utf8_lossy(text).into_owned();
        let mut lines: Vec<&str> = s.split_inclusive('\n').collect();
        let n = lines.len().max(1);
        match *self {
            Mutation::DeleteLine(i) if !lines.is_empty() => {
                lines.remove(i % n);
                lines.concat().into_bytes()
            }
            Mutation::DuplicateLine(i) if !lines.is_empty() => {
                lines.insert(i % n, lines[i % n]);
                lines.concat().into_bytes()
            }
            Mutation::SwapLines(a, b) if !lines.is_empty() => {
                lines.swap(a % n, b % n);
                lines.concat().into_bytes()
            }
            Mutation::ReplaceToken(t, v) => replace_token(&s, t, HOSTILE[v % HOSTILE.len()]),
            Mutation::LongNumber(t, digits) => replace_token(&s, t, &"9".repeat(digits)),
            Mutation::FlipByte(i, b) if !text.is_empty() => {
                let mut out = text.to_vec();
                out[i % text.len()] = b;
                out
            }
            Mutation::Truncate(i) => text[..i % (text.len() + 1)].to_vec(),
            _ => text.to_vec(),
        }
    }
}

fn replace_token(s: &str, t: usize, value: &str) -> Vec<u8> {
    let toks = tokens(s);
    if toks.is_empty() {
        return s.as_bytes().to_vec();
    }
    let (a, b) = toks[t % toks.len()];
    let (a, b) = (floor_boundary(s, a), floor_boundary(s, b));
    format!("{}{value}{}", &s[..a], &s[b..]).into_bytes()
}

/// `base` damaged by one to `max` mutations, applied in order.
pub fn mutated(base: Vec<u8>, max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(mutation(), 1..=max.max(1))
        .prop_map(move |ms| ms.iter().fold(base.clone(), |text, m| m.apply(&text)))
}

/// The proptest config of a fuzz test: [`cases`] cases, no failure files written into the repo.
pub fn config(default: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The number of fuzz cases a test runs: `GEOBATCH_FUZZ_CASES` when set (a longer campaign),
/// else `default` (bounded, for CI).
pub fn cases(default: u32) -> u32 {
    std::env::var("GEOBATCH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Loads the dataset of the spec `S` whose options are `options` plus a `path` to `bytes`,
/// written to `file` in a fresh folder, every structure in the training split: it loads, or
/// fails with an error naming the file (never a panic).
pub fn loads_or_names_the_file<S>(
    bytes: &[u8],
    file: &str,
    options: &str,
) -> Result<(), TestCaseError>
where
    S: geobatch_core::DatasetSpec + serde::de::DeserializeOwned,
{
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join(file);
    std::fs::write(&path, bytes).expect("the file written");
    let spec: S = toml::from_str(&format!(
        "path = {:?}\n{options}\nsplit = {{ train = 1.0, validation = 0.0, test = 0.0 }}",
        path.display().to_string()
    ))
    .expect("the options read");
    let ctx = geobatch_core::DatasetContext {
        seed: 1,
        data_dir: dir.path().to_path_buf(),
    };
    if let Err(e) = spec.load(&ctx) {
        let e = e.to_string();
        prop_assert!(e.contains(file), "{}", e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_damage_as_named() {
        let t = b"a 1\nb 2\nc 3\n";
        assert_eq!(Mutation::DeleteLine(1).apply(t), b"a 1\nc 3\n");
        assert_eq!(Mutation::DuplicateLine(0).apply(t), b"a 1\na 1\nb 2\nc 3\n");
        assert_eq!(Mutation::SwapLines(0, 2).apply(t), b"c 3\nb 2\na 1\n");
        let nan = HOSTILE.iter().position(|h| *h == "nan").unwrap();
        assert_eq!(
            Mutation::ReplaceToken(3, nan).apply(t),
            b"a 1\nb nan\nc 3\n"
        );
        assert_eq!(
            Mutation::LongNumber(1, 12).apply(t),
            b"a 999999999999\nb 2\nc 3\n"
        );
        assert_eq!(Mutation::FlipByte(5, b'x').apply(t), b"a 1\nbx2\nc 3\n");
        assert_eq!(Mutation::Truncate(5).apply(t), b"a 1\nb");
    }
}
