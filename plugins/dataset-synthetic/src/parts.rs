//! The synthetic pool made a part at a time, each structure handed to its split as soon as its
//! part is full: what writes a store of any size in bounded memory. The splits hold the same
//! structures as [`SyntheticSpec::load`]'s (the same seeded draw), each in generation order.

use crate::{Maker, SyntheticSpec};
use geobatch_core::{DatasetContext, GraphSet, Result, SplitName};
use geobatch_geometry::SplitParts;
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
    let rule = spec.rule();
    let mut parts = SplitParts::new(maker.builder(), part, &rule, "synthetic", each);
    let mut progress = Progress::new("generating synthetic graphs", Some(spec.graphs));
    for (g, &s) in split_of.iter().enumerate() {
        if g.is_multiple_of(4096) {
            geobatch_process::stop::check("generating the synthetic graphs")?;
            progress.at(g);
        }
        // a structure in no split is made all the same: the ones after it stay as they are
        let Some(&s) = SplitName::ALL.get(usize::from(s)) else {
            maker.push(g, &mut maker.builder())?;
            continue;
        };
        maker.push(g, parts.builder(s))?;
        parts.pushed(s)?;
    }
    progress.done(spec.graphs);
    parts.end()
}

#[cfg(test)]
mod tests {
    use crate::{Family, PairLabels, SyntheticSpec};
    use geobatch_core::{DatasetContext, GraphRule, SplitSpec};

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
        // 104 / 13 / 13 in parts of at most 16
        assert_eq!(
            geobatch_testkit::parts::parts_match_load(&spec, &ctx, 16),
            7 + 1 + 1
        );
    }
}
