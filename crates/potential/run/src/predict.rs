//! A trained potential's predictions (`geobatch predict`): the energies, forces and stresses of
//! structures it never saw, from the model a complete run keeps in its folder.
//!
//! A run that trains a potential (a dataset with forces) saves, once complete, its trained model
//! in `RUN_DIR/model/` with `potential.json`: the species classes, the graph rule and what the
//! potential was built with ([`ForceContext`]: reference energies, scale). [`Potential::open`]
//! builds the model of the run's `config.toml` with them and loads the weights; the structures
//! become graphs under the run's rule, batched as the exact evaluator batches.

use geobatch_core::{
    AtomLabels, Cell, Error, GraphRule, LabelKinds, Learner, ModelContext, ModelSpec, Task, Trainer,
};
use geobatch_geometry::GraphSetBuilder;
use geobatch_potential::{ForceContext, ForcePredictions, PotentialContext, potential_of};
use geobatch_runner::{LoadedConfig, RunError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The folder of a run's trained model.
pub use geobatch_results::record::MODEL_DIR;
/// What the potential was built with, beside its weights.
pub const POTENTIAL_FILE: &str = "potential.json";
/// Structures per predicted batch.
const PER_BATCH: usize = 15;

/// What a potential needs besides its weights and config: the species classes (atomic numbers
/// in class order), the graph rule and its setup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPotential {
    /// Atomic number of every species class.
    pub classes: Vec<u8>,
    /// The graph rule the potential was trained with.
    pub rule: GraphRule,
    /// Reference energies, scale, cutoff.
    pub setup: ForceContext,
}

impl SavedPotential {
    /// The potential of the config's `model`, or why this saved potential is not one training
    /// makes with it: the same rules training enforces (a smooth graph rule, a model that is a
    /// potential, species classes that are elements, each once, a setup within what training
    /// fits, `ForceContext::check`; whether the model takes the rule's cutoff its build checks).
    pub fn check(
        &self,
        model: &dyn ModelSpec,
    ) -> geobatch_core::Result<Box<dyn ModelSpec<geobatch_potential::Potential>>> {
        if self.classes.is_empty() {
            return Err(Error::invalid("no species classes"));
        }
        if let Some(z) = self.classes.iter().find(|&&z| z == 0 || z > 118) {
            return Err(Error::invalid(format!(
                "species class {z} is not an element"
            )));
        }
        if let Some((i, z)) = self
            .classes
            .iter()
            .enumerate()
            .find(|(i, z)| self.classes[..*i].contains(z))
        {
            return Err(Error::invalid(format!(
                "atomic number {z} is species class {i} and an earlier one"
            )));
        }
        self.rule
            .validate()
            .map_err(|m| Error::invalid(format!("its {m}")))?;
        let cutoff = self.rule.smooth_cutoff()?;
        let potential = potential_of(model)?;
        self.setup.check(self.classes.len(), cutoff)?;
        Ok(potential)
    }
}

/// Saves a trained potential into `run_dir/model/` (through a temporary folder and a rename).
pub fn save(run_dir: &Path, trainer: &dyn Learner, saved: &SavedPotential) -> Result<(), RunError> {
    let dir = run_dir.join(MODEL_DIR);
    let tmp = run_dir.join(format!("{MODEL_DIR}.tmp"));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RunError::Io { path, source }
    };
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    trainer.save(&tmp)?;
    let json = serde_json::to_string_pretty(saved)
        .map_err(|e| Error::invalid(format!("cannot write {POTENTIAL_FILE}: {e}")))?;
    std::fs::write(tmp.join(POTENTIAL_FILE), json).map_err(io(&tmp.join(POTENTIAL_FILE)))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
    }
    std::fs::rename(&tmp, &dir).map_err(io(&dir))
}

/// One structure to predict.
#[derive(Debug, Clone)]
pub struct Structure<'a> {
    /// Its id (in messages).
    pub id: &'a str,
    /// Atomic number of every atom.
    pub numbers: &'a [u8],
    /// Cartesian positions (Angstrom).
    pub positions: &'a [[f64; 3]],
    /// The cell, for periodic structures.
    pub cell: Option<Cell>,
}

/// What the potential predicts for one structure (serialised as `predict --serve` answers).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Total energy (eV).
    pub energy: f64,
    /// Force on every atom (eV/Angstrom).
    pub forces: Vec<[f32; 3]>,
    /// Stress (eV/Angstrom^3, row-major 3x3, ASE's sign) of a structure periodic along all three
    /// lattice vectors.
    pub stress: Option<[f32; 9]>,
}

/// A trained potential, ready to predict.
pub struct Potential {
    trainer: Box<dyn Trainer<geobatch_potential::Potential>>,
    saved: SavedPotential,
    model: PathBuf,
}

impl Potential {
    /// The potential of the complete run in `run_dir`: its files checked against the digest
    /// its `status.json` recorded when it completed, and what `potential.json` says against the
    /// rules training enforces ([`SavedPotential::check`]).
    pub fn open(run_dir: &Path) -> Result<Potential, RunError> {
        let model = run_dir.join(MODEL_DIR);
        let file = model.join(POTENTIAL_FILE);
        if model.is_dir() {
            geobatch_results::record::verify_model(run_dir)
                .map_err(|why| RunError::Data(Error::Refused(why)))?;
        }
        let text = geobatch_datafiles::files::read_text(&file).map_err(|e| {
            RunError::Data(Error::invalid(format!(
                "{}: {e}: no trained potential in {} (a complete run of a dataset with forces \
                 keeps its model there)",
                file.display(),
                run_dir.display()
            )))
        })?;
        let saved: SavedPotential = serde_json::from_str(&text).map_err(|e| {
            RunError::Data(Error::invalid(format!(
                "{}: not a potential this geobatch saved ({e})",
                file.display()
            )))
        })?;
        let loaded = LoadedConfig::from_file(&run_dir.join("config.toml"))?;
        let cfg = &loaded.config;
        let spec = cfg.model.as_deref().ok_or_else(|| {
            RunError::Data(Error::invalid(format!(
                "{}: the run's config has no [model]",
                run_dir.display()
            )))
        })?;
        let not_made = |e: &dyn std::fmt::Display| {
            RunError::Data(Error::Refused(format!(
                "{}: {e}: not a potential training makes (edited by hand?); train the run again",
                file.display()
            )))
        };
        let spec = saved.check(spec).map_err(|e| not_made(&e))?;
        let context = PotentialContext {
            model: ModelContext {
                n_species: saved.classes.len(),
                target_stats: vec![geobatch_core::TargetStats {
                    mean: 0.0,
                    std: 1.0,
                }],
                seed: cfg.experiment.seed,
                device: cfg.training.device.clone(),
                optimizer: cfg.training.optimizer.clone(),
                engine: cfg.engine(Task::Potential),
            },
            setup: saved.setup.clone(),
        };
        // the model's own rules for a potential (PaiNN's cutoff within the graph's radius) are
        // its build's refusals
        let mut trainer = spec.build(&context).map_err(|e| match e {
            Error::Refused(m) => not_made(&m),
            e => e.into(),
        })?;
        trainer.load(&model)?;
        Ok(Potential {
            trainer,
            saved,
            model,
        })
    }

    /// The graph rule the potential was trained with.
    pub fn rule(&self) -> &GraphRule {
        &self.saved.rule
    }

    /// The predictions for `structures`, in their order.
    pub fn predict(&mut self, structures: &[Structure<'_>]) -> Result<Vec<Prediction>, RunError> {
        // carrying (unknown) stresses: the batches then hold the cells and image shifts that
        // stresses are made with
        let mut b = GraphSetBuilder::new(Vec::new()).carrying(LabelKinds {
            forces: false,
            stress: true,
        });
        for s in structures {
            if let Some(z) = s.numbers.iter().find(|z| !self.saved.classes.contains(z)) {
                return Err(RunError::Data(Error::invalid(format!(
                    "{}: atomic number {z} was not in the potential's training data (its \
                     species are {:?}; {})",
                    s.id,
                    self.saved.classes,
                    self.model.display()
                ))));
            }
            b.push_labelled(
                s.id,
                s.numbers,
                s.positions,
                s.cell,
                &[],
                AtomLabels::default(),
            )
            .map_err(RunError::Data)?;
        }
        let set = b
            .build(&self.saved.rule, Some(&self.saved.classes))
            .map_err(RunError::Data)?;
        let mut out = Vec::with_capacity(set.len());
        let mut p = ForcePredictions::default();
        let trainer = &mut self.trainer;
        // the exact evaluator's batches: PER_BATCH structures each, padded to multiples of 64
        geobatch_runner::evaluate::for_each_batch(&set, PER_BATCH + 1, |batch, chunk, _| {
            trainer.predict(batch, &mut p)?;
            let mut atom = 0;
            for (i, &g) in chunk.iter().enumerate() {
                let n = set.node_range(g as usize).len();
                let periodic = set.cell(g as usize).pbc == [true; 3];
                out.push(Prediction {
                    energy: p.energy[i],
                    forces: p.forces[atom..atom + n].to_vec(),
                    // none where not periodic, or where the model predicts none
                    stress: p.stress.get(i).copied().filter(|_| periodic),
                });
                atom += n;
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// Writes `predictions` of the structures named `ids` as a Parquet table: `id` (string),
/// `energy` (float64, eV), `forces` (list<float32>, x y z per atom, eV/Angstrom) and `stress`
/// (list<float32>, row-major 3x3, eV/Angstrom^3; null where not periodic in three directions).
pub fn write_parquet(
    out: &geobatch_datafiles::output::Output,
    ids: &[String],
    predictions: &[Prediction],
) -> Result<(), RunError> {
    use arrow_array::builder::{Float32Builder, ListBuilder};
    use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let mut forces = ListBuilder::new(Float32Builder::new());
    let mut stress = ListBuilder::new(Float32Builder::new());
    for p in predictions {
        forces.values().append_slice(p.forces.as_flattened());
        forces.append(true);
        match &p.stress {
            Some(s) => {
                stress.values().append_slice(s);
                stress.append(true);
            }
            None => stress.append(false),
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(StringArray::from_iter_values(ids))),
        (
            "energy",
            Arc::new(Float64Array::from_iter_values(
                predictions.iter().map(|p| p.energy),
            )),
        ),
        ("forces", Arc::new(forces.finish())),
        ("stress", Arc::new(stress.finish())),
    ];
    let path = out.path();
    let batch = RecordBatch::try_from_iter(columns)
        .map_err(|e| RunError::Core(Error::invalid(format!("{}: {e}", path.display()))))?;
    geobatch_results::tables::write_table_to(out, &batch, "predictions").map_err(|source| {
        RunError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}
