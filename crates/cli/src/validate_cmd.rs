//! `geobatch validate CONFIG`: check a config without running it.

use geobatch_runner::jobs::AnyConfig;
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `geobatch validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Experiment config (TOML).
    pub config: PathBuf,
    /// Print the resolved config (every default filled in).
    #[arg(long)]
    pub resolved: bool,
    /// Override a config value: `--set batcher.batch_size=64` (dotted key, TOML value).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Checks the config (or prints it resolved).
pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let ValidateArgs {
        config,
        resolved,
        overrides,
    } = args;
    let loaded = AnyConfig::from_file_with(&config, &overrides)?;
    if resolved {
        geobatch_process::out!("{}", loaded.resolved());
    } else {
        geobatch_process::outln!("{}: ok ({})", config.display(), loaded.describe());
    }
    Ok(ExitCode::SUCCESS)
}
