//! A unit cell: its lattice vectors and periodic directions (what graph rules search in and
//! graph sets store per graph).

use serde::{Deserialize, Serialize};

/// A unit cell: three lattice vectors (rows, in Angstrom) and which of them are periodic.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Cell {
    /// Lattice vectors a, b, c as rows (double precision: edges are found in it).
    pub lattice: [[f64; 3]; 3],
    /// Periodic boundary condition along a, b, c.
    pub pbc: [bool; 3],
}

impl Cell {
    /// A fully periodic cell.
    pub fn periodic(lattice: [[f64; 3]; 3]) -> Self {
        Cell {
            lattice,
            pbc: [true; 3],
        }
    }

    /// The volume the three lattice vectors span, `|a . (b x c)|` (Angstrom^3; zero for a
    /// molecule's empty cell).
    pub fn volume(&self) -> f64 {
        let [a, b, c] = self.lattice;
        let bc = [
            b[1] * c[2] - b[2] * c[1],
            b[2] * c[0] - b[0] * c[2],
            b[0] * c[1] - b[1] * c[0],
        ];
        (a[0] * bc[0] + a[1] * bc[1] + a[2] * bc[2]).abs()
    }

    /// Whether any direction is periodic.
    pub fn is_periodic(&self) -> bool {
        self.pbc.iter().any(|&p| p)
    }

    /// A periodic cell from lattice parameters: lengths a, b, c (Angstrom) and angles alpha, beta,
    /// gamma (degrees), with a along x and b in the xy plane (the crystallographic convention).
    pub fn from_parameters(
        a: f64,
        b: f64,
        c: f64,
        alpha: f64,
        beta: f64,
        gamma: f64,
    ) -> Option<Cell> {
        let (ca, cb, cg) = (
            alpha.to_radians().cos(),
            beta.to_radians().cos(),
            gamma.to_radians().cos(),
        );
        let sg = gamma.to_radians().sin();
        if !(a > 0.0 && b > 0.0 && c > 0.0) || sg.abs() < 1e-8 {
            return None;
        }
        let cx = cb;
        let cy = (ca - cb * cg) / sg;
        let cz2 = 1.0 - cx * cx - cy * cy;
        if cz2.is_nan() || cz2 <= 1e-12 {
            return None;
        }
        let lattice = [
            [a, 0.0, 0.0],
            [b * cg, b * sg, 0.0],
            [c * cx, c * cy, c * cz2.sqrt()],
        ];
        lattice
            .iter()
            .flatten()
            .all(|x| x.is_finite())
            .then(|| Cell::periodic(lattice))
    }

    /// Cartesian position of fractional coordinates in this cell.
    pub fn to_cartesian(&self, frac: [f64; 3]) -> [f64; 3] {
        let l = &self.lattice;
        [0, 1, 2].map(|k| frac[0] * l[0][k] + frac[1] * l[1][k] + frac[2] * l[2][k])
    }
}
