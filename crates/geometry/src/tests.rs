//! Tests of `graph`.

use crate::GraphSetBuilder;
use geobatch_core::graph::{Cell, Edges};
use geobatch_core::{GraphRule, GraphSize};

fn water_and_methane() -> GraphSetBuilder {
    let mut b = GraphSetBuilder::new(vec!["y".into()]);
    b.push(
        "water",
        &[8, 1, 1],
        &[[0.0; 3], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]],
        None,
        &[1.0],
    )
    .unwrap();
    b.push(
        "methane",
        &[6, 1, 1, 1, 1],
        &[
            [0.0; 3],
            [1.0, 0.0, 0.0],
            [-1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, -1.0, 0.0],
        ],
        None,
        &[2.0],
    )
    .unwrap();
    b
}

#[test]
fn full_rule_sizes_and_first_seen_classes() {
    let set = water_and_methane().build(&GraphRule::Full, None).unwrap();
    assert_eq!(
        set.sizes(),
        &[
            GraphSize { nodes: 3, edges: 6 },
            GraphSize {
                nodes: 5,
                edges: 20
            }
        ]
    );
    assert_eq!(set.species_classes(), &[8, 1, 6]);
    assert_eq!(set.species(), &[0, 1, 1, 2, 1, 1, 1, 1]);
    assert_eq!(set.id(1), "methane");
    assert_eq!(set.targets(1), &[2.0]);
}

#[test]
fn subset_keeps_columns_aligned() {
    let set = water_and_methane()
        .build(&GraphRule::Cutoff { radius: 1.5 }, None)
        .unwrap();
    let sub = set.subset(&[1, 0]);
    assert_eq!(sub.id(0), "methane");
    assert_eq!(sub.id(1), "water");
    assert_eq!(sub.sizes()[0], set.sizes()[1]);
    assert_eq!(
        sub.positions()[sub.node_range(1)],
        set.positions()[set.node_range(0)]
    );
    assert_eq!(sub.species_classes(), set.species_classes());
    match (sub.edges(), set.edges()) {
        (Edges::Stored(a), Edges::Stored(b)) => {
            assert_eq!(a.range(0).len(), b.range(1).len());
        }
        _ => panic!("cutoff edges must be stored"),
    }
}

#[test]
fn cell_from_parameters_matches_hand_values() {
    let cubic = Cell::from_parameters(4.0, 4.0, 4.0, 90.0, 90.0, 90.0).unwrap();
    for (i, row) in cubic.lattice.iter().enumerate() {
        for (k, x) in row.iter().enumerate() {
            let want = if i == k { 4.0 } else { 0.0 };
            assert!((x - want).abs() < 1e-6);
        }
    }
    // Hexagonal a = b = 2.5, c = 4, gamma = 120: b = (-1.25, 2.165, 0).
    let hex = Cell::from_parameters(2.5, 2.5, 4.0, 90.0, 90.0, 120.0).unwrap();
    assert!(
        (hex.lattice[1][0] + 1.25).abs() < 1e-6 && (hex.lattice[1][1] - 2.165_064).abs() < 1e-5
    );
    assert!((hex.lattice[2][2] - 4.0).abs() < 1e-6);
    assert!(Cell::from_parameters(1.0, 1.0, 1.0, 90.0, 90.0, 0.0).is_none());
    assert!(Cell::from_parameters(1.0, 1.0, 1.0, 10.0, 10.0, 120.0).is_none());
    let p = cubic.to_cartesian([0.5, 0.25, 1.0]);
    assert!(
        p.iter()
            .zip([2.0, 1.0, 4.0])
            .all(|(a, b)| (a - b).abs() < 1e-12)
    );
}

#[test]
fn bad_graphs_are_named() {
    let mut b = GraphSetBuilder::new(vec!["y".into()]);
    let err = b
        .push("g7", &[0], &[[0.0; 3]], None, &[1.0])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("g7") && err.contains("atomic number 0"),
        "{err}"
    );
    let err = b
        .push("g8", &[1, 1], &[[0.0; 3]], None, &[1.0])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("g8") && err.contains("2 atomic numbers but 1 positions"),
        "{err}"
    );
    let err = b
        .push("g9", &[1], &[[f64::NAN, 0.0, 0.0]], None, &[1.0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("finite"), "{err}");
    let err = b
        .push("g10", &[1], &[[0.0; 3]], None, &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("0 target values"), "{err}");
    for y in [f32::NAN, f32::INFINITY] {
        let err = b
            .push("g11", &[1], &[[0.0; 3]], None, &[y])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("graph g11: target y is") && err.contains("not a finite number"),
            "{err}"
        );
    }
    assert_eq!(b.len(), 0, "nothing bad was kept");
}

#[test]
fn edges_projected_over_every_graph_are_held_against_memory() {
    let rule = GraphRule::Cutoff { radius: 8.0 };
    // a million edges in the first graph of ten billion: about 1e16 edges, refused by name
    let e = crate::stored::project_edges(&rule, 1 << 20, 1, 10_000_000_000, 40.0)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("dataset.graph = { kind = \"cutoff\", radius = 8 }")
            && e.contains("lower the radius"),
        "{e}"
    );
    assert!(crate::stored::project_edges(&rule, 1000, 10, 20, 40.0).is_ok());
}

#[test]
fn two_atoms_at_one_position_are_named_in_full_graphs_too() {
    let mut b = GraphSetBuilder::new(vec!["y".into()]);
    b.push("ok", &[6, 1], &[[0.0; 3], [1.0, 0.0, 0.0]], None, &[0.0])
        .unwrap();
    let twice = [[0.0; 3], [1.0, 0.0, 0.0], [1.0, 0.0, 0.00001]];
    b.push("twice", &[6, 1, 1], &twice, None, &[0.0]).unwrap();
    let e = b.build(&GraphRule::Full, None).unwrap_err().to_string();
    assert!(
        e.contains("twice") && e.contains("atoms 1 and 2 are at one position"),
        "{e}"
    );
}
