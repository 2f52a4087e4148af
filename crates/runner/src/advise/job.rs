//! The job of `geobatch advise` as a library function ([`run`]): the candidates' configs (the
//! config with another batcher, for a short probe or a validation run), their probes (real runs
//! of the model, stopped at a time limit), their planned N steps, the ranked prediction and its
//! files. The CLI parses the arguments into a [`Request`] and prints what [`run`] returns.

use crate::batches::{PlannedBatch, planned_batches};
use crate::candidates;
use crate::jobs::{self, AnyConfig};
use crate::{ExperimentConfig, LoadedConfig, RunError};
use geobatch_advice::{Advice, Candidate, ShapeKey, advise};
use geobatch_core::SinkSpec;
use geobatch_results::read::Steps;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What `geobatch advise` is asked.
#[derive(Debug, Clone)]
pub struct Request {
    /// Experiment config with a `[model]` (graph-level).
    pub config: PathBuf,
    /// `--set KEY=VALUE` overrides of the config.
    pub overrides: Vec<String>,
    /// Training steps the advice is for.
    pub steps: u64,
    /// Candidate batchers, each `KIND[:KEY=VALUE...]`; empty: [`candidates::DEFAULT_BATCHERS`] and the
    /// config's own.
    pub batchers: Vec<String>,
    /// Steps of each candidate's probe.
    pub probe_steps: u64,
    /// Time limit of each probe, seconds.
    pub probe_seconds: f64,
    /// Whether to run the recommended batcher and the runner-up for the N steps.
    pub validate: bool,
    /// Output folder (default: RESULTS_DIR/EXPERIMENT/advise-MODEL-bsB-stepsN).
    pub out: Option<PathBuf>,
}

/// An error of `what` (a part of the job), named by it; a stop is left as it is (the advice
/// stopped, whatever part it was in).
fn within(what: String) -> impl FnOnce(RunError) -> RunError {
    move |e| {
        if e.is_stopped() {
            e
        } else {
            RunError::Within {
                what,
                source: Box::new(e),
            }
        }
    }
}

/// The config `base` with `batcher` in place of its own, for a run of `steps` steps under
/// `results`: no evaluation, no checkpoints, Parquet only (advise measures training time). A
/// copy of the typed config is edited; the batcher, written by the user as `--batchers`
/// options, is read from its table so that its errors name the key (`batcher.pad`).
fn variant(
    base: &LoadedConfig,
    batcher: &toml::Table,
    steps: u64,
    results: &Path,
) -> Result<LoadedConfig, RunError> {
    let batcher = candidates::spec(batcher)?;
    let mut parquet = toml::Table::new();
    parquet.insert("kind".into(), toml::Value::String("parquet".into()));
    let parquet: Box<dyn SinkSpec> = toml::Value::Table(parquet)
        .try_into()
        .map_err(|e: toml::de::Error| RunError::Failed(e.to_string()))?;
    base.edited(|config| {
        let training = &mut config.training;
        training.steps = steps;
        (
            training.eval_splits,
            training.eval_every,
            training.checkpoint_every,
        ) = (Vec::new(), 0, 0);
        config.experiment.results_dir = results.to_path_buf();
        config.sinks = vec![parquet];
        config.batcher = batcher;
    })
}

/// Trains `loaded` into a fresh run folder (an earlier one of the same config is replaced),
/// ended early when `limit` passes or `stop` is set; returns the steps read back.
fn measure(
    loaded: &LoadedConfig,
    limit: Option<Duration>,
    stop: &AtomicBool,
) -> Result<Steps, RunError> {
    let dir = loaded.run_dir();
    let claim = crate::policy::claim(&dir, crate::policy::Ask::Fresh)?;
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
        let r = crate::run_train(loaded, None, &run_stop);
        let _ = done.send(());
        r
    })?;
    drop(claim);
    if stop.load(Ordering::SeqCst) {
        return Err(RunError::AdviceStopped {
            by: geobatch_process::stop::stopped_by(),
        });
    }
    let run = geobatch_results::read::read_run(&summary.run_dir)?;
    // the probe's files must be what it recorded, or its timings are not evidence
    geobatch_results::verify::verify(&run).map_err(RunError::Failed)?;
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

/// Runs `geobatch advise`: probes and plans every candidate, writes the advice (and with
/// `validate` checks it); returns the advice as Markdown and the folder it was written to. A
/// stop signal ends it as [`RunError::AdviceStopped`] by that signal in whatever part it came
/// (a probe's run that was still loading ends on it as its own error).
pub fn run(req: &Request, stop: &AtomicBool) -> Result<(String, PathBuf), RunError> {
    advise_job(req, stop).map_err(|e| match e {
        e @ RunError::AdviceStopped { .. } => e,
        e if e.is_stopped() => RunError::AdviceStopped {
            by: geobatch_process::stop::stopped_by(),
        },
        e => e,
    })
}

/// [`run`] before its stop is named.
fn advise_job(req: &Request, stop: &AtomicBool) -> Result<(String, PathBuf), RunError> {
    let base_loaded = checked(req)?;
    let cfg = &base_loaded.config;
    let model = cfg.model.as_ref().ok_or_else(|| {
        RunError::Usage(format!(
            "{}: no [model] table: advise times a model's training steps (see `geobatch list models`)",
            req.config.display()
        ))
    })?;
    let batch_size = cfg.batcher.batch_size();
    let tables = candidates::tables(
        &req.batchers,
        candidates::DEFAULT_BATCHERS,
        &base_loaded.config,
        batch_size,
    )?;
    plans_fit(req.steps, tables.len())?;
    let out = req.out.clone().unwrap_or_else(|| {
        cfg.experiment
            .results_dir
            .join(&cfg.experiment.name)
            .join(format!(
                "advise-{}-bs{batch_size}-steps{}",
                model.plugin_name(),
                req.steps
            ))
    });
    std::fs::create_dir_all(&out)
        .map_err(|e| RunError::Failed(format!("cannot create {}: {e}", out.display())))?;
    let (candidates, tables) = probe_all(req, &base_loaded, tables, &out, stop)?;
    let title = format!(
        "{} on {}, batch size {batch_size}, {}, {} kernel threads",
        model.plugin_name(),
        base_loaded.names().dataset,
        cfg.training.device,
        crate::threads::resolve(cfg.training.threads)
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
            geobatch_process::errln!("advise: validating {label}: {} steps", req.steps);
            let full = variant(&base_loaded, &tables[i], req.steps, &out.join("validation"))?;
            let steps =
                measure(&full, None, stop).map_err(within(format!("validation run of {label}")))?;
            advice.check(&label, &steps.combined_ms());
            write(&advice, &title, &out)?;
        }
    }
    Ok((advice.render(&title), out))
}

/// Refuses `steps` steps that `candidates` plans could not hold in this process's memory,
/// before anything is planned or written (as `run` refuses a dataset or a batch that cannot
/// fit): every candidate keeps a padded shape per step, and each is planned in full first.
fn plans_fit(steps: u64, candidates: usize) -> Result<(), RunError> {
    let per_step =
        std::mem::size_of::<PlannedBatch>() + candidates * std::mem::size_of::<ShapeKey>();
    geobatch_process::memory::check_available(
        &format!("--steps {steps}"),
        steps as f64 * per_step as f64,
        &format!(
            "{per_step} bytes a step: a planned shape per step for each of {candidates} candidates"
        ),
    )?;
    Ok(())
}

/// The request's numbers checked against each other and the config; the config loaded (with
/// its overrides).
fn checked(req: &Request) -> Result<LoadedConfig, RunError> {
    // the kind is checked as the config is read: advise is for graph-level training
    let loaded = AnyConfig::open(&req.config, &req.overrides, jobs::Request::Advise)?
        .into_loaded::<ExperimentConfig>()
        .ok_or_else(|| RunError::Usage("advise is for graph-level configs".into()))?;
    if !(req.probe_seconds > 0.0 && req.probe_seconds.is_finite()) {
        return Err(RunError::Usage(
            "--probe-seconds must be a positive number".into(),
        ));
    }
    if req.steps == 0 {
        return Err(RunError::Usage("--steps must be at least 1".into()));
    }
    if req.probe_steps < 2 {
        return Err(RunError::Usage(
            "--probe-steps must be at least 2 (the first step is start-up)".into(),
        ));
    }
    let warmup = loaded.config.training.warmup;
    // warm-up steps are left out of a probe's timings: a probe of no more steps than that
    // measures nothing, and every prediction would be 0 s
    if req.probe_steps < warmup + 2 {
        return Err(RunError::Usage(format!(
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
        return Err(RunError::Usage(format!(
            "--batchers names {twice} twice: list each candidate once"
        )));
    }
    Ok(loaded)
}

/// Plans and probes every candidate; returns them with the tables they came from (the config's
/// own batcher left out when a default candidate has its label).
fn probe_all(
    req: &Request,
    base: &LoadedConfig,
    tables: Vec<toml::Table>,
    out: &Path,
    stop: &AtomicBool,
) -> Result<(Vec<Candidate>, Vec<toml::Table>), RunError> {
    let own_extra = req.batchers.is_empty();
    let last = tables.len() - 1;
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut kept = Vec::new();
    for (i, t) in tables.into_iter().enumerate() {
        let spec = toml::Value::Table(t.clone()).to_string();
        let probe = variant(base, &t, req.probe_steps, &out.join("probes"))
            .map_err(within(format!("batcher {spec}")))?;
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
        geobatch_process::errln!(
            "advise: {label}: planned {} steps in {plan_s:.1} s; probing {} steps (at most {:.0} s)",
            req.steps,
            req.probe_steps,
            req.probe_seconds
        );
        let steps = measure(
            &probe,
            Some(Duration::from_secs_f64(req.probe_seconds)),
            stop,
        )
        .map_err(within(format!("probe of {label}")))?;
        if steps.step.len() < 2 {
            return Err(RunError::Failed(format!(
                "probe of {label}: only {} step(s) ran in {} s: raise --probe-seconds",
                steps.step.len(),
                req.probe_seconds
            )));
        }
        candidates.push(Candidate {
            label,
            spec,
            padded,
            fill,
            graphs_per_step,
            probe: steps.probe(),
        });
        kept.push(t);
    }
    Ok((candidates, kept))
}

/// Writes `advice.md`, `advice.parquet` and `crossovers.parquet` into `out`.
fn write(advice: &Advice, title: &str, out: &Path) -> Result<(), RunError> {
    super::files::write(advice, out).map_err(RunError::Failed)?;
    let md = out.join("advice.md");
    let text = advice.render(title);
    geobatch_datafiles::atomic::write_atomic(&md, |f| std::io::Write::write_all(f, text.as_bytes()))
        .map_err(|e| RunError::Failed(format!("cannot write {}: {e}", md.display())))
}
