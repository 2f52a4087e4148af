//! Checks of a dataset plugin's [`DatasetSpec::for_each_part`]: the parts it hands on hold,
//! split by split, the structures of its whole load.

use geobatch_core::{DatasetContext, DatasetSpec, GraphSet, SplitName};
use std::collections::BTreeMap;

/// A structure as a set holds it: atoms, positions, cell, targets, forces, stress and edge
/// count (floats as bits, so that equal means bit for bit).
type Content = (
    Vec<u8>,
    Vec<[u32; 3]>,
    Vec<u32>,
    Vec<u32>,
    Vec<[u32; 3]>,
    Vec<u32>,
    u32,
);

/// Every structure of `sets` by id (an id met twice fails).
pub fn by_id(sets: &[GraphSet]) -> BTreeMap<String, Content> {
    let bits3 = |v: &[[f32; 3]]| v.iter().map(|p| p.map(f32::to_bits)).collect::<Vec<_>>();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let mut all = BTreeMap::new();
    for set in sets {
        for g in 0..set.len() {
            let r = set.node_range(g);
            let cell = set.cell(g);
            let mut cell_bits: Vec<u32> = cell
                .lattice
                .iter()
                .flatten()
                .map(|x| (*x as f32).to_bits())
                .collect();
            cell_bits.extend(cell.pbc.map(u32::from));
            let content = (
                set.atomic_numbers()[r.clone()].to_vec(),
                bits3(&set.positions()[r.clone()]),
                cell_bits,
                bits(set.targets(g)),
                set.forces().map(|f| bits3(&f[r])).unwrap_or_default(),
                set.stress(g).map(|s| bits(s)).unwrap_or_default(),
                set.sizes()[g].edges,
            );
            let id = set.id(g).to_string();
            assert!(all.insert(id.clone(), content).is_none(), "{id} twice");
        }
    }
    all
}

/// Asserts that `spec`'s parts of at most `part` structures hold, split by split, the
/// structures of `spec.load(ctx)` (by id and content); returns the number of parts.
pub fn parts_match_load(spec: &dyn DatasetSpec, ctx: &DatasetContext, part: usize) -> usize {
    let loaded = spec.load(ctx).expect("the dataset loads");
    let mut parts: [Vec<GraphSet>; 3] = Default::default();
    let mut each = |s: SplitName, set: &GraphSet| {
        assert!(
            !set.is_empty() && set.len() <= part,
            "a part of {}",
            set.len()
        );
        parts[s as usize].push(set.clone());
        Ok(())
    };
    spec.for_each_part(ctx, part, &mut each)
        .expect("the plugin makes parts")
        .expect("the parts are made");
    for s in SplitName::ALL {
        let whole = by_id(std::slice::from_ref(loaded.split(s)));
        assert_eq!(whole, by_id(&parts[s as usize]), "the {s} split");
    }
    parts.iter().map(Vec::len).sum()
}
