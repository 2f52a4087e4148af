//! The OGB node-property layout: `raw/edge.csv.gz` (one `src,dst` per line),
//! `raw/node-feat.csv.gz` (one feature row per node), `raw/node-label.csv.gz` (one label per
//! node; `nan` = unlabelled) and `split/<name>/{train,valid,test}.csv.gz` (one node id per line).

use geobatch_core::{Error, Result};
use std::path::{Path, PathBuf};

/// A graph read from an OGB folder, with the split it ships.
#[derive(Debug, Clone)]
pub struct OgbGraph {
    /// Nodes.
    pub n: usize,
    /// Directed edges as stored.
    pub edges: Vec<(u32, u32)>,
    /// Row-major features.
    pub features: Vec<f32>,
    /// Features per node.
    pub n_features: usize,
    /// Labels (`-1` when unlabelled).
    pub labels: Vec<i32>,
    /// Train, validation and test node ids.
    pub splits: [Vec<u32>; 3],
    /// Name of the split folder used.
    pub split_name: String,
}

fn fail(path: &Path, line: Option<usize>, message: impl std::fmt::Display) -> Error {
    match line {
        Some(l) => Error::invalid(format!("{}: line {l}: {message}", path.display())),
        None => Error::invalid(format!("{}: {message}", path.display())),
    }
}

/// Calls `row` with every record of a CSV file, gzipped when its name ends in `.gz`.
fn for_rows(
    path: &Path,
    mut row: impl FnMut(usize, &csv::StringRecord) -> Result<()>,
) -> Result<()> {
    // gzip (OGB's own), bzip2 or xz by the first bytes
    let reader = geobatch_datafiles::compressed::open(path)?;
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut rec = csv::StringRecord::new();
    let mut line = 0;
    loop {
        line += 1;
        match csv.read_record(&mut rec) {
            Ok(true) => row(line, &rec)?,
            Ok(false) => return Ok(()),
            Err(e) => return Err(fail(path, Some(line), e)),
        }
    }
}

fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    for name in [format!("{stem}.csv.gz"), format!("{stem}.csv")] {
        let p = dir.join(&name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::invalid(format!(
        "{}: no {stem}.csv.gz (or {stem}.csv) in the OGB layout",
        dir.display()
    )))
}

fn parse_id(path: &Path, line: usize, field: &str, n: Option<usize>) -> Result<u32> {
    let v: u64 = field
        .trim()
        .parse()
        .map_err(|_| fail(path, Some(line), format!("{field:?} is not a node id")))?;
    match n {
        Some(n) if v as usize >= n => Err(fail(
            path,
            Some(line),
            format!(
                "node id {v} exceeds the node count ({n} nodes, ids 0..{})",
                n - 1
            ),
        )),
        _ => u32::try_from(v)
            .map_err(|_| fail(path, Some(line), format!("node id {v} exceeds 32 bits"))),
    }
}

/// Reads an OGB node-property dataset folder; `split_name` picks a folder below `split/`
/// (default: the only one, or the first in name order).
pub fn read(root: &Path, split_name: Option<&str>) -> Result<OgbGraph> {
    let raw = root.join("raw");
    // labels fix the node count
    let labels = read_labels(&raw)?;
    let n = labels.len();
    let features = read_features(&raw, n)?;
    let edges = read_edges(&raw, n)?;
    let split_root = root.join("split");
    let split_name = match split_name {
        Some(s) => s.to_string(),
        None => first_split_name(&split_root)?,
    };
    let splits = read_splits(&split_root.join(&split_name), n)?;
    Ok(OgbGraph {
        n,
        edges,
        features: features.values,
        n_features: features.per_node,
        labels,
        splits,
        split_name,
    })
}

/// The labels of `raw/node-label.csv[.gz]`, one per node (`-1` for `nan` or empty); at least
/// one row.
fn read_labels(raw: &Path) -> Result<Vec<i32>> {
    let label_path = find(raw, "node-label")?;
    let mut labels = Vec::new();
    for_rows(&label_path, |line, rec| {
        let f = rec.get(0).unwrap_or("").trim();
        let v = if f.eq_ignore_ascii_case("nan") || f.is_empty() {
            -1
        } else {
            let x: f64 = f
                .parse()
                .map_err(|_| fail(&label_path, Some(line), format!("{f:?} is not a label")))?;
            if x < 0.0 || x.fract() != 0.0 || x > i32::MAX as f64 {
                return Err(fail(
                    &label_path,
                    Some(line),
                    format!("{f:?} is not a class index"),
                ));
            }
            x as i32
        };
        labels.push(v);
        Ok(())
    })?;
    if labels.is_empty() {
        return Err(fail(
            &label_path,
            None,
            "no label rows: the node count is unknown",
        ));
    }
    Ok(labels)
}

/// Node features as read: row-major values and how many per node.
struct Features {
    values: Vec<f32>,
    per_node: usize,
}

/// The features of `raw/node-feat.csv[.gz]`: one row per node, every row as long as the first.
fn read_features(raw: &Path, n: usize) -> Result<Features> {
    let feat_path = find(raw, "node-feat")?;
    let mut features = Vec::new();
    let mut n_features = None;
    let mut rows = 0usize;
    for_rows(&feat_path, |line, rec| {
        let want = *n_features.get_or_insert(rec.len());
        if rec.len() != want {
            return Err(fail(
                &feat_path,
                Some(line),
                format!("{} values, the first row has {want}", rec.len()),
            ));
        }
        for f in rec {
            features.push(
                f.trim()
                    .parse::<f32>()
                    .map_err(|_| fail(&feat_path, Some(line), format!("{f:?} is not a number")))?,
            );
        }
        rows += 1;
        Ok(())
    })?;
    if rows != n {
        return Err(fail(
            &feat_path,
            None,
            format!("{rows} feature rows, but {n} label rows"),
        ));
    }
    Ok(Features {
        values: features,
        per_node: n_features.unwrap_or(0),
    })
}

/// The edges of `raw/edge.csv[.gz]`: `src,dst` node ids below `n`.
fn read_edges(raw: &Path, n: usize) -> Result<Vec<(u32, u32)>> {
    let edge_path = find(raw, "edge")?;
    let mut edges = Vec::new();
    for_rows(&edge_path, |line, rec| {
        if rec.len() != 2 {
            return Err(fail(
                &edge_path,
                Some(line),
                format!("{} fields, expected src,dst", rec.len()),
            ));
        }
        let a = parse_id(&edge_path, line, &rec[0], Some(n))?;
        let b = parse_id(&edge_path, line, &rec[1], Some(n))?;
        edges.push((a, b));
        Ok(())
    })?;
    Ok(edges)
}

/// The first folder below `split/` in name order.
fn first_split_name(split_root: &Path) -> Result<String> {
    let mut names: Vec<String> = std::fs::read_dir(split_root)
        .map_err(|e| fail(split_root, None, format!("cannot list: {e}")))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .next()
        .ok_or_else(|| fail(split_root, None, "no split folder"))
}

/// The train, valid and test node ids of the split folder `dir`, each below `n`.
fn read_splits(dir: &Path, n: usize) -> Result<[Vec<u32>; 3]> {
    let mut splits: [Vec<u32>; 3] = Default::default();
    // which split file listed each node first: a node in two splits (or twice in one) is refused
    let mut owner: Vec<Option<&str>> = vec![None; n];
    for ((slot, stem), split) in
        splits
            .iter_mut()
            .zip(["train", "valid", "test"])
            .zip(["train", "validation", "test"])
    {
        let p = find(dir, stem)?;
        for_rows(&p, |line, rec| {
            let v = parse_id(&p, line, rec.get(0).unwrap_or(""), Some(n))?;
            match owner[v as usize] {
                Some(first) if first == split => {
                    return Err(fail(
                        &p,
                        Some(line),
                        format!("node {v} is listed twice in the {split} split"),
                    ));
                }
                Some(first) => {
                    return Err(fail(
                        &p,
                        Some(line),
                        format!(
                            "node {v} is also in the {first} split: splits must not overlap (a \
                             node trained on would leak into the metrics)"
                        ),
                    ));
                }
                None => owner[v as usize] = Some(split),
            }
            slot.push(v);
            Ok(())
        })?;
    }
    Ok(splits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut e = flate2::write::GzEncoder::new(
            std::fs::File::create(path).unwrap(),
            flate2::Compression::fast(),
        );
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap();
    }

    fn layout(dir: &Path, edges: &str) {
        gz(&dir.join("raw/edge.csv.gz"), edges);
        gz(&dir.join("raw/node-feat.csv.gz"), "0.5,1\n1,0\n0,0\n2,2\n");
        gz(&dir.join("raw/node-label.csv.gz"), "1\n0\nnan\n2.0\n");
        gz(&dir.join("split/time/train.csv.gz"), "0\n1\n");
        gz(&dir.join("split/time/valid.csv.gz"), "3\n");
        gz(&dir.join("split/time/test.csv.gz"), "2\n");
    }

    #[test]
    fn a_node_in_two_split_files_or_twice_in_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        layout(dir.path(), "0,1\n1,2\n3,0\n");
        gz(&dir.path().join("split/time/test.csv.gz"), "2\n0\n");
        let e = read(dir.path(), None).unwrap_err().to_string();
        assert!(
            e.contains("test.csv.gz: line 2") && e.contains("node 0 is also in the train split"),
            "{e}"
        );
        gz(&dir.path().join("split/time/test.csv.gz"), "2\n2\n");
        let e = read(dir.path(), None).unwrap_err().to_string();
        assert!(
            e.contains("test.csv.gz: line 2: node 2 is listed twice in the test split"),
            "{e}"
        );
        // a node the graph lacks, named with its file and line
        gz(&dir.path().join("split/time/test.csv.gz"), "2\n7\n");
        let e = read(dir.path(), None).unwrap_err().to_string();
        assert!(
            e.contains("test.csv.gz: line 2: node id 7 exceeds the node count (4 nodes"),
            "{e}"
        );
    }

    #[test]
    fn reads_the_layout_and_names_file_and_line_of_bad_ids() {
        let dir = tempfile::tempdir().unwrap();
        layout(dir.path(), "0,1\n1,2\n3,0\n");
        let g = read(dir.path(), None).unwrap();
        assert_eq!((g.n, g.n_features), (4, 2));
        assert_eq!(g.edges, vec![(0, 1), (1, 2), (3, 0)]);
        assert_eq!(g.labels, vec![1, 0, -1, 2]);
        assert_eq!(g.features[..2], [0.5, 1.0]);
        assert_eq!(g.splits, [vec![0, 1], vec![3], vec![2]]);
        assert_eq!(g.split_name, "time");
        layout(dir.path(), "0,1\n1,9\n");
        let e = read(dir.path(), None).unwrap_err().to_string();
        assert!(
            e.contains("edge.csv.gz: line 2: node id 9 exceeds the node count (4 nodes"),
            "{e}"
        );
    }
}
