//! `geobatch predict --run RUN_DIR --data FILE --out OUT.xyz`: a trained potential's energies,
//! forces and stresses of the structures of an extended XYZ file or an ASE database, written as
//! extended XYZ (and Parquet with `--parquet`).

use geobatch_catalog::dataset_asedb;
use geobatch_catalog::dataset_extxyz::{self, structures::Structure};
use geobatch_datafiles::output::{self, Accept, Inputs, Output};
use geobatch_potential_run::predict::{self, Potential};
use geobatch_runner::RunError;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The arguments of `geobatch predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// A complete run of a potential (a dataset with forces): its folder.
    #[arg(long)]
    pub run: PathBuf,
    /// The structures: an extended XYZ file (`.xyz`, `.extxyz`, gzip allowed), a folder or glob
    /// of them, or an ASE database (`.db`, `.json`).
    #[arg(long, required_unless_present = "serve")]
    pub data: Option<PathBuf>,
    /// The extended XYZ file written (energy and stress on the comment line, forces per atom).
    #[arg(long, required_unless_present = "serve")]
    pub out: Option<PathBuf>,
    /// Keep the potential open and answer JSON requests on standard input, a line each (what
    /// `geobatch.ase.Calculator` talks to), until the input ends.
    #[arg(long, conflicts_with_all = ["data", "out", "parquet"])]
    pub serve: bool,
    /// Also write the predictions as a Parquet table (id, energy, forces, stress).
    #[arg(long)]
    pub parquet: Option<PathBuf>,
    /// Replace files already at --out and --parquet (never an input of this command).
    #[arg(long)]
    pub force: bool,
}

/// Whether `path` names an ASE database rather than extended XYZ.
fn is_database(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("db" | "json")
    )
}

/// The files `predict` reads: the structures' files (`data`) and every file of the run folder.
fn inputs(args: &PredictArgs, data: &Path) -> Inputs {
    let mut inputs = Inputs::new().tree(&args.run, "a file of --run");
    if is_database(data) || data.is_dir() {
        inputs = inputs.tree(data, "--data");
    } else {
        for s in dataset_extxyz::sources::sources(data).unwrap_or_default() {
            inputs = inputs.file(&s.path, "--data");
        }
    }
    inputs
}

/// Where `out` (`--out`) and `--parquet` go (docs/reliability.md, "Nothing overwritten"):
/// checked before anything is read or predicted.
fn outputs(
    args: &PredictArgs,
    data: &Path,
    out: &Path,
) -> Result<(Output, Option<Output>), RunError> {
    let inputs = inputs(args, data);
    let resolve = |path: &Path, flag: &str| {
        output::resolve(path, flag, &inputs, Accept::Streams, args.force).map_err(RunError::Core)
    };
    let out = resolve(out, "--out")?;
    let parquet = match &args.parquet {
        Some(p) => {
            let pq = resolve(p, "--parquet")?;
            output::distinct((&out, "--out"), (&pq, "--parquet")).map_err(RunError::Core)?;
            Some(pq)
        }
        None => None,
    };
    Ok((out, parquet))
}

/// The potential's predictions for `structures`: their graphs made from the positions wrapped
/// into the cell (as the datasets make them; what is written keeps the positions as given).
pub(crate) fn predict_structures(
    potential: &mut Potential,
    structures: &[Structure],
) -> Result<Vec<predict::Prediction>, RunError> {
    let mut geometry = Vec::with_capacity(structures.len());
    for s in structures {
        let g = s.geometry().map_err(|m| {
            RunError::Data(geobatch_core::Error::invalid(format!("{}: {m}", s.origin)))
        })?;
        geometry.push(g);
    }
    let inputs: Vec<predict::Structure<'_>> = structures
        .iter()
        .zip(&geometry)
        .map(|(s, (cell, pos))| predict::Structure {
            id: &s.origin,
            numbers: &s.numbers,
            positions: pos,
            cell: *cell,
        })
        .collect();
    potential.predict(&inputs)
}

/// Predicts and writes; exit 0.
pub fn run(args: PredictArgs) -> anyhow::Result<ExitCode> {
    if args.serve {
        crate::serve_cmd::serve(&args.run)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(data), Some(out_path)) = (args.data.clone(), args.out.clone()) else {
        return Err(RunError::Usage("predict needs --data and --out (or --serve)".into()).into());
    };
    let (out, parquet) = outputs(&args, &data, &out_path)?;
    let mut potential = Potential::open(&args.run)?;
    let structures: Vec<Structure> = if is_database(&data) {
        dataset_asedb::read_structures(&data).map_err(RunError::Data)?
    } else {
        dataset_extxyz::read_structures(&data).map_err(RunError::Data)?
    };
    let predictions = predict_structures(&mut potential, &structures)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RunError::Io { path, source }
    };
    let mut text = Vec::new();
    for (s, p) in structures.iter().zip(&predictions) {
        dataset_extxyz::write::predicted_frame(
            &mut text,
            s,
            p.energy,
            &p.forces,
            p.stress.as_ref(),
        )
        .map_err(io(&out_path))?;
    }
    out.write(|f| std::io::Write::write_all(f, &text))
        .map_err(io(&out_path))?;
    if let Some(pq) = &parquet {
        let ids: Vec<String> = structures.iter().map(|s| s.id.clone()).collect();
        predict::write_parquet(pq, &ids, &predictions)?;
    }
    geobatch_process::outln!(
        "predicted {} structures with {} ({} rule): {}{}",
        structures.len(),
        args.run.display(),
        match potential.rule() {
            geobatch_core::GraphRule::Cutoff { radius } => format!("cutoff {radius} A"),
            other => format!("{other:?}"),
        },
        written(&out_path, &out),
        parquet
            .as_ref()
            .zip(args.parquet.as_ref())
            .map(|(o, p)| format!(", {}", written(p, o)))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// `path` as written: with what it replaced, or what it streamed into.
fn written(path: &Path, out: &Output) -> String {
    match out {
        Output::New(_) => path.display().to_string(),
        Output::Existing { bytes, .. } => {
            format!("{} (replacing a file of {bytes} bytes)", path.display())
        }
        Output::Stream { what, .. } => format!("{} ({what})", path.display()),
    }
}
