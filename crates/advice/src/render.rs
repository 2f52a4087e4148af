//! The advice as Markdown (`advice.md`, and what `geobatch advise` prints).

use super::{Advice, Ranked};
use std::fmt::Write as _;

impl Advice {
    /// The advice as Markdown: the ranked table, the cost model, the recommendation, the
    /// crossovers and the validation.
    pub fn render(&self, title: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Advice: {title}, {} steps\n", self.steps);
        self.ranked_table(&mut s);
        self.model_notes(&mut s);
        self.recommendation(&mut s);
        self.crossover_list(&mut s);
        self.validation(&mut s);
        s
    }

    /// The candidates, fastest first.
    fn ranked_table(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "| rank | batcher | predicted total s | steady ms/step | shapes | new-shape s | first step s | fill nodes / edges | graphs/step | probe steps (shapes) |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        for r in &self.ranked {
            // a steady time no step of the candidate's own probe measured is marked
            let borrowed = if r.steady_steps == 0 { "*" } else { "" };
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} | {:.2}{borrowed} | {} | {:.1} | {:.2} | {:.3} / {:.3} | {:.2} | {} ({}) |",
                r.rank,
                r.label,
                r.predicted_ms / 1e3,
                r.steady_ms,
                r.shapes,
                r.compile_ms / 1e3,
                (r.first_ms / 10.0).round() / 100.0 + 0.0,
                r.fill.0,
                r.fill.1,
                r.graphs_per_step,
                r.probe.0,
                r.probe.1
            );
        }
        if self.ranked.iter().any(|r| r.steady_steps == 0) {
            let _ = writeln!(
                s,
                "\n\\* no steady step in its own probe (every step it took met a new shape or was warm-up): its steady time is the plane fitted to the other candidates' steady steps, an estimate, not a measurement (probe longer)."
            );
        }
    }

    /// What a new shape and a warm-up step cost, and whether a probe could tell.
    fn model_notes(&self, s: &mut String) {
        let m = &self.model;
        let classes: Vec<String> = (0..m.compile_by_new.len())
            .rev()
            .filter(|&d| m.compile_by_new[d].samples > 0)
            .map(|d| {
                let c = m.compile_by_new[d];
                format!("{d} new: {:.1} ms ({})", c.mean, c.samples)
            })
            .collect();
        let by_new = if classes.len() > 1 {
            format!("; by dimensions new to the run: {}", classes.join(", "))
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "\nCost of a new padded shape: {:.1} ms (mean of {} steps{by_new}); warm-up excess {:.1} ms per step ({} steps).",
            m.compile.mean, m.compile.samples, m.warmup.mean, m.warmup.samples
        );
        if m.compile.samples == 0 && self.ranked.iter().any(|r| r.shapes > 1) {
            let _ = writeln!(
                s,
                "No probe met a second shape: the new-shape cost is taken as 0 (probe longer, or add a batcher with many shapes)."
            );
        }
    }

    /// The recommended batcher and the runner-up's margin.
    fn recommendation(&self, s: &mut String) {
        if let Some(best) = self.ranked.first() {
            let _ = write!(s, "\nRecommended: **{}**", best.label);
            if let Some(c) = self.crossovers.iter().find(|c| c.faster == best.label) {
                let _ = write!(
                    s,
                    " (runner-up {} takes {:.1}% longer)",
                    c.slower, c.margin_pct
                );
            }
            let _ = writeln!(s, ".");
        }
    }

    /// Where each batcher overtakes each other one.
    fn crossover_list(&self, s: &mut String) {
        let _ = writeln!(s, "\nCrossovers (cumulative predicted time):");
        for c in &self.crossovers {
            let _ = match c.after {
                Some(n) => writeln!(
                    s,
                    "- {} overtakes {} after ~{n} steps ({:.1}% faster at {})",
                    c.faster, c.slower, c.margin_pct, self.steps
                ),
                None => writeln!(
                    s,
                    "- {} is faster than {} from the first step ({:.1}% at {})",
                    c.faster, c.slower, c.margin_pct, self.steps
                ),
            };
        }
    }

    /// Predicted against measured, for the candidates that ran (nothing when none did).
    fn validation(&self, s: &mut String) {
        let checked: Vec<&Ranked> = self
            .ranked
            .iter()
            .filter(|r| r.measured.is_some())
            .collect();
        if checked.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "\nValidation (real runs):\n\n| batcher | steps | process | predicted s | measured s | error % |\n|---|---|---|---|---|---|"
        );
        for r in checked {
            if let Some(m) = r.measured {
                let process = match m.new_process_ms {
                    Some(up) => format!("new ({:+.1} s start-up predicted)", up / 1e3),
                    None => "this one".to_string(),
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.1} | {:.1} | {:+.1} |",
                    r.label,
                    m.steps,
                    process,
                    m.predicted_ms / 1e3,
                    m.total_ms / 1e3,
                    m.error_pct()
                );
            }
        }
        match self.verdict() {
            Some((fastest, behind)) if behind > 0.0 => {
                let _ = writeln!(
                    s,
                    "\nMeasured fastest: {fastest}; the recommended batcher took {behind:.1}% longer per step than it."
                );
            }
            Some((fastest, _)) => {
                let _ = writeln!(s, "\nMeasured fastest: {fastest}, the recommended batcher.");
            }
            None => {}
        }
    }
}
