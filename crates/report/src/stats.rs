//! Per-run metrics, their aggregation over seeds, Welch's t-test and Holm's correction.

use geobatch_core::Phases;
use geobatch_results::read::{Eval, Run, Steps};
use statrs::distribution::{ContinuousCDF, StudentsT};

pub use geobatch_core::stats::mean;

/// Sample standard deviation (n - 1; NaN below two values).
pub fn sd(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return f64::NAN;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// Median (mean of the middle two for even lengths; NaN when empty): core's one median
/// ([`geobatch_core::stats::median`]) of the sorted values.
pub fn median(v: &[f64]) -> f64 {
    let mut sorted = v.to_vec();
    sorted.sort_by(f64::total_cmp);
    geobatch_core::stats::median(&sorted).unwrap_or(f64::NAN)
}

/// Welch's two-sample t-test (unequal variances, two-sided): (t, degrees of freedom, p).
/// `None` with fewer than two values in a sample or when both samples have no spread.
pub fn welch(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (va, vb) = (
        sd(a).powi(2) / a.len() as f64,
        sd(b).powi(2) / b.len() as f64,
    );
    if va + vb == 0.0 {
        return None;
    }
    let t = (mean(a) - mean(b)) / (va + vb).sqrt();
    let df =
        (va + vb).powi(2) / (va.powi(2) / (a.len() - 1) as f64 + vb.powi(2) / (b.len() - 1) as f64);
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    let p = 2.0 * (1.0 - dist.cdf(t.abs()));
    Some((t, df, p.clamp(0.0, 1.0)))
}

/// Holm's step-down adjustment of `p` (family-wise error over all of them), in input order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// The numbers the report keeps per run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunMetrics {
    /// The run's `run_id`.
    pub run_id: String,
    /// The run's seed.
    pub seed: u64,
    /// Steps recorded.
    pub steps: usize,
    /// Mean batching time over every step (warm-up and new shapes included), ms.
    pub batching_mean_ms: f64,
    /// Mean update time (combined minus batching), ms.
    pub update_mean_ms: f64,
    /// Mean combined time, ms (the study's "combined time").
    pub combined_mean_ms: f64,
    /// Median combined time over steady steps (no warm-up, no cold shape), ms.
    pub combined_steady_median_ms: f64,
    /// Real graphs per second of combined time.
    pub graphs_per_s: f64,
    /// Real nodes per second of combined time.
    pub nodes_per_s: f64,
    /// Real over padded nodes.
    pub fill_nodes: f64,
    /// Real over padded edges.
    pub fill_edges: f64,
    /// Distinct padded shapes.
    pub distinct_shapes: usize,
    /// Steps that met a padded shape cold: the distinct shapes, plus the old shapes met again
    /// after a resume (the compiles of a shape-specialising engine).
    pub cold_shapes: usize,
    /// Cost of meeting a new padded shape, ms: the mean over cold-shape steps (new shapes, and
    /// old ones first met again after a resume) of their combined time minus the steady median
    /// (a compile on shape-specialising engines; NaN without such steps or without steady ones).
    pub compile_per_shape_ms: f64,
    /// Last validation RMSE and MAE, if evaluated.
    pub validation: Option<(f64, f64)>,
    /// Last test RMSE and MAE, if evaluated (of the run's last target where it has several:
    /// [`RunMetrics::targets`] has each).
    pub test: Option<(f64, f64)>,
    /// The last test RMSE and MAE of every target, in evaluation order (a potential's energy per
    /// atom, forces and stress; several targets of one dataset).
    pub targets: Vec<(String, f64, f64)>,
    /// Final test accuracy with batched inference (node classification).
    pub test_accuracy: Option<f64>,
    /// Final test accuracy with full-graph inference (node classification).
    pub test_accuracy_full: Option<f64>,
    /// Where a steady step's time goes (`None` without recorded phases: the batching study,
    /// files written before the phase columns existed).
    pub phases: Option<PhaseSplit>,
}

/// Where a run's steady step goes: means over the steady steps with recorded phases, ms, so
/// that the parts add up to `combined_ms`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseSplit {
    /// Host batching.
    pub batching_ms: f64,
    /// Host batch copied into device tensors.
    pub transfer_ms: f64,
    /// Forward pass and loss (`None` where the trainer cannot tell its phases apart).
    pub forward_ms: Option<f64>,
    /// Backward pass (as `forward_ms`).
    pub backward_ms: Option<f64>,
    /// Optimiser update and the loss read-back (as `forward_ms`).
    pub optimizer_ms: Option<f64>,
    /// The rest of the combined time: the loop's own time, the wait for a prefetched batch, and
    /// where forward, backward and optimizer are not told apart, the whole model call.
    pub rest_ms: f64,
    /// Combined time.
    pub combined_ms: f64,
}

/// The phase split of the steady steps of `s` that recorded their transfer (see [`PhaseSplit`]).
pub fn phases(s: &Steps) -> Option<PhaseSplit> {
    let rows: Vec<usize> = (0..s.combined_ns.len())
        .filter(|&i| s.is_steady(i) && s.phases.get(i).is_some_and(|p| p.transfer_ns.is_some()))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mean_ms = |f: &dyn Fn(usize) -> Option<u64>| -> Option<f64> {
        let v: Option<Vec<f64>> = rows
            .iter()
            .map(|&i| f(i).map(|ns| ns as f64 / 1e6))
            .collect();
        v.map(|v| mean(&v))
    };
    let phase = |f: fn(&Phases) -> Option<u64>| mean_ms(&|i| f(&s.phases[i]));
    let batching_ms = mean_ms(&|i| Some(s.batching_ns[i]))?;
    let combined_ms = mean_ms(&|i| Some(s.combined_ns[i]))?;
    let transfer_ms = phase(|p| p.transfer_ns)?;
    let (forward_ms, backward_ms, optimizer_ms) = (
        phase(|p| p.forward_ns),
        phase(|p| p.backward_ns),
        phase(|p| p.optimizer_ns),
    );
    let known = [forward_ms, backward_ms, optimizer_ms]
        .iter()
        .flatten()
        .sum::<f64>();
    Some(PhaseSplit {
        batching_ms,
        transfer_ms,
        forward_ms,
        backward_ms,
        optimizer_ms,
        rest_ms: combined_ms - batching_ms - transfer_ms - known,
        combined_ms,
    })
}

/// RMSE and MAE of the last regression evaluation of `split`. A NaN there is the run's result
/// and is returned as it is (the mean over seeds then shows NaN): an earlier finite evaluation
/// must not stand in for it. Node-classification rows (accuracy, no RMSE) are not regression
/// evaluations.
pub fn last_errors(evals: &[Eval], split: &str) -> Option<(f64, f64)> {
    evals
        .iter()
        .filter(|e| e.split == split && e.accuracy.is_none())
        .max_by_key(|e| e.step)
        .map(|e| (e.rmse, e.mae))
}

/// The last RMSE and MAE of every target on `split`, in the order the targets were evaluated.
pub fn last_by_target(evals: &[Eval], split: &str) -> Vec<(String, f64, f64)> {
    let mut out: Vec<(String, u64, f64, f64)> = Vec::new();
    for e in evals
        .iter()
        .filter(|e| e.split == split && e.accuracy.is_none())
    {
        match out.iter_mut().find(|t| t.0 == e.target) {
            Some(t) if e.step >= t.1 => *t = (e.target.clone(), e.step, e.rmse, e.mae),
            Some(_) => {}
            None => out.push((e.target.clone(), e.step, e.rmse, e.mae)),
        }
    }
    out.into_iter().map(|(t, _, r, m)| (t, r, m)).collect()
}

/// The metrics of one run.
pub fn run_metrics(run: &Run) -> RunMetrics {
    let s = &run.steps;
    let ms = |v: &[u64]| v.iter().map(|&x| x as f64 / 1e6).collect::<Vec<f64>>();
    let (batching, combined) = (ms(&s.batching_ns), ms(&s.combined_ns));
    let steady: Vec<f64> = (0..combined.len())
        .filter(|&i| s.is_steady(i))
        .map(|i| combined[i])
        .collect();
    let sum = |v: &[u32]| v.iter().map(|&x| f64::from(x)).sum::<f64>();
    let seconds = combined.iter().sum::<f64>() / 1e3;
    let last = |split: &str| last_errors(&run.evals, split);
    let accuracy = |full: bool| {
        run.evals
            .iter()
            .filter(|e| e.split == "test" && (e.inference.as_deref() == Some("full")) == full)
            .filter_map(|e| e.accuracy.map(|a| (e.step, a)))
            .max_by_key(|e| e.0)
            .map(|e| e.1)
    };
    let steady_median = median(&steady);
    // every cold step is a compile on a shape-specialising engine, also the re-compiles of the
    // old shapes after a resume; the distinct shapes are the run's own
    let first_steps: Vec<f64> = combined
        .iter()
        .zip(&s.cold_shape)
        .filter(|(_, c)| **c)
        .map(|(c, _)| c - steady_median)
        .collect();
    RunMetrics {
        run_id: run.id.run_id.clone(),
        seed: run.id.seed,
        steps: combined.len(),
        batching_mean_ms: mean(&batching),
        update_mean_ms: mean(&combined) - mean(&batching),
        combined_mean_ms: mean(&combined),
        combined_steady_median_ms: steady_median,
        graphs_per_s: sum(&s.real_graphs) / seconds,
        nodes_per_s: sum(&s.real_nodes) / seconds,
        fill_nodes: sum(&s.real_nodes) / sum(&s.padded_nodes),
        fill_edges: sum(&s.real_edges) / sum(&s.padded_edges).max(1.0),
        distinct_shapes: s.new_shape.iter().filter(|&&n| n).count(),
        cold_shapes: s.cold_shape.iter().filter(|&&c| c).count(),
        compile_per_shape_ms: mean(&first_steps),
        validation: last("validation"),
        test: last("test"),
        targets: last_by_target(&run.evals, "test"),
        test_accuracy: accuracy(false),
        test_accuracy_full: accuracy(true),
        phases: phases(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four steps of 10 ms (1 ms batching): step 0 cold, step 1 warm-up, steps 2 and 3 steady
    /// with transfer 1 and 3 ms, forward 2 ms, backward 4 ms, optimizer 1 ms.
    fn phase_steps(told_apart: bool) -> Steps {
        let mut s = Steps::default();
        for i in 0..4u64 {
            s.step.push(i);
            s.batching_ns.push(1_000_000);
            s.combined_ns.push(10_000_000);
            s.cold_shape.push(i == 0);
            s.warmup.push(i == 1);
            let told = |ms: u64| told_apart.then_some(ms * 1_000_000);
            s.phases.push(Phases {
                transfer_ns: Some(if i == 3 { 3_000_000 } else { 1_000_000 }),
                forward_ns: told(2),
                backward_ns: told(4),
                optimizer_ns: told(1),
            });
        }
        s
    }

    #[test]
    fn a_steady_steps_phases_add_up_to_its_combined_time() {
        let p = phases(&phase_steps(true)).unwrap();
        assert_eq!(p.batching_ms, 1.0);
        assert_eq!(p.transfer_ms, 2.0, "mean of the steady steps 2 and 3 only");
        assert_eq!(
            (p.forward_ms, p.backward_ms, p.optimizer_ms),
            (Some(2.0), Some(4.0), Some(1.0))
        );
        assert_eq!(p.rest_ms, 10.0 - 1.0 - 2.0 - 2.0 - 4.0 - 1.0);
        assert_eq!(p.combined_ms, 10.0);
        // the python model: one call after the transfer, its time is the rest
        let p = phases(&phase_steps(false)).unwrap();
        assert_eq!(
            (p.forward_ms, p.backward_ms, p.optimizer_ms),
            (None, None, None)
        );
        assert_eq!(p.rest_ms, 7.0);
        // the batching study and older files recorded no phases
        let mut none = phase_steps(true);
        none.phases.clear();
        assert_eq!(phases(&none), None);
    }

    /// Two shapes alternating over 12 steps, resumed at step 6: steps 0, 1 (new) and 6, 7 (old
    /// shapes met again by the resumed process) cost 1 s more than the 10 ms steady step.
    #[test]
    fn cold_steps_after_a_resume_are_priced_as_compiles_not_steady_steps() {
        let mut steps = geobatch_results::read::Steps::default();
        for i in 0..12u64 {
            let cold = matches!(i, 0 | 1 | 6 | 7);
            let nodes = if i % 2 == 0 { 64 } else { 128 };
            steps.step.push(i);
            steps.batching_ns.push(0);
            steps
                .combined_ns
                .push(if cold { 1_010_000_000 } else { 10_000_000 });
            steps.real_nodes.push(nodes);
            steps.padded_nodes.push(nodes);
            steps.real_edges.push(nodes);
            steps.padded_edges.push(nodes);
            steps.real_graphs.push(4);
            steps.padded_graphs.push(4);
            steps.new_shape.push(i < 2);
            steps.cold_shape.push(cold);
            steps.warmup.push(false);
        }
        let run = Run {
            id: geobatch_results::read::RunIdentity {
                dir: std::path::PathBuf::new(),
                run_id: "r".into(),
                job: "train".into(),
                dataset: "qm9".into(),
                model: "python".into(),
                batcher: "static-64".into(),
                batch_size: 4,
                seed: 7,
                mode: "serial".into(),
                status: "complete".into(),
                config: None,
                recorded_steps: 0,
                schema_version: 0,
            },
            steps,
            evals: Vec::new(),
            parts: Vec::new(),
            evals_file: false,
        };
        let m = run_metrics(&run);
        assert_eq!((m.distinct_shapes, m.cold_shapes, m.seed), (2, 4, 7));
        assert_eq!(m.combined_steady_median_ms, 10.0);
        assert!((m.compile_per_shape_ms - 1000.0).abs() < 1e-9, "{m:?}");
    }

    #[test]
    fn a_nan_final_evaluation_is_the_result_not_skipped() {
        let eval = |step: u64, split: &str, rmse: f64, accuracy: Option<f64>| Eval {
            target: "y".into(),
            step,
            split: split.into(),
            rmse,
            mae: rmse / 2.0,
            accuracy,
            inference: None,
        };
        let evals = [
            eval(100, "test", 1.5, None),
            eval(200, "test", f64::NAN, None),
            eval(200, "validation", 1.0, None),
        ];
        let (rmse, _) = last_errors(&evals, "test").unwrap();
        assert!(rmse.is_nan(), "the finite step-100 value stood in: {rmse}");
        assert_eq!(last_errors(&evals, "validation"), Some((1.0, 0.5)));
        // node classification rows carry no RMSE
        assert_eq!(
            last_errors(&[eval(5, "test", f64::NAN, Some(0.9))], "test"),
            None
        );
        assert!(
            mean(&[1.0, f64::NAN]).is_nan(),
            "a NaN run makes the mean NaN"
        );
    }

    #[test]
    fn welch_matches_scipy() {
        // scipy 1.x: stats.ttest_ind([1, 2, 3, 4, 5], [2, 4, 6, 8, 11], equal_var=False) gives
        // statistic -1.866277899263374, pvalue 0.11499016052991898, df 5.573280030949771
        let (t, df, p) = welch(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.0, 6.0, 8.0, 11.0]).unwrap();
        assert!((t + 1.866_277_899_263_374).abs() < 1e-12, "{t}");
        assert!((df - 5.573_280_030_949_771).abs() < 1e-9, "{df}");
        assert!((p - 0.114_990_160_529_918_98).abs() < 1e-9, "{p}");
        assert!(welch(&[1.0], &[2.0, 3.0]).is_none());
        assert!(welch(&[1.0, 1.0], &[2.0, 2.0]).is_none());
    }

    #[test]
    fn holm_steps_down_and_keeps_order() {
        // p = (0.01, 0.04, 0.03, 0.005), m = 4: sorted 0.005*4 = 0.02, 0.01*3 = 0.03,
        // 0.03*2 = 0.06, 0.04*1 = 0.04 -> max-accumulated 0.02, 0.03, 0.06, 0.06
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-12, "{adj:?}");
        }
    }

    #[test]
    fn medians_and_spreads() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(
            (sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]) - 2.138_089_935_299_395).abs() < 1e-12
        );
    }

    #[test]
    fn every_targets_last_errors_in_evaluation_order() {
        let eval = |step: u64, target: &str, rmse: f64| Eval {
            target: target.into(),
            step,
            split: "test".into(),
            rmse,
            mae: rmse / 2.0,
            accuracy: None,
            inference: None,
        };
        let evals = [
            eval(100, "energy_per_atom_meV", 30.0),
            eval(100, "forces_meV_per_A", 300.0),
            eval(200, "energy_per_atom_meV", 20.0),
            eval(200, "forces_meV_per_A", 200.0),
        ];
        assert_eq!(
            last_by_target(&evals, "test"),
            vec![
                ("energy_per_atom_meV".to_string(), 20.0, 10.0),
                ("forces_meV_per_A".to_string(), 200.0, 100.0)
            ]
        );
        assert!(last_by_target(&evals, "validation").is_empty());
    }
}
