//! [`NodeGraph`]: one large graph for node-level tasks, held as CSR.

use geobatch_core::dataset::SplitName;
use geobatch_core::error::{Error, Result};

/// One graph with node features, labels and train/validation/test node sets.
///
/// The adjacency is stored **pre-processed** (spec ibmb §3): undirected, every node with a
/// self-loop, duplicate entries merged, columns sorted within each row. Edge weights are dropped.
/// The one normalisation geobatch uses everywhere (training batches, batched and full-graph
/// inference) is the random-walk normalisation `D⁻¹A`: the entry (i, j) is `1 / deg(i)`, where
/// `deg` counts the self-loop. A batch slices these full-graph values and never renormalises.
#[derive(Debug, Clone)]
pub struct NodeGraph {
    indptr: Vec<u64>,
    indices: Vec<u32>,
    features: Vec<f32>,
    n_features: usize,
    labels: Vec<i32>,
    n_classes: usize,
    splits: [Vec<u32>; 3],
}

impl NodeGraph {
    /// Builds a graph from an edge list (either direction; symmetrised, self-loops added,
    /// duplicates merged), row-major features (`n x n_features`), labels (`-1` = unlabelled)
    /// and the three output-node sets.
    ///
    /// Errors name the first edge or node that is out of range, and the first output node of a
    /// split without a label.
    pub fn from_edges(
        n: usize,
        edges: &[(u32, u32)],
        features: Vec<f32>,
        n_features: usize,
        labels: Vec<i32>,
        splits: [Vec<u32>; 3],
    ) -> Result<Self> {
        if n == 0 {
            return Err(Error::invalid("the graph has no node"));
        }
        if n > u32::MAX as usize {
            return Err(Error::invalid(format!(
                "{n} nodes: node ids are 32-bit, at most {} nodes",
                u32::MAX
            )));
        }
        if let Some((i, &(a, b))) = edges
            .iter()
            .enumerate()
            .find(|(_, (a, b))| *a as usize >= n || *b as usize >= n)
        {
            return Err(Error::invalid(format!(
                "edge {i} ({a} -> {b}) names node {}, but the graph has {n} nodes (ids 0..{})",
                if a as usize >= n { a } else { b },
                n - 1
            )));
        }
        let mut degree = vec![1u64; n];
        for &(a, b) in edges {
            if a != b {
                degree[a as usize] += 1;
                degree[b as usize] += 1;
            }
        }
        let mut indptr = Vec::with_capacity(n + 1);
        indptr.push(0u64);
        for d in &degree {
            let last = *indptr.last().unwrap_or(&0);
            indptr.push(last + d);
        }
        let total = *indptr.last().unwrap_or(&0) as usize;
        let mut indices = vec![0u32; total];
        let mut fill: Vec<u64> = indptr[..n].to_vec();
        for (i, f) in fill.iter_mut().enumerate() {
            indices[*f as usize] = i as u32;
            *f += 1;
        }
        for &(a, b) in edges {
            if a != b {
                indices[fill[a as usize] as usize] = b;
                fill[a as usize] += 1;
                indices[fill[b as usize] as usize] = a;
                fill[b as usize] += 1;
            }
        }
        // sort and merge duplicates row by row, compacting in place
        let mut write = 0usize;
        let mut new_ptr = Vec::with_capacity(n + 1);
        new_ptr.push(0u64);
        for i in 0..n {
            let (s, e) = (indptr[i] as usize, indptr[i + 1] as usize);
            indices[s..e].sort_unstable();
            let mut prev = u32::MAX;
            for k in s..e {
                let c = indices[k];
                if c != prev {
                    indices[write] = c;
                    write += 1;
                    prev = c;
                }
            }
            new_ptr.push(write as u64);
        }
        indices.truncate(write);
        indices.shrink_to_fit();
        Self::from_csr(new_ptr, indices, features, n_features, labels, splits)
    }

    /// Takes an already pre-processed CSR (undirected, self-loops, sorted unique columns) and
    /// checks the rest of the data.
    fn from_csr(
        indptr: Vec<u64>,
        indices: Vec<u32>,
        features: Vec<f32>,
        n_features: usize,
        labels: Vec<i32>,
        splits: [Vec<u32>; 3],
    ) -> Result<Self> {
        let n = indptr.len() - 1;
        check_features(&features, n, n_features)?;
        let n_classes = check_labels(&labels, n)?;
        check_splits(&splits, &labels, n)?;
        Ok(NodeGraph {
            indptr,
            indices,
            features,
            n_features,
            labels,
            n_classes,
            splits,
        })
    }

    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Number of stored adjacency entries (both directions and self-loops).
    pub fn n_entries(&self) -> u64 {
        *self.indptr.last().unwrap_or(&0)
    }

    /// Row pointers (`n + 1`).
    pub fn indptr(&self) -> &[u64] {
        &self.indptr
    }

    /// Column indices of every row, sorted.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// The neighbours of `v` (itself included).
    pub fn neighbors(&self, v: u32) -> &[u32] {
        let (s, e) = (self.indptr[v as usize], self.indptr[v as usize + 1]);
        &self.indices[s as usize..e as usize]
    }

    /// Degree of `v`, counting its self-loop.
    pub fn degree(&self, v: u32) -> u32 {
        (self.indptr[v as usize + 1] - self.indptr[v as usize]) as u32
    }

    /// Features per node.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Row-major node features (`n x n_features`).
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    /// The feature row of `v`.
    pub fn feature_row(&self, v: u32) -> &[f32] {
        let f = self.n_features;
        &self.features[v as usize * f..(v as usize + 1) * f]
    }

    /// Class of every node (`-1` when unlabelled).
    pub fn labels(&self) -> &[i32] {
        &self.labels
    }

    /// Number of classes (largest label + 1).
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Output nodes of one split, in stored order.
    pub fn split(&self, split: SplitName) -> &[u32] {
        &self.splits[split as usize]
    }
}

/// Features are `n` nodes x `n_features` finite numbers.
fn check_features(features: &[f32], n: usize, n_features: usize) -> Result<()> {
    if features.len() != n * n_features {
        return Err(Error::invalid(format!(
            "features hold {} values, expected {n} nodes x {n_features} features",
            features.len()
        )));
    }
    if let Some(i) = features.iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid(format!(
            "node {}, feature {}: {} is not a finite number",
            i / n_features,
            i % n_features,
            features[i]
        )));
    }
    Ok(())
}

/// One label per node, each a class id or -1 (unlabelled), the classes 0..C-1 each held by a
/// node; returns C.
fn check_labels(labels: &[i32], n: usize) -> Result<usize> {
    if labels.len() != n {
        return Err(Error::invalid(format!(
            "{} labels for {n} nodes",
            labels.len()
        )));
    }
    let n_classes = labels.iter().copied().max().map_or(0, |m| (m + 1).max(0)) as usize;
    if let Some(v) = labels.iter().position(|&l| l < -1) {
        return Err(Error::invalid(format!(
            "node {v} has label {}: labels are class ids 0.. or -1 (unlabelled)",
            labels[v]
        )));
    }
    // classes are 0..C-1: a label far above the others would make empty classes silently (and
    // a table per class as large as the largest label: the distinct labels are counted instead)
    let mut distinct: Vec<i32> = labels.iter().copied().filter(|&l| l >= 0).collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != n_classes {
        let first = (0..n_classes)
            .find(|&c| distinct.get(c) != Some(&(c as i32)))
            .unwrap_or(0);
        let top = labels
            .iter()
            .position(|&l| l as usize == n_classes - 1)
            .unwrap_or(0);
        return Err(Error::invalid(format!(
            "labels name {n_classes} classes (the largest, {}, at node {top}) but {} of them \
             have no node (first: class {first}); labels must be the class ids 0..C-1",
            n_classes - 1,
            n_classes - distinct.len()
        )));
    }
    Ok(n_classes)
}

/// Each split names nodes of the graph, each at most once and in one split only, all labelled.
fn check_splits(splits: &[Vec<u32>; 3], labels: &[i32], n: usize) -> Result<()> {
    // each node in at most one split, once: a test node also trained on leaks its label
    // into the test metrics, and a node listed twice counts twice
    let mut owner: Vec<Option<SplitName>> = vec![None; n];
    for (split, ids) in SplitName::ALL.iter().zip(splits) {
        for &v in ids {
            match owner.get(v as usize).copied() {
                None => {
                    return Err(Error::invalid(format!(
                        "the {split} split names node {v}, but the graph has {n} nodes"
                    )));
                }
                Some(Some(first)) if first == *split => {
                    return Err(Error::invalid(format!(
                        "the {split} split names node {v} twice"
                    )));
                }
                Some(Some(first)) => {
                    return Err(Error::invalid(format!(
                        "node {v} is in both the {first} and the {split} split: splits must \
                         not overlap (a node trained on would leak into the metrics)"
                    )));
                }
                Some(None) => owner[v as usize] = Some(*split),
            }
        }
    }
    for (split, ids) in SplitName::ALL.iter().zip(splits) {
        if let Some(&v) = ids.iter().find(|&&v| v as usize >= n) {
            return Err(Error::invalid(format!(
                "the {split} split names node {v}, but the graph has {n} nodes"
            )));
        }
        let missing: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|&v| labels[v as usize] < 0)
            .collect();
        if let Some(first) = missing.first() {
            return Err(Error::invalid(format!(
                "labels missing for {} output nodes of the {split} split (first: node {first})",
                missing.len()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path3() -> NodeGraph {
        NodeGraph::from_edges(
            3,
            &[(0, 1), (1, 2), (2, 1), (1, 1)],
            vec![0.0; 6],
            2,
            vec![0, 1, -1],
            [vec![0], vec![1], vec![]],
        )
        .unwrap()
    }

    #[test]
    fn symmetrises_adds_self_loops_and_merges_duplicates() {
        let g = path3();
        assert_eq!(g.neighbors(0), &[0, 1]);
        assert_eq!(g.neighbors(1), &[0, 1, 2]);
        assert_eq!(g.neighbors(2), &[1, 2]);
        assert_eq!(g.n_entries(), 7);
        assert_eq!(g.degree(1), 3);
        assert_eq!(g.n_classes(), 2);
    }

    #[test]
    fn non_finite_features_are_named() {
        let mut features = vec![0.0; 6];
        features[5] = f32::NAN;
        let e = NodeGraph::from_edges(
            3,
            &[(0, 1)],
            features,
            2,
            vec![0; 3],
            [vec![0], vec![1], vec![]],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("node 2, feature 1: NaN is not a finite number"),
            "{e}"
        );
    }

    #[test]
    fn a_label_that_leaves_empty_classes_is_refused() {
        let e = NodeGraph::from_edges(
            3,
            &[(0, 1)],
            vec![],
            0,
            vec![0, 99, 1],
            [vec![0], vec![1], vec![]],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("labels name 100 classes (the largest, 99, at node 1) but 97 of them have no node (first: class 2)"),
            "{e}"
        );
        let e = NodeGraph::from_edges(
            3,
            &[(0, 1)],
            vec![],
            0,
            vec![0, -5, 1],
            [vec![0], vec![], vec![]],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("node 1 has label -5"), "{e}");
    }

    #[test]
    fn overlapping_and_repeated_split_nodes_are_refused() {
        let graph = |splits| {
            NodeGraph::from_edges(3, &[(0, 1)], vec![], 0, vec![0, 1, 0], splits)
                .map(drop)
                .map_err(|e| e.to_string())
        };
        assert!(graph([vec![0], vec![1], vec![2]]).is_ok());
        let e = graph([vec![0, 1], vec![], vec![1]]).unwrap_err();
        assert!(
            e.contains("node 1 is in both the train and the test split"),
            "{e}"
        );
        let e = graph([vec![0, 0], vec![], vec![]]).unwrap_err();
        assert!(e.contains("the train split names node 0 twice"), "{e}");
    }

    #[test]
    fn a_huge_label_allocates_nothing() {
        let graph = |labels: Vec<i32>| {
            NodeGraph::from_edges(3, &[(0, 1)], vec![], 0, labels, Default::default())
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        // a label of 2e9: named from the distinct labels, no table of 2e9 classes
        let e = graph(vec![0, 1, 2_000_000_000]).unwrap_err();
        assert!(
            e.contains("1999999998 of them have no node (first: class 2)"),
            "{e}"
        );
        assert!(graph(vec![0, 1, -1]).is_ok());
    }

    #[test]
    fn out_of_range_ids_and_missing_labels_are_named() {
        let e = NodeGraph::from_edges(
            3,
            &[(0, 1), (1, 7)],
            vec![],
            0,
            vec![0; 3],
            Default::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("edge 1 (1 -> 7) names node 7") && e.contains("3 nodes"),
            "{e}"
        );
        let e = NodeGraph::from_edges(
            4,
            &[(0, 1)],
            vec![],
            0,
            vec![0, -1, -1, 1],
            [vec![0, 1, 2], vec![], vec![]],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("labels missing for 2 output nodes of the train split (first: node 1)"),
            "{e}"
        );
    }
}
