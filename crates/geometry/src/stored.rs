//! The edges a graph rule makes in every graph of a [`GraphSetBuilder`], stored: built in
//! parallel, in waves held against memory.

use crate::GraphSetBuilder;
use crate::edges as rules;
use geobatch_core::graph::{Edges, GraphSize, StoredEdges};
use geobatch_core::{Error, GraphRule, Result};
use rayon::prelude::*;

impl GraphSetBuilder {
    /// The edges `rule` makes in every graph, stored, with every graph's size. Graphs are built in
    /// parallel, in waves that grow while the edges made so far, projected over every graph, fit
    /// in memory (many graphs of a radius far beyond their cells would allocate until the
    /// process is killed; one graph alone is bounded by the rule). Errors name the first graph
    /// (in order) that fails.
    pub(crate) fn stored_edges(&self, rule: &GraphRule) -> Result<(Edges, Vec<GraphSize>)> {
        // image shifts are kept only for a set with a potential's labels (12 more bytes an edge)
        let keep = self.labels.any();
        let bytes = if keep { 64.0 } else { 40.0 };
        let n_graphs = self.cells.len();
        let mut all = GraphEdges {
            offsets: vec![0u64],
            ..GraphEdges::default()
        };
        let per_task = 16;
        let mut wave = per_task * rayon::current_num_threads();
        let mut next_check = 1 << 20;
        let mut done = 0;
        let mut progress =
            geobatch_process::progress::Progress::new("building graph edges", Some(n_graphs));
        while done < n_graphs {
            geobatch_process::stop::check("building the graphs' edges")?;
            progress.at(done);
            let end = (done + wave).min(n_graphs);
            let parts: Vec<Result<GraphEdges>> = (done..end)
                .step_by(per_task)
                .collect::<Vec<_>>()
                .into_par_iter()
                .map(|a| self.edges_of(rule, a..(a + per_task).min(end), keep))
                .collect();
            for part in parts {
                all.append(part?);
            }
            if done == 0 && end < n_graphs {
                // room for every graph's edges at the first wave's rate (within the memory the
                // projection allows), so that the lists are not copied as they grow
                let rate = all.senders.len() as f64 / end as f64;
                let want = (rate * n_graphs as f64 * 1.05) as usize;
                if project_edges(rule, all.senders.len(), end, n_graphs, bytes).is_ok() {
                    all.reserve(want.saturating_sub(all.senders.len()), n_graphs);
                }
            }
            if all.senders.len() >= next_check {
                next_check = all.senders.len() * 2;
                project_edges(rule, all.senders.len(), end, n_graphs, bytes)?;
            }
            done = end;
            wave = (wave * 2).min(4096);
        }
        progress.done(n_graphs);
        let edges = Edges::Stored(StoredEdges {
            offsets: all.offsets,
            senders: all.senders.into(),
            receivers: all.receivers.into(),
            vectors: all.vectors.into(),
            shifts: all.shifts.into(),
        });
        Ok((edges, all.sizes))
    }

    /// The edges `rule` makes in `graphs` (offsets from 0), with their image shifts if `keep`.
    fn edges_of(
        &self,
        rule: &GraphRule,
        graphs: std::ops::Range<usize>,
        keep: bool,
    ) -> Result<GraphEdges> {
        let mut out = GraphEdges {
            offsets: Vec::with_capacity(graphs.len()),
            ..GraphEdges::default()
        };
        for g in graphs {
            let nodes = self.node_offsets[g] as usize..self.node_offsets[g + 1] as usize;
            let before = out.senders.len();
            rules::build_edges_with_shifts(
                rule,
                &self.exact_positions(g),
                &self.cells[g],
                &mut out.senders,
                &mut out.receivers,
                &mut out.vectors,
                &mut out.shifts,
            )
            .map_err(|message| Error::GraphRule {
                graph: self.id_of(g),
                message,
            })?;
            out.offsets.push(out.senders.len() as u64);
            if !keep {
                out.shifts.clear();
            }
            let edges =
                u32::try_from(out.senders.len() - before).map_err(|_| Error::GraphRule {
                    graph: self.id_of(g),
                    message: "too many edges".into(),
                })?;
            out.sizes.push(GraphSize {
                nodes: nodes.len() as u32,
                edges,
            });
        }
        Ok(out)
    }
}

/// Edges of consecutive graphs: their end offsets, endpoints, vectors and sizes.
#[derive(Default)]
struct GraphEdges {
    offsets: Vec<u64>,
    senders: Vec<u32>,
    receivers: Vec<u32>,
    vectors: Vec<[f32; 3]>,
    shifts: Vec<[i32; 3]>,
    sizes: Vec<GraphSize>,
}

impl GraphEdges {
    /// Room for `edges` more edges and `graphs` more graphs.
    fn reserve(&mut self, edges: usize, graphs: usize) {
        self.senders.reserve(edges);
        self.receivers.reserve(edges);
        self.vectors.reserve(edges);
        self.shifts.reserve(edges);
        self.offsets.reserve(graphs);
        self.sizes.reserve(graphs);
    }

    /// Appends the graphs of `next` (whose offsets start from 0) after these.
    fn append(&mut self, next: GraphEdges) {
        let base = self.senders.len() as u64;
        self.offsets.extend(next.offsets.iter().map(|o| o + base));
        self.senders.extend_from_slice(&next.senders);
        self.receivers.extend_from_slice(&next.receivers);
        self.vectors.extend_from_slice(&next.vectors);
        self.shifts.extend_from_slice(&next.shifts);
        self.sizes.extend_from_slice(&next.sizes);
    }
}

/// Refuses a graph rule whose edges, `made` in the first `done` of `graphs` graphs and projected
/// over all of them, need more memory than this process can have (`bytes` an edge: endpoints and
/// vector, 20 bytes, and a kept image shift, 12, about twice that while their arrays grow).
pub(crate) fn project_edges(
    rule: &GraphRule,
    made: usize,
    done: usize,
    graphs: usize,
    bytes: f64,
) -> Result<()> {
    let projected = made as f64 / done as f64 * graphs as f64;
    let rule = match rule {
        GraphRule::Full => "{ kind = \"full\" }".to_string(),
        GraphRule::Cutoff { radius } => format!("{{ kind = \"cutoff\", radius = {radius} }}"),
        GraphRule::Knn { k } => format!("{{ kind = \"knn\", k = {k} }}"),
    };
    geobatch_process::memory::check_available(
        &format!("dataset.graph = {rule}"),
        projected * bytes,
        &format!(
            "about {projected:.3e} edges over the {graphs} graphs, {:.0} a graph in the first {done}: \
             lower the radius (or k)",
            made as f64 / done as f64
        ),
    )?;
    Ok(())
}
