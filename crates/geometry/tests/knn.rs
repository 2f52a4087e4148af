//! Properties of the periodic graph rules: exactly k neighbours per atom, results independent of
//! the order atoms are listed in, symmetric inputs giving symmetric results.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::Cell;
use geobatch_core::GraphRule;
use geobatch_geometry::edges::build_edges;
use proptest::prelude::*;

/// Edges of one graph as (receiver, sender, vector).
fn edges(rule: &GraphRule, pos: &[[f64; 3]], cell: &Cell) -> Vec<(u32, u32, [f32; 3])> {
    let (mut s, mut r, mut v) = (Vec::new(), Vec::new(), Vec::new());
    build_edges(rule, pos, cell, &mut s, &mut r, &mut v).unwrap();
    r.into_iter()
        .zip(s)
        .zip(v)
        .map(|((r, s), v)| (r, s, v))
        .collect()
}

/// Edge keys with vectors rounded to 1e-4 Angstrom, sorted.
fn keys(e: impl Iterator<Item = (u32, u32, [f32; 3])>) -> Vec<(u32, u32, [i64; 3])> {
    let mut k: Vec<_> = e
        .map(|(r, s, v)| (r, s, v.map(|c| (f64::from(c) * 1e4).round() as i64)))
        .collect();
    k.sort_unstable();
    k
}

fn crystal() -> impl Strategy<Value = (Cell, Vec<[f64; 3]>)> {
    (
        (2.5f64..7.0, 2.5f64..7.0, 2.5f64..7.0),
        (70f64..110.0, 70f64..110.0, 70f64..110.0),
        prop::collection::vec((0f64..1.0, 0f64..1.0, 0f64..1.0), 1..7),
    )
        .prop_filter_map("a cell with volume", |((a, b, c), (al, be, ga), frac)| {
            let cell = Cell::from_parameters(a, b, c, al, be, ga)?;
            let pos = frac
                .iter()
                .map(|f| cell.to_cartesian([f.0, f.1, f.2]))
                .collect();
            Some((cell, pos))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn knn_gives_exactly_k_and_ignores_atom_order(
        (cell, pos) in crystal(),
        k in 1usize..16,
        seed in any::<u64>(),
    ) {
        let rule = GraphRule::Knn { k };
        let e = edges(&rule, &pos, &cell);
        let n = pos.len();
        prop_assert_eq!(e.len(), k * n);
        for i in 0..n as u32 {
            prop_assert_eq!(e.iter().filter(|x| x.0 == i).count(), k);
        }
        // receivers come in order (segment reductions rely on it)
        prop_assert!(e.windows(2).all(|w| w[0].0 <= w[1].0));
        // list the atoms in another order: the same neighbours, renamed
        let mut perm: Vec<usize> = (0..n).collect();
        let mut s = seed;
        for i in (1..n).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            perm.swap(i, (s >> 33) as usize % (i + 1));
        }
        let moved: Vec<[f64; 3]> = perm.iter().map(|&p| pos[p]).collect();
        let e2 = edges(&rule, &moved, &cell);
        let renamed = e2
            .into_iter()
            .map(|(r, s, v)| (perm[r as usize] as u32, perm[s as usize] as u32, v));
        prop_assert_eq!(keys(e.into_iter()), keys(renamed));
    }

    #[test]
    fn cutoff_graphs_are_symmetric((cell, pos) in crystal(), radius in 1.0f64..6.0) {
        let e = edges(&GraphRule::Cutoff { radius }, &pos, &cell);
        let back = e.iter().map(|&(r, s, v)| (s, r, v.map(|c| -c)));
        prop_assert_eq!(keys(e.iter().copied()), keys(back));
    }
}

#[test]
fn equivalent_atoms_get_equal_neighbour_shells() {
    // Rock salt, conventional cell: every atom sees 6 unlike neighbours at a/2, then like ones
    // at a/sqrt 2; with k = 12 the tie among the 12 like neighbours is cut the same way in
    // distance for all 8 atoms.
    let a = 5.64f64;
    let cell = Cell::from_parameters(a, a, a, 90.0, 90.0, 90.0).unwrap();
    let frac = [
        [0.0, 0.0, 0.0],
        [0.5, 0.5, 0.0],
        [0.5, 0.0, 0.5],
        [0.0, 0.5, 0.5],
        [0.5, 0.0, 0.0],
        [0.0, 0.5, 0.0],
        [0.0, 0.0, 0.5],
        [0.5, 0.5, 0.5],
    ];
    let pos: Vec<[f64; 3]> = frac.iter().map(|f| cell.to_cartesian(*f)).collect();
    let e = edges(&GraphRule::Knn { k: 12 }, &pos, &cell);
    let shell = |i: u32| {
        let mut d: Vec<i64> = e
            .iter()
            .filter(|x| x.0 == i)
            .map(|x| {
                (x.2.iter()
                    .map(|c| f64::from(*c).powi(2))
                    .sum::<f64>()
                    .sqrt()
                    * 1e4)
                    .round() as i64
            })
            .collect();
        d.sort_unstable();
        d
    };
    let first = shell(0);
    assert_eq!(&first[..6], &[28200; 6]);
    assert!(
        first[6..]
            .iter()
            .all(|&d| d == (a / 2f64.sqrt() * 1e4).round() as i64)
    );
    for i in 1..8 {
        assert_eq!(shell(i), first, "atom {i}");
    }
    // the six unlike neighbours of an atom point along +-x, +-y, +-z
    let mut dirs: Vec<[i64; 3]> = e
        .iter()
        .filter(|x| x.0 == 0)
        .take(6)
        .map(|x| x.2.map(|c| (f64::from(c) / 2.82).round() as i64))
        .collect();
    dirs.sort_unstable();
    assert_eq!(
        dirs,
        vec![
            [-1, 0, 0],
            [0, -1, 0],
            [0, 0, -1],
            [0, 0, 1],
            [0, 1, 0],
            [1, 0, 0]
        ]
    );
}
