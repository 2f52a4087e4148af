//! Graph partitioning for batch-wise IBMB and Cluster-GCN: METIS k-way (cargo feature `metis`)
//! or a pure-Rust fallback (balanced breadth-first graph growing, then balanced label
//! propagation that moves boundary nodes to the part holding most of their neighbours, repeated
//! until fewer than 0.1% of the nodes move).

use geobatch_core::{Error, Result};
use geobatch_node::NodeGraph;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Which partitioner to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partitioner {
    /// METIS when this build has it (feature `metis`), otherwise `grow`.
    #[default]
    Auto,
    /// METIS k-way (needs the `metis` feature).
    Metis,
    /// The pure-Rust graph-growing partitioner.
    Grow,
}

impl Partitioner {
    /// The partitioner `Auto` resolves to in this build.
    pub fn resolved(self) -> Partitioner {
        match self {
            Partitioner::Auto if cfg!(feature = "metis") => Partitioner::Metis,
            Partitioner::Auto => Partitioner::Grow,
            p => p,
        }
    }

    /// Checks that this build can run the partitioner.
    pub fn check(self) -> Result<()> {
        if self == Partitioner::Metis && !cfg!(feature = "metis") {
            return Err(Error::invalid(
                "partitioner = \"metis\": this build has no METIS; build with \
                 --features geobatch-batcher-nodes/metis or use \"grow\" (or \"auto\")",
            ));
        }
        Ok(())
    }
}

/// Checks the part counts and partitioner of a partition-based batcher.
pub fn check_parts(num_parts: usize, inference_parts: Option<usize>, p: Partitioner) -> Result<()> {
    p.check()?;
    if num_parts == 0 || inference_parts == Some(0) {
        return Err(Error::invalid(
            "num_parts and inference_parts must be at least 1",
        ));
    }
    Ok(())
}

/// Parts for inference: as configured, or half the training parts (at least 1).
pub fn inference_parts(num_parts: usize, inference_parts: Option<usize>) -> usize {
    inference_parts.unwrap_or(num_parts.div_ceil(2))
}

/// Part of every node, `0..k`.
pub fn partition(
    graph: &NodeGraph,
    k: usize,
    partitioner: Partitioner,
    seed: u64,
) -> Result<Vec<u32>> {
    partitioner.check()?;
    if k == 0 {
        return Err(Error::invalid("the number of parts must be at least 1"));
    }
    if k == 1 {
        return Ok(vec![0; graph.n_nodes()]);
    }
    if k > graph.n_nodes() {
        return Err(Error::invalid(format!(
            "{k} parts for a graph of {} nodes",
            graph.n_nodes()
        )));
    }
    match partitioner.resolved() {
        Partitioner::Metis => metis_kway(graph, k, seed),
        _ => Ok(grow(graph, k, seed)),
    }
}

#[cfg(feature = "metis")]
fn metis_kway(graph: &NodeGraph, k: usize, seed: u64) -> Result<Vec<u32>> {
    use metis::Idx;
    let n = graph.n_nodes();
    if graph.n_entries() > Idx::MAX as u64 {
        return Err(Error::invalid(format!(
            "{} adjacency entries exceed 32-bit METIS; use partitioner = \"grow\"",
            graph.n_entries()
        )));
    }
    let mut xadj: Vec<Idx> = Vec::with_capacity(n + 1);
    let mut adjncy: Vec<Idx> = Vec::with_capacity(graph.n_entries() as usize);
    xadj.push(0);
    for v in 0..n as u32 {
        adjncy.extend(
            graph
                .neighbors(v)
                .iter()
                .filter(|&&u| u != v)
                .map(|&u| u as Idx),
        );
        xadj.push(adjncy.len() as Idx);
    }
    let mut part = vec![0 as Idx; n];
    metis::Graph::new(1, k as Idx, &xadj, &adjncy)
        .map_err(|e| Error::invalid(format!("METIS: {e}")))?
        .set_option(metis::option::Seed((seed % Idx::MAX as u64) as Idx))
        .part_kway(&mut part)
        .map_err(|e| Error::invalid(format!("METIS: {e}")))?;
    Ok(part.into_iter().map(|p| p as u32).collect())
}

#[cfg(not(feature = "metis"))]
fn metis_kway(_graph: &NodeGraph, _k: usize, _seed: u64) -> Result<Vec<u32>> {
    Err(Error::invalid("this build has no METIS"))
}

/// Balanced graph growing, then balanced label propagation until fewer than 0.1% of the nodes
/// move (at most 30 passes).
pub fn grow(graph: &NodeGraph, k: usize, seed: u64) -> Vec<u32> {
    let n = graph.n_nodes();
    let target = n.div_ceil(k);
    let mut part = vec![u32::MAX; n];
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut next_seed = 0usize;
    let mut queue = VecDeque::new();
    let mut sizes = vec![0usize; k];
    let mut assigned = 0usize;
    for p in 0..k as u32 {
        let quota = (n - assigned).div_ceil(k - p as usize);
        while sizes[p as usize] < quota {
            if queue.is_empty() {
                while next_seed < n && part[order[next_seed] as usize] != u32::MAX {
                    next_seed += 1;
                }
                if next_seed == n {
                    break;
                }
                let s = order[next_seed];
                part[s as usize] = p;
                sizes[p as usize] += 1;
                queue.push_back(s);
                continue;
            }
            let Some(u) = queue.pop_front() else { break };
            for &v in graph.neighbors(u) {
                if sizes[p as usize] >= quota {
                    break;
                }
                if part[v as usize] == u32::MAX {
                    part[v as usize] = p;
                    sizes[p as usize] += 1;
                    queue.push_back(v);
                }
            }
        }
        queue.clear();
        assigned += sizes[p as usize];
    }
    let max = target + target / 20 + 1;
    let min = target.saturating_sub(target / 20 + 1).max(1);
    let mut counts = vec![0u32; k];
    // passes until fewer than 0.1% of the nodes move (at most 30)
    for _ in 0..30 {
        let mut moved = 0usize;
        for &v in &order {
            let own = part[v as usize] as usize;
            for &u in graph.neighbors(v) {
                counts[part[u as usize] as usize] += 1;
            }
            let mut best = own;
            for &u in graph.neighbors(v) {
                let p = part[u as usize] as usize;
                if counts[p] > counts[best] && sizes[p] < max {
                    best = p;
                }
            }
            if best != own && sizes[own] > min {
                part[v as usize] = best as u32;
                sizes[own] -= 1;
                sizes[best] += 1;
                moved += 1;
            }
            for &u in graph.neighbors(v) {
                counts[part[u as usize] as usize] = 0;
            }
            counts[own] = 0;
        }
        if moved * 1000 < n {
            break;
        }
    }
    part
}

/// Adjacency entries (excluding self-loops) whose ends lie in different parts.
pub fn edge_cut(graph: &NodeGraph, part: &[u32]) -> u64 {
    (0..graph.n_nodes() as u32)
        .map(|v| {
            graph
                .neighbors(v)
                .iter()
                .filter(|&&u| part[u as usize] != part[v as usize])
                .count() as u64
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `blocks` cliques of `size` nodes joined in a ring by single edges.
    fn ring_of_cliques(blocks: u32, size: u32) -> NodeGraph {
        let mut edges = Vec::new();
        for b in 0..blocks {
            for i in 0..size {
                for j in i + 1..size {
                    edges.push((b * size + i, b * size + j));
                }
            }
            edges.push((b * size, ((b + 1) % blocks) * size + 1));
        }
        let n = (blocks * size) as usize;
        NodeGraph::from_edges(n, &edges, vec![0.0; n], 1, vec![0; n], Default::default()).unwrap()
    }

    fn check(part: &[u32], k: usize, n: usize) {
        assert_eq!(part.len(), n);
        let mut sizes = vec![0usize; k];
        for &p in part {
            sizes[p as usize] += 1;
        }
        assert!(sizes.iter().all(|&s| s > 0), "{sizes:?}");
    }

    #[test]
    fn graph_growing_finds_the_cliques() {
        let g = ring_of_cliques(6, 10);
        let part = grow(&g, 6, 3);
        check(&part, 6, 60);
        // the ideal cut is the 6 ring edges, counted in both directions
        let cut = edge_cut(&g, &part);
        assert!(cut <= 40, "cut {cut}");
        assert_eq!(partition(&g, 1, Partitioner::Grow, 0).unwrap(), vec![0; 60]);
        assert!(partition(&g, 61, Partitioner::Grow, 0).is_err());
    }

    #[cfg(feature = "metis")]
    #[test]
    fn metis_finds_the_cliques() {
        let g = ring_of_cliques(6, 10);
        let part = partition(&g, 6, Partitioner::Metis, 1).unwrap();
        check(&part, 6, 60);
        assert_eq!(edge_cut(&g, &part), 12);
    }

    #[cfg(not(feature = "metis"))]
    #[test]
    fn asking_for_metis_without_the_feature_says_how_to_get_it() {
        let e = Partitioner::Metis.check().unwrap_err().to_string();
        assert!(e.contains("--features geobatch-batcher-nodes/metis"), "{e}");
    }
}
