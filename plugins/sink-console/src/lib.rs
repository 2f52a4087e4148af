//! The `console` sink: a progress bar (steps/s, ETA, last loss) on stderr while a run goes, and
//! a one-line summary at the end. The bar hides itself when stderr is not a terminal.

use geobatch_core::records::{EvalRecord, RunEnd};
use geobatch_core::{
    OptionDoc, PluginDescriptor, PluginKind, Result, RunInfo, Sink, SinkSpec, StepRecord, Task,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

/// Config of the console sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSpec {
    /// Show the progress bar (the summary is always printed).
    #[serde(default = "yes")]
    pub progress: bool,
}

fn yes() -> bool {
    true
}

/// The runtime console sink.
#[derive(Debug)]
pub struct ConsoleSink {
    bar: ProgressBar,
    label: String,
    real_graphs: u64,
    /// Steps run by this process (a resumed run ran the others before).
    ran: u64,
    last_eval: Option<String>,
}

impl Sink for ConsoleSink {
    fn start(&mut self, run: &RunInfo) -> Result<()> {
        self.bar.set_length(run.planned_steps);
        if let Some(from) = run.resumed_from {
            self.bar.set_position(from);
            self.bar.reset_eta();
        }
        self.label = format!(
            "{} {} bs={} on {}",
            run.job, run.batcher_label, run.batch_size, run.dataset
        );
        self.bar.set_prefix(self.label.clone());
        Ok(())
    }

    fn step(&mut self, record: &StepRecord) -> Result<()> {
        self.real_graphs += record.real.graphs as u64;
        self.ran += 1;
        self.bar.inc(1);
        if let Some(loss) = record.loss {
            self.bar.set_message(format!("loss {loss:.4}"));
        }
        Ok(())
    }

    fn eval(&mut self, record: &EvalRecord) -> Result<()> {
        let line = match (record.accuracy, record.macro_f1) {
            (Some(acc), Some(f1)) => format!(
                "step {}: {} accuracy {:.4} macro-F1 {:.4} ({} inference{})",
                record.step,
                record.split,
                acc,
                f1,
                record.inference.as_deref().unwrap_or("batched"),
                record
                    .eval_ns
                    .map(|ns| format!(", {:.1} ms", ns as f64 / 1e6))
                    .unwrap_or_default()
            ),
            _ => format!(
                "step {}: {} RMSE {:.5} MAE {:.5}",
                record.step, record.split, record.rmse, record.mae
            ),
        };
        self.bar.println(&line);
        self.last_eval = Some(line);
        Ok(())
    }

    fn finish(&mut self, end: &RunEnd) -> Result<()> {
        self.bar.finish_and_clear();
        let secs = end.wall_ns as f64 * 1e-9;
        let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        // rates over what this process ran in its wall time, not the steps of an earlier process
        let here = if self.ran < end.steps {
            format!(", {} of them in this process", self.ran)
        } else {
            String::new()
        };
        eprintln!(
            "{}: {} after {} steps{here} in {:.2} s ({:.1} steps/s, {:.0} graphs/s){}",
            self.label,
            end.status.as_str(),
            end.steps,
            secs,
            per_sec(self.ran),
            per_sec(self.real_graphs),
            end.message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        );
        if let Some(e) = &self.last_eval {
            eprintln!("  last evaluation: {e}");
        }
        Ok(())
    }
}

#[typetag::serde(name = "console")]
impl SinkSpec for ConsoleSpec {
    fn build(&self) -> Result<Box<dyn Sink>> {
        let target = if self.progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(0), target);
        let style = ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta} {msg}",
        )
        .map_err(|e| geobatch_core::Error::Sink {
            sink: "console".into(),
            message: e.to_string(),
        })?;
        bar.set_style(style);
        Ok(Box::new(ConsoleSink {
            bar,
            label: String::new(),
            real_graphs: 0,
            ran: 0,
            last_eval: None,
        }))
    }
}

inventory::submit! {
    PluginDescriptor {
        kind: PluginKind::Sink,
        task: Task::Graph,
        name: "console",
        summary: "progress bar with rate and ETA on stderr, and a final summary line",
        options: &[OptionDoc { name: "progress", ty: "bool", default: "true", doc: "draw the progress bar (hidden anyway when stderr is not a terminal)" }],
        example: "kind = \"console\"\nprogress = true\n",
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}
