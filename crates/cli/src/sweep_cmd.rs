//! `geobatch sweep`: run a sweep (or one array task's share of it) here, list it, show where its
//! runs stand, or submit it to SLURM.

use geobatch_runner::policy::RunState;
use geobatch_runner::slurm::{ScriptPlan, SlurmOptions};
use geobatch_runner::sweep::{Outcome, SweepRun};
use std::io::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// The arguments of `geobatch sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// Sweep config (TOML with a `[sweep]` table; an optional `[slurm]` table for --slurm).
    pub config: PathBuf,
    /// List the runs without running them (with --slurm: write and print the sbatch script,
    /// submit nothing).
    #[arg(long)]
    pub dry_run: bool,
    /// Submit the sweep to SLURM as a job array (docs/sweeps.md), instead of running it here.
    #[arg(long, conflicts_with_all = ["task", "status"])]
    pub slurm: bool,
    /// Run only the share of array task I: runs I*R .. I*R+R-1 of the sweep (R =
    /// --runs-per-task), as a SLURM job array's task does.
    #[arg(long, value_name = "I")]
    pub task: Option<usize>,
    /// Runs per task for --task.
    #[arg(long, value_name = "R", default_value_t = 1, requires = "task")]
    pub runs_per_task: usize,
    /// Where every run stands (complete, running, interrupted, killed, failed, not started),
    /// from the results folder alone.
    #[arg(long, conflicts_with_all = ["dry_run", "task"])]
    pub status: bool,
    /// Override a config value in every run (dotted key, TOML value).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Runs, lists, checks or submits a sweep.
pub fn command(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let SweepArgs {
        config,
        dry_run,
        slurm,
        task,
        runs_per_task,
        status,
        overrides,
    } = args;
    let runs = geobatch_runner::sweep::expand(&config, &overrides)?;
    if status {
        return self::status(&runs);
    }
    if slurm {
        return submit(&config, &overrides, &runs, dry_run);
    }
    let range = match task {
        Some(t) => geobatch_runner::sweep::task_range(t, runs_per_task, runs.len())
            .map_err(geobatch_runner::RunError::Usage)?,
        None => 0..runs.len(),
    };
    if dry_run {
        return self::dry_run(&runs, range);
    }
    let stop = crate::signals::stop_on_ctrl_c(
        "stopping after this step (Ctrl-C again to kill); run the sweep again to resume",
    );
    run(&runs, range, &stop)
}

/// `--dry-run`: every run of `range` with what a sweep would do with it.
pub fn dry_run(runs: &[SweepRun], range: Range<usize>) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    for (i, r) in runs.iter().enumerate().take(range.end).skip(range.start) {
        // a complete run shows as complete only when its files are what it recorded
        let state = RunState::verified(&r.run_dir).0.action();
        let line = writeln!(
            stdout,
            "{:>4}  {:<10} {}  ({})",
            i + 1,
            state,
            r.settings.join(" "),
            r.run_dir.display()
        );
        if line.is_err() {
            break; // stdout closed (e.g. piped into `head`)
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--status`: where every run stands, and the counts.
pub fn status(runs: &[SweepRun]) -> anyhow::Result<ExitCode> {
    // tallied as shown: runs stopped alike count together, with or without a checkpoint
    let mut counts: Vec<(&str, usize)> = Vec::new();
    let mut stdout = std::io::stdout().lock();
    let mut inconsistent = false;
    for (i, r) in runs.iter().enumerate() {
        // a complete run counts only when its files are what it recorded
        let (p, why) = RunState::verified(&r.run_dir);
        if let Some(why) = why {
            geobatch_process::errln!("run {}: not what it recorded: {why}", i + 1);
            inconsistent = true;
        }
        match counts.iter_mut().find(|c| c.0 == p.status()) {
            Some(c) => c.1 += 1,
            None => counts.push((p.status(), 1)),
        }
        let line = writeln!(
            stdout,
            "{:>4}  {:<12} {}  ({})",
            i + 1,
            p.status(),
            r.settings.join(" "),
            r.run_dir.display()
        );
        if line.is_err() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let summary: Vec<String> = counts
        .iter()
        .map(|(shown, n)| format!("{n} {shown}"))
        .collect();
    let _ = writeln!(stdout, "sweep: {} runs: {}", runs.len(), summary.join(", "));
    Ok(if inconsistent {
        geobatch_runner::exit::Exit::LeftOut.into()
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs the runs of `range` one after another (see [`geobatch_runner::sweep::run_sweep`]).
pub fn run(runs: &[SweepRun], range: Range<usize>, stop: &AtomicBool) -> anyhow::Result<ExitCode> {
    let first = range.start;
    let share = &runs[range];
    // one line per run, with the sweep's elapsed time and ETA (from the runs that ran);
    // no sweep bar: each run draws its own, and two bars would leave copies behind
    let started = std::time::Instant::now();
    let mut ran = 0u32;
    let swept = geobatch_runner::sweep::run_sweep(share, stop, |i, run, outcome| {
        let elapsed = started.elapsed();
        let eta = match (ran, outcome) {
            (0, _) | (_, Outcome::Skipped | Outcome::Busy | Outcome::Damaged) => String::new(),
            (n, _) => format!(
                ", ETA {}",
                indicatif::HumanDuration(elapsed / n * (share.len() - i) as u32)
            ),
        };
        if matches!(outcome, Outcome::Ran | Outcome::Resumed) {
            ran += 1;
        }
        geobatch_process::errln!(
            "[{}/{}] {} {} (sweep {} elapsed{eta})",
            first + i + 1,
            runs.len(),
            match outcome {
                Outcome::Skipped => "complete, skipped:",
                Outcome::Resumed => "resuming:",
                Outcome::Ran => "running:",
                Outcome::Busy => "running elsewhere, skipped:",
                Outcome::Damaged => "complete but damaged, left as it is:",
            },
            run.settings.join(" "),
            indicatif::HumanDuration(elapsed)
        );
    })?;
    let stopped = stop.load(Ordering::SeqCst);
    let outcomes = &swept.outcomes;
    let count = |o| outcomes.iter().filter(|&&x| x == o).count();
    let busy = count(Outcome::Busy);
    geobatch_process::outln!(
        "sweep: {} runs; {} run, {} resumed, {} already complete{}{}",
        share.len(),
        count(Outcome::Ran),
        count(Outcome::Resumed),
        count(Outcome::Skipped),
        if busy > 0 {
            format!(", {busy} running in another process")
        } else {
            String::new()
        },
        if stopped {
            " (stopped early: run it again to finish)"
        } else {
            ""
        }
    );
    if !swept.failed.is_empty() {
        geobatch_process::errln!(
            "{} run(s) failed (the others went on; run the sweep again to retry them):",
            swept.failed.len()
        );
        for (i, why) in &swept.failed {
            geobatch_process::errln!(
                "  [{}/{}] {}: {why}",
                first + i + 1,
                runs.len(),
                share[*i].settings.join(" ")
            );
        }
        if !stopped {
            return Ok(geobatch_runner::exit::Exit::Failed.into());
        }
    }
    Ok(crate::signals::finished(stopped))
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    Ok(std::path::absolute(p)?)
}

/// `--slurm`: writes the job-array script into `<experiment>/slurm/` and submits it with sbatch
/// (with `dry_run`, only writes and prints it). Only tasks with a run that is not complete are
/// in the array.
pub fn submit(
    config: &Path,
    overrides: &[String],
    runs: &[SweepRun],
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let options = SlurmOptions::read(config, overrides)?;
    let per = options.runs_per_task;
    let (tasks, open) = geobatch_runner::slurm::open_tasks(runs, per);
    let experiment_dir = runs
        .first()
        .and_then(|r| r.run_dir.parent())
        .ok_or_else(|| geobatch_runner::RunError::Usage("the sweep has no runs".into()))?;
    let experiment_dir = absolute(experiment_dir)?;
    let name = experiment_dir.file_name().map_or_else(
        || "geobatch".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    if tasks.is_empty() {
        geobatch_process::outln!("all {} runs are complete: nothing to submit", runs.len());
        return Ok(ExitCode::SUCCESS);
    }
    let log_dir = experiment_dir.join("slurm");
    std::fs::create_dir_all(&log_dir)?;
    let geobatch = match &options.geobatch {
        Some(p) => absolute(p)?,
        None => std::env::current_exe()?,
    };
    let (config, workdir) = (absolute(config)?, std::env::current_dir()?);
    let script = geobatch_runner::slurm::script(&ScriptPlan {
        options: &options,
        name: &format!("geobatch-{name}"),
        tasks: &tasks,
        config: &config,
        overrides,
        workdir: &workdir,
        log_dir: &log_dir,
        geobatch: &geobatch,
    });
    let path = log_dir.join("sweep.sbatch");
    geobatch_datafiles::atomic::write_atomic(&path, |f| {
        std::io::Write::write_all(f, script.as_bytes())
    })?;
    let what = format!(
        "{} array task(s) of {per} run(s) for the {} of {} runs not complete",
        tasks.len(),
        open,
        runs.len()
    );
    if dry_run {
        geobatch_process::out!("{script}");
        geobatch_process::outln!("# written to {} ({what}); not submitted", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let job = geobatch_runner::slurm::submit(&path)?;
    geobatch_process::outln!(
        "submitted job array {job}: {what}\n  script {}\n  logs   {}/{job}_<task>.out\n  status geobatch sweep {} --status",
        path.display(),
        log_dir.display(),
        config.display()
    );
    Ok(ExitCode::SUCCESS)
}
