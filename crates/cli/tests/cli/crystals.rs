//! Crystal examples on imported and committed data, and PaiNN on periodic crystals.

use super::*;

/// A folder with the committed AFLOW sample imported into its `data/`, and the import's output.
fn aflow_imported() -> (tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let fixture = repo().join("data/fixtures/aflow-sample.jsonl");
    let o = geobatch(
        dir.path(),
        &["data", "import", "aflow", fixture.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o));
    (dir, o)
}

#[test]
fn crystal_examples_run_on_imported_and_committed_data() {
    let (dir, o) = aflow_imported();
    assert!(
        text(&o).contains("imported 8 AFLOW records"),
        "{}",
        text(&o)
    );
    let cif = repo().join("data/fixtures/cif-sample.csv");
    let cif_path = format!("dataset.path={:?}", cif.to_str().unwrap());
    let shared = repo().join("../shared/data/crystals/perov5");
    for batcher in ["dynamic", "static64", "static2n", "constant"] {
        let aflow = repo().join(format!("configs/examples/aflow-{batcher}.toml"));
        let o = with_sets(dir.path(), "batches", &aflow, 20, &["batcher.batch_size=4"]);
        let out = text(&o);
        assert!(o.status.success(), "{out}");
        assert!(
            out.contains("8 records read, 7 kept; skipped: 1 without Ef"),
            "{out}"
        );
        let perov = repo().join(format!("configs/examples/perov5-{batcher}.toml"));
        let sets = [
            cif_path.as_str(),
            "dataset.targets=[\"energy_per_atom\"]",
            "batcher.batch_size=3",
        ];
        let o = with_sets(dir.path(), "batches", &perov, 20, &sets);
        assert!(o.status.success(), "{}", text(&o));
        if geobatch_testkit::shared_data(&shared).is_some() {
            let path = format!("dataset.path={:?}", shared.to_str().unwrap());
            let o = with_sets(dir.path(), "batches", &perov, 50, &[&path]);
            let out = text(&o);
            assert!(o.status.success(), "{out}");
            assert!(out.contains("7572 rows read, 7572 kept"), "{out}");
        }
    }
}

#[test]
fn painn_trains_on_periodic_crystals_from_the_cli() {
    let (dir, _) = aflow_imported();
    let config = repo().join("configs/examples/aflow-painn-dynamic.toml");
    let sets = [["model.hidden=8"].as_slice(), &QUICK_RUN].concat();
    let o = with_sets(dir.path(), "run", &config, 4, &sets);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("painn"), "{out}");
}
