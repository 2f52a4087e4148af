//! `geobatch report RESULTS`: tables, tests and figures from a results folder, and the runs left out named.

use geobatch_runner::RunError;
use geobatch_runner::exit::Exit;
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `geobatch report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A results folder (searched recursively for runs).
    pub results: PathBuf,
    /// Where the report goes (default: RESULTS/report).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Writes the report; exit 3 when runs were left out.
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let ReportArgs { results, out } = args;
    let out = out.unwrap_or_else(|| results.join("report"));
    let report = geobatch_report::report(&results, &out).map_err(RunError::from)?;
    geobatch_process::out!("{}", report.markdown);
    geobatch_process::outln!("report written to {}", out.display());
    for d in &report.damaged {
        geobatch_process::errln!("left out, unreadable: {d}");
    }
    for d in &report.inconsistent {
        geobatch_process::errln!("left out, not what it recorded: {d}");
    }
    for d in &report.incomplete {
        geobatch_process::errln!("left out, not complete: {d}");
    }
    // a report made without some runs says so in its exit code too
    if !report.damaged.is_empty()
        || !report.inconsistent.is_empty()
        || !report.incomplete.is_empty()
    {
        return Ok(Exit::LeftOut.into());
    }
    Ok(ExitCode::SUCCESS)
}
