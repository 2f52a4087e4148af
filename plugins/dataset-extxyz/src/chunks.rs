//! An extended XYZ file read a piece at a time: whole frames, about [`CHUNK`] bytes a piece,
//! decompressed as they are read, so that a file of any size is parsed in bounded memory. A
//! piece's frames and lines are numbered as in the whole file (errors name those).

use crate::frames::{self, Frame};
use geobatch_core::{Error, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// About how many bytes of text a piece holds (a piece ends at the first frame end past it).
pub const CHUNK: usize = 16 << 20;

/// Whole frames of a file, with where they start in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The frames' text.
    pub text: Vec<u8>,
    /// Frames before this piece.
    pub frame: usize,
    /// Lines before this piece.
    pub line: usize,
}

/// The pieces of one file, in order.
pub struct Chunks {
    reader: BufReader<Box<dyn Read + Send>>,
    name: String,
    size: usize,
    frame: usize,
    line: usize,
    done: bool,
    /// A read error met after whole frames, given after them.
    failed: Option<Error>,
}

impl Chunks {
    /// The pieces of the file at `path` (decompressed when its first bytes say so), of about
    /// `size` bytes; `name` names it in errors.
    pub fn open(path: &Path, name: &str, size: usize) -> Result<Chunks> {
        let reader = geobatch_datafiles::compressed::open(path)?;
        Ok(Chunks::of(reader, name, size))
    }

    /// The pieces of what `reader` gives.
    pub fn of(reader: Box<dyn Read + Send>, name: &str, size: usize) -> Chunks {
        Chunks {
            reader: BufReader::with_capacity(1 << 16, reader),
            name: name.to_string(),
            size: size.max(1),
            frame: 0,
            line: 0,
            done: false,
            failed: None,
        }
    }

    /// Appends the next line (with its end) to `buf`; false at the end of the file.
    fn line_into(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        let n = self.reader.read_until(b'\n', buf).map_err(|e| {
            Error::Source(format!(
                "{}: not readable after line {} (frame {}): {e}",
                self.name, self.line, self.frame
            ))
        })?;
        if n == 0 {
            self.done = true;
            return Ok(false);
        }
        self.line += 1;
        Ok(true)
    }

    /// Reads one frame's lines into `buf` (blank lines before it included); false when the
    /// file ended before its count line. A count line that is no count ends the file here: the
    /// frame parser names it.
    fn frame_into(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        let count = loop {
            let start = buf.len();
            if !self.line_into(buf)? {
                return Ok(false);
            }
            let l = &buf[start..];
            if l.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            break std::str::from_utf8(l)
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok());
        };
        self.frame += 1;
        let Some(count) = count else {
            self.done = true;
            return Ok(true);
        };
        // the comment line, then one line per atom; a file that ends sooner is named by the
        // parser
        for _ in 0..=count {
            if !self.line_into(buf)? {
                break;
            }
        }
        Ok(true)
    }
}

impl Iterator for Chunks {
    type Item = Result<Chunk>;

    fn next(&mut self) -> Option<Result<Chunk>> {
        if self.done && self.failed.is_none() {
            return None;
        }
        if let Some(e) = self.failed.take() {
            return Some(Err(e));
        }
        let (frame, line) = (self.frame, self.line);
        let mut text = Vec::new();
        while text.len() < self.size && !self.done {
            let whole = text.len();
            match self.frame_into(&mut text) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    // the frames read whole before the damage first, then the error
                    self.done = true;
                    text.truncate(whole);
                    if whole == 0 {
                        return Some(Err(e));
                    }
                    self.failed = Some(e);
                    return Some(Ok(Chunk { text, frame, line }));
                }
            }
        }
        (frame < self.frame).then_some(Ok(Chunk { text, frame, line }))
    }
}

/// Hands every frame of the file at `path` (named `file` in errors) to `each`, in order, a
/// piece of about [`CHUNK`] bytes read at a time, keeping the per-atom columns named in `keep`;
/// stops at the first error (a frame that does not parse is named with its line).
pub fn for_each_frame(
    path: &Path,
    file: &str,
    keep: &[String],
    each: &mut dyn FnMut(Frame) -> Result<()>,
) -> Result<()> {
    for chunk in Chunks::open(path, file, CHUNK)? {
        let chunk = chunk?;
        for f in frames::frames_from(&chunk.text, file, keep, chunk.frame, chunk.line) {
            each(f.map_err(|e| Error::invalid(e.to_string()))?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every frame of `text` read in pieces of `size` bytes: (index, line, atoms) each, or the
    /// first error.
    fn read(text: &[u8], size: usize) -> std::result::Result<Vec<(usize, usize, usize)>, String> {
        let mut out = Vec::new();
        for chunk in Chunks::of(Box::new(std::io::Cursor::new(text.to_vec())), "f", size) {
            let chunk = chunk.map_err(|e| e.to_string())?;
            for f in frames::frames_from(&chunk.text, "f", &[], chunk.frame, chunk.line) {
                let f = f.map_err(|e| e.to_string())?;
                out.push((f.index, f.line, f.numbers.len()));
            }
        }
        Ok(out)
    }

    fn whole(text: &[u8]) -> std::result::Result<Vec<(usize, usize, usize)>, String> {
        frames::frames(text, "f", &[])
            .map(|f| {
                f.map(|f| (f.index, f.line, f.numbers.len()))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    #[test]
    fn pieces_number_frames_and_lines_as_the_whole_file_does() {
        let mut text = Vec::new();
        for n in 1..=9 {
            text.extend_from_slice(format!("{n}\nProperties=species:S:1:pos:R:3\n").as_bytes());
            for i in 0..n {
                text.extend_from_slice(format!("H 0 0 {i}\n").as_bytes());
            }
            if n % 3 == 0 {
                text.extend_from_slice(b"\n  \r\n");
            }
        }
        let want = whole(&text).unwrap();
        assert_eq!(want.len(), 9);
        for size in [1, 7, 40, 100, 1 << 20] {
            assert_eq!(read(&text, size).unwrap(), want, "pieces of {size}");
        }
    }

    #[test]
    fn a_damaged_file_is_named_where_the_whole_file_is() {
        let good = b"1\nProperties=species:S:1:pos:R:3\nH 0 0 0\n";
        let cases: [&[u8]; 4] = [
            // truncated in its last frame
            b"2\nProperties=species:S:1:pos:R:3\nH 0 0 0\n",
            // a count larger than the atoms
            b"3\nProperties=species:S:1:pos:R:3\nH 0 0 0\nH 0 0 1\n1\nc\nH 0 0 0\n",
            // a count smaller than the atoms
            b"1\nProperties=species:S:1:pos:R:3\nH 0 0 0\nH 0 0 1\n",
            // no count
            b"x\n",
        ];
        for bad in cases {
            let text = [good.repeat(5), bad.to_vec()].concat();
            let want = whole(&text).unwrap_err();
            for size in [1, 30, 1 << 20] {
                assert_eq!(read(&text, size).unwrap_err(), want, "{size}");
            }
        }
    }

    #[test]
    fn a_truncated_gzip_file_is_named_with_the_line_reached() {
        use std::io::Write;
        let text = b"1\nProperties=species:S:1:pos:R:3\nH 0 0 0\n".repeat(4000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).unwrap();
        let bytes = gz.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.xyz.gz");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let mut frames = 0;
        let e = for_each_frame(&path, "cut.xyz.gz", &[], &mut |_| {
            frames += 1;
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("cut.xyz.gz: not readable after line "), "{e}");
        assert!(frames > 0 && frames < 4000, "{frames}");
    }
}
