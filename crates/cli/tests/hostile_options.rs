//! Issue 33, classes 6 and 7: every option has bounds from the data and the machine, and a
//! message names the dotted key and the limit. A table of hostile configs driven through the
//! binary as a user would: each must end with exit code 2 (or the stated one), its message
//! must name what is wrong, and nothing may panic.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::Path;

mod common;
use common::{geobatch, text};

const HEAD: &str = "[experiment]\nname = \"opt\"\n[dataset]\nkind = \"synthetic\"\ngraphs = 60\n";
const DYNAMIC: &str = "[batcher]\nkind = \"dynamic\"\nbatch_size = 8\n";
const NODE: &str = "[experiment]\nname = \"opt\"\n[dataset]\nkind = \"sbm\"\nnodes = 400\nclasses = 4\ncommunities = 8\n";

/// Writes `body` as `name` in `dir` and runs `geobatch ARGS... name`.
fn check(dir: &Path, case: &str, body: &[u8], args: &[&str], code: i32, wants: &[&str]) {
    let name = format!("{case}.toml");
    std::fs::write(dir.join(&name), body).unwrap();
    let mut all: Vec<&str> = args.to_vec();
    all.insert(1, &name);
    let o = geobatch(dir, &all);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(code), "{case}: {out}");
    assert!(!out.contains("panicked"), "{case} panicked: {out}");
    for w in wants {
        assert!(out.contains(w), "{case}: wants {w:?}: {out}");
    }
}

/// Bad options refused by `geobatch validate` (and so by `run`, `sweep`, `advise`), each with
/// the dotted key and the limit in its message.
#[test]
fn options_out_of_bounds_name_the_key_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: Vec<Case> = [
        whole_number_cases(),
        optimizer_and_list_cases(),
        model_size_cases(),
        runtime_sink_and_graph_cases(),
        degrading_batcher_cases(),
    ]
    .concat();
    let n = cases.len();
    for (case, body, wants) in cases {
        check(d, case, body.as_bytes(), &["validate"], 2, &wants);
    }
    binary_is_refused_and_a_bom_is_skipped(d);
    assert_eq!(n + 2, 36);
}

/// A hostile config case: its name, the TOML text, and what the message must name.
type Case = (&'static str, String, Vec<&'static str>);

/// Whole-number options given as a string, a negative or a fraction: key and range named.
fn whole_number_cases() -> Vec<Case> {
    vec![
        (
            "bs-string",
            format!("{HEAD}[batcher]\nkind = \"static\"\nbatch_size = \"32\"\n"),
            vec!["key `batcher.batch_size`", "invalid type: string \"32\""],
        ),
        (
            "bs-negative",
            format!("{HEAD}[batcher]\nkind = \"static\"\nbatch_size = -3\n"),
            vec!["key `batcher.batch_size`", "a whole number from 0 to"],
        ),
        (
            "bs-float",
            format!("{HEAD}[batcher]\nkind = \"dynamic\"\nbatch_size = 8.5\n"),
            vec!["key `batcher.batch_size`"],
        ),
        (
            "steps-negative",
            format!("{HEAD}{DYNAMIC}[training]\nsteps = -5\n"),
            vec!["key `training.steps`", "a whole number from 0 to"],
        ),
        (
            "graphs-negative",
            format!(
                "[experiment]\nname = \"o\"\n[dataset]\nkind = \"synthetic\"\ngraphs = -1\n{DYNAMIC}"
            ),
            vec!["key `dataset.graphs`"],
        ),
        (
            // two options of the plugin hold the same bad value: the one read first is named
            "same-value-twice",
            format!(
                "{HEAD}[batcher]\nkind = \"dynamic\"\nbatch_size = 8\n\
                 num_estimation_graphs = -4\nbudget = {{ nodes = 5, edges = -4 }}\n"
            ),
            vec!["key `batcher.budget.edges`", "integer `-4`"],
        ),
        (
            "unknown-plugin-key",
            format!("{HEAD}[batcher]\nkind = \"dynamic\"\nbatch_size = 8\nbuget = 3\n"),
            vec!["key `batcher.buget`", "unknown field `buget`"],
        ),
        (
            "node-plugin-key",
            format!("{NODE}[batcher]\nkind = \"ibmb-node\"\nbatch_size = 8\n"),
            vec!["key `batcher.batch_size`", "unknown field `batch_size`"],
        ),
    ]
}

/// Infinite learning rates, decay rates outside (0, 1], and lists naming an entry twice.
fn optimizer_and_list_cases() -> Vec<Case> {
    vec![
        (
            "lr-inf",
            format!("{HEAD}{DYNAMIC}[training]\noptimizer = {{ learning_rate = inf }}\n"),
            vec!["learning_rate = inf"],
        ),
        (
            "lr-neg-inf",
            format!("{HEAD}{DYNAMIC}[training]\noptimizer = {{ learning_rate = -inf }}\n"),
            vec!["learning_rate = -inf"],
        ),
        (
            "decay-above-1",
            format!("{HEAD}{DYNAMIC}[training]\noptimizer = {{ decay_rate = 2.0 }}\n"),
            vec!["training.optimizer.decay_rate = 2", "at most 1"],
        ),
        (
            "decay-zero",
            format!("{HEAD}{DYNAMIC}[training]\noptimizer = {{ decay_rate = 0.0 }}\n"),
            vec!["training.optimizer.decay_rate = 0"],
        ),
        (
            "eval-twice",
            format!("{HEAD}{DYNAMIC}[training]\neval_splits = [\"test\", \"test\"]\n"),
            vec!["training.eval_splits names test twice"],
        ),
        (
            "targets-twice",
            format!(
                "[experiment]\nname = \"o\"\n[dataset]\nkind = \"qm9\"\nsource = \"fixture\"\ntargets = [\"U0\", \"U0\"]\n{DYNAMIC}"
            ),
            vec!["dataset.targets names U0 twice"],
        ),
    ]
}

/// Model sizes that need more memory than the machine has (key, GiB), or too small a latent.
fn model_size_cases() -> Vec<Case> {
    let schnet = |opts: &str| format!("{HEAD}{DYNAMIC}[model]\nkind = \"schnet\"\n{opts}\n");
    vec![
        (
            "latent-huge",
            schnet("latent = 100000000"),
            vec!["model.latent = 100000000", "GiB", "available"],
        ),
        (
            "rbf-huge",
            schnet("rbf = 100000000\nrbf_spacing = 0.0001"),
            vec!["model.rbf = 100000000", "GiB"],
        ),
        (
            "steps-huge",
            schnet("steps = 100000000"),
            vec!["model.steps = 100000000", "GiB"],
        ),
        (
            "mpeu-huge",
            format!("{HEAD}{DYNAMIC}[model]\nkind = \"mpeu\"\nlatent = 10000000\n"),
            vec!["model.latent = 10000000", "GiB"],
        ),
        (
            "painn-huge",
            format!("{HEAD}{DYNAMIC}[model]\nkind = \"painn\"\nhidden = 1000000\n"),
            vec!["model.hidden = 1000000", "GiB"],
        ),
        (
            "gcn-huge",
            format!(
                "{NODE}[model]\nkind = \"gcn\"\nhidden = 100000000\n[batcher]\nkind = \"full\"\n"
            ),
            vec!["model.hidden = 100000000", "GiB"],
        ),
        ("latent-zero", schnet("latent = 0"), vec!["latent >= 2"]),
        // was NaN at the first step, blamed on the learning rate
        (
            "rbf-spacing-huge",
            schnet("rbf_spacing = 1e300"),
            vec![
                "model.rbf_spacing = 1e300",
                "between 1e-6 and 10000.0 Angstrom",
            ],
        ),
        (
            "rbf-spacing-tiny",
            schnet("rbf_spacing = 1e-9"),
            vec!["model.rbf_spacing = 1e-9", "between 1e-6"],
        ),
        (
            "rbf-reach",
            schnet("rbf = 1000000\nlatent = 2\nsteps = 1"),
            vec![
                "model.rbf = 1000000 with model.rbf_spacing = 0.1",
                "at most 10000.0",
            ],
        ),
    ]
}

/// Options that quietly degrade a result or hang: refused, naming the option (issue 45, classes 3
/// and 5).
fn degrading_batcher_cases() -> Vec<Case> {
    let node = |batcher: &str| format!("{NODE}[model]\nkind = \"gcn\"\n[batcher]\n{batcher}\n");
    vec![
        (
            "fanouts-empty",
            node("kind = \"neighbor\"\nfanouts = []"),
            vec!["batcher.fanouts = []", "a fanout per hop"],
        ),
        (
            "fanouts-zero",
            node("kind = \"neighbor\"\nfanouts = [10, 0]"),
            vec!["batcher.fanouts[1] = 0"],
        ),
        (
            "ibmb-iters-zero",
            node("kind = \"ibmb-batch\"\nnum_parts = 8\niters = 0"),
            vec!["batcher.iters = 0", "at least 1"],
        ),
        // a hang with nothing printed before (quadratic placement of 10^7 atoms)
        (
            "synthetic-molecule-huge",
            format!(
                "{HEAD}nodes = {{ mean = 10000000.0, sd = 0.0, min = 10000000, max = 10000000 }}\n{DYNAMIC}"
            ),
            vec!["dataset.nodes: max = 10000000", "at most 10000 atoms"],
        ),
        (
            "pack-window-huge",
            format!("{HEAD}[batcher]\nkind = \"pack\"\nbatch_size = 8\nwindow = 100000000\n"),
            vec!["batcher.window = 100000000: at most 65536"],
        ),
    ]
}

/// An infinite timeout, a tiny PPR eps, zero threads, two parquet sinks and a negative radius.
fn runtime_sink_and_graph_cases() -> Vec<Case> {
    vec![
        (
            "timeout-inf",
            format!(
                "{HEAD}{DYNAMIC}[model]\nkind = \"python\"\nmodule = \"m.py\"\ntimeout = inf\n"
            ),
            vec!["model.timeout = inf"],
        ),
        (
            "ppr-eps",
            format!(
                "{NODE}[model]\nkind = \"gcn\"\n[batcher]\nkind = \"ibmb-node\"\noutputs_per_batch = 50\neps = 1e-12\n"
            ),
            vec!["batcher.eps = 1e-12", "pushes per output node"],
        ),
        (
            "threads-zero",
            format!("{HEAD}{DYNAMIC}[training]\nthreads = 0\n"),
            vec!["training.threads = 0"],
        ),
        (
            "two-parquet",
            format!(
                "{HEAD}{DYNAMIC}[[sinks]]\nkind = \"parquet\"\n[[sinks]]\nkind = \"parquet\"\n"
            ),
            vec!["would both write"],
        ),
        (
            "cutoff-negative",
            format!("{HEAD}graph = {{ kind = \"cutoff\", radius = -1.0 }}\n{DYNAMIC}"),
            vec!["radius"],
        ),
    ]
}

/// A binary file is refused as not TOML text; a byte-order mark before a good config is fine.
fn binary_is_refused_and_a_bom_is_skipped(d: &Path) {
    // a binary file is called that; a byte-order mark is not part of the config
    check(
        d,
        "binary",
        &(0..=255u8).cycle().take(999).collect::<Vec<u8>>(),
        &["validate"],
        2,
        &["a binary file, not TOML text"],
    );
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(format!("{HEAD}{DYNAMIC}").as_bytes());
    check(d, "bom", &bom, &["validate"], 0, &["ok"]);
}

/// Bounds that need the data: a batcher budget or window larger than the split, a graph rule
/// that leaves every graph without edges (through `geobatch batches`, which loads it).
#[test]
fn bounds_from_the_data_are_checked_when_it_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "pack-graphs",
            format!(
                "{HEAD}[batcher]\nkind = \"pack\"\nbatch_size = 16\nbudget = {{ nodes = 5000, edges = 50000, graphs = 5000 }}\n"
            ),
            vec!["batcher.budget.graphs = 5000", "at most 49"],
        ),
        (
            "no-edges",
            format!("{HEAD}graph = {{ kind = \"cutoff\", radius = 0.001 }}\n{DYNAMIC}"),
            vec!["no edge at all", "train"],
        ),
    ];
    for (case, body, wants) in cases {
        check(
            d,
            case,
            body.as_bytes(),
            &["batches", "--steps", "3"],
            2,
            &wants,
        );
    }
}

/// Sweep keys: duplicate values (the same run twice) and `seeds` beside `experiment.seed`.
#[test]
fn sweeps_refuse_the_same_run_twice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "seeds-twice",
            format!("{HEAD}{DYNAMIC}[sweep]\nseeds = [1, 2, 1]\n"),
            vec!["sweep.seeds", "1 is listed twice"],
        ),
        (
            "bs-twice",
            format!("{HEAD}{DYNAMIC}[sweep]\n\"batcher.batch_size\" = [8, 8]\n"),
            vec!["8 is listed twice"],
        ),
        (
            "seed-collision",
            format!("{HEAD}{DYNAMIC}[sweep]\nseeds = [1, 2]\n\"experiment.seed\" = [3]\n"),
            vec!["both `seeds` and `experiment.seed`"],
        ),
    ];
    for (case, body, wants) in cases {
        check(d, case, body.as_bytes(), &["sweep", "--dry-run"], 2, &wants);
    }
}

/// A thread count above the cores is warned about (the run goes on); advise refuses probes no
/// longer than the warm-up (every prediction would be 0 s) and a candidate named twice.
#[test]
fn threads_above_the_cores_warn_and_advise_checks_its_probes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let body = format!(
        "{HEAD}{DYNAMIC}[model]\nkind = \"schnet\"\nlatent = 8\nrbf = 10\n[training]\nsteps = 3\neval_every = 0\nthreads = 1000\n"
    );
    check(
        d,
        "threads",
        body.as_bytes(),
        &["run"],
        0,
        &["warning: training.threads = 1000 is more than the"],
    );
    let body = format!(
        "{HEAD}{DYNAMIC}[model]\nkind = \"schnet\"\nlatent = 8\nrbf = 10\n[training]\nwarmup = 10\n"
    );
    check(
        d,
        "probe",
        body.as_bytes(),
        &["advise", "--steps", "100", "--probe-steps", "5"],
        2,
        &[
            "--probe-steps 5 is too short",
            "training.warmup = 10",
            "at least 12",
        ],
    );
    check(
        d,
        "twice",
        body.as_bytes(),
        &["advise", "--steps", "100", "--batchers", "dynamic,dynamic"],
        2,
        &["--batchers names dynamic twice"],
    );
}

/// `run` on a config without `[model]` (a batching-study config, graph- or node-level) is
/// refused with exit 2 before anything is made: no run folder, no lock left behind.
#[test]
fn run_without_a_model_is_refused_before_any_folder_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (case, head) in [
        ("graph", format!("{HEAD}{DYNAMIC}")),
        ("node", format!("{NODE}[batcher]\nkind = \"full\"\n")),
    ] {
        let body = format!("{head}[[sinks]]\nkind = \"parquet\"\n");
        let results = d.join(format!("results-{case}"));
        let dir_set = format!("experiment.results_dir={}", results.display());
        check(
            d,
            case,
            body.as_bytes(),
            &["run", "--set", &dir_set],
            2,
            &["no [model] table", "geobatch list models"],
        );
        assert!(!results.exists(), "{case}: {} was made", results.display());
    }
}
