use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Every (receiver, sender, image) closer than `radius`, by trying every image within `range`.
fn brute(
    pos: &[[f64; 3]],
    lattice: &[[f64; 3]; 3],
    pbc: [bool; 3],
    radius: f64,
    range: i32,
) -> Vec<(usize, u32, [i32; 3])> {
    let r = |c: usize| if pbc[c] { range } else { 0 };
    let mut out = Vec::new();
    for (i, pi) in pos.iter().enumerate() {
        for (j, pj) in pos.iter().enumerate() {
            for a in -r(0)..=r(0) {
                for b in -r(1)..=r(1) {
                    for c in -r(2)..=r(2) {
                        if i == j && [a, b, c] == [0, 0, 0] {
                            continue;
                        }
                        let n = [a, b, c].map(f64::from);
                        let v = [0, 1, 2].map(|k| {
                            pi[k]
                                - (pj[k]
                                    + n[0] * lattice[0][k]
                                    + n[1] * lattice[1][k]
                                    + n[2] * lattice[2][k])
                        });
                        if dot(v, v) < radius * radius {
                            out.push((i, j as u32, [a, b, c]));
                        }
                    }
                }
            }
        }
    }
    out.sort();
    out
}

fn grid_pairs(
    pos: &[[f64; 3]],
    lattice: &[[f64; 3]; 3],
    pbc: [bool; 3],
    radius: f64,
) -> Vec<(usize, u32, [i32; 3])> {
    let grid = Grid::new(pos, lattice, pbc, radius).unwrap();
    let mut out = Vec::new();
    let mut list = Vec::new();
    for i in 0..pos.len() {
        list.clear();
        grid.neighbours_of(i, &mut list);
        out.extend(list.iter().map(|n| (i, n.sender, n.image)));
    }
    let len = out.len();
    out.sort();
    out.dedup();
    assert_eq!(out.len(), len, "a pair found twice");
    out
}

#[test]
fn random_cells_of_every_periodicity_match_trying_every_image() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for case in 0..120 {
        let pbc = [
            rng.random_bool(0.6),
            rng.random_bool(0.6),
            rng.random_bool(0.6),
        ];
        let mut lattice = [[0.0; 3]; 3];
        for (k, row) in lattice.iter_mut().enumerate() {
            for (c, x) in row.iter_mut().enumerate() {
                *x = if c == k {
                    rng.random_range(2.0..7.0)
                } else {
                    rng.random_range(-2.0..2.0)
                };
            }
            // open directions may have no vector at all (ASE's 2D and 1D cells)
            if !pbc[k] && rng.random_bool(0.5) {
                *row = [0.0; 3];
            }
        }
        let n = rng.random_range(1..30);
        // atoms inside and outside the cell
        let pos: Vec<[f64; 3]> = (0..n)
            .map(|_| [0, 1, 2].map(|_| rng.random_range(-6.0..12.0)))
            .collect();
        let radius = rng.random_range(0.5..9.0);
        let want = brute(&pos, &lattice, pbc, radius, 24);
        let got = grid_pairs(&pos, &lattice, pbc, radius);
        let missing: Vec<_> = want.iter().filter(|p| !got.contains(p)).collect();
        let extra: Vec<_> = got.iter().filter(|p| !want.contains(p)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "case {case}: pbc {pbc:?} radius {radius}: missing {missing:?}, extra {extra:?}"
        );
    }
}

#[test]
fn a_pair_exactly_at_the_radius_is_not_a_neighbour() {
    let pos = [[0.0; 3], [2.0, 0.0, 0.0], [0.0, 1.999_999_9, 0.0]];
    let pairs = grid_pairs(&pos, &[[0.0; 3]; 3], [false; 3], 2.0);
    assert_eq!(pairs, vec![(0, 2, [0; 3]), (2, 0, [0; 3])]);
}

#[test]
fn far_from_the_origin_and_sparse_structures_keep_their_pairs() {
    // a molecule 1e4 A away, and two atoms 1e5 A apart beside it: few bins, the same pairs
    let pos = [
        [1e4, 1e4, 1e4],
        [1e4 + 1.0, 1e4, 1e4],
        [1e4, 1e4 + 1.5, 1e4],
        [-1e5, 0.0, 0.0],
    ];
    let got = grid_pairs(&pos, &[[0.0; 3]; 3], [false; 3], 1.6);
    assert_eq!(got, brute(&pos, &[[0.0; 3]; 3], [false; 3], 1.6, 0));
    assert_eq!(got.len(), 4);
}

#[test]
fn cells_that_cannot_be_periodic_are_named() {
    let flat = [[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [3.0, 3.0, 0.0]];
    let e = Grid::new(&[[0.0; 3]], &flat, [true; 3], 2.0).err().unwrap();
    assert!(e.contains("no volume"), "{e}");
    let e = Grid::new(&[[0.0; 3]], &[[0.0; 3]; 3], [true, false, false], 2.0)
        .err()
        .unwrap();
    assert!(
        e.contains("lattice vector 1") && e.contains("no length"),
        "{e}"
    );
    let line = [[3.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0; 3]];
    let e = Grid::new(&[[0.0; 3]], &line, [true, true, false], 2.0)
        .err()
        .unwrap();
    assert!(e.contains("parallel"), "{e}");
    let thin = [[0.01, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]];
    let e = Grid::new(&[[0.0; 3]], &thin, [true; 3], 8.0).err().unwrap();
    assert!(e.contains("thick") && e.contains("lattice vector 1"), "{e}");
}
