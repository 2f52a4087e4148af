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

/// Whether a file is read as JSON Lines (by its extension, before a compression's: `.jsonl.gz`).
fn is_lines(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name = [".gz", ".bz2", ".xz"]
        .iter()
        .find_map(|c| name.strip_suffix(c))
        .unwrap_or(name);
    name.ends_with(".jsonl") || name.ends_with(".ndjson")
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

/// Every record of a file or folder, in file order. Files may be compressed (gzip, bzip2, xz)
/// and may start with a UTF-8 byte-order mark (as Windows tools write them), which is skipped.
pub fn read(source: &Path) -> Result<Vec<AflowRecord>> {
    let mut out = Vec::new();
    for f in files(source)? {
        let name = f.display().to_string();
        let bytes = geobatch_datafiles::compressed::read(&f)?;
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Error::invalid(format!(
                "{name}: not UTF-8 text (byte {}): AFLOW files are UTF-8 JSON",
                e.valid_up_to()
            ))
        })?;
        if is_lines(&f) {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let origin = format!("{name}:{}", i + 1);
                out.extend(records_of(parse(line, &origin)?, &origin)?);
            }
        } else {
            out.extend(records_of(parse(text, &name)?, &name)?);
        }
    }
    Ok(out)
}

/// One JSON document, `origin` naming it; a key repeated in its top-level object (two entries
/// `"3 of 10"` in a legacy AFLUX answer, a field twice in an entry) is refused, naming the key:
/// JSON readers keep one of the two and lose the other without a word.
fn parse(text: &str, origin: &str) -> Result<Value> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        Error::invalid(format!(
            "{origin}: not JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    if let Value::Object(o) = &v {
        let keys: Keys = serde_json::from_str(text).map_err(|e| Error::invalid(e.to_string()))?;
        if keys.0 != o.len() {
            let repeated = keys.1.unwrap_or_default();
            return Err(Error::invalid(format!(
                "{origin}: the key {repeated:?} appears twice in one object (the second would \
                 silently replace the first): each entry of an AFLUX answer needs its own key"
            )));
        }
    }
    Ok(v)
}

/// The number of keys of a top-level JSON object as written, and the first repeated one.
struct Keys(usize, Option<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Keys, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Keys, A::Error> {
                let mut seen = std::collections::HashSet::new();
                let mut repeated = None;
                let mut n = 0;
                while let Some(k) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    n += 1;
                    if !seen.insert(k.clone()) && repeated.is_none() {
                        repeated = Some(k);
                    }
                }
                Ok(Keys(n, repeated))
            }
        }
        d.deserialize_map(Visit)
    }
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

    /// A byte-order mark is skipped; a repeated key of a legacy AFLUX answer is named, not
    /// silently lost; compressed files read like plain ones.
    #[test]
    fn a_byte_order_mark_reads_and_a_repeated_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let entry = r#"{"auid": "aflow:1", "compound": "Si2"}"#;
        let bom = dir.path().join("bom.json");
        std::fs::write(
            &bom,
            [b"\xEF\xBB\xBF".as_slice(), entry.as_bytes()].concat(),
        )
        .unwrap();
        assert_eq!(read(&bom).unwrap()[0].id(), "aflow:1");
        let lines = dir.path().join("bom.jsonl");
        std::fs::write(&lines, format!("\u{feff}{entry}\n{entry}\n")).unwrap();
        assert_eq!(read(&lines).unwrap().len(), 2);
        let page = dir.path().join("page.json");
        std::fs::write(
            &page,
            r#"{"1 of 3": {"auid": "a"}, "2 of 3": {"auid": "b"}, "2 of 3": {"auid": "c"}}"#,
        )
        .unwrap();
        let e = read(&page).unwrap_err().to_string();
        assert!(
            e.contains("page.json") && e.contains("\"2 of 3\" appears twice"),
            "{e}"
        );
        let gz = dir.path().join("entry.json.gz");
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut w, entry.as_bytes()).unwrap();
        std::fs::write(&gz, w.finish().unwrap()).unwrap();
        assert_eq!(read(&gz).unwrap()[0].id(), "aflow:1");
    }
}
