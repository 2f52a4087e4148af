//! `geobatch data`: fetch and import datasets through the providers plugins register.

use clap::Subcommand;
use geobatch_core::registry::{self, DataProvider};
use geobatch_core::{FetchArgs, ImportArgs};
use geobatch_datafiles::output::{self, Accept, Inputs};
use geobatch_datafiles::store::Placed;
use geobatch_runner::RunError;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

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
        /// Replace a store that is there but is not what this fetch makes.
        #[arg(long)]
        force: bool,
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
        /// Import only the first N records (for fixtures; give --out to keep the full store).
        #[arg(long)]
        limit: Option<usize>,
        /// Replace an existing store with different content.
        #[arg(long)]
        force: bool,
    },
    /// Write a config's dataset into a disk-backed store, for data larger than memory
    /// (`[dataset] kind = "store"` reads it).
    Store(crate::store_cmd::StoreArgs),
}

fn provider(name: &str) -> Result<&'static DataProvider, RunError> {
    registry::data_providers()
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = registry::data_providers().iter().map(|p| p.name).collect();
            RunError::Usage(format!(
                "no data provider named {name:?}; known: {}",
                names.join(", ")
            ))
        })
}

/// Runs a `geobatch data` subcommand.
pub fn run(cmd: DataCommand) -> Result<(), RunError> {
    let progress = std::io::stderr().is_terminal();
    match cmd {
        DataCommand::List => {
            for p in registry::data_providers() {
                geobatch_process::outln!(
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
            force,
        } => {
            let p = provider(&name)?;
            let fetch = p.fetch.ok_or_else(|| {
                RunError::Usage(format!(
                    "{name} cannot be fetched; use `geobatch data import {name} PATH`"
                ))
            })?;
            let _held = hold(&dir.join(p.default_out))?;
            geobatch_process::outln!(
                "{}",
                fetch(&FetchArgs {
                    data_dir: dir,
                    progress,
                    url,
                    page_size,
                    max_pages,
                    force,
                })?
            );
        }
        DataCommand::Import {
            name,
            path,
            dir,
            out,
            limit,
            force,
        } => {
            let p = provider(&name)?;
            let flag = if out.is_some() { "--out" } else { "the store" };
            let out = out.unwrap_or_else(|| dir.join(p.default_out));
            // the store is never the source, nor a FIFO or device (a link: its target)
            let inputs = Inputs::new().tree(&path, "the import's source");
            let out = output::resolve(&out, flag, &inputs, Accept::Files, true)?
                .path()
                .to_path_buf();
            let _held = hold(&out)?;
            geobatch_process::outln!("{}", import_guarded(p, path, &out, limit, progress, force)?);
        }
        DataCommand::Store(args) => {
            let _held = hold(&args.out.join(geobatch_store::MANIFEST))?;
            geobatch_process::outln!("{}", crate::store_cmd::run(args)?);
        }
    }
    Ok(())
}

/// An exclusive hold on the folder of the store `out` for one `geobatch data` command: an OS
/// lock (`flock` on the folder itself, released however the process ends; nothing is written
/// for it). A second fetch or import into the same folder waits for the first, saying so, and
/// then finds its work done (or replaces it only with `--force`), instead of both writing one
/// download or part file. `None` where folders cannot be locked (not Unix).
fn hold(out: &Path) -> Result<Option<std::fs::File>, RunError> {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io = |source| RunError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    if !cfg!(unix) {
        return Ok(None);
    }
    let folder = std::fs::File::open(dir).map_err(io)?;
    match folder.try_lock() {
        Ok(()) => Ok(Some(folder)),
        Err(std::fs::TryLockError::WouldBlock) => {
            geobatch_process::errln!(
                "another `geobatch data` command is writing into {}: waiting for it to finish \
                 (Ctrl-C to stop waiting)",
                dir.display()
            );
            folder.lock().map_err(io)?;
            Ok(Some(folder))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

/// `out` with its file name changed to `.NAME.importing-PID` (the extension kept), beside it.
fn staging_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "store".into());
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name.as_str(), ""));
    out.with_file_name(format!(".{stem}.importing-{}.{ext}", std::process::id()))
}

/// Imports into a file beside `out`, then puts it in place: a store already at `out` with
/// other content is replaced only with `force` (DESIGN.md §13: stores are never replaced
/// without an explicit flag); one with the same bytes is left as it is.
fn import_guarded(
    p: &DataProvider,
    source: PathBuf,
    out: &Path,
    limit: Option<usize>,
    progress: bool,
    force: bool,
) -> Result<String, RunError> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| RunError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let staging = staging_path(out);
    let imported = (p.import)(&ImportArgs {
        source,
        out: staging.clone(),
        limit,
        progress,
    });
    let report = match imported {
        Ok(r) => r.replace(&staging.display().to_string(), &out.display().to_string()),
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            return Err(e.into());
        }
    };
    let how = format!(
        "add --force to replace it, or --out FILE to write the import elsewhere (a fixture){}",
        if limit.is_some() {
            "; this import has --limit"
        } else {
            ""
        }
    );
    match geobatch_datafiles::store::put_in_place(&staging, out, force, &how) {
        Ok(Placed::Same) => Ok(format!(
            "{} already holds this import: left as it is",
            out.display()
        )),
        Ok(Placed::New) => Ok(report),
        Ok(Placed::Replaced) => Ok(format!("{report} (the store that was there is replaced)")),
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            Err(e.into())
        }
    }
}
