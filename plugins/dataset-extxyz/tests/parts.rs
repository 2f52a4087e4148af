//! Issue 82: extended XYZ shards written a part at a time (`for_each_part`, what `geobatch data
//! store` writes a store with) hold the structures of a whole load, split for split, in bounded
//! memory; a damaged shard is named with its line before anything is handed on.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::{DatasetContext, DatasetSpec, GraphRule, SplitName, SplitSpec};
use geobatch_dataset_extxyz::ExtxyzSpec;
use geobatch_testkit::parts::parts_match_load;
use std::io::Write;
use std::path::Path;

/// A periodic cell of `n` atoms (frame `k`), with an energy (unless `energy` is false), forces,
/// a stress and a `config` label.
fn frame(k: usize, n: usize, energy: bool, config: &str) -> String {
    let a = 4.0 + 0.1 * (k % 5) as f64;
    let mut s = format!(
        "{n}\nLattice=\"{a} 0 0 0 {a} 0 0 0 {a}\" Properties=species:S:1:pos:R:3:forces:R:3 \
         {}stress=\"0.01 0 0 0 0.02 0 0 0 0.03\" config={config} pbc=\"T T T\"\n",
        if energy {
            format!("energy={} ", -1.5 * n as f64 + 0.01 * k as f64)
        } else {
            String::new()
        }
    );
    for i in 0..n {
        let x = (i as f64 * 1.37 + k as f64 * 0.21) % a;
        let y = (i as f64 * 0.71 + 0.5) % a;
        let z = (i as f64 * 2.03 + k as f64 * 0.05) % a;
        let sym = if (i + k).is_multiple_of(3) {
            "Si"
        } else {
            "Ge"
        };
        s.push_str(&format!("{sym} {x} {y} {z} 0.1 -0.2 {}\n", 0.01 * i as f64));
    }
    s
}

/// Three shards in `dir/shards`: gzip, plain and `.extxyz`, 40 frames, of which one lacks an
/// energy, one is a copy of an earlier frame and four are `config=md`.
fn shards(dir: &Path) -> std::path::PathBuf {
    let folder = dir.join("shards");
    std::fs::create_dir_all(&folder).unwrap();
    let mut texts = [String::new(), String::new(), String::new()];
    for k in 0..40 {
        let config = if k % 10 == 3 { "md" } else { "bulk" };
        let text = if k == 25 {
            frame(7, 2 + 7 % 6, true, "bulk") // a copy of frame 7
        } else {
            frame(k, 2 + k % 6, k != 12, config)
        };
        texts[k % 3].push_str(&text);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(texts[0].as_bytes()).unwrap();
    std::fs::write(folder.join("a.xyz.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(folder.join("b.xyz"), &texts[1]).unwrap();
    std::fs::write(folder.join("c.extxyz"), &texts[2]).unwrap();
    folder
}

fn spec(path: &Path) -> ExtxyzSpec {
    let toml = format!(
        "path = {:?}\ntargets = [\"energy\", \"forces\", \"stress\"]\n\
         graph = {{ kind = \"cutoff\", radius = 3.0 }}\n",
        path.display().to_string()
    );
    toml::from_str(&toml).unwrap()
}

fn ctx(dir: &Path) -> DatasetContext {
    DatasetContext {
        seed: 4,
        data_dir: dir.join("data"),
    }
}

#[test]
fn shards_written_in_parts_hold_the_splits_of_a_whole_load() {
    let dir = tempfile::tempdir().unwrap();
    let folder = shards(dir.path());
    let mut s = spec(&folder);
    // the whole load first (it saves the split), then the parts
    let parts = parts_match_load(&s, &ctx(dir.path()), 4);
    assert!(parts >= 10, "{parts} parts");
    // a selection, a per-atom energy and another seed: the parts first this time (they make
    // and save the split the load then reuses)
    s.select = toml::from_str("config = \"bulk\"").unwrap();
    s.targets = vec!["energy".into()];
    s.per_atom = vec!["energy".into()];
    s.graph = GraphRule::Knn { k: 4 };
    s.split = SplitSpec::default();
    let fresh = tempfile::tempdir().unwrap();
    let mut made: [usize; 3] = [0; 3];
    s.for_each_part(&ctx(fresh.path()), 5, &mut |sp, set| {
        made[sp as usize] += set.len();
        Ok(())
    })
    .unwrap()
    .unwrap();
    // 40 frames, 4 not selected, 1 without an energy, 1 copy: 34, of which the default
    // fractions' counts (27 / 3 / 3) use 33
    assert_eq!(made, [27, 3, 3]);
    let loaded = s.load(&ctx(fresh.path())).unwrap();
    for sp in SplitName::ALL {
        assert_eq!(loaded.split(sp).len(), made[sp as usize], "{sp}");
    }
    parts_match_load(&s, &ctx(fresh.path()), 5);
}

#[test]
fn a_damaged_shard_is_named_with_its_line_before_any_part_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let folder = shards(dir.path());
    let mut handed = 0;
    let mut count = |_: SplitName, _: &geobatch_core::GraphSet| {
        handed += 1;
        Ok(())
    };
    // a shard cut in its middle (gzip): named, with the line reached
    let gz = std::fs::read(folder.join("a.xyz.gz")).unwrap();
    std::fs::write(folder.join("a.xyz.gz"), &gz[..gz.len() * 2 / 3]).unwrap();
    let e = spec(&folder)
        .for_each_part(&ctx(dir.path()), 4, &mut count)
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(e.contains("a.xyz.gz: not readable after line "), "{e}");
    // a bad atom line in a plain shard: the file, the frame and the line
    std::fs::write(folder.join("a.xyz.gz"), &gz).unwrap();
    let text = std::fs::read_to_string(folder.join("b.xyz")).unwrap();
    let bad = text.replacen("Ge ", "Ge x", 1);
    let line = text.lines().position(|l| l.starts_with("Ge ")).unwrap() + 1;
    std::fs::write(folder.join("b.xyz"), bad).unwrap();
    let e = spec(&folder)
        .for_each_part(&ctx(dir.path()), 4, &mut count)
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("b.xyz: frame 0 (line {line})")), "{e}");
    assert_eq!(
        handed, 0,
        "parts were handed on before the damage was found"
    );
}

#[test]
fn ids_repeated_across_shards_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let folder = shards(dir.path());
    let mut s = spec(&folder);
    s.id_key = Some("config".into());
    let e = s
        .for_each_part(&ctx(dir.path()), 4, &mut |_, _| Ok(()))
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(e.contains("appears twice"), "{e}");
}
