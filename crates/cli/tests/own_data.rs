//! Users' own structures through the binary: `geobatch list` shows the extxyz and asedb
//! datasets, and `geobatch run` trains SchNet on an extended XYZ file and, with the one
//! `dataset` line replaced, on an ASE database (SQLite, then JSON).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;
use common::potential::{aluminium, predict, train_on_aluminium};
use common::{QUICK_RUN, bench_step, geobatch, repo, text, with_sets};

#[test]
fn list_shows_the_structure_datasets() {
    let dir = tempfile::tempdir().unwrap();
    let o = geobatch(dir.path(), &["list", "datasets"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("extxyz") && out.contains("asedb"), "{out}");
    for name in ["extxyz", "asedb"] {
        let o = geobatch(dir.path(), &["example", "dataset", name]);
        assert!(o.status.success(), "{}", text(&o));
    }
}

#[test]
fn schnet_trains_on_an_xyz_file_and_on_an_ase_database_with_one_line_changed() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("configs/examples/extxyz-schnet-dynamic.toml");
    let xyz = repo().join("plugins/dataset-extxyz/tests/fixtures/flashmd.xyz");
    let db = repo().join("plugins/dataset-asedb/tests/fixtures/structures.db");
    let json = repo().join("plugins/dataset-asedb/tests/fixtures/structures.json");
    let line = |kind: &str, path: &std::path::Path| {
        format!(
            "dataset={{kind={kind:?}, path={:?}, targets=[\"energy\"], per_atom=[\"energy\"], \
             graph={{kind=\"cutoff\", radius=5.0}}, split={{train=8, validation=1, test=1}}}}",
            path.to_str().unwrap()
        )
    };
    for (kind, path, name) in [
        ("extxyz", &xyz, "flashmd.xyz"),
        ("asedb", &db, "structures.db"),
        ("asedb", &json, "structures.json"),
    ] {
        let dataset = line(kind, path);
        let sets = [[dataset.as_str(), "model.latent=8"].as_slice(), &QUICK_RUN].concat();
        let o = with_sets(dir.path(), "run", &config, 4, &sets);
        let out = text(&o);
        assert!(o.status.success(), "{kind}: {out}");
        assert!(out.contains("schnet"), "{out}");
        assert!(out.contains(name), "{kind}: {out}");
    }
    // the example config itself, on its QM9 molecules
    let molecules = repo().join("plugins/dataset-extxyz/tests/fixtures/qm9_reduced_100.xyz");
    let dataset = format!("dataset.path={:?}", molecules.to_str().unwrap());
    let sets = [
        dataset.as_str(),
        "model.latent=8",
        "training.eval_every=2",
        "training.checkpoint_every=0",
    ];
    let o = with_sets(dir.path(), "run", &config, 2, &sets);
    assert!(o.status.success(), "{}", text(&o));
    // a damaged file stops the run with the file, frame and line named
    let bad = dir.path().join("bad.xyz");
    std::fs::write(&bad, "2\nenergy=1\nH 0 0 0\nH 0 0\n").unwrap();
    let o = with_sets(dir.path(), "run", &config, 2, &[&line("extxyz", &bad)]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("bad.xyz: frame 0 (line 4): 3 fields where Properties asks for 4"),
        "{}",
        text(&o)
    );
}

/// The energies and the first frame's forces of a predicted extended XYZ file.
fn predicted(text: &str) -> (Vec<f64>, Vec<[f64; 3]>) {
    let mut energies = Vec::new();
    let mut forces = Vec::new();
    let mut lines = text.lines();
    while let Some(count) = lines.next() {
        let n: usize = count.trim().parse().unwrap();
        let comment = lines.next().unwrap();
        let e = comment
            .split_whitespace()
            .find_map(|w| w.strip_prefix("energy="))
            .unwrap();
        energies.push(e.parse().unwrap());
        for _ in 0..n {
            let f: Vec<f64> = lines
                .next()
                .unwrap()
                .split_whitespace()
                .skip(4)
                .map(|x| x.parse().unwrap())
                .collect();
            if energies.len() == 1 {
                forces.push([f[0], f[1], f[2]]);
            }
        }
    }
    (energies, forces)
}

#[test]
fn a_trained_potentials_predicted_forces_are_the_gradient_of_its_energies() {
    let dir = tempfile::tempdir().unwrap();
    let run = train_on_aluminium(dir.path());
    // a structure it never saw (fcc aluminium, jittered), and copies with one coordinate moved
    let h = 5e-3;
    let jitter = |a: usize, x: usize| 0.07 * ((a * 7 + x * 3) % 11) as f64 / 11.0 - 0.035;
    let mut frames = aluminium(jitter);
    let moved: Vec<(usize, usize)> = (0..3).flat_map(|a| (0..3).map(move |x| (a, x))).collect();
    for &(atom, axis) in &moved {
        for sign in [1.0, -1.0] {
            frames.push_str(&aluminium(|a, x| {
                jitter(a, x)
                    + if (a, x) == (atom, axis) {
                        sign * h
                    } else {
                        0.0
                    }
            }));
        }
    }
    let data = dir.path().join("new.xyz");
    std::fs::write(&data, frames).unwrap();
    let (out_xyz, out_pq) = (dir.path().join("pred.xyz"), dir.path().join("pred.parquet"));
    let o = predict(
        dir.path(),
        &run,
        &data,
        &out_xyz,
        &["--parquet", out_pq.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(out_pq.is_file());
    let (energies, forces) = predicted(&std::fs::read_to_string(&out_xyz).unwrap());
    assert_eq!(energies.len(), 1 + 2 * moved.len());
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (k, &(atom, axis)) in moved.iter().enumerate() {
        let fd = -(energies[1 + 2 * k] - energies[2 + 2 * k]) / (2.0 * h);
        let f = forces[atom][axis];
        diff += (fd - f).powi(2);
        norm += f * f;
    }
    let relative = (diff / norm).sqrt();
    eprintln!("relative error {relative:e} over {} forces", moved.len());
    assert!(
        relative < 0.02,
        "forces vs central differences of the predicted energies: {relative:.4} relative"
    );
    // bad input, each exit 2 naming it: a folder without a potential, a species it never saw,
    // a file that is not extended XYZ
    let y = dir.path().join("y.xyz");
    let predict_y =
        |run: &std::path::Path, data: &std::path::Path| predict(dir.path(), run, data, &y, &[]);
    common::assert_refused(&predict_y(dir.path(), &data), &["no trained potential"]);
    let fe = dir.path().join("fe.xyz");
    std::fs::write(
        &fe,
        "1\nLattice=\"3 0 0 0 3 0 0 0 3\" pbc=\"T T T\"\nFe 0 0 0\n",
    )
    .unwrap();
    common::assert_refused(
        &predict_y(&run, &fe),
        &["atomic number 26", "not in the potential's"],
    );
    std::fs::write(&fe, "not a frame\n").unwrap();
    common::assert_refused(&predict_y(&run, &fe), &["fe.xyz", "frame 0"]);
    assert!(
        !dir.path().join("y.xyz").exists(),
        "nothing written for refused input"
    );
}

#[test]
fn pytorchs_double_backward_gives_the_same_loss_and_forces_from_the_same_weights_and_batch() {
    // torch is not in CI's environment (about 5 GB: scripts/torch-env.sh)
    let Some(torch) =
        common::importing(&repo().join("target/torch-env/bin/python"), "torch, numpy")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("configs/examples/mlearn-schnet-forces.toml");
    let dump = dir.path().join("dump");
    let o = bench_step(
        dir.path(),
        &[
            config.to_str().unwrap(),
            "--batch-sizes",
            "8",
            "--dump",
            dump.to_str().unwrap(),
            "--dump-batches",
            "2",
            "--set",
            "dataset.source=\"fixture\"",
            "--set",
            "dataset.elements=[\"Cu\", \"Ge\", \"Li\", \"Mo\", \"Ni\", \"Si\"]",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = std::process::Command::new(torch)
        .arg(repo().join("bench/torch/schnet_forces.py"))
        .args([
            "--dump",
            dump.to_str().unwrap(),
            "--check-only",
            "--threads",
            "1",
        ])
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let number_after = |marker: &str| -> f64 {
        let rest = &out[out.find(marker).unwrap() + marker.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    let loss = number_after("relative difference ");
    let forces = number_after("forces: largest difference ");
    assert!(
        loss < 1e-5,
        "loss at step 1 differs by {loss:e} (relative):\n{out}"
    );
    assert!(forces < 1e-5, "forces differ by {forces:e} eV/A:\n{out}");
}

/// A potential's bad input, through the binary: each a clear refusal (exit 2) naming what is
/// wrong, nothing trained on wrong labels.
#[test]
fn a_potentials_bad_input_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("configs/examples/mlearn-schnet-forces.toml");
    let fixture = |extra: &[&str]| {
        let mut args = vec![
            "run",
            config.to_str().unwrap(),
            "--steps",
            "2",
            "--set",
            "dataset.source=\"fixture\"",
            "--set",
            "dataset.elements=[\"Cu\", \"Ge\", \"Li\", \"Mo\", \"Ni\", \"Si\"]",
            "--set",
            "batcher.batch_size=4",
        ];
        args.extend_from_slice(extra);
        geobatch(dir.path(), &args)
    };
    // the k nearest neighbours change by jumps as atoms move
    let o = fixture(&["--set", "dataset.graph={kind=\"knn\", k=12}"]);
    common::assert_refused(&o, &["knn", "smooth", "cutoff"]);
    // a model that is no potential
    let o = fixture(&["--set", "model={kind=\"mpeu\"}"]);
    common::assert_refused(&o, &["potential", "mpeu", "schnet"]);
    // PaiNN's cutoff beyond the graph's radius
    let o = fixture(&[
        "--set",
        "model={kind=\"painn\", hidden=8, layers=1, cutoff=6.0}",
    ]);
    common::assert_refused(&o, &["model.cutoff = 6", "radius"]);
    // loss weights without forces in the data
    let o = fixture(&["--set", "dataset.targets=[\"energy\"]"]);
    common::assert_refused(&o, &["[training.loss]", "no forces"]);
    let o = fixture(&[
        "--set",
        "training.loss={energy=0.0, forces=0.0, stress=0.0}",
    ]);
    common::assert_refused(&o, &["every weight is 0"]);
    // an extended XYZ file without forces asked for forces: every frame skipped, counted, refused
    let xyz = repo().join("plugins/dataset-extxyz/tests/fixtures/qm9_reduced_100.xyz");
    let line = format!(
        "dataset={{kind=\"extxyz\", path={:?}, targets=[\"U0\", \"forces\"], \
         graph={{kind=\"full\"}}}}",
        xyz.to_str().unwrap()
    );
    let o = fixture(&["--set", &line]);
    common::assert_refused(&o, &["no usable structures", "100 without forces"]);
}

/// Issue 83: `predict --serve` (what `geobatch.ase.Calculator` talks to) answers each JSON line
/// with `predict`'s values, a bad request with an error line it goes on after, and ends quietly,
/// exit 0, when its input ends or when nobody reads its answers.
#[test]
fn predict_serve_answers_refuses_bad_requests_and_ends_quietly() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let run = train_on_aluminium(dir.path());
    let serve = || {
        Command::new(common::binary())
            .args(["predict", "--run", run.to_str().unwrap(), "--serve"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // the frame predict reads, as a request
    let frame = aluminium(|a, k| 0.01 * ((a * 3 + k) % 7) as f64);
    let lines: Vec<&str> = frame.lines().collect();
    let positions: Vec<String> = lines[2..]
        .iter()
        .map(|l| {
            format!(
                "[{}]",
                l.split_whitespace().skip(1).collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    let request = format!(
        "{{\"structures\": [{{\"numbers\": [{}], \"positions\": [{}], \"cell\": \
         [[8.1,0,0],[0,8.1,0],[0,0,8.1]], \"pbc\": [true,true,true]}}]}}\n",
        vec!["13"; positions.len()].join(","),
        positions.join(",")
    );
    let mut child = serve();
    let mut stdin = child.stdin.take().unwrap();
    let mut answers = BufReader::new(child.stdout.take().unwrap()).lines();
    for asked in [
        "not json\n",
        "{\"structures\": [{\"numbers\": [29], \"positions\": [[0,0,0]]}]}\n",
        &request,
    ] {
        stdin.write_all(asked.as_bytes()).unwrap();
    }
    drop(stdin);
    let replies: Vec<String> = answers.by_ref().map(Result::unwrap).collect();
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert!(
        replies[0].starts_with("{\"error\":\"not a request"),
        "{replies:?}"
    );
    assert!(replies[1].contains("atomic number 29"), "{replies:?}");
    assert!(child.wait().unwrap().success());
    // the same structure through `predict`: the same energy, to the bit
    let data = dir.path().join("one.xyz");
    std::fs::write(&data, &frame).unwrap();
    let out = dir.path().join("out.xyz");
    let o = predict(dir.path(), &run, &data, &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let written = std::fs::read_to_string(&out).unwrap();
    let energy: f64 = written
        .split_whitespace()
        .find_map(|w| w.strip_prefix("energy="))
        .unwrap()
        .parse()
        .unwrap();
    let served: f64 = replies[2]
        .split("\"energy\":")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        served.to_bits(),
        energy.to_bits(),
        "{energy} {}",
        replies[2]
    );
    // nobody reads the answers: it ends, exit 0, whatever is still asked
    let mut child = serve();
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    for _ in 0..20 {
        if stdin.write_all(request.as_bytes()).is_err() {
            break;
        }
    }
    drop(stdin);
    let status = child.wait().unwrap();
    let mut said = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut said).unwrap();
    assert!(status.success(), "{status:?} {said}");
    assert!(!said.contains("Broken pipe"), "{said}");
}
