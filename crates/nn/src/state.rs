//! What a trainer checkpoints: the model being trained, the parameters kept as the best, and the
//! optimiser, with their save and load at full precision.

use burn::module::AutodiffModule;
use burn::optim::Optimizer;
use burn::record::{
    FullPrecisionSettings, NamedMpkBytesRecorder, NamedMpkFileRecorder, Recorder, RecorderError,
};
use burn::tensor::backend::AutodiffBackend;
use geobatch_core::{Error, Result};
use std::path::Path;

/// The model, the best parameters kept so far and the optimiser of a trainer.
#[derive(Debug)]
pub struct TrainState<M, O> {
    /// `None` only after a failed step lost the model.
    model: Option<M>,
    best: Option<M>,
    /// The optimiser.
    pub optim: O,
}

fn lost() -> Error {
    Error::invalid("the model was lost by a failed step")
}

/// The error of a recorder that could not `what` the folder `dir`.
fn checkpoint_error<'a>(
    what: &'static str,
    dir: &'a Path,
) -> impl Fn(RecorderError) -> Error + Copy + 'a {
    move |e| Error::invalid(format!("cannot {what} {}: {e}", dir.display()))
}

impl<M: Clone, O> TrainState<M, O> {
    /// A state training `model` with `optim`, no best parameters kept yet.
    pub fn new(model: M, optim: O) -> Self {
        TrainState {
            model: Some(model),
            best: None,
            optim,
        }
    }

    /// The model being trained.
    pub fn model(&self) -> Result<&M> {
        self.model.as_ref().ok_or_else(lost)
    }

    /// Takes the model out for an update; [`TrainState::put`] puts the updated one back.
    pub fn take(&mut self) -> Result<M> {
        self.model.take().ok_or_else(lost)
    }

    /// Puts the model back after an update.
    pub fn put(&mut self, model: M) {
        self.model = Some(model);
    }

    /// Remembers the model as the best (module clones share the parameter tensors, which
    /// optimiser steps replace, not mutate: the copy is cheap).
    pub fn keep_best(&mut self) -> Result<()> {
        self.best = Some(self.model()?.clone());
        Ok(())
    }

    /// Goes back to the best parameters; false when none were kept.
    pub fn restore_best(&mut self) -> bool {
        match &self.best {
            Some(b) => {
                self.model = Some(b.clone());
                true
            }
            None => false,
        }
    }

    /// Saves the state into the folder `dir`: the model (`model.mpk`), the best parameters
    /// (`best.mpk`, when kept) and the optimiser's state (`optimizer.mpk`).
    pub fn save<B>(&self, dir: &Path) -> Result<()>
    where
        B: AutodiffBackend,
        M: AutodiffModule<B>,
        O: Optimizer<M, B>,
    {
        // encoded in memory, then written with std: a write error keeps its OS cause ("No space
        // left on device"), which burn's file recorder reports as an opaque encoding error
        let recorder = NamedMpkBytesRecorder::<FullPrecisionSettings>::new();
        let encode = checkpoint_error("encode a checkpoint for", dir);
        let write = |name: &str, bytes: Vec<u8>| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|e| {
                Error::invalid(format!("cannot save a checkpoint: {}: {e}", path.display()))
            })
        };
        let model = self.model()?.clone().into_record();
        write("model.mpk", recorder.record(model, ()).map_err(encode)?)?;
        if let Some(best) = &self.best {
            let best = best.clone().into_record();
            write("best.mpk", recorder.record(best, ()).map_err(encode)?)?;
        }
        let optim = recorder
            .record(self.optim.to_record(), ())
            .map_err(encode)?;
        write("optimizer.mpk", optim)
    }

    /// Loads what [`TrainState::save`] saved in `dir`, onto `device`; `fresh` is a new optimiser
    /// of the same configuration that receives the saved optimiser state.
    pub fn load<B>(&mut self, dir: &Path, fresh: O, device: &B::Device) -> Result<()>
    where
        B: AutodiffBackend,
        M: AutodiffModule<B>,
        O: Optimizer<M, B>,
    {
        let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
        let fail = checkpoint_error("load the checkpoint in", dir);
        let model = self.take()?;
        self.best = if dir.join("best.mpk").is_file() {
            Some(
                model
                    .clone()
                    .load_file(dir.join("best"), &recorder, device)
                    .map_err(fail)?,
            )
        } else {
            None
        };
        self.model = Some(
            model
                .load_file(dir.join("model"), &recorder, device)
                .map_err(fail)?,
        );
        let record = recorder.load(dir.join("optimizer"), device).map_err(fail)?;
        self.optim = fresh.load_record(record);
        Ok(())
    }
}
