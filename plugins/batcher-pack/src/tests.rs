use super::*;
use geobatch_core::{GraphDraw, GraphStream, Quirks, StreamMode};

fn sizes(v: &[(u32, u32)]) -> Vec<GraphSize> {
    v.iter()
        .map(|&(nodes, edges)| GraphSize { nodes, edges })
        .collect()
}

fn plans(
    b: &mut PackBatcher,
    stream: &mut GraphStream,
    s: &[GraphSize],
    limit: usize,
) -> Result<Vec<Vec<u32>>> {
    let mut plan = Plan::default();
    let mut out = Vec::new();
    while out.len() < limit && b.next_plan(GraphDraw::new(stream, s), &mut plan)? {
        assert_eq!(plan.padded, b.budget);
        assert!(b.budget.admits(&plan.real), "{} in {}", plan.real, b.budget);
        out.push(plan.graphs.clone());
    }
    Ok(out)
}

fn eval(budget: Shape, window: usize, s: &[GraphSize]) -> Result<Vec<Vec<u32>>> {
    let mut b = PackBatcher::new(budget, window)?;
    let mut stream = GraphStream::new(s.len(), StreamMode::Eval, 0, Quirks::Clean, "test")?;
    plans(&mut b, &mut stream, s, usize::MAX)
}

#[test]
fn budget_is_sized_for_mean_graphs_in_nodes_and_edges_alike() {
    // mean 10 nodes, 40 edges; 32 graphs -> 320 nodes, strict next64 -> 384, which holds 38.4
    // mean graphs -> 1536 edges -> 1600; graph slots ceil(1.25 * 38.4) + 1 = 49
    let stats = SizeStats::of(&sizes(&[(5, 20), (15, 60)])).unwrap();
    assert_eq!(estimate_budget(&stats, 32, 1.25), Shape::new(384, 1600, 49));
    // a large graph dominates: the budget holds it
    let stats = SizeStats::of(&sizes(&[(1, 0), (1, 0), (1, 0), (200, 1000)])).unwrap();
    let b = estimate_budget(&stats, 2, 1.25);
    assert!(b.admits(&Shape::new(200, 1000, 1)), "{b}");
}

#[test]
fn first_fit_over_the_window_fills_the_gap_a_greedy_fill_leaves() {
    // budget: 9 real nodes, 100 edges, 9 real graphs
    let s = sizes(&[(4, 1), (4, 1), (4, 1), (1, 1), (4, 1), (4, 1)]);
    // dynamic would stop at graph 2 (8 + 4 > 9); pack holds it and takes graph 3 (1 node)
    let batches = eval(Shape::new(10, 100, 10), 4, &s).unwrap();
    assert_eq!(batches, vec![vec![0, 1, 3], vec![2, 4], vec![5]]);
    // window 1 is dynamic's carry-over: the first graph that does not fit ends the batch
    let batches = eval(Shape::new(10, 100, 10), 1, &s).unwrap();
    assert_eq!(batches, vec![vec![0, 1], vec![2, 3, 4], vec![5]]);
}

#[test]
fn edges_and_graph_slots_bind_as_nodes_do() {
    let s = sizes(&[(1, 60), (1, 60), (1, 30)]);
    assert_eq!(
        eval(Shape::new(10, 100, 10), 4, &s).unwrap(),
        vec![vec![0, 2], vec![1]]
    );
    let s = sizes(&[(1, 0); 5]);
    assert_eq!(
        eval(Shape::new(10, 100, 3), 4, &s).unwrap(),
        vec![vec![0, 1], vec![2, 3], vec![4]]
    );
}

#[test]
fn a_graph_larger_than_the_budget_is_the_error_dynamic_gives() {
    let s = sizes(&[(2, 1), (50, 1), (2, 1)]);
    let err = eval(Shape::new(10, 100, 4), 4, &s).unwrap_err().to_string();
    assert!(
        err.contains(
            "graph number 1 of its split (50 nodes, 1 edges) is larger than the batch budget"
        ),
        "{err}"
    );
}

#[test]
fn training_passes_are_emitted_whole_and_in_order() {
    // sizes that leave graphs behind often; every run of n emitted graphs is one pass
    let s: Vec<GraphSize> = (0..23)
        .map(|i| GraphSize {
            nodes: 1 + (i * 7) % 9,
            edges: (i * 13) % 30,
        })
        .collect();
    for window in [1, 3, 8, 40] {
        let mut b = PackBatcher::new(Shape::new(16, 64, 6), window).unwrap();
        let mut stream =
            GraphStream::new(s.len(), StreamMode::Train, 5, Quirks::Clean, "train").unwrap();
        let emitted: Vec<u32> = plans(&mut b, &mut stream, &s, 200).unwrap().concat();
        assert!(emitted.len() > 5 * s.len());
        for pass in emitted.chunks_exact(s.len()) {
            let mut p = pass.to_vec();
            p.sort_unstable();
            assert_eq!(
                p,
                (0..s.len() as u32).collect::<Vec<_>>(),
                "window {window}"
            );
        }
    }
}

#[test]
fn a_restored_state_continues_exactly() {
    let s: Vec<GraphSize> = (0..50)
        .map(|i| GraphSize {
            nodes: 2 + (i * 5) % 11,
            edges: (i * 17) % 40,
        })
        .collect();
    let make = || PackBatcher::new(Shape::new(32, 128, 8), 6).unwrap();
    let stream = || GraphStream::new(s.len(), StreamMode::Train, 9, Quirks::Clean, "t").unwrap();
    let (mut whole, mut ws) = (make(), stream());
    let want = plans(&mut whole, &mut ws, &s, 40).unwrap();

    let (mut first, mut fs) = (make(), stream());
    let mut got = plans(&mut first, &mut fs, &s, 17).unwrap();
    assert!(
        !first.held().is_empty(),
        "the test must stop with graphs held"
    );
    let (state, position) = (first.state().unwrap(), fs.clone());
    let (mut second, mut ss) = (make(), position);
    second.restore(state).unwrap();
    got.extend(plans(&mut second, &mut ss, &s, 23).unwrap());
    assert_eq!(got, want);

    // without the state the held graphs would be lost
    let (mut lost, mut ls) = (make(), fs);
    let rest = plans(&mut lost, &mut ls, &s, 23).unwrap();
    assert_ne!(rest[..], want[17..]);
}

#[test]
fn a_state_that_does_not_fit_is_refused() {
    let mut b = PackBatcher::new(Shape::new(32, 128, 8), 1).unwrap();
    let two = serde_json::json!([
        { "graph": 0, "nodes": 1, "edges": 0, "pass": 0 },
        { "graph": 1, "nodes": 1, "edges": 0, "pass": 0 }
    ]);
    assert!(
        b.restore(two)
            .unwrap_err()
            .to_string()
            .contains("window of 1")
    );
    assert!(b.restore(serde_json::json!({ "x": 1 })).is_err());
}

#[test]
fn spec_checks_its_options() {
    let spec = |t: &str| -> PackSpec { serde_json::from_str(t).unwrap() };
    let e = serde_json::from_str::<PackSpec>(r#"{"batch_size": 1}"#).unwrap_err();
    assert!(
        e.to_string().contains("batch_size must be at least 2"),
        "{e}"
    );
    for bad in [
        r#"{"batch_size": 8, "window": 0}"#,
        r#"{"batch_size": 8, "graph_slack": 0.5}"#,
        r#"{"batch_size": 8, "num_estimation_graphs": 0}"#,
        r#"{"batch_size": 8, "budget": {"nodes": 64, "edges": 64, "graphs": 1}}"#,
    ] {
        assert!(spec(bad).validate().is_err(), "{bad}");
    }
    let ctx = BatcherContext {
        sizes: &[],
        split: "train",
        quirks: Quirks::Clean,
    };
    let err = spec(r#"{"batch_size": 8}"#).build(&ctx).unwrap_err();
    assert!(err.to_string().contains("train split is empty"), "{err}");
    // an explicit budget is used as it is
    let s = sizes(&[(3, 6); 10]);
    let ctx = BatcherContext { sizes: &s, ..ctx };
    let b = spec(r#"{"batch_size": 8, "budget": {"nodes": 64, "edges": 256, "graphs": 9}}"#)
        .build(&ctx)
        .unwrap();
    assert_eq!(b.budget(), Some(Shape::new(64, 256, 9)));
}

#[test]
fn the_estimate_does_not_depend_on_the_stored_order() {
    // small graphs stored first: every graph is read (clean), the first 1,000 (reference)
    let mut s = geobatch_testkit::batcher::growing_sizes(1500);
    let budget = |s: &[GraphSize], quirks| {
        let spec: PackSpec = serde_json::from_str(r#"{"batch_size": 32}"#).unwrap();
        let ctx = BatcherContext {
            sizes: s,
            split: "train",
            quirks,
        };
        spec.build(&ctx).unwrap().budget().unwrap()
    };
    let all = estimate_budget(&SizeStats::of(&s).unwrap(), 32, 1.25);
    assert_eq!(budget(&s, Quirks::Clean), all);
    let head = estimate_budget(&SizeStats::of(&s[..1000]).unwrap(), 32, 1.25);
    assert_eq!(budget(&s, Quirks::Reference), head);
    s.reverse();
    assert_eq!(budget(&s, Quirks::Clean), all);
    assert_ne!(budget(&s, Quirks::Reference), head);
}
