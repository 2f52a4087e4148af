//! `geobatch bench step --dump DIR`: a potential's batches, initial weights, setup and first
//! step written for another engine to compute with (`bench/torch/schnet_forces.py`): the same
//! batches and weights give the same loss, energies and forces, and the same work to time.
//!
//! Written: `batch-NNN.npz` (the first `batches` batches of the training loop's own source:
//! `species`, `vectors` (edge vectors, receiver minus sender with the image shift), `senders`,
//! `receivers`, `node_graph`, `n_node`, `graph_mask`, `energy` (total, eV), `forces`, `stress`,
//! `stress_weight`, `cells`, `positions`, `shifts`), `weights.npz` (every parameter by its path in
//! the model, before any step), `setup.json` (reference energies, scale, spreads, cutoff, loss
//! weights, model options) and `first.json` (the loss of the first batch before any update, and
//! the predicted energies, forces and stresses of its real graphs).

use geobatch_core::{Error, GraphBatch, SplitName, Task};
use geobatch_potential::{ForcePredictions, PotentialContext};
use geobatch_runner::LoadedConfig;
use geobatch_runner::RunError;
use geobatch_runner::bench::{model_to, source_at};
use geobatch_runner::train::feed::BatchSource;
use geobatch_runner::train::graph_model::model_context;
use geobatch_runner::train::graph_source::load_dataset;
use ndarray::{Array1, Array2, ArrayD, IxDyn};
use ndarray_npy::{NpzWriter, WriteNpzError};
use std::path::Path;

fn fail(path: &Path) -> impl Fn(String) -> RunError + '_ {
    move |m| RunError::Core(Error::invalid(format!("{}: {m}", path.display())))
}

/// The NumPy archive `path` with the arrays `fill` adds, written whole or not at all (the
/// atomic writer: never over a FIFO, a device or a folder).
fn write_npz(
    path: &Path,
    fill: impl FnOnce(&mut NpzWriter<&mut std::fs::File>) -> Result<(), WriteNpzError>,
) -> Result<(), RunError> {
    geobatch_datafiles::atomic::write_atomic(path, |file| {
        let mut npz = NpzWriter::new(file);
        fill(&mut npz).map_err(std::io::Error::other)?;
        npz.finish().map_err(std::io::Error::other)?;
        Ok(())
    })
    .map_err(|e| fail(path)(e.to_string()))
}

/// Writes one batch's arrays.
fn write_batch(path: &Path, b: &GraphBatch) -> Result<(), RunError> {
    let ints = |v: &[u32]| Array1::from_iter(v.iter().map(|&x| i64::from(x)));
    let rows = |v: &[f32], cols: usize| {
        Array2::from_shape_vec((v.len() / cols.max(1), cols), v.to_vec()).unwrap_or_default()
    };
    let vectors: Vec<f32> = b.edge_vectors().iter().flatten().copied().collect();
    let t = b.n_targets().max(1);
    let energy: Vec<f64> = (0..b.n_node.len())
        .map(|g| f64::from(b.targets.get(g * t).copied().unwrap_or(0.0)))
        .collect();
    write_npz(path, |npz| {
        npz.add_array("species", &ints(&b.species))?;
        npz.add_array("senders", &ints(&b.senders))?;
        npz.add_array("receivers", &ints(&b.receivers))?;
        npz.add_array("node_graph", &ints(&b.node_graph))?;
        npz.add_array("n_node", &ints(&b.n_node))?;
        npz.add_array(
            "graph_mask",
            &Array1::from_iter(b.graph_mask.iter().map(|&m| u8::from(m))),
        )?;
        npz.add_array("vectors", &rows(&vectors, 3))?;
        npz.add_array("positions", &rows(b.positions.as_flattened(), 3))?;
        npz.add_array("forces", &rows(b.forces.as_flattened(), 3))?;
        npz.add_array("cells", &rows(b.cells.as_flattened(), 9))?;
        npz.add_array("stress", &rows(b.stress.as_flattened(), 9))?;
        npz.add_array("stress_weight", &Array1::from(b.stress_weight.clone()))?;
        let shifts: Vec<i64> = b.shifts.iter().flatten().map(|&x| i64::from(x)).collect();
        npz.add_array(
            "shifts",
            &Array2::from_shape_vec((shifts.len() / 3, 3), shifts).unwrap_or_default(),
        )?;
        npz.add_array("energy", &Array1::from(energy))?;
        Ok(())
    })
}

/// Writes every parameter of `trainer` by its path in the model (before any step) to `path`.
fn write_weights(path: &Path, trainer: &dyn geobatch_core::Learner) -> Result<(), RunError> {
    let mut arrays = Vec::new();
    for p in trainer.parameters()? {
        let a = ArrayD::from_shape_vec(IxDyn(&p.shape), p.values)
            .map_err(|e| fail(path)(e.to_string()))?;
        arrays.push((p.name, a));
    }
    write_npz(path, |npz| {
        for (name, a) in &arrays {
            npz.add_array(name.as_str(), a)?;
        }
        Ok(())
    })
}

/// Dumps `batches` batches of batch size `bs` of the config's potential into `dir`.
pub fn dump_potential(
    loaded: &LoadedConfig,
    dir: &Path,
    bs: usize,
    batches: usize,
) -> Result<String, RunError> {
    let cfg = &loaded.config;
    let input = |m: String| RunError::Config {
        file: loaded.path.clone(),
        message: m,
    };
    let model = model_to(loaded, "to dump")?;
    let dataset = load_dataset(loaded)?;
    let crate::setup::PotentialSetup {
        spec: potential,
        setup,
    } = crate::setup::potential_setup(loaded, dataset.as_ref(), model)?.ok_or_else(|| {
        input("--dump writes a potential's batches: the dataset carries no forces".into())
    })?;
    let mut source = source_at(loaded, dataset.split(SplitName::Train), bs)?;
    let context = PotentialContext {
        model: model_context(loaded, dataset.as_ref(), Task::Potential),
        setup: setup.clone(),
    };
    let mut trainer = potential.build(&context)?;
    std::fs::create_dir_all(dir).map_err(|e| fail(dir)(e.to_string()))?;
    write_weights(&dir.join("weights.npz"), trainer.as_ref())?;
    let mut batch = GraphBatch::new();
    let mut first = None;
    for k in 0..batches {
        source.next(&mut batch)?;
        write_batch(&dir.join(format!("batch-{k:03}.npz")), &batch)?;
        if k == 0 {
            let mut p = ForcePredictions::default();
            trainer.predict(&batch, &mut p)?;
            let loss = trainer.train_step(&batch, 0)?.loss;
            first = Some((loss, p));
        }
    }
    let (loss, p) = first.ok_or_else(|| input("--dump-batches must be at least 1".into()))?;
    let json = serde_json::json!({
        "loss": loss,
        "energy": p.energy,
        "forces": p.forces,
        "stress": p.stress,
    });
    let setup_json = serde_json::json!({
        "setup": setup,
        "classes": dataset.species_classes(),
        "model": toml::Value::try_from(model).map_err(|e| input(e.to_string()))?,
        "optimizer": cfg.training.optimizer,
        "batch_size": bs,
    });
    for (name, value) in [("first.json", json), ("setup.json", setup_json)] {
        let path = dir.join(name);
        geobatch_datafiles::atomic::write_atomic(&path, |f| {
            std::io::Write::write_all(f, value.to_string().as_bytes())
        })
        .map_err(|e| fail(&path)(e.to_string()))?;
    }
    Ok(format!(
        "wrote {batches} batches (batch size {bs}), the initial weights and the first step's loss \
         {loss} to {}",
        dir.display()
    ))
}
