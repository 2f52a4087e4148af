//! A set read in place (a disk-backed store's mapped columns): its batches' rows read ahead,
//! and the whole set copied into memory.

use super::{Edges, GraphSet};

impl GraphSet {
    /// Asks for the rows of `graphs` in the columns read in place (a disk-backed store's) to be
    /// read ahead, all at once and without waiting, so that collating them meets pages already
    /// read rather than one disk read after another; nothing for a set held in memory.
    pub fn will_need(&self, graphs: &[u32]) {
        if !self.positions.is_mapped() || self.probably_resident(graphs) {
            return;
        }
        for &g in graphs {
            let nodes = self.node_range(g as usize);
            self.atomic_numbers.will_need(nodes.clone());
            self.species.will_need(nodes.clone());
            self.positions.will_need(nodes.clone());
            self.forces.will_need(nodes);
            if let Edges::Stored(e) = &self.edges {
                let r = e.range(g as usize);
                e.senders.will_need(r.clone());
                e.receivers.will_need(r.clone());
                e.vectors.will_need(r.clone());
                e.shifts.will_need(r);
            }
        }
    }

    /// Whether the first row of four graphs spread over `graphs` (in the edge vectors, or the
    /// positions) is in memory: the batch then most likely is, and is not read ahead (the calls
    /// would cost more than the copy).
    fn probably_resident(&self, graphs: &[u32]) -> bool {
        let n = graphs.len().min(4);
        (0..n).all(|k| {
            let g = graphs[k * graphs.len() / n] as usize;
            match &self.edges {
                Edges::Stored(e) if g < self.len() => e.vectors.resident(e.range(g).start),
                _ if g < self.len() => self.positions.resident(self.node_range(g).start),
                _ => true,
            }
        })
    }

    /// Every column read in place copied into memory, one column at a time (each mapping let go
    /// once copied): the same set, held as the other datasets hold theirs.
    pub fn copy_in(&mut self) {
        self.atomic_numbers.to_mut();
        self.species.to_mut();
        self.positions.to_mut();
        self.forces.to_mut();
        if let Edges::Stored(e) = &mut self.edges {
            e.senders.to_mut();
            e.receivers.to_mut();
            e.vectors.to_mut();
            e.shifts.to_mut();
        }
    }
}
