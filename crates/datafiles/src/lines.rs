//! Line numbers for byte offsets of a text read as a stream: the `csv` crate's
//! `Position::line` miscounts after blank lines and with CRLF endings (rust-csv issues 208 and
//! 395), so importers wrap their input in a [`LineIndex`] and ask it for the line of a record's
//! byte offset, which the reader reports correctly.

use std::io::Read;

/// A reader that remembers where every non-empty line starts, so that the byte offset of a
/// record (which may point at the line break before it) maps to the 1-based line it is on.
#[derive(Debug)]
pub struct LineIndex<R> {
    inner: R,
    /// `(offset, line)` of every line that starts with something other than a line break.
    starts: Vec<(u64, u64)>,
    offset: u64,
    line: u64,
    at_line_start: bool,
}

impl<R: Read> LineIndex<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            starts: Vec::new(),
            offset: 0,
            line: 1,
            at_line_start: true,
        }
    }

    /// The 1-based line of the first content at or after byte `offset` (line breaks and blank
    /// lines skipped): the line a record starting at `offset` is on. Offsets not read yet give
    /// the last line seen. Asked in increasing order (records as they are read), it forgets the
    /// lines before `offset`, so it holds only the lines of the reader's buffer.
    pub fn line_at(&mut self, offset: u64) -> u64 {
        let i = self.starts.partition_point(|&(o, _)| o < offset);
        self.starts.drain(..i);
        match self.starts.first() {
            Some(&(_, line)) => line,
            None => self.line,
        }
    }
}

impl<R: Read> Read for LineIndex<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            match b {
                b'\n' => {
                    self.line += 1;
                    self.at_line_start = true;
                }
                b'\r' => {}
                _ if self.at_line_start => {
                    self.starts.push((self.offset, self.line));
                    self.at_line_start = false;
                }
                _ => {}
            }
            self.offset += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line of every record as the csv crate reports its byte offset.
    fn lines_of(text: &str) -> Vec<(u64, String)> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(LineIndex::new(text.as_bytes()));
        let mut out = Vec::new();
        let mut rec = csv::StringRecord::new();
        while r.read_record(&mut rec).unwrap() {
            let line = r.get_mut().line_at(rec.position().unwrap().byte());
            out.push((line, rec[0].to_string()));
        }
        out
    }

    #[test]
    fn records_are_on_their_lines_after_blank_lines_crlf_and_multiline_fields() {
        let want = |v: &[(u64, &str)]| -> Vec<(u64, String)> {
            v.iter().map(|(l, s)| (*l, s.to_string())).collect()
        };
        assert_eq!(lines_of("h,x\na,1\nb,2\n"), want(&[(2, "a"), (3, "b")]));
        assert_eq!(lines_of("h,x\na,1\n\nb,2\n"), want(&[(2, "a"), (4, "b")]));
        assert_eq!(
            lines_of("h,x\r\na,1\r\nb,2\r\n"),
            want(&[(2, "a"), (3, "b")])
        );
        assert_eq!(
            lines_of("h,x\na,\"one\ntwo\nthree\"\nb,2\n"),
            want(&[(2, "a"), (5, "b")])
        );
    }
}
