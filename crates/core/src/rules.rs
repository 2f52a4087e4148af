//! Graph rules: how edges are made from positions (and cells).
//!
//! Every rule emits edges grouped by receiver in increasing receiver order, so segment reductions
//! over a collated batch are contiguous. An edge vector is `receiver - (sender + image shift)`.
//! Distances are computed in f64; ties are broken by (distance rounded to 1e-6 Angstrom, then the
//! edge vector rounded to 1e-6 Angstrom), which names a neighbour by where it sits, not by its
//! index: results are deterministic and do not depend on the order atoms are listed in.

use crate::graph::Cell;
use serde::{Deserialize, Serialize};

/// Base of the per-atom search radius of the kNN rule (spec §4.2): the pair cutoff of search
/// round m (m = 1..=9) is `2 * 3 Angstrom * m`.
pub const KNN_RADIUS_STEP: f64 = 3.0;
/// Number of search rounds of the kNN rule before it gives up.
pub const KNN_MAX_ROUNDS: u32 = 9;

/// How the edges of a graph are built. Config: `graph = { kind = "knn", k = 12 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum GraphRule {
    /// All ordered pairs of distinct atoms, no self edges, no periodic images (QM9 in the study).
    Full,
    /// All pairs (periodic images included) closer than or at `radius` Angstrom.
    Cutoff {
        /// Pair cutoff in Angstrom.
        radius: f64,
    },
    /// The `k` nearest neighbours of every atom, periodic images included, found by growing the
    /// search radius until every atom has at least `k` candidates (spec §4.2). Non-periodic graphs
    /// with fewer than `k + 1` atoms get all their `n - 1` neighbours.
    Knn {
        /// Neighbours per atom.
        #[serde(default = "default_k")]
        k: usize,
    },
}

fn default_k() -> usize {
    12
}

impl GraphRule {
    /// Checks the rule's parameters.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            GraphRule::Full => Ok(()),
            GraphRule::Cutoff { radius } if !(radius.is_finite() && *radius > 0.0) => Err(format!(
                "graph.radius must be a positive number of Angstrom, got {radius}"
            )),
            GraphRule::Knn { k: 0 } => Err("graph.k must be at least 1".into()),
            _ => Ok(()),
        }
    }
}

/// Signed volume of a cell given its lattice vectors as rows.
pub fn cell_volume(l: &[[f32; 3]; 3]) -> f64 {
    let a = l.map(|r| r.map(f64::from));
    dot(a[0], cross(a[1], a[2]))
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

/// Candidate neighbour: its sort key (quantised distance, quantised vector), sender, image and
/// the vector.
#[derive(Clone, Copy)]
struct Candidate {
    key: (u64, [i64; 3]),
    sender: u32,
    image: [i32; 3],
    vector: [f64; 3],
}

/// A lattice translation: its integer offsets and its Cartesian shift.
type Image = ([i32; 3], [f64; 3]);

/// The most periodic images searched along one lattice vector, each way.
const MAX_IMAGE_RANGE: f64 = 64.0;

/// Lattice translations that can bring any pair of the given atoms within `radius`.
fn images(positions: &[[f64; 3]], cell: &Cell, radius: f64) -> Result<Vec<Image>, String> {
    let lat = cell.lattice.map(|r| r.map(f64::from));
    let mut range = [0i32; 3];
    if cell.is_periodic() {
        let vol = dot(lat[0], cross(lat[1], lat[2])).abs();
        // Reciprocal rows give fractional coordinates: f_i = (r . (a_j x a_k)) / V.
        let recip = [
            cross(lat[1], lat[2]),
            cross(lat[2], lat[0]),
            cross(lat[0], lat[1]),
        ];
        for i in 0..3 {
            if !cell.pbc[i] {
                continue;
            }
            let height = vol / norm(recip[i]);
            let fr: Vec<f64> = positions.iter().map(|p| dot(*p, recip[i]) / vol).collect();
            let spread = fr.iter().cloned().fold(f64::MIN, f64::max)
                - fr.iter().cloned().fold(f64::MAX, f64::min);
            let reach = (radius / height + spread).ceil();
            // a cell far thinner than the radius (damaged lattice parameters) would need more
            // images than any crystal has: refuse it instead of enumerating them
            if reach.is_nan() || reach > MAX_IMAGE_RANGE {
                return Err(format!(
                    "the cell is {height:.3e} Angstrom thick along lattice vector {}: a radius of \
                     {radius} Angstrom would need {reach:.0} periodic images that way (at most \
                     {MAX_IMAGE_RANGE} are searched); check the lattice parameters",
                    i + 1
                ));
            }
            range[i] = reach as i32;
        }
    }
    let mut out = Vec::new();
    for a in -range[0]..=range[0] {
        for b in -range[1]..=range[1] {
            for c in -range[2]..=range[2] {
                let n = [a, b, c].map(f64::from);
                let shift =
                    [0, 1, 2].map(|k| n[0] * lat[0][k] + n[1] * lat[1][k] + n[2] * lat[2][k]);
                out.push(([a, b, c], shift));
            }
        }
    }
    Ok(out)
}

/// The most edges one graph may get from a radius (its candidate lists take about 100 bytes an
/// edge while they are sorted: about a gigabyte).
pub const MAX_GRAPH_EDGES: f64 = 1e7;

/// All candidates within `radius` of each receiver, grouped per receiver and sorted.
fn candidates(
    positions: &[[f64; 3]],
    cell: &Cell,
    radius: f64,
) -> Result<Vec<Vec<Candidate>>, String> {
    let imgs = images(positions, cell, radius)?;
    if cell.is_periodic() {
        // the expected neighbours of a periodic crystal: its density times the sphere's volume;
        // a radius far beyond the cell's size would allocate until the process is killed
        let lat = cell.lattice.map(|r| r.map(f64::from));
        let vol = dot(lat[0], cross(lat[1], lat[2])).abs();
        let n = positions.len() as f64;
        let sphere = 4.0 / 3.0 * std::f64::consts::PI * radius.powi(3);
        let edges = n * n * sphere / vol;
        if vol > 0.0 && edges > MAX_GRAPH_EDGES {
            return Err(format!(
                "a radius of {radius} Angstrom in this cell ({n} atoms in {vol:.3} cubic \
                 Angstrom) gives about {edges:.2e} edges ({:.2e} per atom), more than the \
                 {MAX_GRAPH_EDGES:.0e} one graph may have: lower the radius (graph.radius, or k \
                 of knn)",
                edges / n
            ));
        }
    }
    let mut per_receiver = vec![Vec::new(); positions.len()];
    for (i, ri) in positions.iter().enumerate() {
        let list: &mut Vec<Candidate> = &mut per_receiver[i];
        for (j, rj) in positions.iter().enumerate() {
            for (n, shift) in &imgs {
                if i == j && *n == [0, 0, 0] {
                    continue;
                }
                let v = [0, 1, 2].map(|k| ri[k] - (rj[k] + shift[k]));
                let d = norm(v);
                if d <= radius {
                    let q = (d * 1e6).round() as u64;
                    list.push(Candidate {
                        key: (q, v.map(|x| (x * 1e6).round() as i64)),
                        sender: j as u32,
                        image: *n,
                        vector: v,
                    });
                }
            }
        }
        list.sort_unstable_by_key(|c| c.key);
    }
    Ok(per_receiver)
}

/// Appends the edges of one graph under `rule` (local indices), receiver-major.
///
/// Returns a message when the rule cannot be met (e.g. fewer than `k` neighbours within the largest
/// search radius).
pub fn build_edges(
    rule: &GraphRule,
    positions: &[[f32; 3]],
    cell: &Cell,
    senders: &mut Vec<u32>,
    receivers: &mut Vec<u32>,
    vectors: &mut Vec<[f32; 3]>,
) -> Result<(), String> {
    let first = vectors.len();
    edges_of(rule, positions, cell, senders, receivers, vectors)?;
    // two atoms at one position: an edge with no direction (NaN in every model that normalises
    // it), which no structure means: a duplicated atom
    if let Some(k) = vectors[first..].iter().position(|v| {
        v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() < MIN_EDGE_LENGTH.powi(2)
    }) {
        let (s, r) = (senders[first + k], receivers[first + k]);
        return Err(format!(
            "atoms {s} and {r} are at one position (closer than {MIN_EDGE_LENGTH:?} Angstrom): \
             an edge between them has no direction; is an atom duplicated?"
        ));
    }
    Ok(())
}

/// The shortest edge a structure may have (Angstrom): closer atoms are one atom twice.
pub const MIN_EDGE_LENGTH: f64 = 1e-4;

/// The edges of [`build_edges`], before their lengths are checked.
fn edges_of(
    rule: &GraphRule,
    positions: &[[f32; 3]],
    cell: &Cell,
    senders: &mut Vec<u32>,
    receivers: &mut Vec<u32>,
    vectors: &mut Vec<[f32; 3]>,
) -> Result<(), String> {
    let pos: Vec<[f64; 3]> = positions.iter().map(|p| p.map(f64::from)).collect();
    let n = pos.len();
    let mut emit = |i: usize, list: &[Candidate]| {
        for c in list {
            senders.push(c.sender);
            receivers.push(i as u32);
            vectors.push(c.vector.map(|x| x as f32));
        }
    };
    match rule {
        GraphRule::Full => {
            for i in 0..n {
                for j in (0..n).filter(|&j| j != i) {
                    senders.push(j as u32);
                    receivers.push(i as u32);
                    vectors.push([0, 1, 2].map(|k| (pos[i][k] - pos[j][k]) as f32));
                }
            }
        }
        GraphRule::Cutoff { radius } => {
            for (i, list) in candidates(&pos, cell, *radius)?.iter().enumerate() {
                let mut sorted = list.clone();
                sorted.sort_unstable_by_key(|c| (c.sender, c.image));
                emit(i, &sorted);
            }
        }
        GraphRule::Knn { k } => {
            let k_eff = if cell.is_periodic() {
                *k
            } else {
                (*k).min(n.saturating_sub(1))
            };
            if k_eff == 0 {
                return Ok(());
            }
            for round in 1..=KNN_MAX_ROUNDS {
                let radius = 2.0 * KNN_RADIUS_STEP * f64::from(round);
                let lists = candidates(&pos, cell, radius)?;
                if lists.iter().all(|l| l.len() >= k_eff) {
                    for (i, list) in lists.iter().enumerate() {
                        emit(i, &list[..k_eff]);
                    }
                    return Ok(());
                }
            }
            return Err(format!(
                "knn: some atom has fewer than {k_eff} neighbours within {} Angstrom",
                2.0 * KNN_RADIUS_STEP * f64::from(KNN_MAX_ROUNDS)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges(
        rule: &GraphRule,
        pos: &[[f32; 3]],
        cell: &Cell,
    ) -> (Vec<u32>, Vec<u32>, Vec<[f32; 3]>) {
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
        // 1-2 lies exactly at the radius: included; 0-2 (3 A) is not.
        assert_eq!((s, r), (vec![1, 0, 2, 1], vec![0, 1, 1, 2]));
    }

    #[test]
    fn a_radius_that_would_give_millions_of_edges_is_refused_before_building() {
        let cell = Cell {
            lattice: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            pbc: [true; 3],
        };
        let pos = [
            [0.0f32, 0.0, 0.0],
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

    #[test]
    fn rule_parameters_are_checked() {
        assert!(GraphRule::Cutoff { radius: -1.0 }.validate().is_err());
        assert!(GraphRule::Knn { k: 0 }.validate().is_err());
        assert!(GraphRule::Knn { k: 12 }.validate().is_ok());
    }
}
