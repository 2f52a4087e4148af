//! `geobatch advise CONFIG --steps N`: probes every candidate batcher with a short real run of
//! the config's model, plans the N steps of each without the model, predicts and ranks their
//! total training time (`geobatch_report::advise`), and with `--validate` runs the recommended
//! batcher and the runner-up for N steps to check the prediction (docs/advise.md).

use crate::plugins::UsageError;
use anyhow::Context as _;
use geobatch_report::advise::{Advice, Candidate, ShapeKey, advise};
use geobatch_runner::LoadedConfig;
use geobatch_runner::batches::{PlannedBatch, planned_batches};
use geobatch_runner::config::read_with_overrides;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The arguments of `geobatch advise`.
#[derive(Debug, clap::Args)]
pub struct AdviseArgs {
    /// Experiment config with a [model] (graph-level).
    pub config: PathBuf,
    /// Training steps the advice is for.
    #[arg(long)]
    pub steps: u64,
    /// Candidate batchers, comma-separated, each KIND[:KEY=VALUE...] (e.g. static:pad=pow2);
    /// default: dynamic, static:pad=multiple64, static:pad=pow2, pack and the config's own.
    #[arg(long, value_delimiter = ',')]
    pub batchers: Vec<String>,
    /// Steps of each candidate's probe.
    #[arg(long, default_value_t = 300)]
    pub probe_steps: u64,
    /// Time limit of each probe, seconds (it ends early, with what it measured).
    #[arg(long, default_value_t = 120.0)]
    pub probe_seconds: f64,
    /// Run the recommended batcher and the runner-up for the N steps and report predicted
    /// against measured total time.
    #[arg(long)]
    pub validate: bool,
    /// Output folder (default: RESULTS_DIR/EXPERIMENT/advise-MODEL-bsB-stepsN).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override a config value (dotted key, TOML value).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Advises a batcher for the config's run and prints the advice.
pub fn command(args: AdviseArgs) -> anyhow::Result<ExitCode> {
    if crate::is_node_level(&args.config, &args.overrides)? {
        anyhow::bail!(UsageError(
            "advise compares graph batchers over training steps; this config is \
             node-level (compare node batchers with a sweep and `geobatch report`)"
                .into()
        ));
    }
    if !(args.probe_seconds > 0.0 && args.probe_seconds.is_finite()) {
        anyhow::bail!(UsageError(
            "--probe-seconds must be a positive number".into()
        ));
    }
    let stop = crate::signals::stop_on_ctrl_c("stopping the advice (the signal again to kill)");
    let (text, out) = run(&args, &stop)?;
    print!("{text}");
    println!("\nadvice written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// The candidates when `--batchers` is not given: the study's dynamic, static-64 and static-2^N,
/// and `pack` (those registered in this build), plus the config's own batcher.
pub const DEFAULT_BATCHERS: &[&str] = &[
    "dynamic",
    "static:pad=multiple64",
    "static:pad=pow2",
    "pack",
];

/// A candidate's batcher table from `KIND[:KEY=VALUE...]` (values TOML, else strings); the
/// config's batch size unless the spec sets one.
pub fn candidate_table(spec: &str, batch_size: usize) -> Result<toml::Table, UsageError> {
    let mut parts = spec.split(':');
    let kind = parts.next().unwrap_or_default().trim();
    if kind.is_empty() {
        return Err(UsageError(format!(
            "--batchers {spec:?}: expected KIND[:KEY=VALUE...], e.g. static:pad=pow2"
        )));
    }
    let names = geobatch_core::registry::names(geobatch_core::PluginKind::Batcher);
    if !names.contains(&kind) {
        return Err(UsageError(format!(
            "--batchers {spec:?}: unknown batcher {kind:?}; registered: {}",
            names.join(", ")
        )));
    }
    let mut t = toml::Table::new();
    t.insert("kind".into(), toml::Value::String(kind.into()));
    t.insert(
        "batch_size".into(),
        toml::Value::Integer(i64::try_from(batch_size).unwrap_or(i64::MAX)),
    );
    for kv in parts {
        geobatch_runner::config::apply_override(&mut t, kv)
            .map_err(|m| UsageError(format!("--batchers {spec:?}: {kv:?}: {m}")))?;
    }
    Ok(t)
}

/// The config with `batcher` in place of its own, for a run of `steps` steps under `results`:
/// no evaluation, no checkpoints, Parquet only (advise measures training time).
fn variant(
    base: &toml::Table,
    batcher: &toml::Table,
    steps: u64,
    results: &Path,
    path: &Path,
) -> anyhow::Result<LoadedConfig> {
    let mut t = base.clone();
    t.insert("batcher".into(), toml::Value::Table(batcher.clone()));
    let training = t
        .entry("training")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .context("`training` is not a table")?;
    training.insert(
        "steps".into(),
        toml::Value::Integer(i64::try_from(steps).unwrap_or(i64::MAX)),
    );
    training.insert("eval_splits".into(), toml::Value::Array(Vec::new()));
    training.insert("eval_every".into(), toml::Value::Integer(0));
    training.insert("checkpoint_every".into(), toml::Value::Integer(0));
    let experiment = t
        .entry("experiment")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .context("`experiment` is not a table")?;
    experiment.insert(
        "results_dir".into(),
        toml::Value::String(results.display().to_string()),
    );
    let mut sink = toml::Table::new();
    sink.insert("kind".into(), toml::Value::String("parquet".into()));
    t.insert(
        "sinks".into(),
        toml::Value::Array(vec![toml::Value::Table(sink)]),
    );
    Ok(LoadedConfig::from_str(&toml::to_string(&t)?, path)?)
}

/// Trains `loaded` into a fresh run folder (an earlier one of the same config is replaced),
/// ended early when `limit` passes or `stop` is set; returns the steps read back.
fn measure(
    loaded: &LoadedConfig,
    limit: Option<Duration>,
    stop: &AtomicBool,
) -> anyhow::Result<geobatch_report::read::Steps> {
    let dir = loaded.run_dir();
    let claim = geobatch_runner::policy::claim(&dir, geobatch_runner::policy::Ask::Fresh)?;
    let run_stop = AtomicBool::new(false);
    let (done, ended) = mpsc::channel::<()>();
    let summary = std::thread::scope(|s| {
        let flag = &run_stop;
        s.spawn(move || {
            let start = Instant::now();
            loop {
                match ended.recv_timeout(Duration::from_millis(100)) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                if stop.load(Ordering::SeqCst) || limit.is_some_and(|l| start.elapsed() >= l) {
                    flag.store(true, Ordering::SeqCst);
                }
            }
        });
        let r = geobatch_runner::run_train(loaded, None, &run_stop);
        let _ = done.send(());
        r
    })?;
    drop(claim);
    if stop.load(Ordering::SeqCst) {
        anyhow::bail!(crate::signals::Stopped {
            what: "the advice",
            by: crate::signals::stopped_by(),
        });
    }
    let run = geobatch_report::read::read_run(&summary.run_dir)?;
    // the probe's files must be what it recorded, or its timings are not evidence
    geobatch_report::verify::verify(&run).map_err(anyhow::Error::msg)?;
    Ok(run.steps)
}

/// Shapes and fill of a planned run.
fn planned(batches: &[PlannedBatch]) -> (Vec<ShapeKey>, (f64, f64), f64) {
    let key = |s: &geobatch_core::Shape| {
        [s.nodes, s.edges, s.graphs].map(|v| u32::try_from(v).unwrap_or(u32::MAX))
    };
    let sum = |f: &dyn Fn(&PlannedBatch) -> usize| batches.iter().map(|b| f(b) as f64).sum::<f64>();
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    (
        batches.iter().map(|b| key(&b.padded)).collect(),
        (
            ratio(sum(&|b| b.real.nodes), sum(&|b| b.padded.nodes)),
            ratio(sum(&|b| b.real.edges), sum(&|b| b.padded.edges)),
        ),
        ratio(sum(&|b| b.real.graphs), batches.len() as f64),
    )
}

/// Runs `geobatch advise`; returns the advice as Markdown and the folder it was written to.
pub fn run(req: &AdviseArgs, stop: &AtomicBool) -> anyhow::Result<(String, PathBuf)> {
    let (text, base_loaded) = checked(req)?;
    let cfg = &base_loaded.config;
    let model = cfg.model.as_ref().ok_or_else(|| {
        UsageError(format!(
            "{}: no [model] table: advise times a model's training steps (see `geobatch list models`)",
            req.config.display()
        ))
    })?;
    let batch_size = cfg.batcher.batch_size();
    let base: toml::Table = toml::from_str(&text)?;
    let tables = candidate_tables(req, &base, batch_size)?;
    let out = req.out.clone().unwrap_or_else(|| {
        cfg.experiment
            .results_dir
            .join(&cfg.experiment.name)
            .join(format!(
                "advise-{}-bs{batch_size}-steps{}",
                model.typetag_name(),
                req.steps
            ))
    });
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let (candidates, tables) = probe_all(req, &base, tables, &out, stop)?;
    let title = format!(
        "{} on {}, batch size {batch_size}, {}, {} kernel threads",
        model.typetag_name(),
        base_loaded.names().dataset,
        cfg.training.device,
        geobatch_runner::threads::resolve(cfg.training.threads)
    );
    let mut advice = advise(&candidates, req.steps, cfg.training.warmup);
    // the prediction is kept before the validation runs, so a failed or stopped one loses nothing
    write(&advice, &title, &out)?;
    if req.validate {
        let top: Vec<String> = advice.top_two().iter().map(|r| r.label.clone()).collect();
        for label in top {
            let Some(i) = candidates.iter().position(|c| c.label == label) else {
                continue;
            };
            eprintln!("advise: validating {label}: {} steps", req.steps);
            let full = variant(
                &base,
                &tables[i],
                req.steps,
                &out.join("validation"),
                &req.config,
            )?;
            let steps =
                measure(&full, None, stop).with_context(|| format!("validation run of {label}"))?;
            advice.check(&label, &steps);
            write(&advice, &title, &out)?;
        }
    }
    Ok((advice.render(&title), out))
}

/// The request's numbers checked against each other and the config: the config's text (with
/// its overrides) and the config loaded.
fn checked(req: &AdviseArgs) -> anyhow::Result<(String, LoadedConfig)> {
    if req.steps == 0 {
        anyhow::bail!(UsageError("--steps must be at least 1".into()));
    }
    if req.probe_steps < 2 {
        anyhow::bail!(UsageError(
            "--probe-steps must be at least 2 (the first step is start-up)".into()
        ));
    }
    let (text, loaded) = {
        let (text, _) = read_with_overrides(&req.config, &req.overrides)?;
        let loaded = LoadedConfig::from_str(&text, &req.config)?;
        (text, loaded)
    };
    let warmup = loaded.config.training.warmup;
    // warm-up steps are left out of a probe's timings: a probe of no more steps than that
    // measures nothing, and every prediction would be 0 s
    if req.probe_steps < warmup + 2 {
        anyhow::bail!(UsageError(format!(
            "--probe-steps {} is too short for the config's training.warmup = {warmup}: a \
             probe's warm-up steps are not timed, so it needs at least {} steps",
            req.probe_steps,
            warmup + 2
        )));
    }
    if let Some(twice) = req
        .batchers
        .iter()
        .enumerate()
        .find_map(|(i, b)| req.batchers[..i].contains(b).then_some(b))
    {
        anyhow::bail!(UsageError(format!(
            "--batchers names {twice} twice: list each candidate once"
        )));
    }
    Ok((text, loaded))
}

/// The candidates' batcher tables: `--batchers`, or the default candidates registered in this
/// build followed by the config's own batcher.
fn candidate_tables(
    req: &AdviseArgs,
    base: &toml::Table,
    batch_size: usize,
) -> anyhow::Result<Vec<toml::Table>> {
    let specs: Vec<String> = if req.batchers.is_empty() {
        let names = geobatch_core::registry::names(geobatch_core::PluginKind::Batcher);
        DEFAULT_BATCHERS
            .iter()
            .filter(|s| names.contains(&s.split(':').next().unwrap_or_default()))
            .map(|s| s.to_string())
            .collect()
    } else {
        req.batchers.clone()
    };
    let mut tables = specs
        .iter()
        .map(|s| candidate_table(s, batch_size))
        .collect::<Result<Vec<_>, _>>()?;
    // the config's own batcher joins the default candidates unless it is one of them (dropped
    // by its label in probe_all)
    if req.batchers.is_empty() {
        let own = base
            .get("batcher")
            .and_then(toml::Value::as_table)
            .cloned()
            .context("the config has no [batcher] table")?;
        tables.push(own);
    }
    Ok(tables)
}

/// Plans and probes every candidate; returns them with the tables they came from (the config's
/// own batcher left out when a default candidate has its label).
fn probe_all(
    req: &AdviseArgs,
    base: &toml::Table,
    tables: Vec<toml::Table>,
    out: &Path,
    stop: &AtomicBool,
) -> anyhow::Result<(Vec<Candidate>, Vec<toml::Table>)> {
    let own_extra = req.batchers.is_empty();
    let last = tables.len() - 1;
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut kept = Vec::new();
    for (i, t) in tables.into_iter().enumerate() {
        let spec = toml::Value::Table(t.clone()).to_string();
        let probe = variant(base, &t, req.probe_steps, &out.join("probes"), &req.config)
            .with_context(|| format!("batcher {spec}"))?;
        let mut label = probe.config.batcher.label();
        if candidates.iter().any(|c| c.label == label) {
            if own_extra && i == last {
                continue;
            }
            // two candidates of one label (options the label does not show): name the table
            label = format!("{label} {spec}");
        }
        let started = Instant::now();
        let plan = planned_batches(&probe, req.steps)?;
        let plan_s = started.elapsed().as_secs_f64();
        let (padded, fill, graphs_per_step) = planned(&plan);
        eprintln!(
            "advise: {label}: planned {} steps in {plan_s:.1} s; probing {} steps (at most {:.0} s)",
            req.steps, req.probe_steps, req.probe_seconds
        );
        let steps = measure(
            &probe,
            Some(Duration::from_secs_f64(req.probe_seconds)),
            stop,
        )
        .with_context(|| format!("probe of {label}"))?;
        if steps.step.len() < 2 {
            anyhow::bail!(
                "probe of {label}: only {} step(s) ran in {} s: raise --probe-seconds",
                steps.step.len(),
                req.probe_seconds
            );
        }
        candidates.push(Candidate {
            label,
            spec,
            padded,
            fill,
            graphs_per_step,
            probe: steps,
        });
        kept.push(t);
    }
    Ok((candidates, kept))
}

/// Writes `advice.md`, `advice.parquet` and `crossovers.parquet` into `out`.
fn write(advice: &Advice, title: &str, out: &Path) -> anyhow::Result<()> {
    advice.write(out)?;
    let md = out.join("advice.md");
    std::fs::write(&md, advice.render(title))
        .with_context(|| format!("cannot write {}", md.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_take_the_config_batch_size_and_typed_options() {
        geobatch_catalog::link();
        let t = candidate_table("static:pad=pow2", 32).expect("parsed");
        assert_eq!(t["kind"].as_str(), Some("static"));
        assert_eq!(t["pad"].as_str(), Some("pow2"));
        assert_eq!(t["batch_size"].as_integer(), Some(32));
        let t = candidate_table("pack:batch_size=64:window=128", 32).expect("parsed");
        assert_eq!(t["batch_size"].as_integer(), Some(64));
        assert_eq!(t["window"].as_integer(), Some(128));
        let e = candidate_table("greedy-nonexistent", 32).expect_err("unknown");
        assert!(
            e.0.contains("unknown batcher") && e.0.contains("registered:"),
            "{e}"
        );
        assert!(candidate_table("", 32).is_err());
        assert!(
            candidate_table("static:pad", 32)
                .expect_err("no value")
                .0
                .contains("KEY=VALUE")
        );
    }
}
