//! `geobatch data fetch mlearn`: alignn's source distribution from PyPI via pip, verified, then
//! its mlearn files imported.

use crate::{source, store};
use geobatch_core::registry::FetchArgs;
use geobatch_core::{Error, Result};
use geobatch_datafiles::store::{self as store_guard, Placed};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pinned source package.
pub const PACKAGE: &str = "alignn==2026.8.11";
/// Its source distribution's file name.
pub const SDIST: &str = "alignn-2026.8.11.tar.gz";
/// SHA-256 of that file.
pub const SDIST_SHA256: &str = "b5354495a782fa0e2589cb1d20f3eb1ad1d6694464278fcba49d9715a8d935da";
/// Structures of the store a fetch makes (every structure of the six elements' files).
pub const STRUCTURES: usize = 1730;

/// How to replace a store that is already there, or import elsewhere.
const HOW: &str = "`geobatch data fetch mlearn --force` replaces it; import elsewhere with \
                   `geobatch data import mlearn PATH --out FILE`";

/// Where the imported file lives below a data folder.
pub fn default_file(data_dir: &Path) -> PathBuf {
    data_dir.join("mlearn").join("mlearn.parquet")
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = geobatch_datafiles::files::read(path)
        .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
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
    if !(sdist.is_file() && sha256_file(&sdist)? == SDIST_SHA256) {
        download(&downloads, &sdist, args.url.as_deref())?;
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

/// Downloads the pinned source distribution with pip into `downloads` and checks its SHA-256.
fn download(downloads: &Path, sdist: &Path, index: Option<&str>) -> Result<()> {
    std::fs::create_dir_all(downloads)
        .map_err(|e| Error::invalid(format!("{}: {e}", downloads.display())))?;
    let pip_ok = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !pip_ok {
        return Err(Error::invalid(format!(
            "`python3 -m pip` is needed to download mlearn from PyPI: install Python 3 with pip, \
             or download {SDIST} yourself and run `geobatch data import mlearn {SDIST}`"
        )));
    }
    geobatch_process::errln!(
        "downloading {PACKAGE}'s source distribution (about 6.8 MB) with pip into {}",
        downloads.display()
    );
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--disable-pip-version-check",
            PACKAGE,
            "-d",
        ])
        .arg(downloads)
        .args(index.into_iter().flat_map(|u| ["--index-url", u]))
        .status()
        .map_err(|e| Error::invalid(format!("cannot run pip: {e}")))?;
    if !status.success() {
        return Err(Error::invalid(format!(
            "`pip download --no-binary :all: {PACKAGE}` failed ({status})"
        )));
    }
    let sum = sha256_file(sdist)?;
    if sum != SDIST_SHA256 {
        return Err(Error::invalid(format!(
            "{}: checksum {sum} does not match the expected {SDIST_SHA256}; delete it and fetch \
             again",
            sdist.display()
        )));
    }
    Ok(())
}
