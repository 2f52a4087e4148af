//! Issue 82: a dataset written into a disk-backed store (`geobatch data store`) and read in
//! place (`[dataset] kind = "store"`): it trains, studies and is advised on as the data it was
//! written from; read in place or copied into memory it gives the same batches, bit for bit; a
//! write killed midway leaves its committed parts readable, and bad stores are named.

use super::*;

/// A synthetic config of `graphs` molecules or Morse-labelled crystals.
fn synthetic(dir: &Path, family: &str, graphs: usize) -> String {
    let labels = if family == "crystals" {
        "labels = \"morse\"\ngraph = { kind = \"cutoff\", radius = 4.0 }\n"
    } else {
        ""
    };
    write(
        dir,
        &format!("{family}.toml"),
        &format!(
            "[experiment]\nname = \"source\"\nseed = 3\n[dataset]\nkind = \"synthetic\"\n\
             family = \"{family}\"\ngraphs = {graphs}\n{labels}\
             [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n[[sinks]]\nkind = \"parquet\"\n"
        ),
    )
}

/// A training config on the store at `store`, read with `memory`.
fn on_store(dir: &Path, name: &str, store: &str, memory: &str, extra: &str) -> String {
    write(
        dir,
        &format!("{name}.toml"),
        &format!(
            "[experiment]\nname = \"{name}\"\nseed = 5\n[dataset]\nkind = \"store\"\n\
             path = \"{store}\"\nmemory = \"{memory}\"\n{extra}\
             [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n[model]\nkind = \"schnet\"\n\
             latent = 16\nsteps = 1\n[training]\nsteps = 12\neval_every = 6\n\
             [[sinks]]\nkind = \"parquet\"\n"
        ),
    )
}

#[test]
fn a_store_trains_the_same_read_in_place_or_copied_into_memory() {
    let dir = tempfile::tempdir().unwrap();
    let source = synthetic(dir.path(), "crystals", 240);
    let o = geobatch(
        dir.path(),
        &["data", "store", &source, "--out", "big", "--part", "50"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("192 train, 24 validation, 24 test structures in 6 parts"),
        "{}",
        text(&o)
    );
    let mut losses = Vec::new();
    for memory in ["disk", "ram"] {
        let cfg = on_store(dir.path(), memory, "big", memory, "");
        let o = geobatch(dir.path(), &["run", &cfg]);
        assert!(o.status.success(), "{}", text(&o));
        let runs = run_dirs(&dir.path().join("results").join(memory));
        assert_eq!(run_value(&runs[0], "status"), "complete");
        losses.push(steps_table(&runs[0]));
    }
    assert_eq!(losses[0].len(), 12);
    assert_eq!(losses[0], losses[1], "read in place and in memory differ");
    // the batching study and the advice read the store as any dataset
    let cfg = on_store(dir.path(), "study", "big", "disk", "");
    let o = geobatch(
        dir.path(),
        &["batches", &cfg, "--steps", "20", "--set", "sinks=[]"],
    );
    assert!(o.status.success(), "{}", text(&o));
    // written again over itself: refused without --force, replaced with it
    let o = geobatch(dir.path(), &["data", "store", &source, "--out", "big"]);
    assert_refused(&o, &["big", "already holds a store", "--force"]);
    let o = geobatch(
        dir.path(),
        &[
            "data",
            "store",
            &source,
            "--out",
            "big",
            "--force",
            "--set",
            "dataset.graphs=40",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("32 train"), "{}", text(&o));
}

#[test]
fn a_store_write_killed_midway_keeps_its_parts_and_says_it_is_partial() {
    let dir = tempfile::tempdir().unwrap();
    let source = synthetic(dir.path(), "molecules", 2_000_000);
    let manifest = dir.path().join("big/train/store.json");
    let killed = kill_when(
        dir.path(),
        &["data", "store", &source, "--out", "big", "--part", "2000"],
        Duration::from_secs(120),
        "no second part was committed",
        || {
            std::fs::read_to_string(&manifest)
                .is_ok_and(|t| t.contains("\"commits\": 2,") || t.contains("\"commits\": 3,"))
        },
    );
    assert!(!killed.success());
    let cfg = on_store(dir.path(), "partial", "big", "disk", "");
    let o = geobatch(
        dir.path(),
        &["batches", &cfg, "--steps", "10", "--set", "sinks=[]"],
    );
    assert_refused(&o, &["big", "stopped before it finished", "partial = true"]);
    let cfg = on_store(dir.path(), "partial", "big", "disk", "partial = true\n");
    let o = geobatch(
        dir.path(),
        &["batches", &cfg, "--steps", "10", "--set", "sinks=[]"],
    );
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_missing_or_damaged_store_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = on_store(dir.path(), "none", "nowhere", "disk", "");
    let o = geobatch(
        dir.path(),
        &["batches", &cfg, "--steps", "5", "--set", "sinks=[]"],
    );
    assert_refused(&o, &["nowhere", "geobatch data store"]);
    let cfg = on_store(dir.path(), "bad", "big", "tape", "");
    let o = geobatch(dir.path(), &["validate", &cfg]);
    assert_refused(&o, &["memory", "disk", "ram"]);
    let source = synthetic(dir.path(), "molecules", 60);
    let o = geobatch(dir.path(), &["data", "store", &source, "--out", "big"]);
    assert!(o.status.success(), "{}", text(&o));
    // a column cut short: the file is named
    let positions = dir.path().join("big/validation/positions.npy");
    let bytes = std::fs::read(&positions).unwrap();
    std::fs::write(&positions, &bytes[..bytes.len() - 12]).unwrap();
    let cfg = on_store(dir.path(), "cut", "big", "disk", "");
    let o = geobatch(
        dir.path(),
        &["batches", &cfg, "--steps", "5", "--set", "sinks=[]"],
    );
    assert_refused(&o, &["big/validation/positions.npy", "truncated"]);
}

/// The 100 QM9 molecules of the extended XYZ fixture, as three shards in `dir/shards` (frames
/// 0-39, 40-69, 70-99).
fn xyz_shards(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../plugins/dataset-extxyz/tests/fixtures/qm9_reduced_100.xyz"),
    )
    .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut frames = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        let n: usize = lines[at].trim().parse().unwrap();
        frames.push(lines[at..at + n + 2].join("\n") + "\n");
        at += n + 2;
    }
    assert_eq!(frames.len(), 100);
    let folder = dir.join("shards");
    std::fs::create_dir_all(&folder).unwrap();
    for (name, range) in [("a.xyz", 0..40), ("b.xyz", 40..70), ("c.extxyz", 70..100)] {
        std::fs::write(folder.join(name), frames[range].concat()).unwrap();
    }
    folder
}

#[test]
fn extxyz_shards_are_written_into_a_store_and_a_damaged_shard_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let shards = xyz_shards(dir.path());
    let source = write(
        dir.path(),
        "shards.toml",
        "[experiment]\nname = \"shards\"\nseed = 3\n[dataset]\nkind = \"extxyz\"\n\
         path = \"shards\"\ntargets = [\"U0\"]\ngraph = { kind = \"full\" }\n\
         [batcher]\nkind = \"dynamic\"\nbatch_size = 8\n",
    );
    let o = geobatch(
        dir.path(),
        &["data", "store", &source, "--out", "st", "--part", "16"],
    );
    assert!(o.status.success(), "{}", text(&o));
    // read in two passes: the first's count, then the parts (80 in 5, 10, 10)
    assert!(
        text(&o).contains("100 structures read, 100 kept"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("80 train, 10 validation, 10 test structures in 7 parts"),
        "{}",
        text(&o)
    );
    let cfg = on_store(dir.path(), "xyz", "st", "disk", "");
    let o = geobatch(
        dir.path(),
        &["batches", &cfg, "--steps", "10", "--set", "sinks=[]"],
    );
    assert!(o.status.success(), "{}", text(&o));
    // a shard whose frame lost its last atom line: named with the frame and line, no store
    let b = shards.join("b.xyz");
    let t = std::fs::read_to_string(&b).unwrap();
    std::fs::write(&b, &t[..t.trim_end().rfind('\n').unwrap() + 1]).unwrap();
    let o = geobatch(dir.path(), &["data", "store", &source, "--out", "st2"]);
    assert_refused(&o, &["b.xyz: frame 29 (line", "ends"]);
    assert!(!dir.path().join("st2/train/store.json").exists());
}
