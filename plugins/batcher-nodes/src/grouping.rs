//! Grouping output nodes into batches by PPR affinity (node-wise IBMB, spec ibmb §3 steps 3–5):
//! a Kruskal-style greedy merge of the highest-affinity output pairs under a size cap, then
//! smallest-first packing of the leftovers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Symmetrised output–output affinities `W = P + Pᵀ` as `(i, j, w)` with `i < j` (indices into
/// the output list), sorted by `w` descending, ties by `(i, j)`.
///
/// `rows[i]` holds the push result of output `i` restricted to output columns, as
/// `(output index, value)`.
pub fn affinity_pairs(rows: &[Vec<(u32, f32)>]) -> Vec<(u32, u32, f32)> {
    let mut pairs: Vec<(u32, u32, f32)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        for &(j, w) in row {
            let i = i as u32;
            if i != j {
                pairs.push((i.min(j), i.max(j), w));
            }
        }
    }
    pairs.sort_unstable_by_key(|p| (p.0, p.1));
    let mut merged: Vec<(u32, u32, f32)> = Vec::with_capacity(pairs.len());
    for p in pairs {
        match merged.last_mut() {
            Some(last) if last.0 == p.0 && last.1 == p.1 => last.2 += p.2,
            _ => merged.push(p),
        }
    }
    merged.retain(|p| p.2 > 0.0);
    merged.sort_by(|a, b| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    merged
}

/// Union-find with union by size.
struct Dsu {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl Dsu {
    fn new(n: usize) -> Self {
        Dsu {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }
    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }
    fn union(&mut self, a: u32, b: u32) -> u32 {
        let (a, b) = if self.size[a as usize] >= self.size[b as usize] {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[b as usize] = a;
        self.size[a as usize] += self.size[b as usize];
        a
    }
}

/// The cap that balances batch sizes: `nb = ceil(n / cap)`, `C = ceil(n / nb)`.
pub fn balanced_cap(n: usize, cap: usize) -> usize {
    let nb = n.div_ceil(cap.max(1)).max(1);
    n.div_ceil(nb)
}

/// Groups `n` outputs: merge the pairs in the given order while the merged group has at most
/// `cap` members, then pack leftovers smallest-first under the same cap. Returns groups of
/// output indices, each sorted, ordered by their smallest member.
pub fn greedy_groups(n: usize, pairs: &[(u32, u32, f32)], cap: usize) -> Vec<Vec<u32>> {
    let mut dsu = Dsu::new(n);
    for &(i, j, _) in pairs {
        let (a, b) = (dsu.find(i), dsu.find(j));
        if a != b && (dsu.size[a as usize] + dsu.size[b as usize]) as usize <= cap {
            dsu.union(a, b);
        }
    }
    let mut by_root: Vec<Vec<u32>> = vec![Vec::new(); n];
    for i in 0..n as u32 {
        let r = dsu.find(i);
        by_root[r as usize].push(i);
    }
    let groups: Vec<Vec<u32>> = by_root.into_iter().filter(|g| !g.is_empty()).collect();
    pack_smallest(groups, |a, b| a.len() + b.len() <= cap)
}

/// Repeatedly merges the two smallest groups while `fits(a, b)`; stops at the first pair that
/// does not fit. Groups come back sorted inside and ordered by their smallest member.
pub fn pack_smallest(
    groups: Vec<Vec<u32>>,
    fits: impl Fn(&[u32], &[u32]) -> bool,
) -> Vec<Vec<u32>> {
    let mut slots: Vec<Option<Vec<u32>>> = groups.into_iter().map(Some).collect();
    let mut heap: BinaryHeap<Reverse<(usize, usize)>> = slots
        .iter()
        .enumerate()
        .map(|(i, g)| Reverse((g.as_ref().map_or(0, Vec::len), i)))
        .collect();
    while heap.len() >= 2 {
        let Some(Reverse((_, a))) = heap.pop() else {
            break;
        };
        let Some(Reverse((_, b))) = heap.pop() else {
            break;
        };
        let (ga, gb) = (
            slots[a].take().unwrap_or_default(),
            slots[b].take().unwrap_or_default(),
        );
        if fits(&ga, &gb) {
            let mut m = ga;
            m.extend(gb);
            heap.push(Reverse((m.len(), a)));
            slots[a] = Some(m);
        } else {
            slots[a] = Some(ga);
            slots[b] = Some(gb);
            break;
        }
    }
    let mut out: Vec<Vec<u32>> = slots
        .into_iter()
        .flatten()
        .filter(|g| !g.is_empty())
        .collect();
    for g in &mut out {
        g.sort_unstable();
    }
    out.sort_by_key(|g| g[0]);
    out
}

/// Sorted union of two sorted id lists.
pub fn union_sorted(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// The spec's "aux-oriented" merge: pairs in the same order, but two groups merge only while the
/// union of their auxiliary sets has at most `max_aux` nodes; leftovers packed smallest-first
/// under the same cap. `aux[i]` is output `i`'s sorted auxiliary set.
pub fn aux_capped_groups(
    aux: &[Vec<u32>],
    pairs: &[(u32, u32, f32)],
    max_aux: usize,
) -> Vec<Vec<u32>> {
    let n = aux.len();
    let mut dsu = Dsu::new(n);
    let mut sets: Vec<Option<Vec<u32>>> = aux.iter().cloned().map(Some).collect();
    let mut members: Vec<Vec<u32>> = (0..n as u32).map(|i| vec![i]).collect();
    for &(i, j, _) in pairs {
        let (a, b) = (dsu.find(i), dsu.find(j));
        if a == b {
            continue;
        }
        let (sa, sb) = (
            sets[a as usize].as_deref().unwrap_or(&[]),
            sets[b as usize].as_deref().unwrap_or(&[]),
        );
        let u = union_sorted(sa, sb);
        if u.len() <= max_aux {
            let r = dsu.union(a, b);
            let other = if r == a { b } else { a };
            sets[r as usize] = Some(u);
            sets[other as usize] = None;
            let moved = std::mem::take(&mut members[other as usize]);
            members[r as usize].extend(moved);
        }
    }
    let groups: Vec<Vec<u32>> = (0..n)
        .filter(|&i| dsu.parent[i] == i as u32)
        .map(|i| std::mem::take(&mut members[i]))
        .collect();
    pack_smallest(groups, |a, b| {
        let ua = a
            .iter()
            .fold(Vec::new(), |acc, &i| union_sorted(&acc, &aux[i as usize]));
        let ub = b
            .iter()
            .fold(Vec::new(), |acc, &i| union_sorted(&acc, &aux[i as usize]));
        union_sorted(&ua, &ub).len() <= max_aux
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn balanced_cap_spreads_outputs_evenly() {
        assert_eq!(balanced_cap(90_941, 9000), 8268);
        assert_eq!(balanced_cap(10, 3), 3);
        assert_eq!(balanced_cap(10, 20), 10);
    }

    #[test]
    fn strongest_pairs_merge_first() {
        let rows = vec![
            vec![(1, 0.5), (2, 0.01)],
            vec![(0, 0.4)],
            vec![(3, 0.3)],
            vec![],
        ];
        let pairs = affinity_pairs(&rows);
        assert_eq!(pairs[0].0, 0);
        assert_eq!(pairs[0].1, 1);
        assert!((pairs[0].2 - 0.9).abs() < 1e-6);
        assert_eq!(greedy_groups(4, &pairs, 2), vec![vec![0, 1], vec![2, 3]]);
    }

    proptest! {
        #[test]
        fn groups_partition_the_outputs_under_the_cap(
            n in 1usize..80,
            cap in 1usize..20,
            raw in proptest::collection::vec((0u32..80, 0u32..80, 0.0f32..1.0), 0..200),
        ) {
            let mut rows = vec![Vec::new(); n];
            for (i, j, w) in raw {
                if (i as usize) < n && (j as usize) < n {
                    rows[i as usize].push((j, w));
                }
            }
            let pairs = affinity_pairs(&rows);
            let groups = greedy_groups(n, &pairs, cap);
            let mut all: Vec<u32> = groups.iter().flatten().copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..n as u32).collect::<Vec<_>>());
            prop_assert!(groups.iter().all(|g| !g.is_empty() && g.len() <= cap));
            let aux: Vec<Vec<u32>> = (0..n as u32).map(|i| vec![i, (i + 1) % n as u32]).map(|mut v| { v.sort_unstable(); v.dedup(); v }).collect();
            let groups = aux_capped_groups(&aux, &pairs, cap.max(2));
            let mut all: Vec<u32> = groups.iter().flatten().copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..n as u32).collect::<Vec<_>>());
            for g in &groups {
                let u = g.iter().fold(Vec::new(), |acc, &i| union_sorted(&acc, &aux[i as usize]));
                prop_assert!(u.len() <= cap.max(2));
            }
        }
    }
}
