//! The `console` sink: progress on stderr while a run goes (a live bar on a terminal, a plain
//! line every `every_secs` and every evaluation in a log file), with rates and ETA over training
//! time only (evaluation is its own phase), and a one-line summary at the end.

use geobatch_core::records::{EvalRecord, RunEnd};
use geobatch_core::{Result, RunInfo, Sink, SinkSpec, StepRecord, plugin_options};
use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Config of the console sink.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSpec {
    /// Show progress (the summary is always printed).
    #[option(
        ty = "bool",
        default = true,
        doc = "show progress: a live bar on a terminal, plain lines otherwise"
    )]
    pub progress: bool,
    /// When stderr is not a terminal (a log file, a cluster job): seconds between plain progress
    /// lines.
    #[option(
        ty = "float",
        default = 30.0,
        doc = "seconds between plain progress lines when stderr is not a terminal (logs, cluster jobs)"
    )]
    pub every_secs: f64,
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Display {
    /// A live bar (stderr is a terminal).
    Bar,
    /// A plain line every so often, and every evaluation (a log file).
    Lines(Duration),
    /// Only the summary.
    Quiet,
}

/// Wall time of a run split into training and evaluation, for rates over training steps only.
#[derive(Debug)]
struct Clock {
    started: Instant,
    evaluating_since: Option<Instant>,
    evaluation: Duration,
}

impl Clock {
    fn new() -> Self {
        Clock {
            started: Instant::now(),
            evaluating_since: None,
            evaluation: Duration::ZERO,
        }
    }

    /// Ends an evaluation phase, if one is going on; true if one was.
    fn end_evaluation(&mut self) -> bool {
        match self.evaluating_since.take() {
            Some(t) => {
                self.evaluation += t.elapsed();
                true
            }
            None => false,
        }
    }

    /// Time spent training (wall time less evaluation) so far.
    fn training(&self) -> Duration {
        let evaluating = self
            .evaluating_since
            .map_or(Duration::ZERO, |t| t.elapsed());
        self.started
            .elapsed()
            .saturating_sub(self.evaluation + evaluating)
    }
}

/// The runtime console sink.
#[derive(Debug)]
pub struct ConsoleSink {
    bar: ProgressBar,
    display: Display,
    label: String,
    planned: u64,
    position: u64,
    real_graphs: u64,
    /// Steps run by this process (a resumed run ran the others before).
    ran: u64,
    loss: Option<f32>,
    clock: Clock,
    last_line: Instant,
    last_eval: Option<String>,
}

impl ConsoleSink {
    /// Training steps per second of this process, evaluation left out.
    fn rate(&self) -> Option<f64> {
        let secs = self.clock.training().as_secs_f64();
        (self.ran > 0 && secs > 0.0).then(|| self.ran as f64 / secs)
    }

    /// "27.1 steps/s, ETA 5m 24s" over training time only.
    fn rate_and_eta(&self) -> String {
        match self.rate() {
            Some(r) => {
                let left = self.planned.saturating_sub(self.position) as f64 / r;
                format!(
                    "{r:.1} steps/s, ETA {}",
                    HumanDuration(Duration::from_secs_f64(left))
                )
            }
            None => "rate unknown yet".to_string(),
        }
    }

    fn loss_text(&self) -> String {
        self.loss
            .map(|l| format!(", loss {l:.4}"))
            .unwrap_or_default()
    }

    /// Prints a line above the bar, or on its own when there is no bar.
    fn line(&self, text: &str) {
        match self.display {
            Display::Bar => self.bar.println(text),
            Display::Lines(_) => geobatch_process::errln!("{text}"),
            Display::Quiet => {}
        }
    }
}

impl Sink for ConsoleSink {
    fn start(&mut self, run: &RunInfo) -> Result<()> {
        self.planned = run.planned_steps;
        self.bar.set_length(run.planned_steps);
        if let Some(from) = run.resumed_from {
            self.position = from;
            self.bar.set_position(from);
            self.bar.reset_eta();
        }
        self.label = format!(
            "{} {} bs={} on {}",
            run.job, run.batcher_label, run.batch_size, run.dataset
        );
        self.bar.set_prefix(self.label.clone());
        self.clock = Clock::new();
        self.last_line = Instant::now();
        Ok(())
    }

    fn step(&mut self, record: &StepRecord) -> Result<()> {
        if self.clock.end_evaluation() && self.display == Display::Bar {
            self.bar.disable_steady_tick();
            self.bar.reset_eta();
        }
        self.real_graphs += record.real.graphs as u64;
        self.ran += 1;
        self.position = record.step + 1;
        if record.loss.is_some() {
            self.loss = record.loss;
        }
        match self.display {
            Display::Bar => {
                self.bar.set_position(self.position);
                self.bar
                    .set_message(format!("{}{}", self.rate_and_eta(), self.loss_text()));
            }
            Display::Lines(every) if self.last_line.elapsed() >= every => {
                self.last_line = Instant::now();
                geobatch_process::errln!(
                    "{}: step {}/{} ({:.0}%), {}{}",
                    self.label,
                    self.position,
                    self.planned,
                    100.0 * self.position as f64 / self.planned.max(1) as f64,
                    self.rate_and_eta(),
                    self.loss_text()
                );
            }
            _ => {}
        }
        Ok(())
    }

    fn evaluating(&mut self, step: u64) -> Result<()> {
        self.clock.end_evaluation();
        self.clock.evaluating_since = Some(Instant::now());
        if self.display == Display::Bar {
            self.bar
                .set_message(format!("evaluating after step {}...", step + 1));
            self.bar.enable_steady_tick(Duration::from_millis(250));
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
        self.line(&line);
        self.last_eval = Some(line);
        Ok(())
    }

    fn finish(&mut self, end: &RunEnd) -> Result<()> {
        self.clock.end_evaluation();
        self.bar.finish_and_clear();
        let secs = end.wall_ns as f64 * 1e-9;
        let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        // rates over what this process ran in its wall time, not the steps of an earlier process
        let here = if self.ran < end.steps {
            format!(", {} of them in this process", self.ran)
        } else {
            String::new()
        };
        let training = match self.rate() {
            Some(r) if self.clock.evaluation > Duration::ZERO => format!(
                "; {r:.1} steps/s while training, {:.2} s evaluating",
                self.clock.evaluation.as_secs_f64()
            ),
            _ => String::new(),
        };
        geobatch_process::errln!(
            "{}: {} after {} steps{here} in {:.2} s ({:.1} steps/s, {:.0} graphs/s{training}){}",
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
            geobatch_process::errln!("  last evaluation: {e}");
        }
        Ok(())
    }
}

#[geobatch_core::plugin(
    name = "console",
    summary = "progress on stderr (a live bar on a terminal, plain lines in a log) with training rate and ETA, and a final summary line",
    example = "progress = true\nevery_secs = 30.0\n"
)]
impl SinkSpec for ConsoleSpec {
    fn validate(&self) -> Result<()> {
        if !(self.every_secs.is_finite() && self.every_secs > 0.0) {
            return Err(geobatch_core::Error::invalid(format!(
                "sinks.console.every_secs = {}: must be a positive number of seconds",
                self.every_secs
            )));
        }
        Ok(())
    }

    fn build(&self) -> Result<Box<dyn Sink>> {
        self.validate()?;
        let display = match (self.progress, std::io::stderr().is_terminal()) {
            (false, _) => Display::Quiet,
            (true, true) => Display::Bar,
            (true, false) => Display::Lines(Duration::from_secs_f64(self.every_secs)),
        };
        let target = if display == Display::Bar {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(0), target);
        let style = ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
        )
        .map_err(|e| geobatch_core::Error::Sink {
            sink: "console".into(),
            message: e.to_string(),
        })?;
        bar.set_style(style);
        Ok(Box::new(ConsoleSink {
            bar,
            display,
            label: String::new(),
            planned: 0,
            position: 0,
            real_graphs: 0,
            ran: 0,
            loss: None,
            clock: Clock::new(),
            last_line: Instant::now(),
            last_eval: None,
        }))
    }
}

/// Forces this crate to be linked (called by `geobatch-catalog`).
pub fn link() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluation_time_is_not_training_time() {
        let now = Instant::now();
        let ago = |ms: u64| now.checked_sub(Duration::from_millis(ms)).unwrap();
        // a run of 2 s so far, evaluating for the last 1.5 s
        let mut c = Clock {
            started: ago(2000),
            evaluating_since: Some(ago(1500)),
            evaluation: Duration::ZERO,
        };
        assert!(
            c.training() < Duration::from_millis(600),
            "{:?}",
            c.training()
        );
        assert!(c.end_evaluation());
        assert!(!c.end_evaluation(), "one phase ends once");
        assert!(c.evaluation >= Duration::from_millis(1500));
        assert!(
            c.training() < Duration::from_millis(600),
            "{:?}",
            c.training()
        );
    }

    #[test]
    fn every_secs_must_be_positive() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let spec = ConsoleSpec {
                progress: true,
                every_secs: bad,
            };
            assert!(spec.validate().is_err(), "{bad}");
        }
    }
}
