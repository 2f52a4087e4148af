//! The synthetic structures themselves: molecules placed by a random walk of bonded steps,
//! periodic crystals with atoms kept apart, and their family targets.

use geobatch_core::Cell;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// QM9's elements with roughly QM9's atom proportions.
const MOLECULE_ELEMENTS: [(u8, f64); 5] =
    [(1, 0.51), (6, 0.35), (7, 0.056), (8, 0.078), (9, 0.006)];
/// Elements crystals are drawn from.
const CRYSTAL_ELEMENTS: [u8; 20] = [
    3, 8, 9, 11, 12, 13, 14, 15, 16, 17, 19, 20, 22, 26, 29, 30, 31, 34, 38, 56,
];

pub(crate) fn molecule(rng: &mut ChaCha8Rng, n: usize, z: &mut Vec<u8>, pos: &mut Vec<[f32; 3]>) {
    z.clear();
    pos.clear();
    let total: f64 = MOLECULE_ELEMENTS.iter().map(|e| e.1).sum();
    // Start with a heavy atom, as every QM9 molecule has one.
    for i in 0..n {
        let elem = if i == 0 {
            6
        } else {
            let mut u = rng.random::<f64>() * total;
            MOLECULE_ELEMENTS
                .iter()
                .find(|(_, p)| {
                    u -= p;
                    u <= 0.0
                })
                .map_or(1, |e| e.0)
        };
        z.push(elem);
        if i == 0 {
            pos.push([0.0; 3]);
            continue;
        }
        let mut placed = None;
        for _ in 0..100 {
            let anchor = pos[rng.random_range(0..pos.len())];
            let dir = loop {
                let v: [f64; 3] = [
                    rng.random_range(-1.0..1.0),
                    rng.random_range(-1.0..1.0),
                    rng.random_range(-1.0..1.0),
                ];
                let l = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
                if l > 0.1 && l <= 1.0 {
                    break v.map(|x| x / l);
                }
            };
            let r = rng.random_range(1.0..1.6);
            let p = [0, 1, 2].map(|k| anchor[k] + (dir[k] * r) as f32);
            if pos.iter().all(|q| dist2(*q, p) >= 0.81) {
                placed = Some(p);
                break;
            }
        }
        // A crowded walk falls back to a point far out on a line; still a valid geometry.
        pos.push(placed.unwrap_or([1.5 * i as f32, 0.0, 0.0]));
    }
}

pub(crate) fn dist2(a: [f32; 3], b: [f32; 3]) -> f32 {
    (0..3).map(|k| (a[k] - b[k]).powi(2)).sum()
}

pub(crate) fn molecule_energy(z: &[u8], pos: &[[f32; 3]]) -> f32 {
    let atom = |z: u8| match z {
        1 => -13.6,
        6 => -1029.8,
        7 => -1485.3,
        8 => -2042.6,
        9 => -2713.4,
        _ => 0.0,
    };
    let mut e: f64 = z.iter().map(|&z| atom(z)).sum();
    for i in 0..pos.len() {
        for j in 0..i {
            e -= 2.0 / f64::from(dist2(pos[i], pos[j]).sqrt()).max(0.5);
        }
    }
    e as f32
}

/// A random cell with `n` atoms at random places, each kept at least `apart` Angstrom from the
/// atoms before it (and their images) where 50 draws find such a place.
pub(crate) fn crystal(
    rng: &mut ChaCha8Rng,
    n: usize,
    apart: f64,
    z: &mut Vec<u8>,
    pos: &mut Vec<[f32; 3]>,
) -> Cell {
    z.clear();
    pos.clear();
    let cell = loop {
        let l = [
            rng.random_range(3.0..9.0),
            rng.random_range(3.0..9.0),
            rng.random_range(3.0..9.0),
        ];
        let a = [
            rng.random_range(75.0..105.0),
            rng.random_range(75.0..105.0),
            rng.random_range(75.0..105.0),
        ];
        if let Some(c) = Cell::from_parameters(l[0], l[1], l[2], a[0], a[1], a[2]) {
            break c;
        }
    };
    let kinds = rng.random_range(1..=4usize).min(n);
    let elems: Vec<u8> = (0..kinds)
        .map(|_| CRYSTAL_ELEMENTS[rng.random_range(0..CRYSTAL_ELEMENTS.len())])
        .collect();
    let mut frac: Vec<[f64; 3]> = Vec::with_capacity(n);
    for i in 0..n {
        z.push(elems[i % kinds]);
        let mut f = [rng.random(), rng.random(), rng.random()];
        for _ in 0..50 {
            if apart == 0.0
                || frac
                    .iter()
                    .all(|q| periodic_distance(&cell, f, *q) >= apart)
            {
                break;
            }
            f = [rng.random(), rng.random(), rng.random()];
        }
        frac.push(f);
        let p = cell.to_cartesian(f);
        pos.push(p.map(|x| x as f32));
    }
    cell
}

/// The shortest distance between fractional points `a` and `b` over the 27 nearest images of
/// their difference (wrapped into [-1/2, 1/2) first).
fn periodic_distance(cell: &Cell, a: [f64; 3], b: [f64; 3]) -> f64 {
    let d = [0, 1, 2].map(|m| (a[m] - b[m]) - (a[m] - b[m]).round());
    let mut best = f64::INFINITY;
    for i in -1..=1 {
        for j in -1..=1 {
            for k in -1..=1 {
                let f = [
                    d[0] + f64::from(i),
                    d[1] + f64::from(j),
                    d[2] + f64::from(k),
                ];
                best = best.min(geobatch_geometry::neighbors::norm(cell.to_cartesian(f)));
            }
        }
    }
    best
}

pub(crate) fn crystal_energy(z: &[u8]) -> f32 {
    let mean = z
        .iter()
        .map(|&z| -0.05 * f64::from(z % 17) + 0.02 * f64::from(z % 5))
        .sum::<f64>()
        / z.len() as f64;
    mean as f32
}
