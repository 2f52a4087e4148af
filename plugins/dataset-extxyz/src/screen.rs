//! What a reader hands its structures to ([`Take`]), and the rules every taker applies before
//! it keeps one ([`Screen`]): the targets present and finite (or counted as skipped), forces
//! where a potential asks for them, and the counts the dataset's source line reports.

use crate::structures::{Structure, Targets};
use geobatch_core::{AtomLabels, Cell, Error, Result};
use geobatch_geometry::GraphSetBuilder;
use geobatch_process::progress::Progress;

/// A structure's cell and positions as its graph takes them.
pub type Geometry = (Option<Cell>, Vec<[f64; 3]>);

/// What a reader hands every structure to: gathered whole ([`crate::structures::Collector`]),
/// or counted, split and written a part at a time ([`crate::parts`]).
pub trait Take {
    /// The rules the taker applies, with their counts.
    fn screen(&self) -> &Screen;

    /// The same, to count with.
    fn screen_mut(&mut self) -> &mut Screen;

    /// The targets to look up.
    fn targets(&self) -> &Targets {
        self.screen().targets()
    }

    /// Counts a structure the selection left out.
    fn skip_unselected(&mut self) {
        self.screen_mut().skip_unselected();
    }

    /// A structure with its target values (`None`: absent, the structure is skipped and
    /// counted); bad values are errors naming the structure's origin.
    fn push(&mut self, s: &Structure, values: &[Option<f64>]) -> Result<()>;
}

/// The rules a structure passes before it is kept, and the counts of those that did not.
#[derive(Debug)]
pub struct Screen {
    targets: Targets,
    read: usize,
    kept: usize,
    unselected: usize,
    missing: Vec<usize>,
    y: Vec<f32>,
    skip_non_finite: bool,
    non_finite: usize,
    /// Structures skipped for having no forces (a potential's data).
    no_forces: usize,
    /// Structures kept without a stress (a potential's data with stresses).
    no_stress: usize,
    progress: Progress,
}

impl Screen {
    /// The rules for these targets; `what` names the reading in the progress line.
    pub fn new(targets: Targets, skip_non_finite: bool, what: &'static str) -> Screen {
        let n = targets.names.len();
        Screen {
            targets,
            read: 0,
            kept: 0,
            unselected: 0,
            missing: vec![0; n],
            y: vec![0.0; n],
            skip_non_finite,
            non_finite: 0,
            no_forces: 0,
            no_stress: 0,
            progress: Progress::new(what, None),
        }
    }

    /// The targets looked up.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// Counts a structure the selection left out.
    pub fn skip_unselected(&mut self) {
        self.read += 1;
        self.unselected += 1;
    }

    /// Whether `s` with `values` is to be kept: false when it is skipped (and counted), an
    /// error when a value is bad. Its target row is then [`Screen::row`].
    pub fn admit(&mut self, s: &Structure, values: &[Option<f64>]) -> Result<bool> {
        if self.read.is_multiple_of(1024) {
            geobatch_process::stop::check("reading the structures")?;
            self.progress.at(self.read);
        }
        self.read += 1;
        let labels = self.targets.labels;
        if labels.forces && s.forces.is_none() {
            self.no_forces += 1;
            return Ok(false);
        }
        let finite = values.iter().flatten().all(|v| v.is_finite())
            && s.positions.iter().flatten().all(|x| x.is_finite())
            && s.forces.iter().flatten().flatten().all(|x| x.is_finite())
            && s.stress.iter().flatten().flatten().all(|x| x.is_finite());
        if !finite && self.skip_non_finite {
            self.non_finite += 1;
            return Ok(false);
        }
        for (k, v) in values.iter().enumerate() {
            let name = &self.targets.names[k];
            let Some(v) = v else {
                self.missing[k] += 1;
                return Ok(false);
            };
            if !v.is_finite() {
                return Err(Error::invalid(format!(
                    "{}: target {name} is {v}, not a finite number (dataset.skip_non_finite = \
                     true leaves such structures out and counts them)",
                    s.origin
                )));
            }
            let v = if self.targets.per_atom[k] {
                if s.numbers.is_empty() {
                    return Err(Error::invalid(format!("{}: no atoms", s.origin)));
                }
                v / s.numbers.len() as f64
            } else {
                *v
            };
            self.y[k] = v as f32;
            if !self.y[k].is_finite() {
                return Err(Error::invalid(format!(
                    "{}: target {name} = {v} is beyond the range of 32-bit floats",
                    s.origin
                )));
            }
        }
        Ok(true)
    }

    /// The target row of the structure last admitted.
    pub fn row(&self) -> &[f32] {
        &self.y
    }

    /// Pushes `s`, admitted, to `b`: its geometry ([`Structure::geometry`]), the target row and
    /// the labels asked for; returns the cell and the positions pushed. An error names `s`.
    pub fn push_to(&self, b: &mut GraphSetBuilder, s: &Structure) -> Result<Geometry> {
        let (cell, pos) = s
            .geometry()
            .map_err(|m| Error::invalid(format!("{}: {m}", s.origin)))?;
        let labels = self.targets.labels;
        let atom_labels = AtomLabels {
            forces: s.forces.as_deref().filter(|_| labels.forces),
            stress: s.stress.filter(|_| labels.stress),
        };
        b.push_labelled(&s.id, &s.numbers, &pos, cell, &self.y, atom_labels)
            .map_err(|e| Error::invalid(format!("{}: {e}", s.origin)))?;
        Ok((cell, pos))
    }

    /// Counts `s`, admitted, as kept.
    pub fn kept(&mut self, s: &Structure) {
        self.kept += 1;
        if self.targets.labels.stress && s.stress.is_none() {
            self.no_stress += 1;
        }
    }

    /// Structures read so far.
    pub fn read(&self) -> usize {
        self.read
    }

    /// Ends the progress line.
    pub fn done(&self) {
        self.progress.done(self.read);
    }

    /// What was read and kept, and why the rest was skipped.
    pub fn report(&self) -> String {
        let mut report = format!("{} structures read, {} kept", self.read, self.kept);
        let mut skipped: Vec<String> = self
            .targets
            .names
            .iter()
            .zip(&self.missing)
            .filter(|m| *m.1 > 0)
            .map(|(t, n)| format!("{n} without {t}"))
            .collect();
        if self.unselected > 0 {
            skipped.push(format!("{} not selected", self.unselected));
        }
        if self.non_finite > 0 {
            skipped.push(format!("{} with non-finite values", self.non_finite));
        }
        if self.no_forces > 0 {
            skipped.push(format!("{} without forces", self.no_forces));
        }
        if !skipped.is_empty() {
            report.push_str(&format!("; skipped: {}", skipped.join(", ")));
        }
        if self.no_stress > 0 {
            report.push_str(&format!(
                "; {} kept without a {} (trained on energy and forces only)",
                self.no_stress, self.targets.stress_key
            ));
        }
        report
    }
}
