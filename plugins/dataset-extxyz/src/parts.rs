//! A dataset of structures made a part at a time, in two passes over its files, for a store
//! larger than memory (`geobatch data store`). The first pass reads every structure and keeps
//! only its id and a content key: what the split (saved and reused by id, as a whole load's)
//! and the copies left out are decided by. The second reads them again and hands each split's
//! structures to the writer in parts. Memory holds one part, the reader's piece of file, and
//! about 90 bytes per structure for the ids (measured: docs/datasets.md), whatever the files'
//! size. The splits hold the
//! structures a whole load's hold, each in file order.

use crate::screen::{Screen, Take};
use crate::structures::{Finish, Structure, Targets, twice, warn_left_out};
use geobatch_core::graph::content_key_of;
use geobatch_core::{DatasetContext, Error, GraphSet, Result, SplitName};
use geobatch_datafiles::splits;
use geobatch_geometry::{GraphSetBuilder, SplitParts};
use std::collections::{HashMap, HashSet};

/// A structure in no split (a copy of an earlier one, or left out by the split's counts).
const NONE: u8 = u8::MAX;

/// The first pass: every kept structure's id, in reading order, and which are copies.
struct Census {
    screen: Screen,
    /// An empty set of the dataset's columns: a structure is checked by pushing it to a copy.
    empty: GraphSetBuilder,
    /// The order in which each id was kept.
    ids: HashMap<Box<str>, u32>,
    keys: HashSet<u64>,
    /// Structures (in kept order) that are copies of earlier ones.
    copies: HashSet<u32>,
}

impl Take for Census {
    fn screen(&self) -> &Screen {
        &self.screen
    }

    fn screen_mut(&mut self) -> &mut Screen {
        &mut self.screen
    }

    fn push(&mut self, s: &Structure, values: &[Option<f64>]) -> Result<()> {
        if !self.screen.admit(s, values)? {
            return Ok(());
        }
        let order = self.ids.len() as u32;
        if let Some(k) = self.ids.get(s.id.as_str()) {
            return Err(twice(
                s,
                &format!("structure {} of those kept", u64::from(*k) + 1),
            ));
        }
        // the set's own checks, on a set of this one structure
        let (cell, pos) = self.screen.push_to(&mut self.empty.clone(), s)?;
        let narrow: Vec<[f32; 3]> = pos.iter().map(|p| p.map(|x| x as f32)).collect();
        let key = content_key_of(
            &s.numbers,
            &narrow,
            &cell.unwrap_or_default(),
            self.screen.row(),
        );
        if !self.keys.insert(key) {
            self.copies.insert(order);
        }
        self.ids.insert(s.id.as_str().into(), order);
        self.screen.kept(s);
        Ok(())
    }
}

impl Census {
    /// Each kept structure's split (an index into [`SplitName::ALL`], or [`NONE`]), in kept
    /// order: the split saved for these ids, or made and saved as a whole load makes it.
    fn split(&mut self, f: &Finish, ctx: &DatasetContext) -> Result<Vec<u8>> {
        // the content keys are for the first pass only
        self.keys = HashSet::new();
        let source = f.path.display().to_string();
        let kept = self.ids.len();
        if kept == 0 {
            return Err(Error::invalid(format!(
                "no usable structures in {source} ({})",
                self.screen.report()
            )));
        }
        splits::say_copies(&source, self.copies.len(), kept);
        let mut order: Vec<(&str, u32)> = self
            .ids
            .iter()
            .filter(|(_, k)| !self.copies.contains(k))
            .map(|(id, &k)| (&**id, k))
            .collect();
        order.sort_unstable_by_key(|&(_, k)| k);
        let names: Vec<&str> = order.iter().map(|&(id, _)| id).collect();
        let split = splits::saved(
            f.split,
            f.split_file,
            &ctx.data_dir,
            f.dataset,
            &source,
            &names,
            ctx.seed,
        )?;
        warn_left_out(&[&split[0], &split[1], &split[2]], names.len());
        let mut split_of = vec![NONE; kept];
        for (s, rows) in split.iter().enumerate() {
            for &r in rows {
                split_of[order[r as usize].1 as usize] = s as u8;
            }
        }
        Ok(split_of)
    }
}

/// The second pass: each kept structure built into its split's part, a full part handed on.
struct Parts<'a> {
    screen: Screen,
    census: &'a Census,
    split_of: Vec<u8>,
    /// Structures kept so far in this pass.
    next: usize,
    parts: SplitParts<'a>,
    path: &'a std::path::Path,
}

impl Parts<'_> {
    /// The error of files that do not give the first pass's structures again.
    fn changed(&self, what: &str) -> Error {
        Error::invalid(format!(
            "{}: {what} on the second reading than on the first: the files changed while they \
             were read (import them again once they are whole)",
            self.path.display()
        ))
    }

    /// Hands on the parts left.
    fn end(self) -> Result<()> {
        if self.next != self.split_of.len() {
            return Err(self.changed("fewer structures"));
        }
        self.screen.done();
        self.parts.end()
    }
}

impl Take for Parts<'_> {
    fn screen(&self) -> &Screen {
        &self.screen
    }

    fn screen_mut(&mut self) -> &mut Screen {
        &mut self.screen
    }

    fn push(&mut self, s: &Structure, values: &[Option<f64>]) -> Result<()> {
        if !self.screen.admit(s, values)? {
            return Ok(());
        }
        let k = self.next;
        self.next += 1;
        if self.census.ids.get(s.id.as_str()).map(|&o| o as usize) != Some(k) {
            return Err(self.changed(&format!("{}: another structure", s.origin)));
        }
        let Some(&split) = SplitName::ALL.get(usize::from(self.split_of[k])) else {
            return Ok(());
        };
        self.screen.push_to(self.parts.builder(split), s)?;
        self.screen.kept(s);
        self.parts.pushed(split)
    }
}

/// Reads the dataset twice through `read` (which hands every structure of the files, in the
/// same order each time, to the [`Take`] it is given) and hands each split's structures to
/// `each` in sets of `part` (the last ones fewer): the splits of a whole load
/// ([`crate::structures::Collector::finish`]), in bounded memory. Structures with a non-finite
/// value are counted and left out where `skip_non_finite`, else refused.
pub fn for_each_part(
    targets: Targets,
    skip_non_finite: bool,
    finish: &Finish,
    ctx: &DatasetContext,
    part: usize,
    read: &mut dyn FnMut(&mut dyn Take) -> Result<()>,
    each: &mut dyn FnMut(SplitName, &GraphSet) -> Result<()>,
) -> Result<()> {
    let empty = GraphSetBuilder::new(targets.columns()).carrying(targets.labels);
    let mut census = Census {
        screen: Screen::new(
            targets.clone(),
            skip_non_finite,
            "reading structures (1 of 2: ids)",
        ),
        empty: empty.clone(),
        ids: HashMap::new(),
        keys: HashSet::new(),
        copies: HashSet::new(),
    };
    read(&mut census)?;
    census.screen.done();
    let split_of = census.split(finish, ctx)?;
    geobatch_process::errln!("{}: {}", finish.path.display(), census.screen.report());
    let mut parts = Parts {
        screen: Screen::new(
            targets,
            skip_non_finite,
            "reading structures (2 of 2: parts)",
        ),
        census: &census,
        split_of,
        next: 0,
        parts: SplitParts::new(
            empty,
            part,
            finish.graph,
            finish.path.display().to_string(),
            each,
        ),
        path: finish.path,
    };
    read(&mut parts)?;
    parts.end()
}

/// A dataset whose structures are read from files, what [`load`] and [`parts`] read: the
/// `extxyz` and `asedb` datasets.
pub trait StructureFiles {
    /// Checks the options (the dataset's `validate`).
    fn check(&self) -> Result<()>;

    /// The targets asked for.
    fn targets(&self) -> Result<Targets>;

    /// Whether structures with a non-finite value are left out and counted.
    fn skip_non_finite(&self) -> bool;

    /// How the structures read become the dataset.
    fn finish(&self) -> Finish<'_>;

    /// Hands every structure of the files to `out`, in the same order each time.
    fn collect(&self, out: &mut dyn Take) -> Result<()>;
}

/// The dataset of `files`, loaded whole.
pub fn load(
    files: &dyn StructureFiles,
    ctx: &DatasetContext,
) -> Result<Box<dyn geobatch_core::Dataset>> {
    files.check()?;
    let mut out = crate::structures::Collector::new(files.targets()?, files.skip_non_finite());
    files.collect(&mut out)?;
    out.finish(&files.finish(), ctx)
}

/// The dataset of `files` a part at a time ([`for_each_part`]), as a dataset's
/// `for_each_part` gives it.
pub fn parts(
    files: &dyn StructureFiles,
    ctx: &DatasetContext,
    part: usize,
    each: &mut dyn FnMut(SplitName, &GraphSet) -> Result<()>,
) -> Option<Result<()>> {
    let made = files.check().and_then(|()| {
        for_each_part(
            files.targets()?,
            files.skip_non_finite(),
            &files.finish(),
            ctx,
            part,
            &mut |out| files.collect(out),
            each,
        )
    });
    Some(made)
}
