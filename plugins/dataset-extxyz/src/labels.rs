//! A potential's labels as ASE writes them (DESIGN.md §16): which target names are labels, what
//! they ask of the other targets, and stresses read from ASE's spellings (Voigt or 3x3, stress
//! or virial).

use geobatch_core::{Error, LabelKinds, Result};
use geobatch_geometry::neighbors::{cross, dot};

/// The names in `dataset.targets` that are labels of a potential rather than per-structure
/// targets: per-atom `forces`, and a `stress` (or a `virial`, read as the stress it is).
pub const LABELS: [&str; 3] = ["forces", "stress", "virial"];

/// A stress as ASE stores it, six values in Voigt order `xx yy zz yz xz xy` or a 3x3 row-major,
/// as a 3x3 matrix.
pub fn stress_matrix(v: &[f64]) -> std::result::Result<[[f64; 3]; 3], String> {
    match *v {
        [xx, yy, zz, yz, xz, xy] => Ok([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]),
        [a, b, c, d, e, f, g, h, i] => Ok([[a, b, c], [d, e, f], [g, h, i]]),
        _ => Err(format!(
            "{} values: a stress has 6 (Voigt: xx yy zz yz xz xy) or 9 (3x3)",
            v.len()
        )),
    }
}

/// The stress of a virial `W = -V stress` (ASE's and extended XYZ's `virial`, eV) of a cell with
/// the lattice `l`.
pub fn stress_of_virial(
    virial: [[f64; 3]; 3],
    l: &[[f64; 3]; 3],
) -> std::result::Result<[[f64; 3]; 3], String> {
    let volume = dot(l[0], cross(l[1], l[2])).abs();
    if volume <= 0.0 {
        return Err("a virial of a cell with no volume".into());
    }
    Ok(virial.map(|row| row.map(|x| -x / volume)))
}

/// What a potential's labels ask of the other targets: one, the total energy (not per atom), and
/// forces with any stress.
pub fn check_potential(targets: &[String], per_atom: &[String], labels: LabelKinds) -> Result<()> {
    if !labels.forces {
        return Err(Error::invalid(
            "dataset.targets: a stress (or virial) is trained with forces: add \"forces\"",
        ));
    }
    if targets.len() != 1 {
        return Err(Error::invalid(format!(
            "dataset.targets: with forces, name one more target, the total energy (eV) whose \
             negative gradient the forces are, e.g. [\"energy\", \"forces\"]; found {targets:?}"
        )));
    }
    if per_atom.contains(&targets[0]) {
        return Err(Error::invalid(format!(
            "dataset.per_atom names {:?}: a potential is trained on the total energy, whose \
             gradient the forces are; leave it out of per_atom",
            targets[0]
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stresses_read_as_ase_stores_them() {
        let m = stress_matrix(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(m, [[1.0, 6.0, 5.0], [6.0, 2.0, 4.0], [5.0, 4.0, 3.0]]);
        assert!(stress_matrix(&[1.0; 4]).unwrap_err().contains("6 (Voigt"));
        let l = [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]];
        assert_eq!(
            stress_of_virial([[8.0, 0.0, 0.0]; 3], &l).unwrap()[0][0],
            -1.0
        );
    }
}
