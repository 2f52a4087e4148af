//! Tests of the padded batch and its collation, and of target standardisation, on sets built
//! from structures.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::graph::{Cell, GraphSize};
use geobatch_core::{GraphBatch, GraphRule, GraphSet, Plan, Shape, TargetStats};
use geobatch_geometry::GraphSetBuilder;
use std::borrow::Cow;

fn set() -> GraphSet {
    let mut b = GraphSetBuilder::new(vec!["y".into()]);
    b.push("a", &[6, 1], &[[0.0; 3], [1.0, 0.0, 0.0]], None, &[1.5])
        .unwrap();
    b.push(
        "b",
        &[1, 1, 8],
        &[[0.0; 3], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        None,
        &[-2.0],
    )
    .unwrap();
    b.build(&GraphRule::Full, None).unwrap()
}

fn plan(set: &GraphSet, graphs: &[u32], padded: Shape) -> Plan {
    let mut p = Plan::default();
    for &g in graphs {
        p.push(g, set.sizes()[g as usize]);
    }
    p.padded = padded;
    p
}

#[test]
fn jraph_padding_layout() {
    let set = set();
    let mut batch = GraphBatch::new();
    batch
        .collate(&set, &plan(&set, &[1, 0], Shape::new(8, 10, 4)))
        .unwrap();
    assert_eq!(batch.real(), Shape::new(5, 8, 2));
    assert_eq!(batch.n_node, vec![3, 2, 3, 0]);
    assert_eq!(batch.n_edge, vec![6, 2, 2, 0]);
    assert_eq!(batch.node_graph, vec![0, 0, 0, 1, 1, 2, 2, 2]);
    assert_eq!(batch.species, vec![1, 1, 2, 0, 1, 0, 0, 0]);
    // graph 0 (split graph 1) edges, then graph 1 with node offset 3, then padding on node 5
    assert_eq!(batch.receivers, vec![0, 0, 1, 1, 2, 2, 3, 4, 5, 5]);
    assert_eq!(batch.senders, vec![1, 2, 0, 2, 0, 1, 4, 3, 5, 5]);
    assert_eq!(batch.edge_vectors()[7], [1.0, 0.0, 0.0]);
    assert_eq!(batch.edge_vectors()[9], [0.0; 3]);
    assert_eq!(batch.targets, vec![-2.0, 1.5, 0.0, 0.0]);
    assert_eq!(batch.graph_mask, vec![true, true, false, false]);
    assert_eq!(batch.graph_index, vec![1, 0]);
    assert_eq!(batch.padding_graphs(), 2);
}

#[test]
fn full_graphs_vectors_are_made_from_positions_stored_ones_are_copied() {
    let set = set();
    let mut batch = GraphBatch::new();
    batch
        .collate(&set, &plan(&set, &[1, 0], Shape::new(8, 10, 4)))
        .unwrap();
    assert!(
        matches!(batch.edge_vectors(), Cow::Owned(_)),
        "full graphs store no vectors: they are made from positions"
    );
    let made = batch.edge_vectors();
    for e in 0..10 {
        let (s, r) = (batch.senders[e] as usize, batch.receivers[e] as usize);
        let (a, b) = (batch.positions[r], batch.positions[s]);
        assert_eq!(made[e], [a[0] - b[0], a[1] - b[1], a[2] - b[2]]);
    }
    // one atom in a 2 A cubic cell: its only neighbours within 2.5 A are its own images,
    // whose vectors are the image shifts (zero from the positions alone)
    let mut b = GraphSetBuilder::new(vec!["y".into()]);
    let lattice = [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]];
    b.push(
        "x",
        &[6],
        &[[0.5; 3]],
        Some(Cell::periodic(lattice)),
        &[1.0],
    )
    .unwrap();
    let periodic = b.build(&GraphRule::Cutoff { radius: 2.5 }, None).unwrap();
    let m = periodic.sizes()[0].edges as usize;
    assert_eq!(m, 6);
    batch
        .collate(&periodic, &plan(&periodic, &[0], Shape::new(2, m + 2, 2)))
        .unwrap();
    let stored = batch.edge_vectors();
    assert!(matches!(stored, Cow::Borrowed(_)));
    let mut lengths: Vec<f32> = stored[..m]
        .iter()
        .map(|v| v.iter().map(|x| x * x).sum::<f32>().sqrt())
        .collect();
    lengths.dedup();
    assert_eq!(lengths, vec![2.0]);
    assert_eq!(stored[m..], [[0.0; 3]; 2]);
}

#[test]
fn padding_must_be_strict_for_nodes_and_graphs_only() {
    let set = set();
    let mut batch = GraphBatch::new();
    assert!(
        batch
            .collate(&set, &plan(&set, &[0], Shape::new(2, 2, 2)))
            .is_err()
    );
    assert!(
        batch
            .collate(&set, &plan(&set, &[0], Shape::new(3, 1, 2)))
            .is_err()
    );
    assert!(
        batch
            .collate(&set, &plan(&set, &[0], Shape::new(3, 2, 1)))
            .is_err()
    );
    batch
        .collate(&set, &plan(&set, &[0], Shape::new(3, 2, 2)))
        .unwrap();
    assert_eq!(batch.n_edge, vec![2, 0]);
    assert_eq!(batch.n_node, vec![2, 1]);
}

#[test]
fn reuse_does_not_reallocate() {
    let set = set();
    let mut batch = GraphBatch::new();
    let p = plan(&set, &[0, 1], Shape::new(64, 64, 3));
    batch.collate(&set, &p).unwrap();
    let (ptr, cap) = (batch.senders.as_ptr(), batch.senders.capacity());
    batch
        .collate(&set, &plan(&set, &[1], Shape::new(64, 64, 3)))
        .unwrap();
    batch.collate(&set, &p).unwrap();
    assert_eq!(
        (batch.senders.as_ptr(), batch.senders.capacity()),
        (ptr, cap)
    );
    let _ = GraphSize::default();
}

/// Two periodic cells with forces, the second with a stress, under a cutoff.
fn labelled() -> GraphSet {
    use geobatch_core::graph::{AtomLabels, LabelKinds};
    let mut b = GraphSetBuilder::new(vec!["energy".into()]).carrying(LabelKinds {
        forces: true,
        stress: true,
    });
    let cell = |a: f64| Cell {
        lattice: [[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]],
        pbc: [true; 3],
    };
    let f1 = [[0.5, -1.0, 2.0]];
    b.push_labelled(
        "one",
        &[29],
        &[[0.1, 0.2, 0.3]],
        Some(cell(2.5)),
        &[-3.0],
        AtomLabels {
            forces: Some(&f1),
            stress: None,
        },
    )
    .unwrap();
    let f2 = [[1.0, 0.0, 0.0], [-1.0, 0.25, 0.0]];
    let s2 = [[0.1, 0.2, 0.3], [0.2, 0.4, 0.5], [0.3, 0.5, 0.6]];
    b.push_labelled(
        "two",
        &[29, 29],
        &[[0.0; 3], [1.4, 1.4, 0.0]],
        Some(cell(2.9)),
        &[-7.0],
        AtomLabels {
            forces: Some(&f2),
            stress: Some(s2),
        },
    )
    .unwrap();
    b.build(&GraphRule::Cutoff { radius: 3.0 }, None).unwrap()
}

#[test]
fn forces_shifts_cells_and_stress_are_collated_and_padding_is_zero() {
    let labelled = labelled();
    let set = &labelled;
    assert_eq!(set.stress(0), None);
    assert!(set.stress(1).is_some());
    let real = Shape::new(
        3,
        set.sizes()[0].edges as usize + set.sizes()[1].edges as usize,
        2,
    );
    let padded = Shape::new(real.nodes + 2, real.edges + 5, 4);
    let mut batch = GraphBatch::new();
    batch.collate(set, &plan(set, &[1, 0], padded)).unwrap();
    assert_eq!(
        batch.forces[..3],
        [[1.0, 0.0, 0.0], [-1.0, 0.25, 0.0], [0.5, -1.0, 2.0]]
    );
    assert!(batch.forces[3..].iter().all(|f| *f == [0.0; 3]));
    assert_eq!(batch.stress_weight, vec![1.0, 0.0, 0.0, 0.0]);
    assert_eq!(
        batch.stress[0],
        [0.1, 0.2, 0.3, 0.2, 0.4, 0.5, 0.3, 0.5, 0.6]
    );
    assert!(batch.stress[1..].iter().all(|s| *s == [0.0; 9]));
    assert_eq!(batch.cells[0][0], 2.9);
    assert_eq!(batch.cells[1][8], 2.5);
    assert!(batch.cells[2..].iter().all(|c| *c == [0.0; 9]));
    // every edge's vector is rebuilt from positions, its image shift and its graph's cell
    let v = batch.edge_vectors();
    for e in 0..real.edges {
        let (s, r) = (batch.senders[e] as usize, batch.receivers[e] as usize);
        let c = &batch.cells[batch.node_graph[r] as usize];
        let sh = batch.shifts[e];
        for k in 0..3 {
            let image: f32 = (0..3).map(|m| sh[m] as f32 * c[m * 3 + k]).sum();
            let rebuilt = batch.positions[r][k] - batch.positions[s][k] - image;
            assert!(
                (rebuilt - v[e][k]).abs() < 1e-5,
                "edge {e}: {rebuilt} vs {}",
                v[e][k]
            );
        }
    }
    assert!(
        batch.shifts.iter().any(|s| *s != [0; 3]),
        "a periodic image is an edge"
    );
    assert!(batch.shifts[real.edges..].iter().all(|s| *s == [0; 3]));
    // a set without labels collates none
    let plain = self::set();
    batch
        .collate(&plain, &plan(&plain, &[0], Shape::new(8, 10, 4)))
        .unwrap();
    assert!(batch.forces.is_empty() && batch.shifts.is_empty() && batch.cells.is_empty());
}

#[test]
fn labels_are_checked_as_they_are_pushed() {
    use geobatch_core::graph::{AtomLabels, LabelKinds};
    let carrying = LabelKinds {
        forces: true,
        stress: true,
    };
    let mut b = GraphSetBuilder::new(vec!["energy".into()]).carrying(carrying);
    let p = [[0.0; 3], [1.0, 0.0, 0.0]];
    let push = |b: &mut GraphSetBuilder, labels: AtomLabels<'_>| {
        b.push_labelled("x", &[1, 1], &p, None, &[0.0], labels)
            .unwrap_err()
            .to_string()
    };
    let e = push(&mut b, AtomLabels::default());
    assert!(e.contains("no forces"), "{e}");
    let e = push(
        &mut b,
        AtomLabels {
            forces: Some(&[[0.0; 3]]),
            stress: None,
        },
    );
    assert!(e.contains("1 force rows for 2 atoms"), "{e}");
    let nan = [[0.0; 3], [f64::NAN, 0.0, 0.0]];
    let e = push(
        &mut b,
        AtomLabels {
            forces: Some(&nan),
            stress: None,
        },
    );
    assert!(e.contains("atom 1") && e.contains("not finite"), "{e}");
    let ok = [[0.0; 3]; 2];
    let e = push(
        &mut b,
        AtomLabels {
            forces: Some(&ok),
            stress: Some([[0.0; 3]; 3]),
        },
    );
    assert!(e.contains("not periodic"), "{e}");
    assert!(b.is_empty(), "nothing refused was kept");
    let mut plain = GraphSetBuilder::new(vec!["energy".into()]);
    let e = push(
        &mut plain,
        AtomLabels {
            forces: Some(&ok),
            stress: None,
        },
    );
    assert!(e.contains("carries none"), "{e}");
}

#[test]
fn target_standardisation_is_the_population_std_as_numpy() {
    let mut b = GraphSetBuilder::new(vec!["y".into(), "c".into()]);
    for (i, y) in [1.0f32, 2.0, 3.0, 4.0].iter().enumerate() {
        b.push(&i.to_string(), &[1], &[[0.0; 3]], None, &[*y, 5.0])
            .unwrap();
    }
    let s = TargetStats::of(&b.build(&GraphRule::Full, None).unwrap());
    assert_eq!(s[0].mean, 2.5);
    assert!((s[0].std - 1.25f64.sqrt()).abs() < 1e-12); // numpy.std([1,2,3,4]) = 1.1180
    assert_eq!(
        s[1],
        TargetStats {
            mean: 5.0,
            std: 1.0
        }
    );
}

#[test]
fn a_padded_shape_too_small_is_named_once_by_the_engine() {
    let set = set();
    let mut batch = GraphBatch::new();
    let e = batch
        .collate(&set, &plan(&set, &[1, 0], Shape::new(5, 8, 3)))
        .unwrap_err();
    assert!(
        matches!(
            e,
            geobatch_core::Error::Collate(geobatch_gather::Error::PaddingTooSmall { .. })
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("padded shape (5 nodes, 8 edges, 3 graphs) cannot hold real content"),
        "{e}"
    );
}
