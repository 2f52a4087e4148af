//! `geobatch data fetch qm9`: the qm9pack wheel from PyPI via pip, verified, then imported.

use crate::{import, store};
use geobatch_core::registry::FetchArgs;
use geobatch_core::{Error, Result};
use geobatch_datafiles::pip::Pinned;
use geobatch_datafiles::store::{self as store_guard, Placed};
use std::path::{Path, PathBuf};

/// The pinned source package.
pub const PACKAGE: &str = "qm9pack==1.0.3";
/// Its wheel's file name.
pub const WHEEL: &str = "qm9pack-1.0.3-py3-none-any.whl";
/// SHA-256 of that wheel.
pub const WHEEL_SHA256: &str = "1d88c2988007c6778e717ee3224cf511bd60e10732ebe3b7ed500ea5af05c9f0";

/// The pinned wheel, downloaded with pip.
const PINNED: Pinned = Pinned {
    package: PACKAGE,
    options: &[],
    size: "about 104 MB",
    without_pip: "download the wheel qm9pack-1.0.3-py3-none-any.whl yourself and run `geobatch \
                  data import qm9 WHEEL`",
    sha256: WHEEL_SHA256,
};

/// Where the imported file lives below a data folder.
pub fn default_file(data_dir: &Path) -> PathBuf {
    data_dir.join("qm9").join("qm9.parquet")
}

/// Molecules of the QM9 store that a fetch makes (qm9pack 1.0.3, every molecule imported).
pub const MOLECULES: usize = 130_831;

/// How to replace a store that is already there, or import elsewhere.
const HOW: &str = "`geobatch data fetch qm9 --force` replaces it; import fixtures elsewhere with \
               `geobatch data import qm9 PATH --out FILE`";

/// Fetches and imports QM9 into the data folder unless it is already there (a store of another
/// size is replaced only with `force`); `args.url` is a package index to download from instead
/// of PyPI.
pub fn fetch(args: &FetchArgs) -> Result<String> {
    let (data_dir, progress) = (args.data_dir.as_path(), args.progress);
    let out = default_file(data_dir);
    if let Some(done) = check_store(&out, args.force)? {
        return Ok(done);
    }
    let downloads = data_dir.join("downloads");
    let wheel = downloads.join(WHEEL);
    if !PINNED.is_there(&wheel) {
        PINNED.download(&downloads, &wheel, args.url.as_deref())?;
    }
    import_wheel(&wheel, &out, progress, args.force)
}

/// A store already at `out`: `Some` report when it is the full QM9 (nothing to do), `None`
/// when there is none or it may be replaced (`force`), an error otherwise.
fn check_store(out: &Path, force: bool) -> Result<Option<String>> {
    if !out.exists() {
        return Ok(None);
    }
    let held = std::fs::File::open(out)
        .map_err(|e| Error::invalid(format!("{}: {e}", out.display())))
        .and_then(|f| store::read(f, &out.display().to_string()));
    match held {
        Ok(r) if r.len() == MOLECULES => {
            return Ok(Some(format!(
                "{} already holds {} molecules: nothing to do",
                out.display(),
                r.len()
            )));
        }
        // a store of another size (an import with --limit, another source) is not what
        // this fetch makes, but every `source = "auto"` run would train on it
        Ok(r) => store_guard::refuse_unless_forced(
            out,
            force,
            &format!(
                "holds {} molecules, not the {MOLECULES} of QM9 that `data fetch qm9` makes \
                 (it was imported with --limit or from another source)",
                r.len()
            ),
            HOW,
        )?,
        // a file that is not a QM9 store is somebody's data too
        Err(e) => store_guard::refuse_unless_forced(
            out,
            force,
            &format!("is there but is not a QM9 store ({e})"),
            HOW,
        )?,
    }
    Ok(None)
}

/// Imports the wheel's molecules into a staging file beside `out` and puts it in place.
fn import_wheel(wheel: &Path, out: &Path, progress: bool, force: bool) -> Result<String> {
    let records = import::from_wheel(wheel, None, progress)?;
    // written beside the store and put in place by the one rule of every import and fetch
    let staging = out.with_file_name(format!(".qm9.fetching-{}.parquet", std::process::id()));
    let written = store::write(
        &records,
        &staging,
        &format!("{PACKAGE} ({WHEEL}, sha256 {WHEEL_SHA256})"),
    )
    .and_then(|()| store_guard::put_in_place(&staging, out, force, HOW));
    if written.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    Ok(match written? {
        Placed::Same => format!("{} already holds this QM9: left as it is", out.display()),
        Placed::New | Placed::Replaced => format!(
            "imported {} molecules into {}",
            records.len(),
            out.display()
        ),
    })
}
