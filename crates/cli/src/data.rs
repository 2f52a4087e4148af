//! `geobatch data`: fetch and import datasets through the providers plugins register.

use crate::plugins::UsageError;
use clap::Subcommand;
use geobatch_core::registry::{self, DataProvider};
use geobatch_core::{FetchArgs, ImportArgs};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Subcommands of `geobatch data`.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// List the datasets that can be fetched or imported.
    List,
    /// Download a dataset into the data folder and import it (does nothing if already there).
    Fetch {
        /// Dataset name, e.g. qm9.
        name: String,
        /// Data folder.
        #[arg(long, default_value = "data")]
        dir: PathBuf,
        /// Another source than the default: AFLUX endpoint (aflow), package index (qm9).
        #[arg(long)]
        url: Option<String>,
        /// Records per request (aflow).
        #[arg(long)]
        page_size: Option<usize>,
        /// Stop after this many requests; running again continues (aflow).
        #[arg(long)]
        max_pages: Option<usize>,
    },
    /// Import a dataset from a local file or folder into geobatch's Parquet format.
    Import {
        /// Dataset name, e.g. qm9.
        name: String,
        /// Source file or folder.
        path: PathBuf,
        /// Data folder (the output goes to its default place inside it).
        #[arg(long, default_value = "data")]
        dir: PathBuf,
        /// Output file instead of the default place.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Import only the first N records (for fixtures).
        #[arg(long)]
        limit: Option<usize>,
    },
}

fn provider(name: &str) -> Result<&'static DataProvider, UsageError> {
    registry::data_providers()
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = registry::data_providers().iter().map(|p| p.name).collect();
            UsageError(format!(
                "no data provider named {name:?}; known: {}",
                names.join(", ")
            ))
        })
}

/// Runs a `geobatch data` subcommand.
pub fn run(cmd: DataCommand) -> anyhow::Result<()> {
    let progress = std::io::stderr().is_terminal();
    match cmd {
        DataCommand::List => {
            for p in registry::data_providers() {
                println!(
                    "{:<10} {}{}",
                    p.name,
                    p.summary,
                    if p.fetch.is_some() {
                        ""
                    } else {
                        " (import only)"
                    }
                );
            }
        }
        DataCommand::Fetch {
            name,
            dir,
            url,
            page_size,
            max_pages,
        } => {
            let p = provider(&name)?;
            let fetch = p.fetch.ok_or_else(|| {
                UsageError(format!(
                    "{name} cannot be fetched; use `geobatch data import {name} PATH`"
                ))
            })?;
            println!(
                "{}",
                fetch(&FetchArgs {
                    data_dir: dir,
                    progress,
                    url,
                    page_size,
                    max_pages,
                })?
            );
        }
        DataCommand::Import {
            name,
            path,
            dir,
            out,
            limit,
        } => {
            let p = provider(&name)?;
            let out = out.unwrap_or_else(|| dir.join(p.default_out));
            println!(
                "{}",
                (p.import)(&ImportArgs {
                    source: path,
                    out,
                    limit,
                    progress
                })?
            );
        }
    }
    Ok(())
}
