//! The graph rules' edges against brute force, their orders and their refusals.

use super::*;

fn edges(rule: &GraphRule, pos: &[[f64; 3]], cell: &Cell) -> (Vec<u32>, Vec<u32>, Vec<[f32; 3]>) {
    let (mut s, mut r, mut v) = (Vec::new(), Vec::new(), Vec::new());
    build_edges(rule, pos, cell, &mut s, &mut r, &mut v).unwrap();
    (s, r, v)
}

fn len(v: [f32; 3]) -> f64 {
    v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt()
}

#[test]
fn full_rule_is_receiver_major_and_vectors_point_from_sender_to_receiver() {
    let pos = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0]];
    let (s, r, v) = edges(&GraphRule::Full, &pos, &Cell::default());
    assert_eq!(r, vec![0, 0, 1, 1, 2, 2]);
    assert_eq!(s, vec![1, 2, 0, 2, 0, 1]);
    assert_eq!(v[0], [-1.0, 0.0, 0.0]); // r0 - r1
    assert_eq!(v[5], [-1.0, 2.0, 0.0]); // r2 - r1
}

#[test]
fn two_atoms_at_one_position_are_named() {
    let pos = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]];
    for rule in [
        GraphRule::Full,
        GraphRule::Cutoff { radius: 2.0 },
        GraphRule::Knn { k: 1 },
    ] {
        let (mut s, mut r, mut v) = (Vec::new(), Vec::new(), Vec::new());
        let e = build_edges(&rule, &pos, &Cell::default(), &mut s, &mut r, &mut v).unwrap_err();
        assert!(
            e.contains("atoms 2 and 1 are at one position")
                || e.contains("atoms 1 and 2 are at one position"),
            "{rule:?}: {e}"
        );
    }
}

#[test]
fn cutoff_on_a_molecule_keeps_pairs_within_radius() {
    let pos = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [3.0, 0.0, 0.0]];
    let (s, r, _) = edges(&GraphRule::Cutoff { radius: 2.0 }, &pos, &Cell::default());
    // 0-1 (1 A) is an edge; 1-2 lies exactly at the radius: not one (ASE's rule, `<`)
    assert_eq!((s, r), (vec![1, 0], vec![0, 1]));
}

#[test]
fn a_radius_that_would_give_millions_of_edges_is_refused_before_building() {
    let cell = Cell {
        lattice: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        pbc: [true; 3],
    };
    let pos = [
        [0.0f64, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, 0.0, 0.0],
        [0.0, 0.5, 0.0],
    ];
    let (mut s, mut r, mut v) = (Vec::new(), Vec::new(), Vec::new());
    let e = build_edges(
        &GraphRule::Cutoff { radius: 60.0 },
        &pos,
        &cell,
        &mut s,
        &mut r,
        &mut v,
    )
    .unwrap_err();
    assert!(e.contains("edges") && e.contains("lower the radius"), "{e}");
    assert!(s.is_empty());
}

#[test]
fn simple_cubic_cell_smaller_than_cutoff_sees_its_own_images() {
    // One atom in a 2 A cubic cell: 6 neighbours at 2 A, 12 at 2*sqrt(2), 8 at 2*sqrt(3).
    let cell = Cell::periodic([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]]);
    let (s, _, v) = edges(
        &GraphRule::Cutoff { radius: 3.5 },
        &[[0.5, 0.5, 0.5]],
        &cell,
    );
    assert_eq!(s.len(), 6 + 12 + 8);
    assert!(s.iter().all(|&j| j == 0));
    let (_, _, v6) = edges(&GraphRule::Knn { k: 6 }, &[[0.5, 0.5, 0.5]], &cell);
    assert!(v6.iter().all(|&x| (len(x) - 2.0).abs() < 1e-6));
    assert_eq!(v.len(), 26);
}

#[test]
fn triclinic_distance_matches_hand_calculation() {
    // a = (3,0,0), b = (1,3,0), c = (0.5,0.5,4). Atom 0 at origin, atom 1 at 0.5a + 0.5b.
    let cell = Cell::periodic([[3.0, 0.0, 0.0], [1.0, 3.0, 0.0], [0.5, 0.5, 4.0]]);
    let pos = [[0.0, 0.0, 0.0], [2.0, 1.5, 0.0]];
    let (s, r, v) = edges(&GraphRule::Knn { k: 1 }, &pos, &cell);
    assert_eq!(r, vec![0, 1]);
    // Nearest to atom 0: atom 1 at (2,1.5,0) -> |.| = 2.5; atom 1 shifted by -a: (-1,1.5,0) ->
    // sqrt(3.25) = 1.8028; shifted by -b: (1,-1.5,0) -> 1.8028; by -a-b: (-2,-1.5,0) -> 2.5.
    // Ties between the -a and -b images are broken by the edge vector: r0 - (r1 - b) =
    // (-1, 1.5, 0) sorts before r0 - (r1 - a) = (1, -1.5, 0).
    assert_eq!(s[0], 1);
    assert!((len(v[0]) - 3.25f64.sqrt()).abs() < 1e-6);
    assert_eq!(v[0], [-1.0, 1.5, 0.0]);
}

#[test]
fn knn_gives_exactly_k_per_atom_and_grows_the_radius() {
    // A sparse cubic cell of 7 A: round 1 (pair cutoff 6 A) finds nothing, round 2 finds 6.
    let cell = Cell::periodic([[7.0, 0.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 7.0]]);
    let (s, r, v) = edges(
        &GraphRule::Knn { k: 12 },
        &[[0.0; 3], [3.5, 3.5, 3.5]],
        &cell,
    );
    assert_eq!(s.len(), 24);
    assert_eq!(r.iter().filter(|&&x| x == 0).count(), 12);
    // Each atom: 8 neighbours of the other kind at 3.5*sqrt(3) = 6.06 A, then 6 own images at 7 A.
    let mut d: Vec<f64> = v[..12].iter().map(|x| len(*x)).collect();
    d.sort_by(f64::total_cmp);
    assert!((d[0] - 3.5 * 3f64.sqrt()).abs() < 1e-5 && (d[7] - 3.5 * 3f64.sqrt()).abs() < 1e-5);
    assert!((d[8] - 7.0).abs() < 1e-5 && (d[11] - 7.0).abs() < 1e-5);
}

#[test]
fn knn_on_small_molecules_takes_all_neighbours() {
    let (s, _, _) = edges(
        &GraphRule::Knn { k: 12 },
        &[[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
        &Cell::default(),
    );
    assert_eq!(s.len(), 6);
}

#[test]
fn unwrapped_positions_find_the_same_neighbours() {
    let cell = Cell::periodic([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0]]);
    let a = edges(
        &GraphRule::Cutoff { radius: 4.5 },
        &[[0.0; 3], [2.0, 2.0, 2.0]],
        &cell,
    );
    let b = edges(
        &GraphRule::Cutoff { radius: 4.5 },
        &[[0.0; 3], [14.0, -6.0, 2.0]],
        &cell,
    );
    let mut da: Vec<f64> = a.2.iter().map(|x| len(*x)).collect();
    let mut db: Vec<f64> = b.2.iter().map(|x| len(*x)).collect();
    da.sort_by(f64::total_cmp);
    db.sort_by(f64::total_cmp);
    assert_eq!(da.len(), db.len());
    assert!(da.iter().zip(&db).all(|(x, y)| (x - y).abs() < 1e-5));
}

#[test]
fn a_cell_far_thinner_than_the_radius_is_refused_not_enumerated() {
    // a damaged lattice parameter (a = 1e-6 A) would need 6e6 images along a: an error, at once
    let cell = Cell::periodic([[1e-6, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]]);
    let (mut s, mut r, mut v) = (Vec::new(), Vec::new(), Vec::new());
    let e = build_edges(
        &GraphRule::Cutoff { radius: 6.0 },
        &[[0.0, 0.0, 0.0]],
        &cell,
        &mut s,
        &mut r,
        &mut v,
    )
    .unwrap_err();
    assert!(e.contains("thick along lattice vector 1"), "{e}");
    assert!(s.is_empty());
}
