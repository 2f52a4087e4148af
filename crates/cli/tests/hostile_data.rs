//! Issue 33, classes 2 and 5, driven through the binary as a user would:
//!
//! * Stores of data are never replaced unasked: an import or a fetch that would replace a store
//!   with other content is refused (exit 2, the store named, its bytes unchanged) and says how to
//!   go on; `--force` replaces it.
//! * Splits are checked: split files, OGB split folders and CIF split tables with a graph or
//!   node in two splits, twice in one, or unknown are refused (exit 2, the file, the split and
//!   the id named); split options that a split file or split tables would override are refused.
//!
//! Nothing is downloaded: QM9 sources are written by the test, AFLOW pages come from a loopback
//! server, and every other file is a committed fixture or written here.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::io::{BufRead, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

mod common;
use common::{assert_refused, geobatch, repo, run_dirs, text};

const HEADER: &str = "XYZ_file,Index,SMILES,InChi,N_atoms,Stoichiometry,Elements,XYZ_Ang,Mulliken_pop,Harmonic_Freq_cmi,RotA_GHz,RotB_GHz,RotC_GHz,Dipole_debye,Polarizability_bohr3,HOMO_au,LUMO_au,HOMO_LUMO_gap_au,R2_bohr2,ZPVE_au,InternalEnergy_0K_au,InternalEnergy_298K_au,Enthalphy_298K_au,GibbsFreeEnergy_298K_au,Heatcapacity_Cv_cal_mol_K";
const METHANE: &str = r#""dsgdb9nsd_000001.xyz",1,"C","InChI=1S/CH4/h1H4",5,"[4,1,0,0,0]","['C','H','H','H','H']","[[-0.0126981359,1.0858041578,0.0080009958],[0.002150416,-0.0060313176,0.0019761204],[1.0117308433,1.4637511618,0.0002765748],[-0.540815069,1.4475266138,-0.8766437152],[-0.5238136345,1.4379326443,0.9063972942]]","[-0.535689,0.133921,0.133922,0.133923,0.133923]","[1341.307,1341.3284]",157.7118,157.70997,157.70699,0.,13.21,-0.3877,0.1171,0.5048,35.3641,0.044749,-40.47893,-40.476062,-40.475117,-40.498597,6.469"#;
const WATER: &str = r#""dsgdb9nsd_000003.xyz",3,"O","InChI=1S/H2O/h1H2",3,"[2,0,0,1,0]","['O','H','H']","[[-0.0343604951,0.9775395708,7.6015923E-3],[0.0647664923,0.0205721989,0.0015346341],[0.8717903737,1.3007924048,0.0006931336]]","[-0.589706,0.294853,0.294853]","[1671.4222,3803.6305,3907.698]",799.58812,437.90386,282.94545,1.8511,6.31,-0.2928,0.0687,0.3615,19.0002,0.021375,-76.404702,-76.401867,-76.400922,-76.422349,6.002"#;

/// A folder in qm9pack's CSV layout holding methane and water.
fn qm9_csv_folder(dir: &Path) -> PathBuf {
    let folder = dir.join("qm9-csv");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("qm9_part1.csv"),
        format!("{HEADER}\n{METHANE}\n{WATER}\n"),
    )
    .unwrap();
    for part in ["qm9_part2.csv", "qm9_part3.csv"] {
        std::fs::write(folder.join(part), format!("{HEADER}\n")).unwrap();
    }
    folder
}

/// Rows of a Parquet file.
fn parquet_rows(path: &Path) -> i64 {
    let file = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .metadata()
        .file_metadata()
        .num_rows()
}

/// The names in a folder, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The issue's case: a store holds the full dataset and an import with `--limit` is run into
/// the same data folder. Refused (exit 2, the store named, `--force` and `--out FILE` offered)
/// with the store's bytes unchanged and nothing left beside it; the same import again is a no-op;
/// `--out FILE` writes the fixture elsewhere; `--force` replaces the store.
#[test]
fn a_limited_import_does_not_replace_a_full_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let source = qm9_csv_folder(d);
    let source = source.to_str().unwrap();
    let store = d.join("D/qm9/qm9.parquet");
    let o = geobatch(d, &["data", "import", "qm9", source, "--dir", "D"]);
    assert!(o.status.success(), "{}", text(&o));
    let full = std::fs::read(&store).unwrap();
    assert_eq!(parquet_rows(&store), 2);

    let o = geobatch(
        d,
        &[
            "data", "import", "qm9", source, "--limit", "1", "--dir", "D",
        ],
    );
    assert_refused(
        &o,
        &[
            "D/qm9/qm9.parquet already holds a store with other content",
            "--force",
            "--out FILE",
            "--limit",
        ],
    );
    assert_eq!(
        std::fs::read(&store).unwrap(),
        full,
        "the store is unchanged"
    );
    assert_eq!(names(&d.join("D/qm9")), vec!["qm9.parquet"]);

    // the same import again: identical content, left as it is
    let o = geobatch(d, &["data", "import", "qm9", source, "--dir", "D"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("already holds this import"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(&store).unwrap(), full);

    // a fixture elsewhere
    let o = geobatch(
        d,
        &[
            "data",
            "import",
            "qm9",
            source,
            "--limit",
            "1",
            "--out",
            "small.parquet",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(parquet_rows(&d.join("small.parquet")), 1);
    // ... which is a store too: another import over it is refused
    let o = geobatch(
        d,
        &["data", "import", "qm9", source, "--out", "small.parquet"],
    );
    assert_refused(&o, &["small.parquet already holds a store", "--force"]);
    assert_eq!(parquet_rows(&d.join("small.parquet")), 1);

    // asked for: replaced
    let o = geobatch(
        d,
        &[
            "data", "import", "qm9", source, "--limit", "1", "--dir", "D", "--force",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("replaced"), "{}", text(&o));
    assert_eq!(parquet_rows(&store), 1);
    assert_eq!(names(&d.join("D/qm9")), vec!["qm9.parquet"]);
}

/// `geobatch data fetch qm9` in `d` from an index nothing answers at.
fn fetch_offline(d: &Path) -> std::process::Output {
    geobatch(
        d,
        &[
            "data",
            "fetch",
            "qm9",
            "--url",
            "http://127.0.0.1:9/simple/",
        ],
    )
}

/// `data fetch qm9` where the store's place holds a file that is not a QM9 store (somebody's
/// data): refused before any download, the file unchanged. (The package index is a closed
/// loopback port, so nothing could be downloaded even if the fetch went on.)
#[test]
fn fetch_qm9_does_not_replace_a_file_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("data/qm9/qm9.parquet");
    std::fs::create_dir_all(store.parent().unwrap()).unwrap();
    let mine = b"PAR1 my own table, not a QM9 store\n".to_vec();
    std::fs::write(&store, &mine).unwrap();
    let o = fetch_offline(d);
    assert_refused(
        &o,
        &[
            "data/qm9/qm9.parquet is there but is not a QM9 store",
            "--force",
        ],
    );
    assert_eq!(std::fs::read(&store).unwrap(), mine);
    assert!(!d.join("data/downloads").exists(), "nothing was downloaded");

    // a limited import in the store's place: refused the same way
    let source = qm9_csv_folder(d);
    let o = geobatch(
        d,
        &["data", "import", "qm9", source.to_str().unwrap(), "--force"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = fetch_offline(d);
    assert_refused(&o, &["holds 2 molecules, not the 130831", "--force"]);
    assert_eq!(parquet_rows(&store), 2);
}

/// A loopback AFLUX server: page n is `pages[n - 1]`, past the end an empty list.
fn aflux(pages: Vec<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/API/aflux/v1.0/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let page: usize = request
                .rsplit_once("paging(")
                .and_then(|(_, rest)| rest.split(',').next())
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            let body = pages
                .get(page.wrapping_sub(1))
                .cloned()
                .unwrap_or_else(|| "[]".into());
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// AFLUX pages of two fixture records each.
fn aflow_pages() -> Vec<String> {
    let fixture = std::fs::read_to_string(repo().join("data/fixtures/aflow-sample.jsonl")).unwrap();
    let lines: Vec<&str> = fixture
        .lines()
        .filter(|l| l.contains("\"auid\": \"aflow:fixture-00") && !l.starts_with("{\"1 of"))
        .take(4)
        .collect();
    lines
        .chunks(2)
        .map(|c| format!("[{}]", c.join(",")))
        .collect()
}

/// `data fetch aflow` beside a store: nothing to do without `--force` (the store unchanged);
/// a fetch under way that would replace a store when complete is refused (exit 2, part file
/// kept); with `--force` it completes and replaces it.
#[test]
fn fetch_aflow_replaces_a_store_only_with_force() {
    let url = aflux(aflow_pages());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fixture = repo().join("data/fixtures/aflow-sample.jsonl");
    let o = geobatch(d, &["data", "import", "aflow", fixture.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let store = d.join("data/aflow/aflow.jsonl");
    let imported = std::fs::read(&store).unwrap();
    let fetch = |extra: &[&str]| {
        let mut args = vec!["data", "fetch", "aflow", "--url", &url, "--page-size", "2"];
        args.extend(extra);
        geobatch(d, &args)
    };
    let o = fetch(&[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("nothing to do") && text(&o).contains("--force"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(&store).unwrap(), imported);

    // a stopped fetch, then a store imported beside it: completing it would replace the store
    std::fs::remove_file(&store).unwrap();
    let o = fetch(&["--max-pages", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(&store, &imported).unwrap();
    let part = d.join("data/aflow/aflow.jsonl.part");
    let pages = std::fs::read(&part).unwrap();
    let o = fetch(&[]);
    assert_refused(
        &o,
        &[
            "aflow.jsonl exists, and the fetch under way",
            "aflow.jsonl.part",
            "--force",
        ],
    );
    assert_eq!(std::fs::read(&store).unwrap(), imported);
    assert_eq!(std::fs::read(&part).unwrap(), pages);

    let o = fetch(&["--force"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("fetched 4 AFLOW records") && text(&o).contains("replaced"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read_to_string(&store).unwrap().lines().count(), 4);
    assert_eq!(names(&d.join("data/aflow")), vec!["aflow.jsonl"]);

    // another page size than the fetch under way: refused as bad input, its pages kept
    std::fs::remove_file(&store).unwrap();
    let o = fetch(&["--max-pages", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let mut args = vec!["data", "fetch", "aflow", "--url", &url, "--page-size", "3"];
    args.push("--max-pages");
    args.push("1");
    let o = geobatch(d, &args);
    assert_refused(&o, &["holds a fetch under way", "page size 2"]);
    assert_eq!(std::fs::read(&part).unwrap(), pages);
}

/// A QM9 config reading the fixture with `split_file` and the given extra `split` line.
fn qm9_config(dir: &Path, name: &str, split_file: &Path, split: &str) -> String {
    let file = format!("{name}.toml");
    std::fs::write(
        dir.join(&file),
        format!(
            "[experiment]\nname = \"split\"\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\n\
             split_file = {:?}\n{split}[model]\nkind = \"schnet\"\nlatent = 8\nsteps = 1\n\
             [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n[training]\nsteps = 2\neval_every = 0\n",
            split_file.to_str().unwrap()
        ),
    )
    .unwrap();
    file
}

/// Graph-level split files through `run`: a test graph also in the train split, a graph twice
/// in one split, a graph the dataset lacks, and sizes that disagree with the config's `split`
/// are each refused with exit 2, naming the file, the split and the graph; no run is recorded.
#[test]
fn graph_split_files_are_checked_by_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("split.json");
    let cfg = qm9_config(d, "make", &file, "");
    let o = geobatch(d, &["batches", &cfg, "--steps", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let made_runs = run_dirs(&d.join("results"));
    let made: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let ids = |k: &str| made[k].as_array().unwrap().clone();
    let (train, validation, test) = (ids("train"), ids("validation"), ids("test"));
    let id = |v: &serde_json::Value| v.as_str().unwrap().to_string();
    let with = |key: &str, list: Vec<serde_json::Value>| {
        let mut v = made.clone();
        v[key] = serde_json::Value::Array(list);
        std::fs::write(&file, v.to_string()).unwrap();
    };
    let unknown = serde_json::Value::String("no-such-molecule".into());
    let cases = [
        (
            "test",
            [test[1..].to_vec(), vec![train[0].clone()]].concat(),
            format!(
                "graph {:?} is in both the train and the test split",
                id(&train[0])
            ),
        ),
        (
            "validation",
            [validation[1..].to_vec(), vec![validation[3].clone()]].concat(),
            format!(
                "graph {:?} is listed twice in the validation split",
                id(&validation[3])
            ),
        ),
        (
            "test",
            [test[1..].to_vec(), vec![unknown]].concat(),
            "graph \"no-such-molecule\" of the test split is not in the dataset".to_string(),
        ),
    ];
    for (key, list, want) in cases {
        with(key, list);
        let o = geobatch(d, &["run", &cfg]);
        assert_refused(&o, &["split.json", &want]);
        assert_eq!(
            run_dirs(&d.join("results")),
            made_runs,
            "{want}: no run is recorded"
        );
    }
    // the file as made, but a config whose fractions disagree with it
    with("test", test);
    let other = qm9_config(
        d,
        "other",
        &file,
        "split = { train = 0.5, validation = 0.25, test = 0.25 }\n",
    );
    let o = geobatch(d, &["run", &other]);
    assert_refused(
        &o,
        &[
            "split.json",
            "holds 800 / 100 / 100 graphs",
            "asks for 500 / 250 / 250",
            "split = { train = 800, validation = 100, test = 100 }",
        ],
    );
    assert_eq!(run_dirs(&d.join("results")), made_runs);
    // the counts the message gives are accepted
    let agreed = qm9_config(
        d,
        "agreed",
        &file,
        "split = { train = 800, validation = 100, test = 100 }\n",
    );
    let o = geobatch(d, &["batches", &agreed, "--steps", "1"]);
    assert!(o.status.success(), "{}", text(&o));
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// OGB split folders through `batches`: a node in two split files, twice in one, or past the
/// node count is refused with exit 2, naming the file, the line, the split and the node.
#[test]
fn ogb_split_folders_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("ogb");
    let tables: [(&str, &str); 6] = [
        ("raw/edge.csv.gz", "0,1\n1,2\n2,3\n3,4\n4,5\n5,0\n"),
        (
            "raw/node-feat.csv.gz",
            "0.1,0.2\n0.3,0.4\n0.5,0.6\n0.7,0.8\n0.9,1.0\n1.1,1.2\n",
        ),
        ("raw/node-label.csv.gz", "0\n1\n0\n1\n0\n1\n"),
        ("split/time/train.csv.gz", "0\n1\n"),
        ("split/time/valid.csv.gz", "2\n3\n"),
        ("split/time/test.csv.gz", "4\n5\n"),
    ];
    for (name, body) in tables {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, gzip(body.as_bytes())).unwrap();
    }
    std::fs::write(
        d.join("ogb.toml"),
        format!(
            "[experiment]\nname = \"ogb\"\n[dataset]\nkind = \"ogb\"\npath = {:?}\n\
             [batcher]\nkind = \"full\"\n[batches]\nepochs = 1\n",
            root.to_str().unwrap()
        ),
    )
    .unwrap();
    let o = geobatch(d, &["batches", "ogb.toml"]);
    assert!(o.status.success(), "{}", text(&o));
    for (file, body, want) in [
        (
            "test.csv.gz",
            "4\n1\n",
            "test.csv.gz: line 2: node 1 is also in the train split",
        ),
        (
            "valid.csv.gz",
            "2\n3\n2\n",
            "valid.csv.gz: line 3: node 2 is listed twice in the validation split",
        ),
        (
            "test.csv.gz",
            "4\n60\n",
            "test.csv.gz: line 2: node id 60 exceeds the node count (6 nodes",
        ),
    ] {
        let p = root.join("split/time").join(file);
        let good = std::fs::read(&p).unwrap();
        std::fs::write(&p, gzip(body.as_bytes())).unwrap();
        let o = geobatch(d, &["batches", "ogb.toml"]);
        assert_refused(&o, &[want]);
        std::fs::write(&p, good).unwrap();
    }
}

/// CIF collections split by their train / val / test tables, through `batches`: a crystal in
/// two tables is refused naming both tables and splits; a `split_file` (never read) or a
/// `split` of other sizes (never used) beside the tables is refused naming the key.
#[test]
fn cif_split_tables_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let folder = d.join("set");
    std::fs::create_dir_all(&folder).unwrap();
    let fixture = std::fs::read_to_string(repo().join("data/fixtures/cif-sample.csv")).unwrap();
    for name in ["train", "val", "test"] {
        let ids = fixture.replace("fixture-", &format!("{name}-"));
        std::fs::write(folder.join(format!("{name}.csv")), ids).unwrap();
    }
    let config = |extra: &str| {
        std::fs::write(
            d.join("cif.toml"),
            format!(
                "[experiment]\nname = \"cif\"\n[dataset]\nkind = \"cif\"\npath = {:?}\n\
                 targets = [\"energy_per_atom\"]\n{extra}[batcher]\nkind = \"dynamic\"\nbatch_size = 4\n",
                folder.to_str().unwrap()
            ),
        )
        .unwrap();
        geobatch(d, &["batches", "cif.toml", "--steps", "2"])
    };
    let o = config("");
    assert!(o.status.success(), "{}", text(&o));
    let o = config("split_file = \"splits/mine.json\"\n");
    assert_refused(&o, &["dataset.split_file", "mine.json", "ignored"]);
    let o = config("split = { train = 0.5, validation = 0.25, test = 0.25 }\n");
    assert_refused(&o, &["dataset.split", "hold 5 / 5 / 5 crystals"]);
    let o = config("split = { train = 5, validation = 5, test = 5 }\n");
    assert!(o.status.success(), "{}", text(&o));
    // a validation crystal that is also in the training table
    let val = fixture.replace("fixture-NaCl", "train-NaCl");
    std::fs::write(folder.join("val.csv"), val.replace("fixture-", "val-")).unwrap();
    let o = config("");
    assert_refused(
        &o,
        &[
            "val.csv, row 1",
            "\"train-NaCl\"",
            "train.csv, row 1",
            "in both the train and the validation split",
        ],
    );
}
