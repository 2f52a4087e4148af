//! The cost model, the ranking and the advice's text on hand-made probes.

use super::*;

/// A probe whose steps have shapes `shapes` and times `ms`, warm-up the first `warmup`.
fn probe(shapes: &[ShapeKey], ms: &[f64], warmup: usize) -> Probe {
    let mut seen = HashSet::new();
    let mut s = Probe::default();
    for (i, (sh, t)) in shapes.iter().zip(ms).enumerate() {
        s.push(*t, *sh, seen.insert(*sh), i < warmup);
    }
    s
}

/// An engine whose steady step costs 1 ms + 0.01 ms per node + 0.001 ms per edge and whose
/// new shapes cost `compile` ms more.
fn engine(shapes: &[ShapeKey], compile: f64) -> Vec<f64> {
    let mut seen = HashSet::new();
    shapes
        .iter()
        .map(|s| {
            let base = 1.0 + 0.01 * f64::from(s[0]) + 0.001 * f64::from(s[1]);
            base + if seen.insert(*s) { compile } else { 0.0 }
        })
        .collect()
}

fn cand(label: &str, probe_shapes: &[ShapeKey], planned: &[ShapeKey], compile: f64) -> Candidate {
    Candidate {
        label: label.into(),
        spec: format!("kind = {label:?}"),
        padded: planned.to_vec(),
        fill: (1.0, 1.0),
        graphs_per_step: 1.0,
        probe: probe(probe_shapes, &engine(probe_shapes, compile), 0),
    }
}

#[test]
fn the_plane_recovers_a_linear_cost_and_degrades_to_a_line_or_a_mean() {
    let pts: Vec<(f64, f64, f64)> = [
        (64.0, 500.0),
        (128.0, 900.0),
        (192.0, 2100.0),
        (64.0, 700.0),
    ]
    .iter()
    .map(|&(x, y)| (x, y, 1.0 + 0.01 * x + 0.001 * y))
    .collect();
    let p = Plane::fit(&pts);
    assert!((p.a - 1.0).abs() < 1e-9 && (p.b - 0.01).abs() < 1e-12 && (p.c - 0.001).abs() < 1e-12);
    // nodes and edges move together: a line in edges alone still predicts the points
    let line: Vec<(f64, f64, f64)> = [1.0, 2.0, 3.0]
        .iter()
        .map(|&k| (64.0 * k, 640.0 * k, 5.0 * k))
        .collect();
    let l = Plane::fit(&line);
    assert!((l.at([128, 1280, 1]) - 10.0).abs() < 1e-9);
    let flat = Plane::fit(&[(64.0, 640.0, 3.0), (64.0, 640.0, 5.0)]);
    assert!((flat.at([0, 0, 0]) - 4.0).abs() < 1e-12);
}

#[test]
fn predicted_totals_add_the_compile_of_every_new_shape_and_rank_by_them() {
    let a: ShapeKey = [128, 1024, 33];
    let (b, c, d) = ([64, 512, 33], [192, 1536, 33], [256, 2048, 33]);
    // "many": three shapes in its probe, four in its planned run; "one": a single shape
    let many_probe = [b, b, c, b, c, d, b, c, d, d, b, c];
    let many_plan = [b, c, d, b, [320, 2560, 33], c, b, d, b, c];
    let one = [a; 12];
    let compile = 50.0;
    let adv = advise(
        &[
            cand("many", &many_probe, &many_plan, compile),
            cand("one", &one, &[a; 10], compile),
        ],
        10,
        0,
    );
    // the model recovers the compile cost from "many"'s probe
    assert!(
        (adv.model.compile.mean - compile).abs() < 1e-3,
        "{:?}",
        adv.model.compile
    );
    let truth = |p: &[ShapeKey]| engine(p, compile).iter().sum::<f64>();
    let many = adv
        .ranked
        .iter()
        .find(|r| r.label == "many")
        .expect("ranked");
    // the unseen shape [320, 2560] comes from the plane, exactly for a linear engine; the
    // first step's excess is the probe's (a compile too)
    assert!(
        (many.predicted_ms - truth(&many_plan)).abs() < 1e-3,
        "{} vs {}",
        many.predicted_ms,
        truth(&many_plan)
    );
    assert_eq!(many.shapes, 4);
    // one shape, fewer compiles: faster over 10 steps, and no new-shape cost (+0, not -0)
    assert_eq!(adv.ranked[0].label, "one");
    let none = adv.ranked[0].compile_ms;
    assert!(none == 0.0 && none.is_sign_positive(), "{none}");
    assert_eq!(adv.crossovers.len(), 1);
}

#[test]
fn crossovers_name_the_step_from_which_the_faster_stays_ahead() {
    let rank = |label: &str, steps: &[f64]| Ranked {
        rank: 0,
        label: label.into(),
        spec: String::new(),
        predicted_ms: steps.iter().sum(),
        steady_ms: 0.0,
        steady_steps: 0,
        shapes: 1,
        compile_ms: 0.0,
        first_ms: 0.0,
        probe: (0, 0),
        fill: (1.0, 1.0),
        graphs_per_step: 1.0,
        cumulative: steps
            .iter()
            .scan(0.0, |acc, t| {
                *acc += t;
                Some(*acc)
            })
            .collect(),
        measured: None,
    };
    // "compiled": 10 ms to start, then 1 ms; "eager": 3 ms per step. Totals 10+n-1 vs 3n:
    // equal at n = 4.5, so "compiled" is ahead from step 5 on
    let compiled = rank("compiled", &[10.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
    let eager = rank("eager", &[3.0; 8]);
    let c = crossover(&compiled, &eager);
    assert_eq!(c.after, Some(5));
    assert!((c.margin_pct - 100.0 * (24.0 / 17.0 - 1.0)).abs() < 1e-9);
    // ahead from the first step
    assert_eq!(crossover(&eager, &rank("slow", &[4.0; 8])).after, None);
}

#[test]
fn validation_compares_like_with_like() {
    let s: ShapeKey = [64, 512, 9];
    let mut adv = advise(&[cand("x", &[s; 6], &[s; 20], 0.0)], 20, 0);
    // a run stopped after 8 steps is compared with the prediction for 8 steps
    adv.check("x", &[1.0 + 0.64 + 0.512; 8]);
    let m = adv.ranked[0].measured.expect("checked");
    assert_eq!(m.steps, 8);
    assert!(m.error_pct().abs() < 1e-6, "{}", m.error_pct());
    assert_eq!(adv.verdict().map(|v| v.0.to_string()), Some("x".into()));
    assert!(adv.render("t").contains("| x | 8 | this one |"));
    assert_eq!(m.new_process_ms, None);
}

#[test]
fn a_run_in_a_new_process_is_compared_with_the_prediction_plus_its_start_up() {
    let s: ShapeKey = [64, 512, 9];
    let mut adv = advise(&[cand("x", &[s; 6], &[s; 20], 0.0)], 20, 0);
    let step = 1.0 + 0.64 + 0.512;
    // the new process's first step took 500 ms more: its start-up, as predicted
    let mut ms = [step; 8];
    ms[0] += 500.0;
    adv.check_new_process("x", &ms, 500.0);
    let m = adv.ranked[0].measured.expect("checked");
    assert_eq!(m.new_process_ms, Some(500.0));
    assert!(m.error_pct().abs() < 1e-6, "{}", m.error_pct());
    assert!(
        adv.render("t")
            .contains("| x | 8 | new (+0.5 s start-up predicted) |"),
        "{}",
        adv.render("t")
    );
    // the same run compared as if in this process misses by the start-up
    adv.check("x", &ms);
    assert!(adv.ranked[0].measured.expect("checked").error_pct() < -20.0);
}

#[test]
fn a_new_shape_costs_what_its_new_dimensions_cost() {
    // an engine that compiles again only what a new dimension needs (inductor's code cache):
    // 30 ms for a new node count and edge count, 10 ms for a new edge count alone
    let cost = |new: usize| if new == 2 { 30.0 } else { 10.0 };
    let timed = |shapes: &[ShapeKey]| {
        let mut seen = <[HashSet<u32>; 3]>::default();
        let mut met = HashSet::new();
        let ms: Vec<f64> = shapes
            .iter()
            .map(|&s| {
                let dims = new_dims(&mut seen, s);
                1.0 + if met.insert(s) { cost(dims) } else { 0.0 }
            })
            .collect();
        let mut p = Probe::default();
        let mut cold = HashSet::new();
        for (s, t) in shapes.iter().zip(ms) {
            p.push(t, *s, cold.insert(*s), false);
        }
        p
    };
    let (n1, n2) = (64, 128);
    let probe_shapes: Vec<ShapeKey> = vec![
        [n1, 500, 33],
        [n1, 500, 33],
        [n2, 600, 33], // both new: 30
        [n1, 700, 33], // edges new: 10
        [n2, 800, 33], // edges new: 10
        [n1, 500, 33],
        [n2, 600, 33],
        [n1, 700, 33],
    ];
    // the planned run: one shape with both new, then eight with only a new edge count
    let mut plan: Vec<ShapeKey> = vec![[n1, 500, 33], [n2, 600, 33]];
    plan.extend((1..=8).map(|k| [n1 + 64 * (k % 2), 600 + 100 * k, 33]));
    let c = Candidate {
        label: "static".into(),
        spec: "kind = \"static\"".into(),
        padded: plan.clone(),
        fill: (1.0, 1.0),
        graphs_per_step: 1.0,
        probe: timed(&probe_shapes),
    };
    let adv = advise(&[c], plan.len() as u64, 0);
    let m = &adv.model;
    assert_eq!(m.compile_by_new[2].samples, 1);
    assert_eq!(m.compile_by_new[1].samples, 2);
    assert!((m.compile_ms(2) - 30.0).abs() < 1e-9 && (m.compile_ms(1) - 10.0).abs() < 1e-9);
    // no sample with no new dimension: the nearest class, one new dimension
    assert!((m.compile_ms(0) - 10.0).abs() < 1e-9);
    // 30 + 8 x 10, where the pooled mean (16.7 ms) would have said 150
    let r = &adv.ranked[0];
    assert!((r.compile_ms - 110.0).abs() < 1e-9, "{}", r.compile_ms);
    let truth: f64 = timed(&plan).ms.iter().sum();
    assert!(
        (r.predicted_ms - truth).abs() < 1e-9,
        "{} vs {truth}",
        r.predicted_ms
    );
    assert!(
        adv.render("t")
            .contains("by dimensions new to the run: 2 new: 30.0 ms (1), 1 new: 10.0 ms (2)")
    );
}

#[test]
fn a_steady_time_no_step_of_its_own_measured_is_marked_an_estimate() {
    let a: ShapeKey = [64, 640, 8];
    let planned = vec![a; 20];
    let steady = cand("pack", &[a, a, a, a, a], &planned, 30.0);
    // every probe step a new shape: no steady step of its own
    let shapes: Vec<ShapeKey> = (1..=3).map(|k| [64 * k, 640 * k, 8]).collect();
    let new_only = cand("static-2n", &shapes, &shapes.repeat(5), 30.0);
    let advice = advise(&[steady, new_only], 20, 0);
    let by = |l: &str| advice.ranked.iter().find(|r| r.label == l).unwrap();
    assert_eq!(by("pack").steady_steps, 4);
    assert_eq!(by("static-2n").steady_steps, 0);
    let text = advice.render("t");
    let row = |l: &str| {
        text.lines()
            .find(|line| line.contains(&format!("| {l} |")))
            .unwrap()
            .to_string()
    };
    assert!(
        row("static-2n").contains('*') && !row("pack").contains('*'),
        "{text}"
    );
    assert!(text.contains("an estimate, not a measurement"), "{text}");
}
