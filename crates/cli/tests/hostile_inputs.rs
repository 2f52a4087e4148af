//! Issue 45's hostile inputs, driven through the binary as a user would: sources that are
//! missing or foreign, node graphs of one class or none, and sizes over the process's own memory
//! limit. Each ends with exit code 2 and a message that names the file or option: no abort, no
//! exit 1 for the user's input.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::Path;

mod common;
use common::{assert_refused, geobatch, geobatch_limited, repo, text};

/// The names of the files in `dir` (none when it does not exist).
fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Importing a source that is not there, or is not of the provider's formats, is the user's
/// input to change: exit 2, the file named, nothing written (the target's place stays empty).
#[test]
fn an_import_of_a_missing_or_foreign_source_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("notes.txt"), "not a dataset\n").unwrap();
    for provider in ["qm9", "aflow"] {
        for source in ["no-such-file.zip", "notes.txt"] {
            let o = geobatch(d, &["data", "import", provider, source, "--dir", "D"]);
            assert_refused(&o, &[source]);
            let left: Vec<String> = std::fs::read_dir(d.join("D"))
                .map(|r| {
                    r.flatten()
                        .map(|e| e.path().display().to_string())
                        .collect()
                })
                .unwrap_or_default();
            let files: Vec<_> = left.iter().flat_map(|p| names(Path::new(p))).collect();
            assert!(files.is_empty(), "{provider} {source}: left {files:?}");
        }
    }
}

/// A node-classification graph whose labels hold one class (or a label of 2e9) is the data's
/// fault: exit 2 with the file named, before any model is built or any table allocated. Run
/// under `ulimit -v 8000000`: a table as long as the largest label (16 GB for 2e9, once drawn
/// by the split) aborted the process there and passed only without a limit.
#[test]
fn an_npz_of_one_class_or_a_huge_label_is_bad_input() {
    use ndarray::{Array1, Array2};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = 60usize;
    let write = |name: &str, labels: Vec<i64>| {
        let path = d.join(name);
        let mut w = ndarray_npy::NpzWriter::new(std::fs::File::create(&path).unwrap());
        let indptr: Vec<i32> = (0..=n as i32).collect();
        let indices: Vec<i32> = (0..n as i32).map(|i| (i + 1) % n as i32).collect();
        w.add_array("adj_indptr", &Array1::from(indptr)).unwrap();
        w.add_array("adj_indices", &Array1::from(indices)).unwrap();
        w.add_array("adj_data", &Array1::from(vec![1f32; n]))
            .unwrap();
        w.add_array("adj_shape", &Array1::from(vec![n as i64, n as i64]))
            .unwrap();
        let x = Array2::from_shape_fn((n, 4), |(i, j)| (i * 4 + j) as f32);
        w.add_array("attr_matrix", &x).unwrap();
        w.add_array("labels", &Array1::from(labels)).unwrap();
        w.finish().unwrap();
        path
    };
    let one = write("one.npz", vec![0; n]);
    let mut huge = vec![0i64; n];
    huge[n - 1] = 2_000_000_000;
    huge[n - 2] = 1;
    let huge = write("huge.npz", huge);
    let none = write("none.npz", vec![-1; n]);
    let config = repo().join("configs/nodes/cora-gcn-full.toml");
    for (path, words) in [
        (
            &one,
            "the labels hold 1 class (every labelled node is class 0)",
        ),
        (&huge, "1999999998 of them have no node"),
        (&none, "only 0 labelled nodes"),
    ] {
        let o = geobatch_limited(
            d,
            8_000_000,
            &[
                "run",
                config.to_str().unwrap(),
                "--set",
                &format!("dataset.path={:?}", path.to_str().unwrap()),
                "--set",
                "dataset.split={ train_per_class = 5, validation = 10, test = 10 }",
                "--set",
                "sinks=[]",
            ],
        );
        assert_refused(&o, &[path.file_name().unwrap().to_str().unwrap(), words]);
    }
}

/// A size that fits the machine's memory but not the process's own limit (`ulimit -v`, as a
/// cluster's job or a container sets one) is refused before it is allocated, the limit named:
/// without that check the allocation aborts the process with no message.
#[test]
fn a_size_over_the_processs_own_memory_limit_is_refused_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("configs/examples/synthetic-dynamic.toml");
    // 5e6 graphs of 18 atoms: at least 1.3 GiB, under any test machine's memory, over 1 GB
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -v 1000000 && exec '{}' batches '{}' --steps 10 --set 'sinks=[]' \
             --set dataset.graphs=5000000",
            common::binary().display(),
            config.display()
        ))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("dataset.graphs = 5000000") && out.contains("ulimit -v"),
        "{out}"
    );
}

/// A cutoff that leaves most atoms without a neighbour may be meant, so it runs, but the figure
/// is said (it was silent: only "no edge at all" was refused).
#[test]
fn a_cutoff_that_leaves_most_atoms_alone_is_warned_about_with_the_figure() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("configs/examples/qm9-dynamic.toml");
    let batches = |radius: &str| {
        let graph = format!("dataset.graph={{kind=\"cutoff\", radius={radius}}}");
        let args = [
            "batches",
            config.to_str().unwrap(),
            "--steps",
            "3",
            "--set",
            "sinks=[]",
        ];
        let sets = ["--set", "dataset.source=\"fixture\"", "--set", &graph];
        let o = geobatch(dir.path(), &[&args[..], &sets[..]].concat());
        assert!(o.status.success(), "{}", text(&o));
        text(&o)
    };
    let out = batches("1.0");
    assert!(
        out.contains(
            "warning: dataset.graph, on the train split: the graph rule leaves 9315 of the 9832 \
             atoms (95%) without a neighbour"
        ),
        "{out}"
    );
    // a usual cutoff: no warning
    let out = batches("5.0");
    assert!(!out.contains("without a neighbour"), "{out}");
}

/// A CIF collection of 0.3 Angstrom cells with an 8 Angstrom cutoff: about 80,000 edges an atom,
/// so a batch of 64 cells is 5 million edges and SchNet's step 15 GiB. Under `ulimit -v 8000000`
/// it is refused before the model is built, exit 2 with the figure and the limit (it aborted in
/// `gaussian_rbf`'s 3 GB allocation: the models' check assumed a batch of 50,000 edges).
#[test]
fn a_batch_whose_model_step_exceeds_the_processs_limit_is_refused_with_the_figure() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cif = "data_X\n_symmetry_space_group_name_H-M   'P 1'\n_cell_length_a   0.3\n\
               _cell_length_b   0.3\n_cell_length_c   0.3\n_cell_angle_alpha   90\n\
               _cell_angle_beta   90\n_cell_angle_gamma   90\nloop_\n _symmetry_equiv_pos_site_id\n\
                _symmetry_equiv_pos_as_xyz\n  1  'x, y, z'\nloop_\n _atom_site_type_symbol\n\
                _atom_site_label\n _atom_site_symmetry_multiplicity\n _atom_site_fract_x\n\
                _atom_site_fract_y\n _atom_site_fract_z\n _atom_site_occupancy\n\
                 Na  Na0  1  0.0  0.0  0.0  1\n";
    let mut table = String::from(",material_id,cif,energy_per_atom\n");
    for i in 0..80 {
        table.push_str(&format!(
            "{i},t{i},\"{cif}\",{}\n",
            -1.0 - f64::from(i) * 0.01
        ));
    }
    std::fs::write(d.join("tiny.csv"), table).unwrap();
    std::fs::write(
        d.join("tiny.toml"),
        "[experiment]\nname = \"tiny\"\n[dataset]\nkind = \"cif\"\npath = \"tiny.csv\"\n\
         targets = [\"energy_per_atom\"]\ngraph = { kind = \"cutoff\", radius = 8.0 }\n\
         [model]\nkind = \"schnet\"\n[batcher]\nkind = \"dynamic\"\nbatch_size = 64\n\
         [training]\nsteps = 3\n",
    )
    .unwrap();
    let o = geobatch_limited(d, 8_000_000, &["run", "tiny.toml", "--set", "sinks=[]"]);
    assert_refused(
        &o,
        &[
            "model.latent = 64",
            "a training step on the batcher's budget",
            "GiB",
            "ulimit -v",
        ],
    );
}

/// Synthetic molecules under kNN store their edges: 3,000,000 of them are 650 million edges,
/// refused at once with the figure (the check counted atoms only, and the run aborted after 20 s).
#[test]
fn synthetic_knn_molecules_are_checked_with_their_edges() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("configs/examples/synthetic-dynamic.toml");
    let started = std::time::Instant::now();
    let o = geobatch_limited(
        dir.path(),
        8_000_000,
        &[
            "batches",
            config.to_str().unwrap(),
            "--steps",
            "10",
            "--set",
            "sinks=[]",
            "--set",
            "dataset.graphs=3000000",
            "--set",
            "dataset.graph={kind=\"knn\", k=12}",
        ],
    );
    assert_refused(
        &o,
        &[
            "dataset.graphs = 3000000",
            "6.480e8 stored edges",
            "ulimit -v",
        ],
    );
    assert!(
        started.elapsed().as_secs() < 10,
        "refused before generation"
    );
}

/// The address space a process holds but an allocation can reuse (an allocator's reserved
/// arena) is room, not use: a tiny run ran under 600 MB of `ulimit -v` but was refused under
/// 1.2 GB (mimalloc reserved 1 GiB more there), exit 2 where it should train.
#[test]
fn a_tiny_run_trains_under_any_limit_that_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("configs/smoke/qm9-fixture-schnet.toml");
    for kib in [600_000, 1_200_000, 2_000_000] {
        let o = geobatch_limited(
            dir.path(),
            kib,
            &[
                "run",
                config.to_str().unwrap(),
                "--steps",
                "3",
                "--restart",
                "--set",
                "sinks=[]",
            ],
        );
        assert!(o.status.success(), "ulimit -v {kib}: {}", text(&o));
    }
}
