//! Splits saved next to the data so that later runs reuse them (spec §4.3): a split file of graph
//! ids per split, made once from a [`SplitSpec`] and its seed, then read back by id.

use geobatch_core::{Error, GraphSet, Result, SplitSpec};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A split saved next to the data so later runs reuse it (spec §4.3): graph ids per split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedSplit {
    /// Dataset plugin name.
    pub dataset: String,
    /// Where the data came from when the split was made.
    pub source: String,
    /// Ids of the training graphs.
    pub train: Vec<String>,
    /// Ids of the validation graphs.
    pub validation: Vec<String>,
    /// Ids of the test graphs.
    pub test: Vec<String>,
}

/// A short, stable fingerprint of `key` (FNV-1a, 64 bit) for file names.
fn fingerprint(key: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Where the split of `n` graphs of `dataset` from `source` is saved:
/// `<data_dir>/splits/<dataset>-<n>-<fingerprint>.json`.
pub fn default_file(
    spec: &SplitSpec,
    data_dir: &Path,
    dataset: &str,
    source: &str,
    n: usize,
    seed: u64,
) -> PathBuf {
    let key = format!(
        "{dataset}|{source}|{n}|{}|{seed}",
        serde_json::to_string(spec).unwrap_or_default()
    );
    data_dir
        .join("splits")
        .join(format!("{dataset}-{n}-{}.json", fingerprint(&key)))
}

/// [`load_or_make`] with `file`, or [`default_file`] when none is given
/// (a dataset's `split_file` option).
pub fn saved(
    spec: &SplitSpec,
    file: Option<&Path>,
    data_dir: &Path,
    dataset: &str,
    source: &str,
    ids: &[&str],
    seed: u64,
) -> Result<[Vec<u32>; 3]> {
    let file = file.map_or_else(
        || default_file(spec, data_dir, dataset, source, ids.len(), seed),
        Path::to_path_buf,
    );
    load_or_make(spec, &file, dataset, source, ids, seed)
}

/// [`saved`] over the structures of `pool`, each structure once: a structure
/// present twice (same atoms, positions, cell and targets, [`GraphSet::content_key`],
/// whatever its id) would land in two splits, its test copy measured on what training saw.
/// Later copies are left out of every split; returns the split (indices into `pool`) and how
/// many copies were left out, which is also said on stderr.
pub fn saved_once(
    spec: &SplitSpec,
    file: Option<&Path>,
    data_dir: &Path,
    dataset: &str,
    source: &str,
    pool: &GraphSet,
    seed: u64,
) -> Result<([Vec<u32>; 3], usize)> {
    let mut seen = std::collections::HashSet::with_capacity(pool.len());
    let kept: Vec<u32> = (0..pool.len())
        .filter(|&g| seen.insert(pool.content_key(g)))
        .map(|g| g as u32)
        .collect();
    let copies = pool.len() - kept.len();
    say_copies(source, copies, pool.len());
    let ids: Vec<&str> = kept.iter().map(|&g| pool.id(g as usize)).collect();
    let split = saved(spec, file, data_dir, dataset, source, &ids, seed)?;
    Ok((
        split.map(|r| r.iter().map(|&i| kept[i as usize]).collect()),
        copies,
    ))
}

/// Says on stderr that `copies` of the `total` structures read from `source` are copies of
/// earlier ones, each kept once (nothing when there are none).
pub fn say_copies(source: &str, copies: usize, total: usize) {
    if copies > 0 {
        geobatch_process::errln!(
            "{source}: {copies} of {total} structures are copies of earlier ones (same atoms, \
             positions, cell and targets): each is kept once, in one split"
        );
    }
}

/// The split of the graphs named `ids` as index lists: read from `file` when it exists (every
/// id must be known), otherwise made from the seed and saved there.
pub fn load_or_make(
    spec: &SplitSpec,
    file: &Path,
    dataset: &str,
    source: &str,
    ids: &[&str],
    seed: u64,
) -> Result<[Vec<u32>; 3]> {
    if file.is_file() {
        let text = crate::files::read_text(file)
            .map_err(|e| Error::invalid(format!("{}: {e}", file.display())))?;
        let saved: SavedSplit = serde_json::from_str(&text)
            .map_err(|e| Error::invalid(format!("{}: not a split file: {e}", file.display())))?;
        let index: HashMap<&str, u32> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i as u32))
            .collect();
        // each graph in at most one split, once: a test graph also trained on leaks into
        // the test metrics, and a graph listed twice counts twice
        let mut owner: Vec<Option<&str>> = vec![None; ids.len()];
        let mut rows = |names: &[String], split: &'static str| -> Result<Vec<u32>> {
            names
                .iter()
                .map(|n| {
                    let i = index.get(n.as_str()).copied().ok_or_else(|| {
                        Error::invalid(format!(
                            "{}: graph {n:?} of the {split} split is not in the dataset \
                             (delete the file to make a new split)",
                            file.display()
                        ))
                    })?;
                    match owner[i as usize] {
                        Some(first) if first == split => Err(Error::invalid(format!(
                            "{}: graph {n:?} is listed twice in the {split} split",
                            file.display()
                        ))),
                        Some(first) => Err(Error::invalid(format!(
                            "{}: graph {n:?} is in both the {first} and the {split} split: \
                             splits must not overlap (a graph trained on would leak into the \
                             metrics)",
                            file.display()
                        ))),
                        None => {
                            owner[i as usize] = Some(split);
                            Ok(i)
                        }
                    }
                })
                .collect()
        };
        let split = [
            rows(&saved.train, "train")?,
            rows(&saved.validation, "validation")?,
            rows(&saved.test, "test")?,
        ];
        check_agrees(spec, file, &split, ids.len())?;
        return Ok(split);
    }
    let split = spec.indices(ids.len(), seed)?;
    save(file, dataset, source, ids, &split)?;
    Ok(split)
}

/// Saves `split` (indices into `ids`) to `file`, the ids borrowed and the text streamed: a
/// split of millions costs no copy of its ids.
fn save(
    file: &Path,
    dataset: &str,
    source: &str,
    ids: &[&str],
    split: &[Vec<u32>; 3],
) -> Result<()> {
    let names = |r: &[u32]| r.iter().map(|&i| ids[i as usize]).collect();
    let saved = SavedSplitOf {
        dataset,
        source,
        train: names(&split[0]),
        validation: names(&split[1]),
        test: names(&split[2]),
    };
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::invalid(format!("{}: {e}", dir.display())))?;
    }
    let cannot = |e: &dyn std::fmt::Display| {
        Error::invalid(format!("cannot save the split to {}: {e}", file.display()))
    };
    // written whole under a name of this process's own, then renamed: a reader (another rank
    // loading the same data at the same time) sees no file or a whole one, never a part
    let mut tmp = file.as_os_str().to_os_string();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = std::fs::File::create(&tmp).and_then(|f| {
        let mut out = std::io::BufWriter::new(f);
        serde_json::to_writer(&mut out, &saved).map_err(std::io::Error::other)?;
        std::io::Write::flush(&mut out)?;
        std::fs::rename(&tmp, file)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(|e| cannot(&e))
}

/// A [`SavedSplit`] as it is written: the ids borrowed.
#[derive(Serialize)]
struct SavedSplitOf<'a> {
    dataset: &'a str,
    source: &'a str,
    train: Vec<&'a str>,
    validation: Vec<&'a str>,
    test: Vec<&'a str>,
}

/// Refuses a split file whose sizes are not the ones this spec asks for: the config's
/// `split` (0.8 / 0.1 / 0.1 when not written) would be recorded with the run but not used.
fn check_agrees(spec: &SplitSpec, file: &Path, split: &[Vec<u32>; 3], n: usize) -> Result<()> {
    let have = [split[0].len(), split[1].len(), split[2].len()];
    let want = spec.sizes(n);
    if want.as_ref().is_ok_and(|w| *w == have) {
        return Ok(());
    }
    let asked = match want {
        Ok(w) => format!("{} / {} / {}", w[0], w[1], w[2]),
        Err(e) => format!("what cannot be ({e})"),
    };
    Err(Error::invalid(format!(
        "{}: the split file holds {} / {} / {} graphs (train / validation / test), but the \
         config's `split` asks for {asked} of the {n} graphs (0.8 / 0.1 / 0.1 when not \
         written): give the file's counts, `split = {{ train = {}, validation = {}, test = {} \
         }}`, or delete the file to make a new split",
        file.display(),
        have[0],
        have[1],
        have[2],
        have[0],
        have[1],
        have[2]
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_split_is_reused_by_id() {
        let dir = std::env::temp_dir().join(format!("geobatch-split-{}", std::process::id()));
        let ids: Vec<String> = (0..20).map(|i| format!("g{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let spec = SplitSpec::default();
        let file = default_file(&spec, &dir, "toy", "here", 20, 7);
        let first = load_or_make(&spec, &file, "toy", "here", &refs, 7).unwrap();
        assert!(file.is_file());
        // another seed would shuffle differently, but the saved split wins
        let again = load_or_make(&spec, &file, "toy", "here", &refs, 8).unwrap();
        assert_eq!(first, again);
        // ids listed in another order map to the same graphs
        let mut rev = refs.clone();
        rev.reverse();
        let moved = load_or_make(&spec, &file, "toy", "here", &rev, 7).unwrap();
        assert_eq!(
            moved[0]
                .iter()
                .map(|&i| rev[i as usize])
                .collect::<Vec<_>>(),
            first[0]
                .iter()
                .map(|&i| refs[i as usize])
                .collect::<Vec<_>>()
        );
        let err = load_or_make(&spec, &file, "toy", "here", &refs[..5], 7).unwrap_err();
        assert!(err.to_string().contains("is not in the dataset"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod checks {
    use super::*;
    use geobatch_core::Amount;

    fn write(dir: &Path, train: &[&str], validation: &[&str], test: &[&str]) -> PathBuf {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        let file = dir.join("split.json");
        let saved = SavedSplit {
            dataset: "toy".into(),
            source: "here".into(),
            train: names(train),
            validation: names(validation),
            test: names(test),
        };
        std::fs::write(&file, serde_json::to_string(&saved).unwrap()).unwrap();
        file
    }

    #[test]
    fn overlapping_repeated_unknown_and_disagreeing_splits_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<String> = (0..10).map(|i| format!("g{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let counts = SplitSpec {
            train: Amount::Count(8),
            validation: Amount::Count(1),
            test: Amount::Count(1),
            seed: None,
        };
        let train = ["g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7"];
        let load = |file: &Path, spec: &SplitSpec| {
            load_or_make(spec, file, "toy", "here", &refs, 1).map_err(|e| e.to_string())
        };
        let good = write(dir.path(), &train, &["g8"], &["g9"]);
        assert!(load(&good, &counts).is_ok());
        // the default fractions of 10 graphs are 8 / 1 / 1 too
        assert!(load(&good, &SplitSpec::default()).is_ok());
        let leak = write(dir.path(), &train, &["g8"], &["g0"]);
        let e = load(&leak, &counts).unwrap_err();
        assert!(
            e.contains("\"g0\" is in both the train and the test split"),
            "{e}"
        );
        let twice = write(
            dir.path(),
            &["g0", "g0", "g1", "g2", "g3", "g4", "g5", "g6"],
            &["g8"],
            &["g9"],
        );
        let e = load(&twice, &counts).unwrap_err();
        assert!(e.contains("listed twice in the train split"), "{e}");
        let unknown = write(dir.path(), &train, &["g8"], &["g99"]);
        let e = load(&unknown, &counts).unwrap_err();
        assert!(
            e.contains("\"g99\" of the test split is not in the dataset"),
            "{e}"
        );
        let smaller = write(dir.path(), &train[..6], &["g8"], &["g9"]);
        let e = load(&smaller, &SplitSpec::default()).unwrap_err();
        assert!(
            e.contains("holds 6 / 1 / 1 graphs")
                && e.contains("asks for 8 / 1 / 1")
                && e.contains("train = 6, validation = 1, test = 1"),
            "{e}"
        );
    }
}
