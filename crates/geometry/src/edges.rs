//! The edges a graph rule makes in one structure; their tests are `edges/tests.rs`.
//!
//! Every rule emits edges grouped by receiver in increasing receiver order, so segment reductions
//! over a collated batch are contiguous. An edge vector is `receiver - (sender + image shift)`.
//! Neighbours are found in linear time by [`crate::neighbors`] (double precision, a pair is an
//! edge when closer than the radius, ASE's rule). Within a receiver, `cutoff` orders its edges
//! by (sender, image); `knn` orders by (distance rounded to 1e-6 Angstrom, then the edge vector rounded to
//! 1e-6 Angstrom), which names a neighbour by where it sits, not by its index, so its choice does
//! not depend on the order atoms are listed in.

use crate::neighbors::{Grid, Neighbour, cross, dot, norm};
use geobatch_core::{Cell, GraphRule};
use rayon::prelude::*;

/// Base of the per-atom search radius of the kNN rule (spec §4.2): the pair cutoff of search
/// round m (m = 1..=9) is `2 * 3 Angstrom * m`.
pub const KNN_RADIUS_STEP: f64 = 3.0;
/// Number of search rounds of the kNN rule before it gives up.
pub const KNN_MAX_ROUNDS: u32 = 9;

/// The most edges one graph may get from a radius (its neighbour lists take about 100 bytes an
/// edge while they are sorted: about a gigabyte).
pub const MAX_GRAPH_EDGES: f64 = 1e7;

/// Receivers searched by one task when a structure is large enough to search in parallel.
const RECEIVERS_PER_TASK: usize = 1024;

/// Refuses a radius whose expected edges (the atoms' density over the periodic directions times
/// the ball's measure there) exceed [`MAX_GRAPH_EDGES`]: a radius far beyond the cell's size
/// would allocate until the process is killed.
fn check_expected_edges(n: usize, cell: &Cell, radius: f64) -> Result<(), String> {
    let l = cell.lattice;
    let periodic: Vec<usize> = (0..3).filter(|&i| cell.pbc[i]).collect();
    let n = n as f64;
    let (measure, ball) = match periodic.as_slice() {
        [i] => (norm(l[*i]), 2.0 * radius),
        [i, j] => (
            norm(cross(l[*i], l[*j])),
            std::f64::consts::PI * radius.powi(2),
        ),
        [_, _, _] => (
            dot(l[0], cross(l[1], l[2])).abs(),
            4.0 / 3.0 * std::f64::consts::PI * radius.powi(3),
        ),
        _ => return Ok(()),
    };
    let edges = n * n * ball / measure;
    if measure > 0.0 && edges > MAX_GRAPH_EDGES {
        return Err(format!(
            "a radius of {radius} Angstrom in this cell ({n} atoms, periodic along {} lattice \
             vector(s)) gives about {edges:.2e} edges ({:.2e} per atom), more than the \
             {MAX_GRAPH_EDGES:.0e} one graph may have: lower the radius (graph.radius, or k of \
             knn)",
            periodic.len(),
            edges / n
        ));
    }
    Ok(())
}

/// How one receiver's neighbours become its edges: sorted, perhaps cut; `false` when the receiver
/// cannot have the edges the rule asks (too few neighbours).
type Pick<'a> = dyn Fn(&mut Vec<Neighbour>) -> bool + Sync + 'a;

/// The edges of every receiver in order (each receiver's neighbours as `pick` leaves them),
/// searched in parallel over blocks of receivers when there are many. `Ok(false)` (nothing
/// appended) when `pick` refused a receiver.
fn search(
    pos: &[[f64; 3]],
    cell: &Cell,
    radius: f64,
    pick: &Pick<'_>,
    out: &mut EdgeLists<'_>,
) -> Result<bool, String> {
    let grid = Grid::new(pos, &cell.lattice, cell.pbc, radius)?;
    check_expected_edges(pos.len(), cell, radius)?;
    let n = pos.len();
    if n <= RECEIVERS_PER_TASK || rayon::current_num_threads() == 1 {
        // one task (or one thread): straight into the graph's lists
        let first = out.senders.len();
        if !receivers_into(&grid, 0..n, pick, out) {
            out.senders.truncate(first);
            out.receivers.truncate(first);
            out.vectors.truncate(first);
            out.shifts.truncate(first);
            return Ok(false);
        }
        return Ok(true);
    }
    let parts: Vec<Option<Block>> = (0..n.div_ceil(RECEIVERS_PER_TASK))
        .into_par_iter()
        .map(|t| {
            let mut part = Block::default();
            let mut lists = EdgeLists {
                senders: &mut part.senders,
                receivers: &mut part.receivers,
                vectors: &mut part.vectors,
                shifts: &mut part.shifts,
            };
            let range = t * RECEIVERS_PER_TASK..((t + 1) * RECEIVERS_PER_TASK).min(n);
            receivers_into(&grid, range, pick, &mut lists).then_some(part)
        })
        .collect();
    if parts.iter().any(Option::is_none) {
        return Ok(false);
    }
    for part in parts.into_iter().flatten() {
        out.senders.extend_from_slice(&part.senders);
        out.receivers.extend_from_slice(&part.receivers);
        out.vectors.extend_from_slice(&part.vectors);
        out.shifts.extend_from_slice(&part.shifts);
    }
    Ok(true)
}

/// Appends the edges of `receivers` (each one's neighbours as `pick` leaves them) to `out`;
/// `false` (some appended) when `pick` refused one.
fn receivers_into(
    grid: &Grid<'_>,
    receivers: std::ops::Range<usize>,
    pick: &Pick<'_>,
    out: &mut EdgeLists<'_>,
) -> bool {
    let mut list = Vec::new();
    for i in receivers {
        list.clear();
        grid.neighbours_of(i, &mut list);
        if !pick(&mut list) {
            return false;
        }
        for c in &list {
            out.senders.push(c.sender);
            out.receivers.push(i as u32);
            out.vectors.push(c.vector.map(|x| x as f32));
            out.shifts.push(c.image);
        }
    }
    true
}

/// Sorts `list` by its `order` keys: the keys with their places are sorted (one `u64` each when
/// the list is at most 256 long, the usual case), not the neighbours (48 bytes each), then the
/// neighbours are put in that order.
fn sort_by_order(list: &mut Vec<Neighbour>) {
    thread_local! {
        static SCRATCH: std::cell::RefCell<(Vec<u64>, Vec<Neighbour>)> =
            const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
    }
    if list.len() > 256 {
        list.sort_unstable_by_key(|c| c.order);
        return;
    }
    SCRATCH.with_borrow_mut(|(keys, moved)| {
        keys.clear();
        // order uses 56 bits (32 of sender, 24 of image): room for the place in the low byte
        keys.extend(
            list.iter()
                .enumerate()
                .map(|(k, c)| (c.order << 8) | k as u64),
        );
        keys.sort_unstable();
        moved.clear();
        moved.extend(keys.iter().map(|k| list[(*k & 0xff) as usize]));
        std::mem::swap(list, moved);
    });
}

/// The edges one block of receivers found.
#[derive(Default)]
struct Block {
    senders: Vec<u32>,
    receivers: Vec<u32>,
    vectors: Vec<[f32; 3]>,
    shifts: Vec<[i32; 3]>,
}

/// Where a graph's edges are appended.
struct EdgeLists<'a> {
    senders: &'a mut Vec<u32>,
    receivers: &'a mut Vec<u32>,
    vectors: &'a mut Vec<[f32; 3]>,
    /// The sender's lattice translation (image) of every edge.
    shifts: &'a mut Vec<[i32; 3]>,
}

/// The kNN order of a neighbour: its distance rounded to 1e-6 Angstrom, then its vector rounded
/// to 1e-6 Angstrom (where it sits, not its index), then sender and image.
fn knn_key(c: &Neighbour) -> (u64, [i64; 3], u32, [i32; 3]) {
    let q = (norm(c.vector) * 1e6).round() as u64;
    (
        q,
        c.vector.map(|x| (x * 1e6).round() as i64),
        c.sender,
        c.image,
    )
}

/// Appends the edges of one graph under `rule` (local indices), receiver-major.
///
/// Returns a message when the rule cannot be met (e.g. fewer than `k` neighbours within the largest
/// search radius).
pub fn build_edges(
    rule: &GraphRule,
    positions: &[[f64; 3]],
    cell: &Cell,
    senders: &mut Vec<u32>,
    receivers: &mut Vec<u32>,
    vectors: &mut Vec<[f32; 3]>,
) -> Result<(), String> {
    let mut shifts = Vec::new();
    build_edges_with_shifts(
        rule,
        positions,
        cell,
        senders,
        receivers,
        vectors,
        &mut shifts,
    )
}

/// [`build_edges`], with every edge's image shift `S` (the sender's integer lattice translation)
/// appended to `shifts`: `vector = x_receiver - (x_sender + S . lattice)`, so that a model
/// differentiated by position rebuilds the vector from positions and cell (DESIGN.md §16).
pub fn build_edges_with_shifts(
    rule: &GraphRule,
    positions: &[[f64; 3]],
    cell: &Cell,
    senders: &mut Vec<u32>,
    receivers: &mut Vec<u32>,
    vectors: &mut Vec<[f32; 3]>,
    shifts: &mut Vec<[i32; 3]>,
) -> Result<(), String> {
    let first = vectors.len();
    let mut out = EdgeLists {
        senders,
        receivers,
        vectors,
        shifts,
    };
    edges_of(rule, positions, cell, &mut out)?;
    // two atoms at one position: an edge with no direction (NaN in every model that normalises
    // it), which no structure means: a duplicated atom
    if let Some(k) = out.vectors[first..].iter().position(|v| {
        v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() < MIN_EDGE_LENGTH.powi(2)
    }) {
        let (s, r) = (out.senders[first + k], out.receivers[first + k]);
        return Err(at_one_position(s as usize, r as usize));
    }
    Ok(())
}

/// What `full` refuses of one graph, for callers that make its edges at collation (the Python
/// package's stores) rather than through a `GraphSet`: a periodic cell (`full` joins no periodic
/// image) and two atoms at one position (an edge with no direction).
pub fn check_full(positions: &[[f64; 3]], cell: &Cell) -> Result<(), String> {
    if cell.pbc.iter().any(|&p| p) {
        return Err(format!(
            "periodic (pbc = {:?}) but the graph rule is full, which joins the atoms as listed and \
             none of their periodic images: use {{\"kind\": \"cutoff\", \"radius\": 5.0}} or \
             {{\"kind\": \"knn\", \"k\": 12}} for periodic structures",
            cell.pbc
        ));
    }
    let min2 = MIN_EDGE_LENGTH * MIN_EDGE_LENGTH;
    if !two_at_one_position(positions, min2) {
        return Ok(());
    }
    let close =
        |a: &[f64; 3], b: &[f64; 3]| (0..3).map(|k| (a[k] - b[k]).powi(2)).sum::<f64>() < min2;
    let (i, j) = (0..positions.len())
        .flat_map(|i| (i + 1..positions.len()).map(move |j| (i, j)))
        .find(|&(i, j)| close(&positions[i], &positions[j]))
        .unwrap_or((0, 0));
    Err(at_one_position(i, j))
}

/// The shortest edge a structure may have (Angstrom): closer atoms are one atom twice.
pub const MIN_EDGE_LENGTH: f64 = 1e-4;

/// Whether two of `p` are closer than `sqrt(min2)` (most pairs are told apart by x alone).
pub(crate) fn two_at_one_position<T: Copy + Into<f64>>(p: &[[T; 3]], min2: f64) -> bool {
    let reach = min2.sqrt();
    p.iter().enumerate().any(|(i, a)| {
        let a = a.map(Into::into);
        p[i + 1..].iter().any(|b| {
            let b = b.map(Into::into);
            (a[0] - b[0]).abs() < reach && {
                let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
                d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < min2
            }
        })
    })
}

/// What is wrong with atoms `i` and `j` closer than [`MIN_EDGE_LENGTH`].
pub fn at_one_position(i: usize, j: usize) -> String {
    format!(
        "atoms {i} and {j} are at one position (closer than {MIN_EDGE_LENGTH:?} Angstrom): an \
         edge between them has no direction; is an atom duplicated?"
    )
}

/// The edges of [`build_edges`], before their lengths are checked.
fn edges_of(
    rule: &GraphRule,
    pos: &[[f64; 3]],
    cell: &Cell,
    out: &mut EdgeLists<'_>,
) -> Result<(), String> {
    let n = pos.len();
    match rule {
        GraphRule::Full => {
            for i in 0..n {
                for j in (0..n).filter(|&j| j != i) {
                    out.senders.push(j as u32);
                    out.receivers.push(i as u32);
                    out.vectors
                        .push([0, 1, 2].map(|k| (pos[i][k] - pos[j][k]) as f32));
                    out.shifts.push([0; 3]);
                }
            }
        }
        GraphRule::Cutoff { radius } => {
            // by sender, then image: one integer each, unless an image is far (then by fields)
            let by_sender = |list: &mut Vec<Neighbour>| {
                if list.iter().any(|c| c.order == u64::MAX) {
                    list.sort_unstable_by_key(|c| (c.sender, c.image));
                } else {
                    sort_by_order(list);
                }
                true
            };
            search(pos, cell, *radius, &by_sender, out)?;
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
            let nearest = |list: &mut Vec<Neighbour>| {
                if list.len() < k_eff {
                    return false;
                }
                list.sort_by_cached_key(knn_key);
                list.truncate(k_eff);
                true
            };
            for round in 1..=KNN_MAX_ROUNDS {
                let radius = 2.0 * KNN_RADIUS_STEP * f64::from(round);
                if search(pos, cell, radius, &nearest, out)? {
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
mod tests;
