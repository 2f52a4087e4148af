//! Data files read whatever they are compressed with, told by their first bytes (not their
//! names): gzip, bzip2 and xz are read as ASE reads them; zstd, zip and 7-Zip files are refused
//! naming the format and how to unpack them, never read as raw bytes (which named a "bad line"
//! of binary noise).

use geobatch_core::{Error, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// A compression format, from a file's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Not compressed (or a format this does not know).
    Plain,
    /// gzip (`.gz`), read.
    Gzip,
    /// bzip2 (`.bz2`), read.
    Bzip2,
    /// xz (`.xz`), read.
    Xz,
    /// Zstandard (`.zst`): refused, named.
    Zstd,
    /// a zip archive: refused, named.
    Zip,
    /// a 7-Zip archive: refused, named.
    SevenZip,
}

impl Format {
    /// The format whose magic number `head` starts with.
    pub fn sniff(head: &[u8]) -> Format {
        const MAGIC: [(&[u8], Format); 6] = [
            (&[0x1f, 0x8b], Format::Gzip),
            (b"BZh", Format::Bzip2),
            (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], Format::Xz),
            (&[0x28, 0xb5, 0x2f, 0xfd], Format::Zstd),
            (b"PK\x03\x04", Format::Zip),
            (&[b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c], Format::SevenZip),
        ];
        MAGIC
            .iter()
            .find(|(m, _)| head.starts_with(m))
            .map_or(Format::Plain, |&(_, f)| f)
    }

    /// How the format is named in messages, with the command that unpacks it.
    fn refusal(self) -> Option<&'static str> {
        match self {
            Format::Zstd => {
                Some("compressed with Zstandard (zstd): unpack it first (`zstd -d FILE`)")
            }
            Format::Zip => {
                Some("a zip archive: unpack it first (`unzip FILE`) and name the file inside")
            }
            Format::SevenZip => {
                Some("a 7-Zip archive: unpack it first (`7z x FILE`) and name the file inside")
            }
            _ => None,
        }
    }
}

/// `path` opened for reading, decompressed when its first bytes say gzip, bzip2 or xz; an
/// archive or a compression this cannot read is [`Error::Source`], named.
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>> {
    let file =
        crate::files::open(path).map_err(|e| Error::Source(format!("{}: {e}", path.display())))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let head = reader
        .fill_buf()
        .map_err(|e| Error::Source(format!("{}: {e}", path.display())))?;
    let format = Format::sniff(head);
    if let Some(why) = format.refusal() {
        return Err(Error::Source(format!("{}: {why}", path.display())));
    }
    Ok(match format {
        Format::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Format::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(reader)),
        Format::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(reader)),
        _ => Box::new(reader),
    })
}

/// The whole of `path`, decompressed as [`open`] does; a file that does not decompress is
/// [`Error::Source`], naming the format.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let format = {
        let mut head = [0u8; 8];
        let n = crate::files::open(path)
            .and_then(|mut f| f.read(&mut head))
            .unwrap_or(0);
        Format::sniff(&head[..n])
    };
    open(path)?.read_to_end(&mut out).map_err(|e| {
        Error::Source(format!(
            "{}: not readable {}: {e}",
            path.display(),
            match format {
                Format::Gzip => "gzip",
                Format::Bzip2 => "bzip2",
                Format::Xz => "xz",
                _ => "data",
            }
        ))
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_bzip2_and_xz_read_alike_and_archives_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = b"2\nProperties=species:S:1:pos:R:3\nH 0 0 0\nH 0 0 0.7\n".repeat(50);
        let write = |name: &str, bytes: Vec<u8>| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).expect("written");
            p
        };
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).expect("gzip");
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&text).expect("bzip2");
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&text).expect("xz");
        for (name, bytes) in [
            ("a.xyz", text.clone()),
            ("a.xyz.gz", gz.finish().expect("gzip")),
            ("a.xyz.bz2", bz.finish().expect("bzip2")),
            ("a.xyz.xz", xz.finish().expect("xz")),
        ] {
            assert_eq!(read(&write(name, bytes)).expect(name), text, "{name}");
        }
        for (name, bytes, said) in [
            ("b.zst", vec![0x28, 0xb5, 0x2f, 0xfd, 0, 0], "Zstandard"),
            ("b.zip", b"PK\x03\x04rest".to_vec(), "zip archive"),
            ("b.bz2", b"BZh9 not really".to_vec(), "not readable bzip2"),
        ] {
            let e = read(&write(name, bytes)).expect_err(name).to_string();
            assert!(e.contains(name) && e.contains(said), "{e}");
        }
    }
}
