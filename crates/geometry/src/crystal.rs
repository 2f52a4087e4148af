//! Periodic crystals given as lattice parameters and fractional coordinates (AFLOW records, CIF
//! files), turned into graphs of a [`GraphSetBuilder`].

use crate::GraphSetBuilder;
use geobatch_core::Cell;
use geobatch_core::{Error, Result};

/// One crystal as the formats give it.
#[derive(Debug, Clone, PartialEq)]
pub struct Crystal {
    /// Identifier (AFLOW `auid`/`aurl`, a CIF collection's `material_id`).
    pub id: String,
    /// Atomic number of every atom.
    pub atomic_numbers: Vec<u8>,
    /// Fractional coordinates of every atom (any real value: they are wrapped into [0, 1)).
    pub fractional: Vec<[f64; 3]>,
    /// Lattice parameters a, b, c (Angstrom) and alpha, beta, gamma (degrees).
    pub parameters: [f64; 6],
}

/// `x` wrapped into [0, 1) (`-0.25 -> 0.75`, `1.0 -> 0.0`).
pub fn wrap(x: f64) -> f64 {
    let w = x - x.floor();
    if w >= 1.0 { 0.0 } else { w }
}

impl Crystal {
    /// The periodic cell, or why the parameters do not make one.
    pub fn cell(&self) -> std::result::Result<Cell, String> {
        let [a, b, c, al, be, ga] = self.parameters;
        if self.parameters.iter().any(|x| !x.is_finite()) {
            return Err(format!(
                "lattice parameters {:?} are not finite",
                self.parameters
            ));
        }
        if [al, be, ga].iter().any(|&x| x <= 0.0 || x >= 180.0) {
            return Err(format!(
                "cell angles ({al}, {be}, {ga}) must lie strictly between 0 and 180 degrees"
            ));
        }
        Cell::from_parameters(a, b, c, al, be, ga).ok_or_else(|| {
            format!(
                "lattice parameters {:?} do not make a cell (no volume, or lengths beyond f32)",
                self.parameters
            )
        })
    }

    /// Checks the atoms and returns the cell and the wrapped Cartesian positions.
    pub fn geometry(&self) -> std::result::Result<(Cell, Vec<[f64; 3]>), String> {
        if self.atomic_numbers.is_empty() {
            return Err("no atoms".into());
        }
        if self.atomic_numbers.len() != self.fractional.len() {
            return Err(format!(
                "{} species for {} positions",
                self.atomic_numbers.len(),
                self.fractional.len()
            ));
        }
        if self.fractional.iter().flatten().any(|x| !x.is_finite()) {
            return Err("a fractional coordinate is not a finite number".into());
        }
        let cell = self.cell()?;
        let pos = self
            .fractional
            .iter()
            .map(|f| cell.to_cartesian(f.map(wrap)))
            .collect();
        Ok((cell, pos))
    }

    /// Adds this crystal to `builder` with its targets.
    pub fn push_to(&self, builder: &mut GraphSetBuilder, targets: &[f32]) -> Result<()> {
        let (cell, pos) = self.geometry().map_err(|message| Error::GraphRule {
            graph: self.id.clone(),
            message,
        })?;
        builder.push(&self.id, &self.atomic_numbers, &pos, Some(cell), targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_wrap_into_the_unit_interval() {
        assert_eq!(wrap(-0.25), 0.75);
        assert_eq!(wrap(1.0), 0.0);
        assert_eq!(wrap(2.5), 0.5);
        assert_eq!(wrap(-1e-18), 0.0);
        assert!((wrap(1.06854384) - 0.06854384).abs() < 1e-12);
    }

    #[test]
    fn geometry_is_checked_and_wrapped() {
        let mut c = Crystal {
            id: "x".into(),
            atomic_numbers: vec![6, 6],
            fractional: vec![[0.0, 0.0, 0.0], [1.25, -0.5, 0.5]],
            parameters: [2.0, 2.0, 2.0, 90.0, 90.0, 90.0],
        };
        let (_, pos) = c.geometry().unwrap();
        assert_eq!(pos[1].map(|x| x as f32), [0.5, 1.0, 1.0]);
        c.parameters[3] = 0.0;
        assert!(c.geometry().unwrap_err().contains("angles"));
        c.parameters = [2.0, 2.0, 2.0, 90.0, 90.0, 90.0];
        c.fractional.pop();
        assert!(
            c.geometry()
                .unwrap_err()
                .contains("2 species for 1 positions")
        );
    }
}
