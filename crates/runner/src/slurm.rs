//! Sweeps on a SLURM cluster: the `[slurm]` table of a sweep config, the sbatch job-array script
//! that runs the sweep's runs in shares (`geobatch sweep CONFIG --task I`), and its submission.
//!
//! Each array task runs `runs_per_task` consecutive runs of the sweep's deterministic expansion,
//! so any task can be run again alone. The script asks SLURM for `SIGUSR1` `signal_secs` before
//! the time limit and hands it to geobatch, which stops after the current step, checkpoints and
//! records the run as `interrupted`; the script then requeues the task, whose next start resumes
//! the run (complete runs are skipped, a run another task holds is left to it: run locks).

use crate::config::apply_override;
use crate::error::RunError;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The `[slurm]` table of a sweep config (every key optional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmOptions {
    /// `--partition`.
    #[serde(default)]
    pub partition: Option<String>,
    /// `--account`.
    #[serde(default)]
    pub account: Option<String>,
    /// `--time` of one array task (SLURM's formats: `MM`, `HH:MM:SS`, `D-HH:MM:SS`).
    #[serde(default)]
    pub time: Option<String>,
    /// `--cpus-per-task`.
    #[serde(default = "one")]
    pub cpus_per_task: u32,
    /// `--gpus-per-task` (none when absent).
    #[serde(default)]
    pub gpus_per_task: Option<u32>,
    /// `--mem` (e.g. `"16G"`).
    #[serde(default)]
    pub mem: Option<String>,
    /// Runs of the sweep each array task runs, one after another.
    #[serde(default = "one_usize")]
    pub runs_per_task: usize,
    /// Most array tasks running at once (`--array=...%N`).
    #[serde(default)]
    pub max_concurrent: Option<usize>,
    /// Seconds before the time limit at which SLURM signals the task to checkpoint and stop.
    #[serde(default = "default_signal_secs")]
    pub signal_secs: u64,
    /// Requeue a task stopped by the time limit (its next start resumes the run).
    #[serde(default = "yes")]
    pub requeue: bool,
    /// More `#SBATCH` options, as written (`"--qos=long"`).
    #[serde(default)]
    pub extra: Vec<String>,
    /// Shell lines run before geobatch (`"module load cuda"`, `"source venv/bin/activate"`).
    #[serde(default)]
    pub setup: Vec<String>,
    /// The geobatch binary the tasks run (default: this one).
    #[serde(default)]
    pub geobatch: Option<PathBuf>,
}

fn one() -> u32 {
    1
}
fn one_usize() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn default_signal_secs() -> u64 {
    300
}

impl Default for SlurmOptions {
    fn default() -> Self {
        toml::from_str("").unwrap_or_else(|_| unreachable!("every key has a default"))
    }
}

impl SlurmOptions {
    /// The `[slurm]` table of the sweep config at `path` with the `--set slurm.KEY=VALUE`
    /// overrides applied (other overrides are the runs' and are ignored here).
    pub fn read(path: &Path, overrides: &[String]) -> Result<Self, RunError> {
        let fail = |message: String| RunError::Config {
            file: path.to_path_buf(),
            message,
        };
        let mut table = crate::sweep::read_table(path)?;
        let mut wrapper = toml::Table::new();
        wrapper.insert(
            "slurm".into(),
            table
                .remove("slurm")
                .unwrap_or_else(|| toml::Value::Table(toml::Table::new())),
        );
        for o in overrides
            .iter()
            .filter(|o| o.trim_start().starts_with("slurm."))
        {
            apply_override(&mut wrapper, o).map_err(|m| fail(format!("--set {o}: {m}")))?;
        }
        let slurm = wrapper
            .remove("slurm")
            .unwrap_or_else(|| unreachable!("inserted above"));
        let options: SlurmOptions = serde_path_to_error::deserialize(slurm)
            .map_err(|e| fail(format!("[slurm] {}: {}", e.path(), e.inner())))?;
        options
            .validate()
            .map_err(|m| fail(format!("[slurm] {m}")))?;
        Ok(options)
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        if self.runs_per_task == 0 {
            return Err("runs_per_task must be at least 1".into());
        }
        if self.cpus_per_task == 0 {
            return Err("cpus_per_task must be at least 1".into());
        }
        if self.max_concurrent == Some(0) {
            return Err("max_concurrent must be at least 1".into());
        }
        for (key, v) in [
            ("partition", &self.partition),
            ("account", &self.account),
            ("time", &self.time),
            ("mem", &self.mem),
        ] {
            if let Some(v) = v
                && (v.is_empty() || v.contains(char::is_whitespace))
            {
                return Err(format!("{key} = {v:?}: one word without spaces"));
            }
        }
        if let Some(e) = self
            .extra
            .iter()
            .find(|e| !e.starts_with('-') || e.contains('\n'))
        {
            return Err(format!(
                "extra = {e:?}: each entry is one sbatch option, e.g. \"--qos=long\""
            ));
        }
        Ok(())
    }
}

/// `s` quoted for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// What an sbatch script runs.
#[derive(Debug, Clone)]
pub struct ScriptPlan<'a> {
    /// The options.
    pub options: &'a SlurmOptions,
    /// The job name.
    pub name: &'a str,
    /// The array indices to run (tasks with work left).
    pub tasks: &'a [usize],
    /// The sweep config (absolute).
    pub config: &'a Path,
    /// The `--set` overrides of the sweep, handed on to every task.
    pub overrides: &'a [String],
    /// The working directory the tasks run in (absolute: relative paths of the config resolve
    /// from it, as they did for the submitting command).
    pub workdir: &'a Path,
    /// Where task logs go.
    pub log_dir: &'a Path,
    /// The geobatch binary.
    pub geobatch: &'a Path,
}

/// `--array` of the task indices: ranges where consecutive (`0-5,7,9-10`).
fn array_spec(tasks: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < tasks.len() {
        let mut j = i;
        while j + 1 < tasks.len() && tasks[j + 1] == tasks[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            tasks[i].to_string()
        } else {
            format!("{}-{}", tasks[i], tasks[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

/// The `#SBATCH` options of the array job: name, array (with its concurrency), log files, the
/// resources and the time-limit warning.
fn sbatch_options(plan: &ScriptPlan) -> Vec<String> {
    let o = plan.options;
    let mut lines = Vec::new();
    let mut opt = |line: String| lines.push(line);
    opt(format!("--job-name={}", shell_quote(plan.name)));
    let mut array = array_spec(plan.tasks);
    if let Some(m) = o.max_concurrent {
        array.push_str(&format!("%{m}"));
    }
    opt(format!("--array={array}"));
    opt(format!(
        "--output={}",
        shell_quote(&plan.log_dir.join("%A_%a.out").display().to_string())
    ));
    opt("--open-mode=append".into());
    opt(format!("--cpus-per-task={}", o.cpus_per_task));
    if let Some(g) = o.gpus_per_task {
        opt(format!("--gpus-per-task={g}"));
    }
    for (flag, v) in [
        ("partition", &o.partition),
        ("account", &o.account),
        ("time", &o.time),
        ("mem", &o.mem),
    ] {
        if let Some(v) = v {
            opt(format!("--{flag}={v}"));
        }
    }
    // B: the batch shell gets the warning and hands it to geobatch
    opt(format!("--signal=B:USR1@{}", o.signal_secs));
    if o.requeue {
        opt("--requeue".into());
    }
    for e in &o.extra {
        opt(e.clone());
    }
    lines
}

/// The sbatch script of a job array.
pub fn script(plan: &ScriptPlan) -> String {
    let mut s = String::from(
        "#!/bin/bash\n# written by `geobatch sweep --slurm`; submit again with the same command\n",
    );
    for line in sbatch_options(plan) {
        let _ = writeln!(s, "#SBATCH {line}");
    }
    let o = plan.options;
    s.push_str("\nset -u\n");
    let _ = writeln!(s, "cd {}", shell_quote(&plan.workdir.display().to_string()));
    for line in &o.setup {
        let _ = writeln!(s, "{line}");
    }
    let mut cmd = format!(
        "{} sweep {} --task \"$SLURM_ARRAY_TASK_ID\" --runs-per-task {}",
        shell_quote(&plan.geobatch.display().to_string()),
        shell_quote(&plan.config.display().to_string()),
        o.runs_per_task
    );
    for ov in plan
        .overrides
        .iter()
        .filter(|ov| !ov.trim_start().starts_with("slurm."))
    {
        let _ = write!(cmd, " --set {}", shell_quote(ov));
    }
    let _ = writeln!(
        s,
        r#"echo "geobatch task $SLURM_ARRAY_TASK_ID of job $SLURM_ARRAY_JOB_ID on $(hostname), $(date -Is)"
warned=0
# the time-limit warning: geobatch stops after the current step, checkpoints, exits 130
trap 'warned=1; kill -USR1 "$pid" 2>/dev/null' USR1
# scancel signals geobatch itself (it stops the same way); the shell only waits
trap ':' TERM
{cmd} &
pid=$!
while :; do
    wait "$pid"
    rc=$?
    kill -0 "$pid" 2>/dev/null || break
done"#
    );
    if o.requeue {
        s.push_str(
            r#"if [ "$rc" -eq 130 ] && [ "$warned" -eq 1 ]; then
    echo "time limit near: run checkpointed; requeueing task $SLURM_ARRAY_TASK_ID"
    scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
fi
"#,
        );
    }
    s.push_str("exit \"$rc\"\n");
    s
}

/// The array tasks of a sweep whose runs are dealt `per_task` to a task that still have work:
/// a task is left out when every run of it is complete. Also the runs not complete.
pub fn open_tasks(runs: &[crate::sweep::SweepRun], per_task: usize) -> (Vec<usize>, usize) {
    let open: Vec<bool> = runs
        .iter()
        .map(|r| crate::policy::RunState::of(&r.run_dir) != crate::policy::RunState::Complete)
        .collect();
    let tasks = (0..runs.len().div_ceil(per_task.max(1)))
        .filter(|&t| open[t * per_task..((t + 1) * per_task).min(runs.len())].contains(&true))
        .collect();
    (tasks, open.iter().filter(|&&o| o).count())
}

/// Submits `script_path` with `sbatch --parsable`; returns the job id.
pub fn submit(script_path: &Path) -> Result<String, RunError> {
    let out = std::process::Command::new("sbatch")
        .arg("--parsable")
        .arg(script_path)
        .output()
        .map_err(|e| {
            RunError::Core(geobatch_core::Error::invalid(
                if e.kind() == std::io::ErrorKind::NotFound {
                    "sbatch not found on PATH: --slurm submits with SLURM's sbatch (run it on a \
                 cluster's login node; scripts/slurm-local.sh starts a one-node cluster here), or \
                 add --dry-run to only write the script"
                        .to_string()
                } else {
                    format!("cannot run sbatch: {e}")
                },
            ))
        })?;
    if !out.status.success() {
        return Err(RunError::Core(geobatch_core::Error::invalid(format!(
            "sbatch refused {}: {}",
            script_path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.trim().split(';').next().unwrap_or("").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_indices_and_quoting() {
        assert_eq!(array_spec(&[0, 1, 2, 3, 5, 7, 8]), "0-3,5,7-8");
        assert_eq!(array_spec(&[4]), "4");
        assert_eq!(
            shell_quote("batcher.batch_size=32"),
            "batcher.batch_size=32"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("x='y'"), "'x='\\''y'\\'''");
    }

    #[test]
    fn the_script_asks_for_the_warning_and_hands_on_the_overrides() {
        let options = SlurmOptions {
            partition: Some("gpu".into()),
            time: Some("02:00:00".into()),
            gpus_per_task: Some(1),
            max_concurrent: Some(4),
            runs_per_task: 2,
            extra: vec!["--qos=long".into()],
            setup: vec!["module load cuda".into()],
            ..SlurmOptions::default()
        };
        let s = script(&ScriptPlan {
            options: &options,
            name: "qm9",
            tasks: &[0, 1, 2, 4],
            config: Path::new("/c/sweep.toml"),
            overrides: &[
                "model.latent=8".into(),
                "slurm.partition=\"x\"".into(),
                "dataset.split={train=800}".into(),
            ],
            workdir: Path::new("/work dir"),
            log_dir: Path::new("/r/slurm"),
            geobatch: Path::new("/bin/geobatch"),
        });
        for want in [
            "#SBATCH --array=0-2,4%4\n",
            "#SBATCH --partition=gpu\n",
            "#SBATCH --time=02:00:00\n",
            "#SBATCH --gpus-per-task=1\n",
            "#SBATCH --signal=B:USR1@300\n",
            "#SBATCH --requeue\n",
            "#SBATCH --qos=long\n",
            "#SBATCH --output=/r/slurm/%A_%a.out\n",
            "cd '/work dir'\nmodule load cuda\n",
            "/bin/geobatch sweep /c/sweep.toml --task \"$SLURM_ARRAY_TASK_ID\" --runs-per-task 2 --set model.latent=8 --set 'dataset.split={train=800}' &",
            "scontrol requeue",
        ] {
            assert!(s.contains(want), "no {want:?} in\n{s}");
        }
        assert!(!s.contains("slurm.partition"), "{s}");
    }

    #[test]
    fn options_are_checked() {
        let bad = |f: fn(&mut SlurmOptions)| {
            let mut o = SlurmOptions::default();
            f(&mut o);
            o.validate().is_err()
        };
        assert!(SlurmOptions::default().validate().is_ok());
        assert!(bad(|o| o.runs_per_task = 0));
        assert!(bad(|o| o.partition = Some("a b".into())));
        assert!(bad(|o| o.extra = vec!["qos=long".into()]));
        assert!(bad(|o| o.max_concurrent = Some(0)));
    }
}
