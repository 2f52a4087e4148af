//! A reader for the P1 CIF files of crystal-generation benchmarks (Carbon-24, Perov-5, MP-20):
//! cell lengths and angles, the symmetry operations (only the identity is accepted) and the atom
//! sites with fractional coordinates and occupancies (only full occupancy is accepted).

use geobatch_geometry::elements::atomic_number;
use std::collections::HashMap;

/// The structure a CIF describes.
#[derive(Debug, Clone, PartialEq)]
pub struct CifStructure {
    /// a, b, c (Angstrom), alpha, beta, gamma (degrees).
    pub parameters: [f64; 6],
    /// Atomic number of every site.
    pub atomic_numbers: Vec<u8>,
    /// Fractional coordinates of every site, as written (not wrapped).
    pub fractional: Vec<[f64; 3]>,
}

/// Splits a CIF line into values, keeping quoted strings (`'x, y, z'`) whole.
fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' || c == '"' {
            chars.next();
            let mut s = String::new();
            // a quote closes a string only when followed by whitespace or the line's end
            while let Some(d) = chars.next() {
                if d == c && chars.peek().is_none_or(|n| n.is_whitespace()) {
                    break;
                }
                s.push(d);
            }
            out.push(s);
        } else if c == '#' {
            break;
        } else {
            let mut s = String::new();
            while let Some(&d) = chars.peek() {
                if d.is_whitespace() {
                    break;
                }
                s.push(d);
                chars.next();
            }
            out.push(s);
        }
    }
    out
}

/// A CIF number: `1.234`, `1.234(5)` (standard uncertainty dropped).
fn number(v: &str) -> Option<f64> {
    let v = v.split('(').next().unwrap_or(v);
    v.parse().ok().filter(|x: &f64| x.is_finite())
}

/// The element of an atom-site symbol or label: `Fe`, `Fe2+`, `FE`, `O1` -> Fe, Fe, Fe, O.
fn element(symbol: &str) -> Option<u8> {
    let letters: String = symbol
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect();
    let mut it = letters.chars();
    let first = it.next()?.to_ascii_uppercase();
    // try two letters, then one (labels such as "C0" or "Co1")
    let two: String = std::iter::once(first)
        .chain(it.next().map(|c| c.to_ascii_lowercase()))
        .collect();
    atomic_number(&two).or_else(|| atomic_number(&first.to_string()))
}

/// Data items and loops of one CIF data block.
#[derive(Debug, Default)]
struct Items {
    single: HashMap<String, String>,
    loops: Vec<(Vec<String>, Vec<String>)>,
}

fn items(text: &str) -> Result<Items, String> {
    let mut it = Items::default();
    let mut lines = text.lines().enumerate().peekable();
    let mut in_text = false;
    while let Some((n, line)) = lines.next() {
        if line.starts_with(';') {
            in_text = !in_text; // multi-line text fields are not needed here
            continue;
        }
        if in_text {
            continue;
        }
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with("data_") {
            continue;
        }
        if t.eq_ignore_ascii_case("loop_") {
            let mut tags = Vec::new();
            while let Some((_, l)) = lines.peek() {
                let l = l.trim();
                if l.starts_with('_') {
                    tags.push(
                        l.split_whitespace()
                            .next()
                            .unwrap_or("")
                            .to_ascii_lowercase(),
                    );
                    lines.next();
                } else {
                    break;
                }
            }
            let mut values = Vec::new();
            while let Some((_, l)) = lines.peek() {
                let lt = l.trim();
                if lt.starts_with('_')
                    || lt.eq_ignore_ascii_case("loop_")
                    || lt.starts_with("data_")
                {
                    break;
                }
                values.extend(tokens(lt));
                lines.next();
            }
            if tags.is_empty() {
                return Err("a loop_ without tags".into());
            }
            if values.len() % tags.len() != 0 {
                return Err(format!(
                    "the loop of {} has {} values, not a multiple of its {} columns",
                    tags[0],
                    values.len(),
                    tags.len()
                ));
            }
            it.loops.push((tags, values));
        } else if t.starts_with('_') {
            let mut tk = tokens(t);
            let tag = tk.remove(0).to_ascii_lowercase();
            let value = if tk.is_empty() {
                lines
                    .next()
                    .map(|(_, l)| tokens(l).join(" "))
                    .unwrap_or_default()
            } else {
                tk.join(" ")
            };
            it.single.insert(tag, value);
        } else {
            return Err(format!(
                "CIF line {}: {t:?} is not a data item, a loop or a comment",
                n + 1
            ));
        }
    }
    Ok(it)
}

impl Items {
    /// The loop that holds `tag`: its tags and its values, row-major.
    fn loop_of(&self, tag: &str) -> Option<&(Vec<String>, Vec<String>)> {
        self.loops
            .iter()
            .find(|(tags, _)| tags.iter().any(|t| t == tag))
    }

    /// The column `tag`, wherever its loop is.
    fn column(&self, tag: &str) -> Option<Vec<&str>> {
        let (tags, values) = self.loop_of(tag)?;
        column_of(tags, values, tag)
    }
}

/// The column `tag` of one loop.
fn column_of<'a>(tags: &[String], values: &'a [String], tag: &str) -> Option<Vec<&'a str>> {
    let i = tags.iter().position(|t| t == tag)?;
    Some(
        values
            .chunks(tags.len())
            .map(|row| row[i].as_str())
            .collect(),
    )
}

/// Parses a P1 CIF. Errors name what is wrong; symmetry other than the identity and partial
/// occupancies are refused (the structure must list every atom of the cell).
pub fn parse_p1(text: &str) -> Result<CifStructure, String> {
    let it = items(text)?;
    let parameters = cell_parameters(&it)?;
    check_space_group(&it)?;
    check_symmetry_operations(&it)?;
    let sites = AtomSites::of(&it)?;
    let mut out = CifStructure {
        parameters,
        atomic_numbers: Vec::with_capacity(sites.fx.len()),
        fractional: Vec::with_capacity(sites.fx.len()),
    };
    for i in 0..sites.fx.len() {
        let (z, f) = sites.site(i)?;
        out.atomic_numbers.push(z);
        out.fractional.push(f);
    }
    if out.atomic_numbers.is_empty() {
        return Err("no atom sites".into());
    }
    Ok(out)
}

/// The cell's a, b, c, alpha, beta, gamma.
fn cell_parameters(it: &Items) -> Result<[f64; 6], String> {
    let mut parameters = [0.0; 6];
    for (p, tag) in parameters.iter_mut().zip([
        "_cell_length_a",
        "_cell_length_b",
        "_cell_length_c",
        "_cell_angle_alpha",
        "_cell_angle_beta",
        "_cell_angle_gamma",
    ]) {
        let v = it.single.get(tag).ok_or_else(|| format!("no {tag}"))?;
        *p = number(v).ok_or_else(|| format!("{tag} {v:?} is not a number"))?;
    }
    Ok(parameters)
}

/// Refuses a space group other than P1, when one is named.
fn check_space_group(it: &Items) -> Result<(), String> {
    if let Some(sg) = it
        .single
        .get("_symmetry_space_group_name_h-m")
        .or_else(|| it.single.get("_space_group_name_h-m_alt"))
    {
        let compact: String = sg.chars().filter(|c| !c.is_whitespace()).collect();
        if !compact.eq_ignore_ascii_case("p1") {
            return Err(format!(
                "space group {sg:?}: only P1 structures (every atom listed) are read; expand the symmetry first"
            ));
        }
    }
    Ok(())
}

/// Refuses a listed symmetry operation other than the identity.
fn check_symmetry_operations(it: &Items) -> Result<(), String> {
    for tag in [
        "_symmetry_equiv_pos_as_xyz",
        "_space_group_symop_operation_xyz",
    ] {
        for op in it.column(tag).unwrap_or_default() {
            let compact: String = op
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_lowercase()
                .replace("+x", "x")
                .replace("+y", "y")
                .replace("+z", "z");
            if compact != "x,y,z" {
                return Err(format!(
                    "symmetry operation {op:?} is not the identity: only P1 structures are read; expand the symmetry first"
                ));
            }
        }
    }
    Ok(())
}

/// The columns of the atom-site loop, one value per site.
struct AtomSites<'a> {
    /// Fractional x.
    fx: Vec<&'a str>,
    /// Fractional y.
    fy: Vec<&'a str>,
    /// Fractional z.
    fz: Vec<&'a str>,
    /// Site labels, when given.
    labels: Option<Vec<&'a str>>,
    /// Type symbols, else the labels.
    symbols: Vec<&'a str>,
    /// Occupancies, when given.
    occupancy: Option<Vec<&'a str>>,
}

impl<'a> AtomSites<'a> {
    /// The atom-site columns, all from the loop of `_atom_site_fract_x`.
    fn of(it: &'a Items) -> Result<Self, String> {
        // every column of the atom sites comes from the loop of _atom_site_fract_x: columns of
        // another loop would have other rows
        let (tags, values) = it
            .loop_of("_atom_site_fract_x")
            .ok_or("no _atom_site_fract_x loop")?;
        let site_column = |tag: &str| -> Result<Option<Vec<&str>>, String> {
            match column_of(tags, values, tag) {
                Some(c) => Ok(Some(c)),
                None if it.column(tag).is_some() => Err(format!(
                    "{tag} is in another loop than _atom_site_fract_x: the atom sites must be one loop"
                )),
                None => Ok(None),
            }
        };
        let fx = site_column("_atom_site_fract_x")?.unwrap_or_default();
        let fy = site_column("_atom_site_fract_y")?.ok_or("no _atom_site_fract_y")?;
        let fz = site_column("_atom_site_fract_z")?.ok_or("no _atom_site_fract_z")?;
        let labels = site_column("_atom_site_label")?;
        let symbols = site_column("_atom_site_type_symbol")?
            .or_else(|| labels.clone())
            .ok_or("no _atom_site_type_symbol or _atom_site_label")?;
        let occupancy = site_column("_atom_site_occupancy")?;
        Ok(AtomSites {
            fx,
            fy,
            fz,
            labels,
            symbols,
            occupancy,
        })
    }

    /// Atomic number and fractional coordinates of site `i`; a partial occupancy is refused.
    fn site(&self, i: usize) -> Result<(u8, [f64; 3]), String> {
        let site = self
            .labels
            .as_ref()
            .map_or_else(|| format!("#{}", i + 1), |l| l[i].to_string());
        let z = element(self.symbols[i])
            .ok_or_else(|| format!("atom site {site}: {:?} is not an element", self.symbols[i]))?;
        let coord = |c: &[&str], axis: &str| {
            number(c[i]).ok_or_else(|| {
                format!(
                    "atom site {site}: fractional {axis} {:?} is not a number",
                    c[i]
                )
            })
        };
        let f = [
            coord(&self.fx, "x")?,
            coord(&self.fy, "y")?,
            coord(&self.fz, "z")?,
        ];
        if let Some(occ) = &self.occupancy {
            let o = number(occ[i]).ok_or_else(|| {
                format!("atom site {site}: occupancy {:?} is not a number", occ[i])
            })?;
            if (o - 1.0).abs() > 1e-6 {
                return Err(format!(
                    "atom site {site}: partial occupancy {o}; only ordered structures (occupancy 1) are read"
                ));
            }
        }
        Ok((z, f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CIF of our own making in pymatgen's layout: rock salt NaCl, conventional cell.
    pub const NACL: &str = "# made for geobatch's tests
data_NaCl
_symmetry_space_group_name_H-M   'P 1'
_cell_length_a   5.64000000
_cell_length_b   5.64000000
_cell_length_c   5.64000000
_cell_angle_alpha   90.00000000
_cell_angle_beta   90.00000000
_cell_angle_gamma   90.00000000
_chemical_formula_sum   'Na4 Cl4'
loop_
 _symmetry_equiv_pos_site_id
 _symmetry_equiv_pos_as_xyz
  1  'x, y, z'
loop_
 _atom_site_type_symbol
 _atom_site_label
 _atom_site_symmetry_multiplicity
 _atom_site_fract_x
 _atom_site_fract_y
 _atom_site_fract_z
 _atom_site_occupancy
  Na  Na0  1  0.00000000  0.00000000  0.00000000  1
  Na  Na1  1  0.50000000  0.50000000  0.00000000  1
  Na  Na2  1  0.50000000  0.00000000  0.50000000  1
  Na  Na3  1  0.00000000  0.50000000  1.50000000  1
  Cl  Cl4  1  0.50000000  0.00000000  0.00000000  1
  Cl  Cl5  1  0.00000000  0.50000000  0.00000000  1
  Cl  Cl6  1  0.00000000  0.00000000  0.50000000  1
  Cl  Cl7  1  -0.50000000  0.50000000  0.50000000  1
";

    #[test]
    fn reads_cell_sites_and_unwrapped_coordinates() {
        let s = parse_p1(NACL).unwrap();
        assert_eq!(s.parameters, [5.64, 5.64, 5.64, 90.0, 90.0, 90.0]);
        assert_eq!(s.atomic_numbers, vec![11, 11, 11, 11, 17, 17, 17, 17]);
        assert_eq!(s.fractional[3], [0.0, 0.5, 1.5]);
        assert_eq!(s.fractional[7], [-0.5, 0.5, 0.5]);
    }

    #[test]
    fn symmetry_and_disorder_are_refused_with_the_site() {
        let e = parse_p1(&NACL.replace("'x, y, z'", "'-x, -y, z'")).unwrap_err();
        assert!(
            e.contains("'-x, -y, z'") || e.contains("\"-x, -y, z\""),
            "{e}"
        );
        assert!(e.contains("not the identity"), "{e}");
        let e = parse_p1(&NACL.replace(
            "Cl5  1  0.00000000  0.50000000  0.00000000  1",
            "Cl5  1  0.00000000  0.50000000  0.00000000  0.5",
        ))
        .unwrap_err();
        assert!(
            e.contains("Cl5") && e.contains("partial occupancy 0.5"),
            "{e}"
        );
        let e = parse_p1(&NACL.replace("'P 1'", "'F m -3 m'")).unwrap_err();
        assert!(e.contains("only P1"), "{e}");
        // a stray line is not skipped
        let e = parse_p1(&NACL.replacen("loop_", "garbage here\nloop_", 1)).unwrap_err();
        assert!(
            e.contains("\"garbage here\" is not a data item") && e.contains("CIF line"),
            "{e}"
        );
        let e = parse_p1(&NACL.replace("_cell_length_b   5.64000000\n", "")).unwrap_err();
        assert!(e.contains("no _cell_length_b"), "{e}");
        let e =
            parse_p1(&NACL.replace("0.50000000  0.50000000  0.00000000  1", "0.5  abc  0.0  1"))
                .unwrap_err();
        assert!(e.contains("Na1") && e.contains("\"abc\""), "{e}");
        let e = parse_p1(&NACL.replace(
            "  Cl  Cl7  1  -0.50000000  0.50000000  0.50000000  1\n",
            "  Cl  Cl7  1\n",
        ))
        .unwrap_err();
        assert!(e.contains("not a multiple"), "{e}");
        // site columns split over two loops (rows of different lengths) are refused, not indexed
        let split = NACL.replace(
            " _atom_site_occupancy\n",
            "loop_\n _atom_site_occupancy\n  1\n loop_\n _atom_site_dummy\n",
        );
        let e = parse_p1(&split).unwrap_err();
        assert!(e.contains("_atom_site_occupancy is in another loop"), "{e}");
    }

    #[test]
    fn symbols_and_numbers_in_cif_spelling() {
        assert_eq!(element("Fe2+"), Some(26));
        assert_eq!(element("FE"), Some(26));
        assert_eq!(element("C0"), Some(6));
        assert_eq!(element("Co1"), Some(27));
        assert_eq!(element("Xx"), None);
        assert_eq!(number("1.234(5)"), Some(1.234));
        assert_eq!(tokens("  1  'x, y, z'"), vec!["1", "x, y, z"]);
    }
}
