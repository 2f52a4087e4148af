//! Reading mlearn as the `alignn` source distribution ships it: per element,
//! `alignn/examples/sample_data_ff/mlearn_data/<element>/id_prop.json` (the structures) and
//! `config.json` (the split), from the `.tar.gz` itself or from an unpacked `mlearn_data` folder.
//!
//! What each field is (established from the data, see docs/datasets.md):
//! * `atoms`: JARVIS atoms, `lattice_mat` rows are the lattice vectors (Angstrom), `coords`
//!   fractional unless `cartesian` is true;
//! * `total_energy`: the total energy **per atom** (eV/atom; mlearn's energy divided by the atom
//!   count in alignn's `generate_mlearn_data.py`): imported as the total energy (eV);
//! * `forces`: eV/Angstrom, one row per atom;
//! * `stresses`: mlearn's `virial_stress`, six components in VASP's order `xx yy zz xy yz zx`,
//!   in kBar with VASP's sign (positive under compression): imported as ASE's stress,
//!   `-value / 1602.1766208` eV/Angstrom^3, as a symmetric 3x3.
//!
//! Checks: in this distribution every validation and test structure carries the stress of a
//! training structure (the generating script zips the test structures with the training
//! stresses); a non-training structure whose six stress values equal a training structure's is
//! imported without a stress, and counted.

use crate::records::{ELEMENTS, Records};
use geobatch_core::{Error, Result, SplitName};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

/// kBar per eV/Angstrom^3.
pub const KBAR_PER_EV_A3: f64 = 1_602.176_620_8;

/// Where the files sit inside the source distribution (after its top folder).
pub const DATA_PATH: &str = "alignn/examples/sample_data_ff/mlearn_data";

/// One entry of an `id_prop.json`.
#[derive(Debug, Deserialize)]
struct Entry {
    jid: String,
    atoms: Atoms,
    total_energy: f64,
    forces: Vec<[f64; 3]>,
    stresses: Vec<f64>,
}

/// JARVIS atoms.
#[derive(Debug, Deserialize)]
struct Atoms {
    lattice_mat: [[f64; 3]; 3],
    coords: Vec<[f64; 3]>,
    elements: Vec<String>,
    cartesian: bool,
}

/// The split of an element's `config.json`.
#[derive(Debug, Deserialize)]
struct SplitConfig {
    n_train: usize,
    n_val: usize,
    n_test: usize,
    keep_data_order: bool,
}

/// The two files of one element, as text.
#[derive(Debug, Default)]
struct ElementFiles {
    id_prop: Option<(String, String)>,
    config: Option<(String, String)>,
}

/// What an import found beyond the structures: dropped stresses and repeated structures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    /// Per element: (structures, stresses dropped as copies, validation structures that are
    /// also test structures).
    pub per_element: Vec<(String, usize, usize, usize)>,
    /// Validation and test structures left out as copies of training structures.
    pub copies: usize,
}

impl Findings {
    /// One line per element, and one for the copies left out.
    pub fn render(&self) -> String {
        let mut lines: Vec<String> = self
            .per_element
            .iter()
            .map(|(e, n, dropped, repeated)| {
                format!(
                    "{e}: {n} structures; {dropped} stresses dropped (copies of training \
                     structures' stresses); {repeated} validation structures are also test \
                     structures"
                )
            })
            .collect();
        if self.copies > 0 {
            lines.push(format!(
                "{} validation/test structures are copies of training structures (same atoms, \
                 positions, cell and energy): left out, so that no test structure is trained on",
                self.copies
            ));
        }
        lines.join("\n")
    }
}

/// Reads mlearn from `source`: the `alignn` `.tar.gz` or a `mlearn_data` folder (one subfolder
/// per element). `limit` keeps the first `limit` structures of each split of each element (for
/// fixtures).
pub fn read(source: &Path, limit: Option<usize>) -> Result<(Records, Findings)> {
    let files = if source.is_dir() {
        from_folder(source)?
    } else {
        from_tarball(source)?
    };
    let mut records = Records::new();
    let mut findings = Findings::default();
    for element in ELEMENTS {
        let f = files.get(element);
        let missing = |what: &str| {
            Error::Source(format!(
                "{}: no {element}/{what} (expected {DATA_PATH}/{element}/{what}, as the alignn \
                 source distribution has it)",
                source.display()
            ))
        };
        let (id_name, id_text) = f
            .and_then(|f| f.id_prop.as_ref())
            .ok_or_else(|| missing("id_prop.json"))?;
        let (cfg_name, cfg_text) = f
            .and_then(|f| f.config.as_ref())
            .ok_or_else(|| missing("config.json"))?;
        let found = add_element(
            &mut records,
            element,
            (id_name, id_text),
            (cfg_name, cfg_text),
            limit,
        )?;
        findings.per_element.push(found);
    }
    // each structure once, as every reader keeps it: a validation or test structure that copies
    // a training one would be tested on what training saw
    let copies = records.copies_of_training();
    findings.copies = copies.iter().filter(|c| **c).count();
    if findings.copies > 0 {
        records = records.without(&copies);
    }
    Ok((records, findings))
}

fn from_folder(dir: &Path) -> Result<HashMap<&'static str, ElementFiles>> {
    let mut out = HashMap::new();
    for element in ELEMENTS {
        let mut f = ElementFiles::default();
        for (name, slot) in [
            ("id_prop.json", &mut f.id_prop),
            ("config.json", &mut f.config),
        ] {
            let path = dir.join(element).join(name);
            if path.is_file() {
                let bytes = geobatch_datafiles::compressed::read(&path)?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| Error::Source(format!("{}: not UTF-8 text", path.display())))?;
                *slot = Some((path.display().to_string(), text));
            }
        }
        out.insert(element, f);
    }
    Ok(out)
}

fn from_tarball(path: &Path) -> Result<HashMap<&'static str, ElementFiles>> {
    let fail = |e: std::io::Error| {
        Error::Source(format!(
            "{}: not a readable .tar.gz ({e}); give the alignn source distribution \
             (alignn-*.tar.gz) or its unpacked {DATA_PATH} folder",
            path.display()
        ))
    };
    // gzip is undone by the reader of every compressed data file
    let mut archive = tar::Archive::new(geobatch_datafiles::compressed::open(path)?);
    let mut out: HashMap<&'static str, ElementFiles> = HashMap::new();
    for entry in archive.entries().map_err(fail)? {
        let mut entry = entry.map_err(fail)?;
        let name = entry.path().map_err(fail)?.to_string_lossy().into_owned();
        let Some(rest) = name
            .split_once(DATA_PATH)
            .map(|(_, r)| r.trim_start_matches('/'))
        else {
            continue;
        };
        let Some((element, file)) = rest.split_once('/') else {
            continue;
        };
        let Some(element) = ELEMENTS.iter().find(|e| **e == element) else {
            continue;
        };
        if file != "id_prop.json" && file != "config.json" {
            continue;
        }
        let mut text = String::new();
        entry.read_to_string(&mut text).map_err(fail)?;
        let slot = out.entry(element).or_default();
        let place = format!("{}: {name}", path.display());
        if file == "id_prop.json" {
            slot.id_prop = Some((place, text));
        } else {
            slot.config = Some((place, text));
        }
    }
    Ok(out)
}

/// The split of each entry in data order.
fn splits_of(cfg: &SplitConfig, entries: usize, name: &str) -> Result<Vec<SplitName>> {
    if !cfg.keep_data_order {
        return Err(Error::Source(format!(
            "{name}: keep_data_order is false, so the split is not the data's order (this \
             importer reads alignn's mlearn files, whose split is)"
        )));
    }
    if cfg.n_train + cfg.n_val + cfg.n_test != entries {
        return Err(Error::Source(format!(
            "{name}: n_train + n_val + n_test = {} + {} + {} but id_prop.json has {entries} \
             structures",
            cfg.n_train, cfg.n_val, cfg.n_test
        )));
    }
    let mut s = vec![SplitName::Train; cfg.n_train];
    s.extend(std::iter::repeat_n(SplitName::Validation, cfg.n_val));
    s.extend(std::iter::repeat_n(SplitName::Test, cfg.n_test));
    Ok(s)
}

/// What a JSON syntax error `e` of `text` is when it stands at a number that is not finite
/// (`NaN`, `Infinity`: Python's `json.dump` writes them, JSON has none): the structure (its place
/// in the file's list) and the line and column.
fn non_finite(text: &str, e: &serde_json::Error) -> Option<String> {
    if !e.is_syntax() {
        return None;
    }
    let line_start: usize = text
        .split_inclusive('\n')
        .take(e.line().saturating_sub(1))
        .map(str::len)
        .sum();
    let at = (line_start + e.column().saturating_sub(1)).min(text.len());
    // the error stands at the token or just after its first character
    let from = text[..at]
        .char_indices()
        .rev()
        .take(2)
        .last()
        .map_or(at, |(i, _)| i);
    let token = ["-Infinity", "Infinity", "-NaN", "NaN"]
        .into_iter()
        .find(|t| {
            text[from..]
                .trim_start_matches(['[', ',', ' '])
                .starts_with(t)
        })?;
    // the structure: objects opened at depth 1 of the top-level list before the token
    let (mut depth, mut structures, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for c in text[..from].chars() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (true, ..) => {}
            (false, _, '"') => in_string = true,
            (false, _, '[' | '{') => {
                depth += 1;
                if depth == 2 && c == '{' {
                    structures += 1;
                }
            }
            (false, _, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Some(format!(
        "structure {} (line {}, column {}): {token} where a number belongs: mlearn's energies, \
         forces, stresses and coordinates are finite numbers",
        structures.saturating_sub(1),
        e.line(),
        e.column()
    ))
}

/// The six values' bits: a stress copied from another structure has exactly these.
fn stress_key(s: &[f64]) -> Vec<u64> {
    s.iter().map(|x| x.to_bits()).collect()
}

/// ASE's 3x3 stress (eV/Angstrom^3) of mlearn's six values (VASP's order and sign, kBar).
pub fn ase_stress(v: &[f64; 6]) -> [f64; 9] {
    let [xx, yy, zz, xy, yz, zx] = v.map(|x| -x / KBAR_PER_EV_A3);
    [xx, xy, zx, xy, yy, yz, zx, yz, zz]
}

/// Appends one element's structures; returns what was found.
fn add_element(
    r: &mut Records,
    element: &str,
    (id_name, id_text): (&String, &String),
    (cfg_name, cfg_text): (&String, &String),
    limit: Option<usize>,
) -> Result<(String, usize, usize, usize)> {
    let entries: Vec<Entry> = serde_json::from_str(id_text).map_err(|e| {
        Error::Source(match non_finite(id_text, &e) {
            Some(m) => format!("{id_name}: {m}"),
            None => format!("{id_name}: not mlearn's id_prop.json ({e})"),
        })
    })?;
    let cfg: SplitConfig = serde_json::from_str(cfg_text)
        .map_err(|e| Error::Source(format!("{cfg_name}: not alignn's config.json ({e})")))?;
    let splits = splits_of(&cfg, entries.len(), cfg_name)?;
    let training: HashSet<Vec<u64>> = entries
        .iter()
        .zip(&splits)
        .filter(|(_, s)| **s == SplitName::Train)
        .map(|(e, _)| stress_key(&e.stresses))
        .collect();
    let key = |e: &Entry| -> Vec<u64> {
        let mut k: Vec<u64> = e
            .atoms
            .coords
            .iter()
            .flatten()
            .map(|x| x.to_bits())
            .collect();
        k.push(e.total_energy.to_bits());
        k
    };
    let test: HashSet<Vec<u64>> = entries
        .iter()
        .zip(&splits)
        .filter(|(_, s)| **s == SplitName::Test)
        .map(|(e, _)| key(e))
        .collect();
    let repeated = entries
        .iter()
        .zip(&splits)
        .filter(|(e, s)| **s == SplitName::Validation && test.contains(&key(e)))
        .count();
    let (mut kept, mut dropped) = (0, 0);
    let mut taken = [0usize; 3];
    for (i, (e, &split)) in entries.iter().zip(&splits).enumerate() {
        if limit.is_some_and(|l| taken[split as usize] >= l) {
            continue;
        }
        taken[split as usize] += 1;
        let at =
            |m: String| Error::Source(format!("{id_name}: structure {i} (jid {}): {m}", e.jid));
        let copied = split != SplitName::Train && training.contains(&stress_key(&e.stresses));
        push(r, element, i, e, split, copied).map_err(at)?;
        kept += 1;
        dropped += usize::from(copied);
    }
    Ok((element.to_string(), kept, dropped, repeated))
}

/// Appends one structure, converted; `copied`: its stress is dropped.
fn push(
    r: &mut Records,
    element: &str,
    index: usize,
    e: &Entry,
    split: SplitName,
    copied: bool,
) -> std::result::Result<(), String> {
    let n = e.atoms.elements.len();
    if n == 0 || e.atoms.coords.len() != n || e.forces.len() != n {
        return Err(format!(
            "{n} elements, {} coordinates and {} force rows",
            e.atoms.coords.len(),
            e.forces.len()
        ));
    }
    let stress: [f64; 6] = e
        .stresses
        .as_slice()
        .try_into()
        .map_err(|_| format!("{} stress values, not 6", e.stresses.len()))?;
    let finite = |x: &f64| x.is_finite();
    if !(e.total_energy.is_finite()
        && e.forces.iter().flatten().all(finite)
        && stress.iter().all(finite)
        && e.atoms.coords.iter().flatten().all(finite)
        && e.atoms.lattice_mat.iter().flatten().all(finite))
    {
        return Err("a value is not a finite number".into());
    }
    let l = e.atoms.lattice_mat;
    for (symbol, c) in e.atoms.elements.iter().zip(&e.atoms.coords) {
        let z = geobatch_geometry::elements::atomic_number(symbol)
            .ok_or_else(|| format!("{symbol:?} is not an element"))?;
        r.numbers.push(z);
        let p = if e.atoms.cartesian {
            *c
        } else {
            std::array::from_fn(|k| c[0] * l[0][k] + c[1] * l[1][k] + c[2] * l[2][k])
        };
        r.positions.push(p);
    }
    r.forces.extend_from_slice(&e.forces);
    r.atom_offsets.push(r.numbers.len() as u32);
    r.element.push(element.to_string());
    r.index.push(index as u32);
    r.id.push(format!("{element}-{}", e.jid));
    r.split.push(split);
    r.lattice.push(std::array::from_fn(|k| l[k / 3][k % 3]));
    r.energy.push(e.total_energy * n as f64);
    r.stress.push((!copied).then(|| ase_stress(&stress)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stresses_turn_into_ases_convention() {
        // VASP's xx yy zz xy yz zx in kBar, positive under compression
        let s = ase_stress(&[1602.1766208, 0.0, -3204.3532416, 0.0, 0.0, 1602.1766208]);
        assert_eq!(s[0], -1.0);
        assert_eq!(s[8], 2.0);
        assert_eq!((s[2], s[6]), (-1.0, -1.0), "zx sits at (0, 2) and (2, 0)");
        assert_eq!(s[1], 0.0);
    }

    #[test]
    fn a_split_that_does_not_add_up_is_refused() {
        let cfg = SplitConfig {
            n_train: 3,
            n_val: 1,
            n_test: 1,
            keep_data_order: true,
        };
        assert_eq!(splits_of(&cfg, 5, "c").unwrap()[3], SplitName::Validation);
        let e = splits_of(&cfg, 6, "c").unwrap_err().to_string();
        assert!(e.contains("6 structures"), "{e}");
    }
}
