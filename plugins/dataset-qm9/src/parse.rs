//! Parsers for the text forms QM9 comes in: Python-style list text in the qm9pack CSV files and
//! the original `dsgdb9nsd_*.xyz` files (with Fortran `*^` exponents).

use crate::records::Molecule;
use geobatch_geometry::elements::atomic_number;

/// Parses a number as written in QM9's files: `0.`, `1.`, `-7.E-6` and Fortran `1.2*^-6` included.
pub fn number(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let parsed = if t.contains("*^") {
        t.replace("*^", "e").parse::<f64>()
    } else {
        t.parse::<f64>()
    };
    match parsed {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("{t:?} is not a finite number")),
        Err(_) => Err(format!("{t:?} is not a number")),
    }
}

/// Flattens a (possibly nested) Python list of numbers, e.g. `[[0.1,2.],[3.,-7.E-6]]`.
pub fn number_list(text: &str) -> Result<Vec<f64>, String> {
    let t = text.trim();
    if !t.starts_with('[') || !t.ends_with(']') {
        return Err(format!("expected a list in brackets, got {:?}", short(t)));
    }
    let mut depth = 0i32;
    for c in t.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return Err(format!("unbalanced brackets in {:?}", short(t)));
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced brackets in {:?}", short(t)));
    }
    t.split(['[', ']', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(number)
        .collect()
}

/// Parses a Python list of element symbols, e.g. `['C','H','H']`, into atomic numbers.
pub fn element_list(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let inner = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| format!("expected a list in brackets, got {:?}", short(t)))?;
    inner
        .split(',')
        .map(|s| s.trim().trim_matches(|c| c == '\'' || c == '"'))
        .filter(|s| !s.is_empty())
        .map(|s| atomic_number(s).ok_or_else(|| format!("{s:?} is not an element symbol")))
        .collect()
}

fn short(t: &str) -> String {
    t.chars().take(40).collect()
}

/// Parses one original QM9 xyz file. Errors carry the 1-based line number.
pub fn xyz(text: &str, id: &str) -> Result<Molecule, (usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let line = |i: usize| {
        lines
            .get(i)
            .copied()
            .ok_or((i + 1, "the file ends early".to_string()))
    };
    let n: usize = line(0)?.trim().parse().map_err(|_| {
        (
            1,
            format!("{:?} is not an atom count", line(0).unwrap_or("")),
        )
    })?;
    if n == 0 {
        return Err((1, "a molecule needs at least one atom".into()));
    }
    let head: Vec<&str> = line(1)?.split_whitespace().collect();
    if head.len() != 17 || head[0] != "gdb" {
        return Err((
            2,
            format!(
                "expected `gdb <index>` and 15 properties, got {} fields",
                head.len()
            ),
        ));
    }
    let index: u32 = head[1]
        .parse()
        .map_err(|_| (2, format!("{:?} is not an index", head[1])))?;
    let mut properties = [0.0; 15];
    for (k, v) in head[2..].iter().enumerate() {
        properties[k] = number(v).map_err(|e| (2, e))?;
    }
    // the count is checked against the file before anything is sized by it
    if n > lines.len() {
        return Err((
            1,
            format!(
                "the header says {n} atoms but the file has {} lines (an xyz file of n atoms has n + 5)",
                lines.len()
            ),
        ));
    }
    let mut atomic_numbers = Vec::with_capacity(n);
    let mut positions = Vec::with_capacity(n);
    for i in 0..n {
        let l = line(2 + i)?;
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 4 {
            return Err((3 + i, format!("expected `element x y z charge`, got {l:?}")));
        }
        atomic_numbers.push(
            atomic_number(f[0]).ok_or((3 + i, format!("{:?} is not an element symbol", f[0])))?,
        );
        let mut p = [0.0f32; 3];
        for k in 0..3 {
            p[k] = number(f[1 + k]).map_err(|e| (3 + i, e))? as f32;
        }
        positions.push(p);
    }
    let smiles_line = line(n + 3)?;
    let smiles = smiles_line
        .split_whitespace()
        .last()
        .unwrap_or("")
        .to_string();
    Ok(Molecule {
        index,
        id: id.to_string(),
        smiles,
        atomic_numbers,
        positions,
        properties,
        polarizability: [None; 6],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_qm9_writes_them() {
        assert_eq!(number("0.").unwrap(), 0.0);
        assert_eq!(number("1.").unwrap(), 1.0);
        assert_eq!(number("-7.E-6").unwrap(), -7e-6);
        assert_eq!(number("2.1997*^-6").unwrap(), 2.1997e-6);
        assert_eq!(number(" 157.7118 ").unwrap(), 157.7118);
        assert!(number("nan").is_err());
        assert!(number("1.2.3").is_err());
    }

    #[test]
    fn nested_lists_flatten() {
        assert_eq!(
            number_list("[[0.1,2.],[3.,-7.E-6]]").unwrap(),
            vec![0.1, 2.0, 3.0, -7e-6]
        );
        assert_eq!(number_list("[]").unwrap(), Vec::<f64>::new());
        assert!(number_list("[[1,2]").unwrap_err().contains("unbalanced"));
        assert!(number_list("1,2").is_err());
        assert!(
            number_list("[1,x]")
                .unwrap_err()
                .contains("\"x\" is not a number")
        );
    }

    #[test]
    fn element_lists() {
        assert_eq!(
            element_list("['C','H','N','O','F']").unwrap(),
            vec![6, 1, 7, 8, 9]
        );
        assert!(element_list("['C','Q']").unwrap_err().contains("\"Q\""));
    }
}
