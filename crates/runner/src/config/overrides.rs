//! `--set KEY=VALUE` overrides: a config file read with its overrides applied, and errors that
//! say when their line numbers refer to the rewritten text.

use crate::error::RunError;
use std::path::Path;

/// Reads a config file and applies `KEY=VALUE` overrides (see [`apply_override`]); returns the
/// text to parse and whether it was rewritten.
pub fn read_with_overrides(path: &Path, overrides: &[String]) -> Result<(String, bool), RunError> {
    let fail = |message: String| RunError::Config {
        file: path.to_path_buf(),
        message,
    };
    let text = geobatch_datafiles::files::read_text(path).map_err(|e| {
        fail(if e.kind() == std::io::ErrorKind::InvalidData {
            "a binary file, not TOML text (it is not UTF-8): a config is a TOML text file".into()
        } else {
            format!("cannot read: {e}")
        })
    })?;
    // a byte-order mark (some Windows editors write one) is not part of the config
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    with_overrides(text, path, overrides)
}

/// Config `text` with `KEY=VALUE` overrides applied (see [`apply_override`]); `path` names it in
/// errors. Returns the text to parse and whether it was rewritten.
pub fn with_overrides(
    text: String,
    path: &Path,
    overrides: &[String],
) -> Result<(String, bool), RunError> {
    if overrides.is_empty() {
        return Ok((text, false));
    }
    let fail = |message: String| RunError::Config {
        file: path.to_path_buf(),
        message,
    };
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|e| fail(e.to_string().trim_end().to_string()))?;
    for o in overrides {
        apply_override(&mut table, o).map_err(|m| fail(format!("--set {o}: {m}")))?;
    }
    let text = toml::to_string(&table).map_err(|e| fail(e.to_string()))?;
    Ok((text, true))
}

/// Reads a config file, applies `KEY=VALUE` overrides (see [`read_with_overrides`]) and parses
/// the text with `parse`; errors from parsing rewritten text say that line numbers refer to it.
pub fn parse_file_with<T>(
    path: &Path,
    overrides: &[String],
    parse: impl FnOnce(&str, &Path) -> Result<T, RunError>,
) -> Result<T, RunError> {
    let (text, rewritten) = read_with_overrides(path, overrides)?;
    parse_rewritten(&text, rewritten, path, overrides, parse)
}

/// Parses config `text` (built in, not read from a file) with `KEY=VALUE` overrides applied, as
/// [`parse_file_with`] parses a file's.
pub fn parse_text_with<T>(
    text: &str,
    path: &Path,
    overrides: &[String],
    parse: impl FnOnce(&str, &Path) -> Result<T, RunError>,
) -> Result<T, RunError> {
    let (text, rewritten) = with_overrides(text.to_string(), path, overrides)?;
    parse_rewritten(&text, rewritten, path, overrides, parse)
}

/// `parse(text)`; errors of text rewritten by overrides say that line numbers refer to it.
fn parse_rewritten<T>(
    text: &str,
    rewritten: bool,
    path: &Path,
    overrides: &[String],
    parse: impl FnOnce(&str, &Path) -> Result<T, RunError>,
) -> Result<T, RunError> {
    let r = parse(text, path);
    if rewritten {
        r.map_err(after_overrides)
            .map_err(|e| hint_kind_override(e, overrides))
    } else {
        r
    }
}

/// An unknown option after `--set TABLE.kind=...`: the table kept the old kind's options, which
/// the new kind does not take; says how to replace the whole table.
fn hint_kind_override(e: RunError, overrides: &[String]) -> RunError {
    let kind_set = overrides.iter().find_map(|o| {
        let key = o.split('=').next()?.trim();
        key.strip_suffix(".kind")
    });
    match (e, kind_set) {
        (RunError::Config { file, message }, Some(table)) if message.contains("unknown field") => {
            RunError::Config {
                file,
                message: format!(
                    "{message}\n(--set {table}.kind=... keeps the other options of [{table}], \
                     which belong to the old kind: replace the whole table instead, e.g. \
                     --set '{table}={{kind=\"NAME\", OPTION=VALUE}}')"
                ),
            }
        }
        (e, _) => e,
    }
}

/// Notes that line numbers refer to the rewritten config in an error from parsing it.
pub fn after_overrides(e: RunError) -> RunError {
    match e {
        RunError::Config { file, message } => RunError::Config {
            file,
            message: format!("{message}\n(line numbers refer to the config after --set)"),
        },
        other => other,
    }
}

/// Sets a dotted `key=value` in a TOML table, creating intermediate tables.
pub fn apply_override(table: &mut toml::Table, spec: &str) -> Result<(), String> {
    let (key, value) = spec.split_once('=').ok_or("expected KEY=VALUE")?;
    let (key, value) = (key.trim(), value.trim());
    // a whole number TOML cannot hold would become the string of its digits below
    let digits = value
        .strip_prefix(['+', '-'])
        .unwrap_or(value)
        .replace('_', "");
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && value.replace('_', "").parse::<i64>().is_err()
    {
        return Err(format!(
            "{key} = {value}: larger than a whole number can be in TOML \
             (-9223372036854775808 to 9223372036854775807)"
        ));
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("bad key {key:?}"));
    }
    let (last, path) = parts.split_last().ok_or("empty key")?;
    let mut t = table;
    for (i, p) in path.iter().enumerate() {
        let entry = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{}` is not a table", parts[..=i].join(".")))?;
    }
    t.insert(last.to_string(), value);
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_set_dotted_keys_with_toml_values() {
        let mut t: toml::Table =
            toml::from_str("[batcher]\nkind = \"static\"\nbatch_size = 4\n").unwrap();
        apply_override(&mut t, "batcher.batch_size=64").unwrap();
        apply_override(&mut t, "batcher.pad = pow2").unwrap();
        apply_override(&mut t, "dataset.graph.k=6").unwrap();
        assert_eq!(t["batcher"]["batch_size"].as_integer(), Some(64));
        assert_eq!(t["batcher"]["pad"].as_str(), Some("pow2"));
        assert_eq!(t["dataset"]["graph"]["k"].as_integer(), Some(6));
        // the largest u64 is not "a string": it is too large for TOML, and said so
        let e = apply_override(&mut t, "training.steps=18446744073709551615").unwrap_err();
        assert!(
            e.contains("training.steps = 18446744073709551615: larger than"),
            "{e}"
        );
        apply_override(&mut t, "training.steps=9_223_372_036_854_775_807").unwrap();
        apply_override(&mut t, "dataset.name=007").unwrap();
        assert!(
            apply_override(&mut t, "batcher.kind.x=1")
                .unwrap_err()
                .contains("`batcher.kind` is not a table")
        );
        assert!(apply_override(&mut t, "nothing").is_err());
        assert!(apply_override(&mut t, "a..b=1").is_err());
    }
}
