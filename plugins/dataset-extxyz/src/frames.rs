//! Frames of an extended XYZ text: the atom count, the comment line (`key=value` pairs with
//! `Lattice`, `pbc` and `Properties`) and one line per atom, read from bytes without copying
//! lines. `species` (or `Z`) and `pos` are always read; other per-atom columns are kept when
//! named, otherwise stepped over without being parsed.

use crate::comment::{self, Value};
use crate::properties::{self, Kind, Property};
use geobatch_geometry::elements::SYMBOLS;
use std::sync::OnceLock;

/// Why a frame could not be read: the file, the frame (0-based, as ASE indexes them) and the
/// line (1-based).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: frame {frame} (line {line}): {message}")]
pub struct ParseError {
    /// The file as named to the reader.
    pub file: String,
    /// The frame's index in its file, from 0.
    pub frame: usize,
    /// The line, from 1.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The values of a kept per-atom column, atom-major (`width` values per atom).
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// `R` values.
    Real(Vec<f64>),
    /// `I` values.
    Int(Vec<i64>),
    /// `L` values.
    Logical(Vec<bool>),
    /// `S` values.
    Str(Vec<String>),
}

/// A per-atom column kept from a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Its name in `Properties`.
    pub name: String,
    /// Values per atom.
    pub width: usize,
    /// The values.
    pub data: ColumnData,
}

/// One frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Index of the frame in its file, from 0.
    pub index: usize,
    /// Line of its atom count, from 1.
    pub line: usize,
    /// Atomic number of every atom.
    pub numbers: Vec<u8>,
    /// Cartesian positions (Angstrom).
    pub positions: Vec<[f64; 3]>,
    /// Lattice vectors as rows (`Lattice`), when given.
    pub lattice: Option<[[f64; 3]; 3]>,
    /// Periodicity along each lattice vector (`pbc`; all true when only `Lattice` is given).
    pub pbc: [bool; 3],
    /// The other pairs of the comment line, in order.
    pub info: Vec<(String, Value)>,
    /// The kept per-atom columns, in the file's order.
    pub columns: Vec<Column>,
}

impl Frame {
    /// A comment-line value by key.
    pub fn info(&self, key: &str) -> Option<&Value> {
        self.info.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A kept per-atom column by name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// What an atom line says of the atom: its atomic number (`Z`), the atomic number of its
/// species, and its position.
#[derive(Default)]
struct Atom {
    z: u8,
    species: u8,
    pos: [f64; 3],
}

/// What a property's fields become.
#[derive(Debug, Clone, Copy)]
enum Role {
    Species,
    Z,
    Pos,
    Keep(usize),
    Skip,
}

/// Atomic numbers by the first two bytes of a capitalised symbol (`[first][second or 0]`).
fn symbol_table() -> &'static [[u8; 128]; 128] {
    static TABLE: OnceLock<Box<[[u8; 128]; 128]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Box::new([[0u8; 128]; 128]);
        for (i, s) in SYMBOLS.iter().enumerate() {
            let b = s.as_bytes();
            let second = b.get(1).copied().unwrap_or(0);
            t[b[0] as usize][second as usize] = i as u8 + 1;
        }
        t
    })
}

/// The atomic number of a chemical symbol, capitalised as ASE does (`CL` and `cl` are `Cl`).
pub fn atomic_number(symbol: &[u8]) -> Option<u8> {
    let (first, second) = match symbol {
        [a] => (a.to_ascii_uppercase(), 0),
        [a, b] => (a.to_ascii_uppercase(), b.to_ascii_lowercase()),
        _ => return None,
    };
    if !first.is_ascii_alphabetic() || (second != 0 && !second.is_ascii_alphabetic()) {
        return None;
    }
    Some(symbol_table()[first as usize][second as usize]).filter(|&z| z > 0)
}

fn real(field: &[u8]) -> Option<f64> {
    std::str::from_utf8(field).ok()?.parse().ok()
}

fn int(field: &[u8]) -> Option<i64> {
    std::str::from_utf8(field).ok()?.parse().ok()
}

fn logical(field: &[u8]) -> Option<bool> {
    match field {
        b"T" | b"True" => Some(true),
        b"F" | b"False" => Some(false),
        _ => None,
    }
}

/// Reads the frames of a text one by one; stops after the first error.
#[derive(Debug)]
pub struct Frames<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
    frame: usize,
    file: &'a str,
    keep: &'a [String],
    done: bool,
    /// Whether the frame being read has no `Properties` (ASE's default is assumed): then an atom
    /// line with more fields than the default's is refused, since its columns cannot be told
    /// apart (`C 6 x y z` would give the position (6, x, y)).
    assumed: bool,
}

/// The frames of `text` (an extended XYZ file's bytes) named `file` in errors, keeping the
/// per-atom columns named in `keep` (those a frame has) besides the species and positions.
pub fn frames<'a>(text: &'a [u8], file: &'a str, keep: &'a [String]) -> Frames<'a> {
    frames_from(text, file, keep, 0, 0)
}

/// [`frames`] of a piece of a file that starts after `frame` frames and `line` lines (a
/// [`crate::chunks::Chunk`]): frames and lines are numbered as in the whole file.
pub fn frames_from<'a>(
    text: &'a [u8],
    file: &'a str,
    keep: &'a [String],
    frame: usize,
    line: usize,
) -> Frames<'a> {
    Frames {
        text,
        at: 0,
        line,
        frame,
        file,
        keep,
        done: false,
        assumed: false,
    }
}

/// Three lattice vectors as rows.
type Lattice = [[f64; 3]; 3];

impl<'a> Frames<'a> {
    /// The next line without its end (`\n` or `\r\n`), counting lines.
    fn next_line(&mut self) -> Option<&'a [u8]> {
        if self.at >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.at..];
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        self.at += (end + 1).min(rest.len());
        self.line += 1;
        let l = &rest[..end];
        Some(l.strip_suffix(b"\r").unwrap_or(l))
    }

    fn error(&self, line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            file: self.file.to_string(),
            frame: self.frame,
            line,
            message: message.into(),
        }
    }

    fn read_frame(&mut self, count_line: &[u8]) -> Result<Frame, ParseError> {
        let start = self.line;
        let count = std::str::from_utf8(count_line)
            .ok()
            .map(str::trim)
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or_else(|| {
                self.error(
                    start,
                    format!(
                        "expected the number of atoms, found {:?}",
                        String::from_utf8_lossy(&count_line[..count_line.len().min(80)])
                    ),
                )
            })?;
        let comment = self
            .next_line()
            .ok_or_else(|| self.error(start, "the file ends before the comment line"))?;
        let comment_no = self.line;
        let comment = std::str::from_utf8(comment)
            .map_err(|_| self.error(comment_no, "the comment line is not UTF-8 text"))?;
        let mut info =
            comment::parse(comment).map_err(|m| self.error(comment_no, format!("comment: {m}")))?;
        let take = |info: &mut Vec<(String, Value)>, key: &str| {
            info.iter()
                .position(|(k, _)| k == key)
                .map(|i| info.remove(i).1)
        };
        let properties = take(&mut info, "Properties");
        self.assumed = properties.is_none();
        let spec = match properties {
            None => properties::DEFAULT.to_string(),
            Some(Value::Str(s)) => s,
            Some(v) => {
                return Err(self.error(
                    comment_no,
                    format!("Properties is {}, not a column spec", v.kind()),
                ));
            }
        };
        let props = properties::parse(&spec).map_err(|m| self.error(comment_no, m))?;
        let (lattice, pbc) = self.cell(&mut info, comment_no)?;
        let (roles, mut columns, fields) = self.roles(&props, comment_no)?;
        let (numbers, positions) = self.atoms(count, &props, &roles, &mut columns, fields)?;
        Ok(Frame {
            index: self.frame,
            line: start,
            numbers,
            positions,
            lattice,
            pbc,
            info,
            columns,
        })
    }

    /// The frame's `Lattice` and `pbc`, taken out of its comment-line pairs.
    fn cell(
        &self,
        info: &mut Vec<(String, Value)>,
        comment_no: usize,
    ) -> Result<(Option<Lattice>, [bool; 3]), ParseError> {
        let take = |info: &mut Vec<(String, Value)>, key: &str| {
            info.iter()
                .position(|(k, _)| k == key)
                .map(|i| info.remove(i).1)
        };
        let lattice = match take(info, "Lattice") {
            None => None,
            Some(v) => match v.numbers() {
                Some(x) if x.len() == 9 => {
                    Some([[x[0], x[1], x[2]], [x[3], x[4], x[5]], [x[6], x[7], x[8]]])
                }
                _ => {
                    return Err(self.error(
                        comment_no,
                        format!(
                            "Lattice must be 9 numbers (three lattice vectors), got {} {:?}",
                            v.kind(),
                            v.text()
                        ),
                    ));
                }
            },
        };
        let pbc = match take(info, "pbc") {
            None => [lattice.is_some(); 3],
            Some(Value::Bool(b)) => [b; 3],
            Some(Value::Bools(v)) if v.len() == 3 => [v[0], v[1], v[2]],
            Some(Value::Ints(v)) if v.len() == 3 && v.iter().all(|&i| i == 0 || i == 1) => {
                [v[0] == 1, v[1] == 1, v[2] == 1]
            }
            Some(v) => {
                return Err(self.error(
                    comment_no,
                    format!(
                        "pbc must be three booleans such as \"T T F\", got {} {:?}",
                        v.kind(),
                        v.text()
                    ),
                ));
            }
        };
        if lattice.is_none() && pbc.iter().any(|&p| p) {
            return Err(self.error(
                comment_no,
                "pbc says the frame is periodic but it has no Lattice",
            ));
        }
        Ok((lattice, pbc))
    }

    /// Refuses an atom line that is one whole number (when atom lines have more fields): the
    /// next frame's count line, so the frame's `count` is larger than the `read` atoms it holds
    /// (rather than naming the number a bad chemical symbol).
    fn not_a_count_line(
        &self,
        l: &[u8],
        no: usize,
        count: usize,
        read: usize,
        fields: usize,
    ) -> Result<(), ParseError> {
        let mut tokens = l
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty());
        match (tokens.next(), tokens.next()) {
            (Some(only), None) if fields > 1 && only.iter().all(u8::is_ascii_digit) => Err(self
                .error(
                    no,
                    format!(
                        "the frame says it has {count} atoms but holds {read}: this line ({:?}) \
                         reads as the next frame's atom count",
                        String::from_utf8_lossy(&only[..only.len().min(20)])
                    ),
                )),
            _ => Ok(()),
        }
    }

    /// The frame's `count` atom lines: atomic numbers and positions, the kept columns filled.
    fn atoms(
        &mut self,
        count: usize,
        props: &[Property],
        roles: &[Role],
        columns: &mut [Column],
        fields: usize,
    ) -> Result<(Vec<u8>, Vec<[f64; 3]>), ParseError> {
        // no allocation by a count the file may not hold: at least two bytes an atom line
        let room = (self.text.len() - self.at) / 2;
        let mut numbers = Vec::with_capacity(count.min(room));
        let mut positions = Vec::with_capacity(count.min(room));
        for _ in 0..count {
            let Some(l) = self.next_line() else {
                return Err(self.error(
                    self.line,
                    format!(
                        "the file ends after {} of the frame's {count} atoms",
                        numbers.len()
                    ),
                ));
            };
            let no = self.line;
            let mut it = l
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty());
            self.not_a_count_line(l, no, count, numbers.len(), fields)?;
            let mut atom = Atom::default();
            for (p, role) in props.iter().zip(roles) {
                for c in 0..p.width {
                    let Some(f) = it.next() else {
                        let have = fields_of(l);
                        return Err(self.error(
                            no,
                            format!(
                                "{have} fields where Properties asks for {fields} ({} column {})",
                                p.name,
                                c + 1
                            ),
                        ));
                    };
                    self.field(f, *role, (p, c), no, &mut atom, columns)?;
                }
            }
            if self.assumed && it.next().is_some() {
                let have = fields_of(l);
                return Err(self.error(
                    no,
                    format!(
                        "{have} fields, but the comment line has no Properties=, so this frame \
                         is read as {} ({fields} fields: symbol x y z) and its columns cannot be \
                         told apart; name them on the comment line, e.g. \
                         Properties=species:S:1:Z:I:1:pos:R:3",
                        properties::DEFAULT
                    ),
                ));
            }
            // `Z` wins over `species` when both are given, as in ASE
            numbers.push(if atom.z > 0 { atom.z } else { atom.species });
            positions.push(atom.pos);
        }
        Ok((numbers, positions))
    }

    /// Field `c` of property `p` on line `no`, read by its role into `atom` or a kept column.
    #[inline]
    fn field(
        &self,
        f: &[u8],
        role: Role,
        (p, c): (&Property, usize),
        no: usize,
        atom: &mut Atom,
        columns: &mut [Column],
    ) -> Result<(), ParseError> {
        let bad = |what: &str| {
            self.error(
                no,
                format!(
                    "{}: {:?} is not {what}",
                    p.name,
                    String::from_utf8_lossy(&f[..f.len().min(40)])
                ),
            )
        };
        match role {
            Role::Skip => {}
            Role::Pos => {
                // width 3, checked in `roles`
                if let Some(slot) = atom.pos.get_mut(c) {
                    *slot = real(f).ok_or_else(|| bad("a real number"))?;
                }
            }
            Role::Species => {
                atom.species = atomic_number(f).ok_or_else(|| bad("a chemical symbol"))?;
            }
            Role::Z => {
                atom.z = int(f)
                    .filter(|z| (1..=118).contains(z))
                    .ok_or_else(|| bad("an atomic number (1 to 118)"))?
                    as u8;
            }
            Role::Keep(k) => match &mut columns[k].data {
                ColumnData::Real(v) => v.push(real(f).ok_or_else(|| bad("a real"))?),
                ColumnData::Int(v) => {
                    v.push(int(f).ok_or_else(|| bad("an integer"))?);
                }
                ColumnData::Logical(v) => {
                    v.push(logical(f).ok_or_else(|| bad("T or F"))?);
                }
                ColumnData::Str(v) => v.push(String::from_utf8_lossy(f).into_owned()),
            },
        }
        Ok(())
    }

    /// The role of every property, the kept columns (empty) and the number of fields a line
    /// must have.
    fn roles(
        &self,
        props: &[Property],
        line: usize,
    ) -> Result<(Vec<Role>, Vec<Column>, usize), ParseError> {
        let mut roles = Vec::with_capacity(props.len());
        let mut columns = Vec::new();
        let has_z = props.iter().any(|p| p.name == "Z");
        let need = |p: &Property, kind: Kind, width: usize, what: &str| {
            if p.kind == kind && p.width == width {
                Ok(())
            } else {
                Err(self.error(
                    line,
                    format!(
                        "Properties: {} must be {what}, got {:?}:{}",
                        p.name, p.kind, p.width
                    ),
                ))
            }
        };
        for p in props {
            let role = match p.name.as_str() {
                "pos" => {
                    need(p, Kind::Real, 3, "R:3")?;
                    Role::Pos
                }
                "Z" => {
                    need(p, Kind::Int, 1, "I:1")?;
                    Role::Z
                }
                "species" if !has_z => {
                    need(p, Kind::Str, 1, "S:1")?;
                    Role::Species
                }
                name if self.keep.iter().any(|k| k == name) => {
                    columns.push(Column {
                        name: name.to_string(),
                        width: p.width,
                        data: match p.kind {
                            Kind::Real => ColumnData::Real(Vec::new()),
                            Kind::Int => ColumnData::Int(Vec::new()),
                            Kind::Logical => ColumnData::Logical(Vec::new()),
                            Kind::Str => ColumnData::Str(Vec::new()),
                        },
                    });
                    Role::Keep(columns.len() - 1)
                }
                _ => Role::Skip,
            };
            roles.push(role);
        }
        if !props.iter().any(|p| p.name == "pos") {
            return Err(self.error(line, "Properties has no pos column"));
        }
        if !props.iter().any(|p| p.name == "species" || p.name == "Z") {
            return Err(self.error(line, "Properties has neither species nor Z"));
        }
        Ok((roles, columns, props.iter().map(|p| p.width).sum()))
    }
}

impl Iterator for Frames<'_> {
    type Item = Result<Frame, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // blank lines between frames and at the end are passed over
        let count_line = loop {
            match self.next_line() {
                None => {
                    self.done = true;
                    return None;
                }
                Some(l) if l.iter().all(u8::is_ascii_whitespace) => continue,
                Some(l) => break l,
            }
        };
        let r = self.read_frame(count_line);
        if r.is_err() {
            self.done = true;
        }
        self.frame += 1;
        Some(r)
    }
}

/// The number of whitespace-separated fields of the line `l`.
fn fields_of(l: &[u8]) -> usize {
    l.split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .count()
}

#[cfg(test)]
mod tests;
