//! AFLOW export files: an `aflowlib.json` entry, an AFLUX answer (a JSON list of entries), a
//! legacy AFLUX answer (an object keyed `"1 of N"`), or JSON Lines of any of these; a folder is
//! read file by file in name order.

use crate::record::AflowRecord;
use geobatch_core::{Error, Result};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The keys of a legacy AFLUX answer: `"<i> of <N>"`.
fn legacy_index(key: &str) -> Option<u64> {
    let (i, n) = key.split_once(" of ")?;
    n.trim().parse::<u64>().ok()?;
    i.trim().parse().ok()
}

/// Whether `o` is a legacy AFLUX answer (every key `"i of N"`).
pub fn is_legacy_page(o: &Map<String, Value>) -> bool {
    !o.is_empty() && o.keys().all(|k| legacy_index(k).is_some())
}

/// The records of one parsed JSON value, `origin` naming where it came from.
pub fn records_of(value: Value, origin: &str) -> Result<Vec<AflowRecord>> {
    let bad = |m: String| Error::invalid(format!("{origin}: {m}"));
    match value {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(fields) => Ok(AflowRecord {
                    origin: format!("{origin}, item {}", i + 1),
                    fields,
                }),
                other => Err(bad(format!("item {} is not an object: {other}", i + 1))),
            })
            .collect(),
        Value::Object(o) if is_legacy_page(&o) => {
            let mut items: Vec<(u64, String, Value)> = o
                .into_iter()
                .map(|(k, v)| (legacy_index(&k).unwrap_or(0), k, v))
                .collect();
            items.sort_by_key(|x| x.0);
            items
                .into_iter()
                .map(|(_, k, v)| match v {
                    Value::Object(fields) => Ok(AflowRecord {
                        origin: format!("{origin}, entry {k:?}"),
                        fields,
                    }),
                    other => Err(bad(format!("entry {k:?} is not an object: {other}"))),
                })
                .collect()
        }
        Value::Object(fields) => Ok(vec![AflowRecord {
            origin: origin.to_string(),
            fields,
        }]),
        other => Err(bad(format!(
            "expected an AFLOW entry, a list of entries or an AFLUX answer, got {}",
            match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                _ => "a string",
            }
        ))),
    }
}

/// Whether a file is read as JSON Lines (by its extension).
fn is_lines(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("jsonl" | "ndjson")
    )
}

/// The files of a source: the file itself, or a folder's `*.json`, `*.jsonl` and `*.ndjson`
/// files in name order.
pub fn files(source: &Path) -> Result<Vec<PathBuf>> {
    if source.is_file() {
        return Ok(vec![source.to_path_buf()]);
    }
    let rd = std::fs::read_dir(source)
        .map_err(|e| Error::invalid(format!("{}: {e}", source.display())))?;
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("json" | "jsonl" | "ndjson")
                )
        })
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(Error::invalid(format!(
            "{}: no .json or .jsonl files in this folder",
            source.display()
        )));
    }
    Ok(out)
}

/// Every record of a file or folder, in file order.
pub fn read(source: &Path) -> Result<Vec<AflowRecord>> {
    let mut out = Vec::new();
    for f in files(source)? {
        let text = std::fs::read_to_string(&f)
            .map_err(|e| Error::invalid(format!("{}: {e}", f.display())))?;
        let name = f.display().to_string();
        if is_lines(&f) {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let origin = format!("{name}:{}", i + 1);
                let v: Value = serde_json::from_str(line)
                    .map_err(|e| Error::invalid(format!("{origin}: not JSON: {e}")))?;
                out.extend(records_of(v, &origin)?);
            }
        } else {
            let v: Value = serde_json::from_str(&text).map_err(|e| {
                Error::invalid(format!(
                    "{name}: not JSON at line {}, column {}: {e}",
                    e.line(),
                    e.column()
                ))
            })?;
            out.extend(records_of(v, &name)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_three_shapes_and_legacy_order() {
        let one = records_of(json!({"auid": "a"}), "f").unwrap();
        assert_eq!(one.len(), 1);
        let list = records_of(json!([{"auid": "a"}, {"auid": "b"}]), "f").unwrap();
        assert_eq!(list[1].origin, "f, item 2");
        let page = records_of(
            json!({"10 of 12": {"auid": "j"}, "2 of 12": {"auid": "b"}, "1 of 12": {"auid": "a"}}),
            "p",
        )
        .unwrap();
        let ids: Vec<String> = page.iter().map(|r| r.id()).collect();
        assert_eq!(ids, ["a", "b", "j"]);
        assert!(
            records_of(json!([1]), "f")
                .unwrap_err()
                .to_string()
                .contains("item 1")
        );
        assert!(records_of(json!("x"), "f").is_err());
    }
}
