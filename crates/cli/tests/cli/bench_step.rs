//! `geobatch bench step`: every batch size timed with its padded work, `--set`, an oversized graph.

use super::*;

#[test]
fn bench_step_times_every_batch_size_with_its_padded_work() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("configs/smoke/qm9-fixture-schnet.toml");
    let o = common::bench_step(
        dir.path(),
        &[
            config.to_str().unwrap(),
            "--batch-sizes",
            "4,16",
            "--steps",
            "3",
            "--warmup",
            "1",
            "--threads",
            "1,2",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("training step of schnet"), "{out}");
    // rows: threads, bs, steps, median ms, p90 ms, graphs/s, edges, shares
    let rows: Vec<Vec<f64>> = out
        .lines()
        .filter_map(|l| {
            let cols: Vec<f64> = l
                .split_whitespace()
                .take(7)
                .map_while(|c| c.parse().ok())
                .collect();
            (cols.len() == 7).then_some(cols)
        })
        .collect();
    assert_eq!(rows.len(), 4, "{out}");
    for (row, (threads, bs)) in rows
        .iter()
        .zip([(1.0, 4.0), (1.0, 16.0), (2.0, 4.0), (2.0, 16.0)])
    {
        assert_eq!((row[0], row[1]), (threads, bs), "{out}");
        assert_eq!(row[2], 3.0);
        assert!(row[3] > 0.0 && row[4] >= row[3], "median <= p90: {row:?}");
        assert!(row[5] > 0.0 && row[6] > 0.0, "{row:?}");
    }
    assert!(
        rows[1][6] > 2.0 * rows[0][6],
        "larger batches pad to more edges: {out}"
    );
    assert_eq!(
        rows[0][6], rows[2][6],
        "the same batches on any number of threads"
    );
}

#[test]
fn bench_step_set_edits_the_built_in_config_and_names_bad_values() {
    // no config given: --set edits the built-in one, and a bad value is named as in a file's
    let dir = tempfile::tempdir().unwrap();
    let o = common::bench_step(dir.path(), &["--set", "batcher.kind=nope", "--steps", "1"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("<default bench config>: key `batcher.kind`"),
        "{out}"
    );
    assert!(out.contains("`dynamic`, `pack`, `static`"), "{out}");
    assert!(
        out.contains("line numbers refer to the config after --set"),
        "{out}"
    );
    let o = common::bench_step(
        dir.path(),
        &["--set", "batcher.batch_size=0", "--steps", "1"],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("batch_size must be at least 2"), "{out}");
    // --model sets the model as a value: an unknown one is named with the registered ones
    let o = common::bench_step(dir.path(), &["--model", "nope", "--steps", "1"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("--model \"nope\": no graph-level model of that name; registered: mpeu, painn, python, schnet"),
        "{out}"
    );
}

#[test]
fn bench_step_names_an_oversized_graph_by_its_id() {
    let dir = tempfile::tempdir().unwrap();
    // the budget comes from the first graph only, so a larger graph later cannot fit
    let config = dir.path().join("big.toml");
    std::fs::write(
        &config,
        "[experiment]\nname = \"bad\"\n[dataset]\nkind = \"synthetic\"\ngraphs = 300\n\
         nodes = { min = 3, max = 29, mean = 10.0, sd = 8.0 }\n[model]\nkind = \"schnet\"\n\
         latent = 8\n[batcher]\nkind = \"dynamic\"\nbatch_size = 2\nnum_estimation_graphs = 1\n",
    )
    .unwrap();
    let o = common::bench_step(
        dir.path(),
        &[
            config.to_str().unwrap(),
            "--batch-sizes",
            "2",
            "--steps",
            "500",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("train graph \"synthetic-") && out.contains("larger than the batch budget"),
        "{out}"
    );
}
