//! One AFLOW record (an `aflowlib.json` entry or an AFLUX answer item) read into a crystal and
//! its numeric properties. Values may be typed JSON or, in legacy AFLUX answers, strings
//! (`"4.1084"`, `"8.2,8.2,4.7,90,90,120"`, `"0,0,0;0.5,0.5,0.5"`).

use geobatch_geometry::Crystal;
use geobatch_geometry::elements::atomic_number;
use serde_json::{Map, Value};

/// A record read from an AFLOW export.
#[derive(Debug, Clone)]
pub struct AflowRecord {
    /// Where it was read (file and line or entry), for messages.
    pub origin: String,
    /// The fields as given.
    pub fields: Map<String, Value>,
}

/// Aliases of the study's target names.
pub fn field_name(target: &str) -> &str {
    match target {
        "Ef" => "enthalpy_formation_atom",
        t => t,
    }
}

/// Unit of a property, as AFLOW documents it (empty when unknown).
pub fn unit(field: &str) -> &'static str {
    match field {
        "enthalpy_formation_atom" | "energy_atom" | "enthalpy_atom" => "eV/atom",
        "Egap" | "Egap_fit" => "eV",
        "density" => "g/cm^3",
        "energy_cutoff" => "eV",
        "volume_atom" => "Angstrom^3/atom",
        _ => "",
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A list of numbers: a JSON array or a comma-separated string.
fn numbers(v: &Value) -> Option<Vec<f64>> {
    match v {
        Value::Array(a) => a.iter().map(number).collect(),
        Value::String(s) => s.split(',').map(|x| x.trim().parse().ok()).collect(),
        _ => None,
    }
}

/// A list of strings: a JSON array or a comma-separated string.
fn strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(|s| s.trim().to_string()))
            .collect(),
        Value::String(s) => Some(s.split(',').map(|x| x.trim().to_string()).collect()),
        _ => None,
    }
}

/// Rows of three numbers: a JSON array of arrays or `"x,y,z;x,y,z"`.
fn triples(v: &Value) -> Option<Vec<[f64; 3]>> {
    let rows: Vec<Vec<f64>> = match v {
        Value::Array(a) => a.iter().map(numbers).collect::<Option<_>>()?,
        Value::String(s) => s
            .split(';')
            .filter(|r| !r.trim().is_empty())
            .map(|r| numbers(&Value::String(r.to_string())))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    rows.into_iter()
        .map(|r| <[f64; 3]>::try_from(r).ok())
        .collect()
}

/// Expands a formula such as `Ac2Br6` or `Cr1O3Ru1` into (symbol, count) pairs.
pub fn parse_formula(f: &str) -> Option<Vec<(String, usize)>> {
    let mut out = Vec::new();
    let mut chars = f.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if !c.is_ascii_uppercase() {
            return None;
        }
        let mut sym = c.to_string();
        while let Some(&l) = chars.peek().filter(|l| l.is_ascii_lowercase()) {
            sym.push(l);
            chars.next();
        }
        let mut count = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit() || **d == '.') {
            count.push(d);
            chars.next();
        }
        let n = if count.is_empty() {
            1
        } else {
            let x: f64 = count.parse().ok()?;
            if x.fract() != 0.0 || x < 1.0 {
                return None;
            }
            x as usize
        };
        out.push((sym, n));
    }
    (!out.is_empty()).then_some(out)
}

impl AflowRecord {
    /// A field's value, `None` when missing or null.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key).filter(|v| !v.is_null())
    }

    /// The record's id: `auid`, else `aurl`, else where it was read.
    pub fn id(&self) -> String {
        ["auid", "aurl"]
            .iter()
            .find_map(|k| self.get(k).and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| self.origin.clone())
    }

    /// The key duplicates are dropped by (`aurl` as the study does, else `auid`).
    pub fn dedup_key(&self) -> Option<String> {
        ["aurl", "auid"]
            .iter()
            .find_map(|k| self.get(k).and_then(Value::as_str).map(str::to_string))
    }

    /// A numeric property: `None` when absent (no key, null or an empty string), an error naming
    /// the record when the value is there but not a finite number.
    pub fn property(&self, field: &str) -> Result<Option<f64>, String> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(v) => match number(v) {
                Some(x) if x.is_finite() => Ok(Some(x)),
                _ => Err(format!(
                    "record {} ({}): {field} is {v}, not a finite number",
                    self.id(),
                    self.origin
                )),
            },
        }
    }

    /// The DFT types (`dft_type`), empty when missing.
    pub fn dft_types(&self) -> Vec<String> {
        self.get("dft_type").and_then(strings).unwrap_or_default()
    }

    fn missing(&self, field: &str) -> String {
        format!("record {} ({}): no {field}", self.id(), self.origin)
    }

    /// Atomic numbers of the atoms in the order the positions list them: `species` with
    /// `composition` counts (species by species), else the `compound` formula expanded.
    fn atomic_numbers(&self, positions: usize) -> Result<Vec<u8>, String> {
        let bad = |m: String| format!("record {} ({}): {m}", self.id(), self.origin);
        let pairs: Vec<(String, usize)> = match (self.get("species"), self.get("composition")) {
            (Some(s), Some(c)) => {
                let s = strings(s)
                    .ok_or_else(|| bad(format!("species {s} is not a list of symbols")))?;
                let c = numbers(c)
                    .ok_or_else(|| bad(format!("composition {c} is not a list of counts")))?;
                if s.len() != c.len() {
                    return Err(bad(format!(
                        "{} species but {} composition counts",
                        s.len(),
                        c.len()
                    )));
                }
                let counts = c
                    .iter()
                    .map(|&x| {
                        (x.fract() == 0.0 && x >= 1.0)
                            .then_some(x as usize)
                            .ok_or_else(|| {
                                bad(format!("composition count {x} is not a positive integer"))
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                s.into_iter().zip(counts).collect()
            }
            _ => {
                let f = self
                    .get("compound")
                    .ok_or_else(|| self.missing("species/composition or compound"))?;
                let text = f.as_str().unwrap_or_default();
                parse_formula(text).ok_or_else(|| bad(format!("compound {f} is not a formula")))?
            }
        };
        // the counts are checked against the positions before any list is sized by them
        let atoms = pairs
            .iter()
            .try_fold(0usize, |sum, (_, n)| sum.checked_add(*n));
        if atoms != Some(positions) {
            return Err(bad(format!(
                "the species counts make {} atoms but positions_fractional lists {positions}",
                atoms.map_or_else(|| "more than 2^64".to_string(), |a| a.to_string())
            )));
        }
        let mut out = Vec::with_capacity(positions);
        for (sym, n) in pairs {
            let z = atomic_number(&sym).ok_or_else(|| bad(format!("{sym:?} is not an element")))?;
            out.extend(std::iter::repeat_n(z, n));
        }
        Ok(out)
    }

    /// The crystal: `geometry` (a, b, c, alpha, beta, gamma), `positions_fractional` and the
    /// species. Any problem is a message naming the record.
    pub fn crystal(&self) -> Result<Crystal, String> {
        let bad = |m: String| format!("record {} ({}): {m}", self.id(), self.origin);
        let g = self
            .get("geometry")
            .ok_or_else(|| self.missing("geometry"))?;
        let g = numbers(g)
            .and_then(|v| <[f64; 6]>::try_from(v).ok())
            .ok_or_else(|| {
                bad(format!(
                    "geometry {g} is not six numbers (a, b, c, alpha, beta, gamma)"
                ))
            })?;
        let p = self
            .get("positions_fractional")
            .ok_or_else(|| self.missing("positions_fractional"))?;
        let fractional = triples(p)
            .ok_or_else(|| bad("positions_fractional is not a list of (x, y, z)".into()))?;
        let atomic_numbers = self.atomic_numbers(fractional.len())?;
        let c = Crystal {
            id: self.id(),
            atomic_numbers,
            fractional,
            parameters: g,
        };
        c.geometry().map_err(bad)?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> AflowRecord {
        AflowRecord {
            origin: "test".into(),
            fields: v.as_object().cloned().unwrap(),
        }
    }

    #[test]
    fn typed_and_string_values_read_the_same() {
        let typed = rec(json!({
            "auid": "aflow:1", "species": ["Ac", "Br"], "composition": [1, 3],
            "geometry": [5.0, 5.0, 4.0, 90, 90, 120],
            "positions_fractional": [[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0.5, 0.5, 0.5]],
            "Egap": 4.1, "enthalpy_formation_atom": -2.1, "dft_type": ["PAW_PBE"]
        }));
        let strings = rec(json!({
            "auid": "aflow:1", "compound": "Ac1Br3",
            "geometry": "5.0,5.0,4.0,90,90,120",
            "positions_fractional": "0,0,0;0.5,0,0;0,0.5,0;0.5,0.5,0.5",
            "Egap": "4.1", "enthalpy_formation_atom": "-2.1", "dft_type": "PAW_PBE"
        }));
        for r in [&typed, &strings] {
            let c = r.crystal().unwrap();
            assert_eq!(c.atomic_numbers, vec![89, 35, 35, 35]);
            assert_eq!(c.parameters, [5.0, 5.0, 4.0, 90.0, 90.0, 120.0]);
            assert_eq!(c.fractional[3], [0.5, 0.5, 0.5]);
            assert_eq!(r.property("Egap"), Ok(Some(4.1)));
            assert_eq!(r.property(field_name("Ef")), Ok(Some(-2.1)));
            assert_eq!(r.dft_types(), vec!["PAW_PBE".to_string()]);
        }
    }

    #[test]
    fn formulas_expand() {
        assert_eq!(
            parse_formula("Hf1Nb1O15Sn1").unwrap(),
            vec![
                ("Hf".into(), 1),
                ("Nb".into(), 1),
                ("O".into(), 15),
                ("Sn".into(), 1)
            ]
        );
        assert_eq!(
            parse_formula("NaCl").unwrap(),
            vec![("Na".into(), 1), ("Cl".into(), 1)]
        );
        assert!(parse_formula("2Na").is_none());
        assert!(parse_formula("Na0.5Cl").is_none());
    }

    #[test]
    fn bad_records_are_named() {
        let base = json!({"auid": "aflow:bad", "compound": "Na1Cl1",
            "geometry": [4, 4, 4, 90, 90, 90], "positions_fractional": [[0,0,0],[0.5,0.5,0.5]]});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            rec(b).crystal().unwrap_err()
        };
        assert!(rec(base.clone()).crystal().is_ok());
        let e = with("geometry", json!([4, 4, 90, 90, 90]));
        assert!(
            e.contains("aflow:bad") && e.contains("not six numbers"),
            "{e}"
        );
        let e = with("geometry", json!("4,4,4,90,90,abc"));
        assert!(e.contains("not six numbers"), "{e}");
        let e = with("geometry", json!([4, 4, 4, 0, 90, 90]));
        assert!(e.contains("angles"), "{e}");
        let e = with("positions_fractional", json!([[0, 0], [0.5, 0.5, 0.5]]));
        assert!(e.contains("positions_fractional"), "{e}");
        let e = with("compound", json!("Na1Cl2"));
        assert!(
            e.contains("species counts make 3 atoms but positions_fractional lists 2"),
            "{e}"
        );
        // a damaged count is checked before anything is sized by it
        let e = with("compound", json!("Na99999999999999999999Cl1"));
        assert!(e.contains("positions_fractional lists 2"), "{e}");
        let e = with("compound", json!("Xx1Cl1"));
        assert!(e.contains("not an element"), "{e}");
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove("geometry");
        let e = rec(b).crystal().unwrap_err();
        assert!(e.contains("aflow:bad") && e.contains("no geometry"), "{e}");
    }
}
