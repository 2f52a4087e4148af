//! `geobatch data fetch mlearn`: alignn's source distribution from PyPI via pip, verified, then
//! its mlearn files imported.

use crate::{source, store};
use geobatch_core::registry::FetchArgs;
use geobatch_core::{Error, Result};
use geobatch_datafiles::pip::Pinned;
use geobatch_datafiles::store::{self as store_guard, Placed};
use std::path::{Path, PathBuf};

/// The pinned source package.
pub const PACKAGE: &str = "alignn==2026.8.11";
/// Its source distribution's file name.
pub const SDIST: &str = "alignn-2026.8.11.tar.gz";
/// SHA-256 of that file.
pub const SDIST_SHA256: &str = "b5354495a782fa0e2589cb1d20f3eb1ad1d6694464278fcba49d9715a8d935da";

/// The pinned source distribution, downloaded with pip.
const SOURCE: Pinned = Pinned {
    package: PACKAGE,
    options: &["--no-binary", ":all:"],
    size: "its source distribution, about 6.8 MB",
    without_pip: "download alignn-2026.8.11.tar.gz yourself and run `geobatch data import mlearn \
                  alignn-2026.8.11.tar.gz`",
    sha256: SDIST_SHA256,
};
/// Structures of the store a fetch makes (every structure of the six elements' files).
pub const STRUCTURES: usize = 1730;

/// How to replace a store that is already there, or import elsewhere.
const HOW: &str = "`geobatch data fetch mlearn --force` replaces it; import elsewhere with \
                   `geobatch data import mlearn PATH --out FILE`";

/// Where the imported file lives below a data folder.
pub fn default_file(data_dir: &Path) -> PathBuf {
    data_dir.join("mlearn").join("mlearn.parquet")
}

/// Fetches and imports mlearn into the data folder unless it is already there; `args.url` is a
/// package index to download from instead of PyPI.
pub fn fetch(args: &FetchArgs) -> Result<String> {
    let out = default_file(&args.data_dir);
    if out.exists() {
        let held = std::fs::File::open(&out)
            .map_err(|e| Error::invalid(format!("{}: {e}", out.display())))
            .and_then(|f| store::read(f, &out.display().to_string()));
        match held {
            Ok(r) if r.len() == STRUCTURES => {
                return Ok(format!(
                    "{} already holds {} structures: nothing to do",
                    out.display(),
                    r.len()
                ));
            }
            Ok(r) => store_guard::refuse_unless_forced(
                &out,
                args.force,
                &format!(
                    "holds {} structures, not the {STRUCTURES} that `data fetch mlearn` makes",
                    r.len()
                ),
                HOW,
            )?,
            Err(e) => store_guard::refuse_unless_forced(
                &out,
                args.force,
                &format!("is there but is not an mlearn store ({e})"),
                HOW,
            )?,
        }
    }
    let downloads = args.data_dir.join("downloads");
    let sdist = downloads.join(SDIST);
    if !SOURCE.is_there(&sdist) {
        SOURCE.download(&downloads, &sdist, args.url.as_deref())?;
    }
    let (records, findings) = source::read(&sdist, None)?;
    if records.len() != STRUCTURES {
        return Err(Error::invalid(format!(
            "{}: {} structures, not the {STRUCTURES} of mlearn",
            sdist.display(),
            records.len()
        )));
    }
    let staging = out.with_file_name(format!(".mlearn.fetching-{}.parquet", std::process::id()));
    let written = store::write(
        &records,
        &staging,
        &format!("{PACKAGE} ({SDIST}, sha256 {SDIST_SHA256})"),
    )
    .and_then(|()| store_guard::put_in_place(&staging, &out, args.force, HOW));
    if written.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    let what = match written? {
        Placed::Same => format!("{} already holds this mlearn: left as it is", out.display()),
        Placed::New | Placed::Replaced => format!(
            "imported {} structures into {}",
            records.len(),
            out.display()
        ),
    };
    Ok(format!("{what}\n{}", findings.render()))
}
