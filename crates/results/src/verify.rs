//! Verifying a run folder against its manifest (DESIGN.md §13): a report, an advice or a
//! sweep's status never counts a run whose files are missing, extra, duplicated or
//! inconsistent.

use crate::Manifest;
use crate::read::Run;
use geobatch_core::records::RunStatus;

/// The first schema version whose runs must carry a manifest.
pub const MANIFEST_SINCE: u32 = 4;

/// Whether a complete run's folder is what it recorded: read back and checked against its
/// manifest ([`verify`]); a run that wrote no table (a console sink only) has nothing to check,
/// and its own record stands.
pub fn verify_folder(run_dir: &std::path::Path) -> Result<(), String> {
    let recorded = ["run.parquet", crate::MANIFEST_FILE];
    if !recorded.iter().any(|f| run_dir.join(f).exists()) {
        return Ok(());
    }
    let run = crate::read::read_run(run_dir).map_err(|e| e.to_string())?;
    // status.json is the last record a run writes and the one a hand can edit: a complete run
    // says so in run.parquet too (written before it)
    if RunStatus::parse(&run.id.status) != Some(RunStatus::Complete) {
        return Err(format!(
            "{}: {} records it complete, but run.parquet records it {} after {} steps (a \
             record edited by hand, or a run killed between its last two writes)",
            run_dir.display(),
            crate::record::STATUS_FILE,
            run.id.status,
            run.steps.step.len()
        ));
    }
    verify(&run)
}

/// Why a complete run cannot be trusted, or `Ok` when its files are what it recorded.
///
/// Every run: the steps table holds steps `0..n` in order, each once, with `n` the steps
/// `run.parquet` records. Runs written with a manifest (schema version 4 on): the manifest is
/// there and agrees with `run.parquet` (run id, status, steps), every part it lists is there
/// with its rows and step range, no other part is, and `evals.parquet` holds its rows.
pub fn verify(run: &Run) -> Result<(), String> {
    let id = &run.id;
    let manifest = Manifest::read(&id.dir).map_err(|e| e.to_string())?;
    match &manifest {
        Some(m) => check_manifest(run, m)?,
        None if id.schema_version >= MANIFEST_SINCE => {
            return Err(format!(
                "{}: no {} (written by this geobatch with every run): the folder is incomplete",
                id.dir.display(),
                crate::MANIFEST_FILE
            ));
        }
        None => {}
    }
    check_steps(run)
}

/// The steps are `0..n` in order, each once, `n` as `run.parquet` records (when it does).
fn check_steps(run: &Run) -> Result<(), String> {
    let dir = run.id.dir.display();
    for (i, &s) in run.steps.step.iter().enumerate() {
        if s != i as u64 {
            let what = if (s as usize) < i {
                format!("step {s} is recorded twice")
            } else {
                format!("step {i} is missing (the next recorded step is {s})")
            };
            return Err(format!("{dir}: {what} in its steps-*.parquet files"));
        }
    }
    let n = run.steps.step.len() as u64;
    if run.id.recorded_steps > 0 && n != run.id.recorded_steps {
        return Err(format!(
            "{dir}: run.parquet records {} steps, its steps-*.parquet files hold {n}",
            run.id.recorded_steps
        ));
    }
    Ok(())
}

fn check_manifest(run: &Run, m: &Manifest) -> Result<(), String> {
    let id = &run.id;
    let dir = id.dir.display();
    let file = crate::MANIFEST_FILE;
    m.check().map_err(|e| format!("{dir}: {e}"))?;
    let same_status = RunStatus::parse(&id.status) == Some(m.status);
    if m.run_id != id.run_id || !same_status || m.steps != id.recorded_steps {
        return Err(format!(
            "{dir}: {file} (run {}, {}, {} steps) disagrees with run.parquet (run {}, {}, {} steps)",
            m.run_id,
            m.status.as_str(),
            m.steps,
            id.run_id,
            id.status,
            id.recorded_steps
        ));
    }
    for p in &m.parts {
        match run.parts.iter().find(|q| q.file == p.file) {
            None => return Err(format!("{dir}: {} is missing ({file} lists it)", p.file)),
            Some(q) if q != p => {
                return Err(format!(
                    "{dir}: {} holds {} rows, steps {}..={}; {file} lists {} rows, steps {}..={}",
                    p.file, q.rows, q.first_step, q.last_step, p.rows, p.first_step, p.last_step
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = run
        .parts
        .iter()
        .find(|q| !m.parts.iter().any(|p| p.file == q.file))
    {
        return Err(format!(
            "{dir}: {} is not one of the run's files ({file} does not list it): a copy or a \
             second writer",
            extra.file
        ));
    }
    let evals = run.evals.len() as u64;
    if evals != m.eval_rows || (m.eval_rows > 0 && !run.evals_file) {
        return Err(format!(
            "{dir}: evals.parquet holds {evals} rows{}; {file} lists {}",
            if run.evals_file {
                ""
            } else {
                " (it is missing)"
            },
            m.eval_rows
        ));
    }
    Ok(())
}
