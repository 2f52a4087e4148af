//! The synthetic pool made a part at a time, each structure handed to its split as soon as its
//! part is full: what writes a store of any size in bounded memory. The splits hold the same
//! structures as [`SyntheticSpec::load`]'s (the same seeded draw), each in generation order.

use crate::{Maker, SyntheticSpec};
use geobatch_core::{DatasetContext, GraphSet, Result, SplitName};
use geobatch_process::progress::Progress;

/// Makes the pool of `spec` for `ctx`, handing each split's structures to `each` in sets of
/// `part` (the last ones fewer).
pub(crate) fn for_each_part(
    spec: &SyntheticSpec,
    ctx: &DatasetContext,
    part: usize,
    each: &mut dyn FnMut(SplitName, &GraphSet) -> Result<()>,
) -> Result<()> {
    spec.check_options()?;
    let seed = spec.seed.unwrap_or(ctx.seed);
    // each structure's split, one byte a structure (4 while the draw is made)
    let mut split_of = vec![u8::MAX; spec.graphs];
    for (s, rows) in spec.split.indices(spec.graphs, seed)?.iter().enumerate() {
        rows.iter().for_each(|&g| split_of[g as usize] = s as u8);
    }
    let mut maker = Maker::new(spec, seed)?;
    let mut builders = [maker.builder(), maker.builder(), maker.builder()];
    let mut held = [0usize; 3];
    let part = part.max(1);
    let mut progress = Progress::new("generating synthetic graphs", Some(spec.graphs));
    for (g, &s) in split_of.iter().enumerate() {
        if g.is_multiple_of(4096) {
            geobatch_process::stop::check("generating the synthetic graphs")?;
            progress.at(g);
        }
        // a structure in no split is made all the same: the ones after it stay as they are
        let s = usize::from(s);
        if s >= 3 {
            maker.push(g, &mut maker.builder())?;
            continue;
        }
        maker.push(g, &mut builders[s])?;
        held[s] += 1;
        if held[s] == part {
            let full = std::mem::replace(&mut builders[s], maker.builder());
            each(SplitName::ALL[s], &full.build(&spec.rule(), None)?)?;
            held[s] = 0;
        }
    }
    progress.done(spec.graphs);
    for (s, b) in builders.into_iter().enumerate() {
        if held[s] > 0 {
            each(SplitName::ALL[s], &b.build(&spec.rule(), None)?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Family, PairLabels};
    use geobatch_core::{DatasetSpec, GraphRule, SplitSpec};
    use std::collections::HashMap;

    /// Each structure of `set` by id: its atoms, positions, targets and forces.
    type Content = (Vec<u8>, Vec<[f32; 3]>, Vec<f32>, Option<Vec<[f32; 3]>>);

    fn by_id(sets: &[GraphSet]) -> HashMap<String, Content> {
        let mut all = HashMap::new();
        for set in sets {
            for g in 0..set.len() {
                let r = set.node_range(g);
                let content = (
                    set.atomic_numbers()[r.clone()].to_vec(),
                    set.positions()[r.clone()].to_vec(),
                    set.targets(g).to_vec(),
                    set.forces().map(|f| f[r].to_vec()),
                );
                assert!(all.insert(set.id(g).to_string(), content).is_none());
            }
        }
        all
    }

    #[test]
    fn parts_hold_the_structures_of_the_loaded_splits() {
        let spec = SyntheticSpec {
            family: Family::Crystals,
            graphs: 130,
            nodes: None,
            graph: Some(GraphRule::Cutoff { radius: 4.0 }),
            split: SplitSpec::default(),
            seed: Some(11),
            labels: Some(PairLabels::Morse),
        };
        let ctx = DatasetContext {
            seed: 1,
            data_dir: "data".into(),
        };
        let loaded = spec.load(&ctx).unwrap();
        let mut parts: [Vec<GraphSet>; 3] = Default::default();
        for_each_part(&spec, &ctx, 16, &mut |s, set| {
            assert!(set.len() <= 16);
            parts[s as usize].push(set.clone());
            Ok(())
        })
        .unwrap();
        for s in SplitName::ALL {
            let whole = by_id(std::slice::from_ref(loaded.split(s)));
            assert_eq!(whole, by_id(&parts[s as usize]), "{s}");
            assert!(!whole.is_empty());
        }
    }
}
