//! The comment line of an extended XYZ frame: `key=value` pairs as ASE writes and reads them
//! (`ase.io.extxyz.key_val_str_to_dict`).
//!
//! * Pairs are separated by whitespace; a key without `=` is `True`.
//! * Values (and keys) may be quoted with `"` or `'`, or bracketed with `{}` or `[]`; a backslash
//!   escapes the next character. Keys may hold any other character (`<R2>`, `energy-PBE`).
//! * A value is split on whitespace and commas: all integers give an integer (or an array of
//!   them), else all reals a real (or array), else all of `T F True False true false TRUE FALSE` a
//!   boolean (or array); anything else stays a string. `"1 2 3"` and `[1,2,3]` are the same array.

/// A value of the comment line.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `T`, `F`, `True`, ...; also a bare key.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real number.
    Real(f64),
    /// Anything else, unquoted.
    Str(String),
    /// Several booleans (`pbc="T T F"`).
    Bools(Vec<bool>),
    /// Several integers.
    Ints(Vec<i64>),
    /// Several reals (`Lattice="..."`, `stress="..."`).
    Reals(Vec<f64>),
}

impl Value {
    /// The value as one number (an integer or a real), if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Real(x) => Some(*x),
            _ => None,
        }
    }

    /// The value as a list of numbers (one number is a list of one).
    pub fn numbers(&self) -> Option<Vec<f64>> {
        match self {
            Value::Int(i) => Some(vec![*i as f64]),
            Value::Real(x) => Some(vec![*x]),
            Value::Ints(v) => Some(v.iter().map(|&i| i as f64).collect()),
            Value::Reals(v) => Some(v.clone()),
            _ => None,
        }
    }

    /// The value as text, as it would name a frame (`id_key`).
    pub fn text(&self) -> String {
        let b = |x: bool| if x { "T" } else { "F" };
        let join = |v: Vec<String>| v.join(" ");
        match self {
            Value::Bool(x) => b(*x).into(),
            Value::Int(i) => i.to_string(),
            Value::Real(x) => x.to_string(),
            Value::Str(s) => s.clone(),
            Value::Bools(v) => join(v.iter().map(|&x| b(x).to_string()).collect()),
            Value::Ints(v) => join(v.iter().map(i64::to_string).collect()),
            Value::Reals(v) => join(v.iter().map(f64::to_string).collect()),
        }
    }

    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Real(_) => "a real number",
            Value::Str(_) => "a string",
            Value::Bools(_) => "an array of booleans",
            Value::Ints(_) => "an array of integers",
            Value::Reals(_) => "an array of reals",
        }
    }
}

/// Keys whose values are kept as strings (ASE's `UNPROCESSED_KEYS`, compared in lower case).
const UNPROCESSED: &[&str] = &["uid"];

/// The booleans ASE accepts.
fn boolean(s: &str) -> Option<bool> {
    match s {
        "T" | "true" | "True" | "TRUE" => Some(true),
        "F" | "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Types a raw value: integers, else reals, else booleans, else the string itself.
pub fn typed(raw: &str) -> Value {
    let parts: Vec<&str> = raw
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return Value::Str(raw.to_string());
    }
    if let Ok(v) = parts
        .iter()
        .map(|p| p.parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
    {
        return if v.len() == 1 {
            Value::Int(v[0])
        } else {
            Value::Ints(v)
        };
    }
    if let Ok(v) = parts
        .iter()
        .map(|p| p.parse::<f64>())
        .collect::<Result<Vec<_>, _>>()
    {
        return if v.len() == 1 {
            Value::Real(v[0])
        } else {
            Value::Reals(v)
        };
    }
    if let Some(v) = parts.iter().map(|p| boolean(p)).collect::<Option<Vec<_>>>() {
        return if v.len() == 1 {
            Value::Bool(v[0])
        } else {
            Value::Bools(v)
        };
    }
    Value::Str(raw.to_string())
}

/// Parses a comment line into its pairs, in order; a key given twice keeps its last value.
///
/// A quote or bracket left open runs to the end of the line, as in ASE's `key_val_str_to_dict`
/// (`name="a b` is `name = "a b"`; the pairs after it are part of its value). Never an error
/// today; the `Result` is kept for lines a later rule refuses.
pub fn parse(line: &str) -> Result<Vec<(String, Value)>, String> {
    // each entry: the key's characters, then one list per `=`-separated value part
    let mut pairs: Vec<Vec<String>> = vec![vec![String::new()]];
    let mut close: Option<char> = None;
    let mut escaped = false;
    for c in line.trim().chars() {
        let last = pairs.last_mut().and_then(|p| p.last_mut());
        let Some(cur) = last else { break };
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if let Some(end) = close {
            if c == end {
                close = None;
            } else {
                cur.push(c);
            }
        } else if let Some(end) = match c {
            '"' => Some('"'),
            '\'' => Some('\''),
            '{' => Some('}'),
            '[' => Some(']'),
            _ => None,
        } {
            close = Some(end);
        } else if c.is_whitespace() {
            // a separator after an empty part (`a= b`, leading blanks) starts nothing
            let part_empty = pairs
                .last()
                .and_then(|p| p.last())
                .is_some_and(String::is_empty);
            if !part_empty {
                pairs.push(vec![String::new()]);
            }
        } else if c == '=' {
            // `a = b`: the `=` after a separator belongs to the previous key
            if pairs.len() > 1
                && pairs
                    .last()
                    .is_some_and(|p| p.len() == 1 && p[0].is_empty())
            {
                pairs.pop();
            }
            if let Some(p) = pairs.last_mut() {
                p.push(String::new());
            }
        } else {
            cur.push(c);
        }
    }
    let mut out: Vec<(String, Value)> = Vec::with_capacity(pairs.len());
    for p in pairs {
        let (key, value) = match p.as_slice() {
            [k, ..] if k.is_empty() => continue,
            [k] => (k.clone(), Value::Bool(true)),
            [k, rest @ ..] => {
                let raw = rest.join("=");
                let v = if UNPROCESSED.contains(&k.to_ascii_lowercase().as_str()) {
                    Value::Str(raw)
                } else {
                    typed(&raw)
                };
                (k.clone(), v)
            }
            [] => continue,
        };
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => out.push((key, value)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(pairs: &[(String, Value)], key: &str) -> Value {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {key} in {pairs:?}"))
    }

    #[test]
    fn ase_comment_lines_parse_as_ase_reads_them() {
        let p = parse(
            "Lattice=\"8.1 0.0 0.0 0.0 8.1 0.0 0.0 0.0 8.1\" Properties=species:S:1:pos:R:3 \
             energy=1.485 <R2>=35.3641 mu=0 pbc=\"T T F\" name='two words' flag \
             arr=[1,2,3] b = F uid=007 s=\"a \\\" quote\" e=1e-3",
        )
        .unwrap();
        assert_eq!(
            get(&p, "Lattice"),
            Value::Reals(vec![8.1, 0.0, 0.0, 0.0, 8.1, 0.0, 0.0, 0.0, 8.1])
        );
        assert_eq!(
            get(&p, "Properties"),
            Value::Str("species:S:1:pos:R:3".into())
        );
        assert_eq!(get(&p, "energy"), Value::Real(1.485));
        assert_eq!(get(&p, "<R2>"), Value::Real(35.3641));
        assert_eq!(get(&p, "mu"), Value::Int(0));
        assert_eq!(get(&p, "pbc"), Value::Bools(vec![true, true, false]));
        assert_eq!(get(&p, "name"), Value::Str("two words".into()));
        assert_eq!(get(&p, "flag"), Value::Bool(true));
        assert_eq!(get(&p, "arr"), Value::Ints(vec![1, 2, 3]));
        assert_eq!(get(&p, "b"), Value::Bool(false));
        assert_eq!(get(&p, "uid"), Value::Str("007".into()));
        assert_eq!(get(&p, "s"), Value::Str("a \" quote".into()));
        assert_eq!(get(&p, "e"), Value::Real(1e-3));
    }

    #[test]
    fn open_quotes_run_to_the_end_as_in_ase_and_odd_lines_are_keys() {
        // what ase.io.extxyz.key_val_str_to_dict (ASE 3.29.0) gives for each line
        let p = parse("energy=1.0 name=\"abc def").unwrap();
        assert_eq!(get(&p, "energy"), Value::Real(1.0));
        assert_eq!(get(&p, "name"), Value::Str("abc def".into()));
        let p = parse("name=\"abc energy=2.0").unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(get(&p, "name"), Value::Str("abc energy=2.0".into()));
        let p = parse("energy=1.5 comment=\"unclosed pbc=\"F F F\"").unwrap();
        assert_eq!(get(&p, "comment"), Value::Str("unclosed pbc=F".into()));
        assert_eq!(get(&p, "F"), Value::Bool(true));
        let p = parse("x=\"a b\" y=\"c").unwrap();
        assert_eq!(get(&p, "y"), Value::Str("c".into()));
        let p = parse("gdb 3\t157.7 x=a=b").unwrap();
        assert_eq!(get(&p, "gdb"), Value::Bool(true));
        assert_eq!(get(&p, "x"), Value::Str("a=b".into()));
        assert!(parse("").unwrap().is_empty());
        assert!(parse("   =  ").is_ok());
        // a key given twice keeps the last value
        assert_eq!(get(&parse("e=1 e=2").unwrap(), "e"), Value::Int(2));
    }
}
