//! [`SplitParts`]: a data set's three splits built a part at a time, each full part given its
//! edges and handed on (to a store's writer): what a dataset plugin's
//! [`DatasetSpec::for_each_part`](geobatch_core::DatasetSpec::for_each_part) makes its parts with.

use crate::GraphSetBuilder;
use geobatch_core::{GraphRule, GraphSet, Result, SplitName};

/// Three splits' builders; a split's part is built by the rule and handed to `each` once it
/// holds `part` structures.
pub struct SplitParts<'a> {
    empty: GraphSetBuilder,
    builders: [GraphSetBuilder; 3],
    held: [usize; 3],
    part: usize,
    rule: &'a GraphRule,
    source: String,
    each: &'a mut dyn FnMut(SplitName, &GraphSet) -> Result<()>,
}

impl<'a> SplitParts<'a> {
    /// Parts of `part` structures (at least 1), each a copy of `empty` filled; `source` names the
    /// data in the errors of the rule.
    pub fn new(
        empty: GraphSetBuilder,
        part: usize,
        rule: &'a GraphRule,
        source: impl Into<String>,
        each: &'a mut dyn FnMut(SplitName, &GraphSet) -> Result<()>,
    ) -> SplitParts<'a> {
        SplitParts {
            builders: [empty.clone(), empty.clone(), empty.clone()],
            empty,
            held: [0; 3],
            part: part.max(1),
            rule,
            source: source.into(),
            each,
        }
    }

    /// The builder of split `s`'s part: push one structure, then call [`SplitParts::pushed`].
    pub fn builder(&mut self, s: SplitName) -> &mut GraphSetBuilder {
        &mut self.builders[s as usize]
    }

    /// Counts a structure pushed to split `s`; hands the part on when it is full.
    pub fn pushed(&mut self, s: SplitName) -> Result<()> {
        self.held[s as usize] += 1;
        if self.held[s as usize] >= self.part {
            self.flush(s)?;
        }
        Ok(())
    }

    /// Builds split `s`'s part and hands it on.
    fn flush(&mut self, s: SplitName) -> Result<()> {
        let full = std::mem::replace(&mut self.builders[s as usize], self.empty.clone());
        self.held[s as usize] = 0;
        let set = full
            .build(self.rule, None)
            .map_err(|e| e.within(&self.source))?;
        (self.each)(s, &set)
    }

    /// Hands on the parts not yet full.
    pub fn end(mut self) -> Result<()> {
        for s in SplitName::ALL {
            if self.held[s as usize] > 0 {
                self.flush(s)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_handed_on_full_then_the_rest() {
        let mut got: Vec<(SplitName, Vec<String>)> = Vec::new();
        let mut each = |s: SplitName, set: &GraphSet| {
            got.push((s, (0..set.len()).map(|g| set.id(g).to_string()).collect()));
            Ok(())
        };
        let rule = GraphRule::Full;
        let mut parts = SplitParts::new(
            GraphSetBuilder::new(vec!["y".into()]),
            2,
            &rule,
            "here",
            &mut each,
        );
        for (i, s) in [0, 1, 0, 0, 2, 0, 1].into_iter().enumerate() {
            let s = SplitName::ALL[s];
            parts
                .builder(s)
                .push(
                    &format!("m{i}"),
                    &[1, 1],
                    &[[0.0; 3], [0.0, 0.0, 0.74]],
                    None,
                    &[0.5],
                )
                .unwrap();
            parts.pushed(s).unwrap();
        }
        parts.end().unwrap();
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        assert_eq!(
            got,
            vec![
                (SplitName::Train, names(&["m0", "m2"])),
                (SplitName::Train, names(&["m3", "m5"])),
                (SplitName::Validation, names(&["m1", "m6"])),
                (SplitName::Test, names(&["m4"])),
            ]
        );
    }
}
