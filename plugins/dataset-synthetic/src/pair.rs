//! A Morse pair potential with a smooth cutoff: exact energy, forces and stress of molecules and
//! periodic cells, so that force training and its physics are tested without any download.
//!
//! `E = 1/2 sum over ordered pairs (i, j, image) of phi(r)`, with
//! `phi(r) = D [(1 - e^{-a (r - r0)})^2 - 1] f(r)` and the cosine cutoff
//! `f(r) = (cos(pi r / rc) + 1) / 2` below `rc` (0 beyond), so energy and forces are continuous as
//! atoms cross the cutoff. Forces are `-dE/dx`; the stress is ASE's, `(1/V) dE/d(strain)`, in
//! eV/Angstrom^3. Pairs (periodic images included) come from geobatch's own neighbour search;
//! every quantity is computed in double precision from the positions, image shifts and cell.

use geobatch_core::Cell;
use geobatch_core::GraphRule;
use geobatch_geometry::edges::build_edges_with_shifts;
use geobatch_geometry::neighbors;

/// The Morse parameters and the cutoff.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Morse {
    /// Well depth D (eV).
    pub depth: f64,
    /// Stiffness a (1/Angstrom).
    pub stiffness: f64,
    /// Equilibrium distance r0 (Angstrom).
    pub r0: f64,
    /// Cutoff radius rc (Angstrom).
    pub cutoff: f64,
}

impl Default for Morse {
    /// D = 0.3 eV, a = 1.2 / Angstrom, r0 = 2.0 Angstrom, rc = 5 Angstrom.
    fn default() -> Self {
        Morse {
            depth: 0.3,
            stiffness: 1.2,
            r0: 2.0,
            cutoff: 5.0,
        }
    }
}

/// Energy (eV), forces (eV/Angstrom) and, for cells periodic in three directions, stress
/// (eV/Angstrom^3) of one structure.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    /// Total energy.
    pub energy: f64,
    /// Force on every atom.
    pub forces: Vec<[f64; 3]>,
    /// The stress, where the structure is periodic along all three lattice vectors.
    pub stress: Option<[[f64; 3]; 3]>,
}

impl Morse {
    /// `phi(r)` and `phi'(r)`.
    pub fn pair(&self, r: f64) -> (f64, f64) {
        if r >= self.cutoff {
            return (0.0, 0.0);
        }
        let e = (-self.stiffness * (r - self.r0)).exp();
        let m = self.depth * ((1.0 - e).powi(2) - 1.0);
        let dm = self.depth * 2.0 * (1.0 - e) * self.stiffness * e;
        let w = std::f64::consts::PI / self.cutoff;
        let f = 0.5 * ((w * r).cos() + 1.0);
        let df = -0.5 * w * (w * r).sin();
        (m * f, dm * f + m * df)
    }

    /// The labels of the structure (positions in Angstrom, the cell as its rows), or why they
    /// cannot be made (a cell the neighbour search refuses).
    pub fn label(&self, positions: &[[f64; 3]], cell: Option<&Cell>) -> Result<Labels, String> {
        let cell = cell.copied().unwrap_or_default();
        let (mut s, mut r, mut v, mut shifts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let rule = GraphRule::Cutoff {
            radius: self.cutoff,
        };
        build_edges_with_shifts(&rule, positions, &cell, &mut s, &mut r, &mut v, &mut shifts)?;
        let l = cell.lattice;
        let mut energy = 0.0;
        let mut forces = vec![[0.0; 3]; positions.len()];
        let mut virial = [[0.0; 3]; 3];
        for e in 0..s.len() {
            let (i, j) = (r[e] as usize, s[e] as usize);
            let shift: [f64; 3] =
                std::array::from_fn(|k| (0..3).map(|m| f64::from(shifts[e][m]) * l[m][k]).sum());
            let d: [f64; 3] = std::array::from_fn(|k| positions[i][k] - positions[j][k] - shift[k]);
            let len = neighbors::norm(d);
            let (phi, dphi) = self.pair(len);
            energy += 0.5 * phi;
            // dE/dd of this ordered pair (each pair is counted from both ends)
            let g: [f64; 3] = std::array::from_fn(|k| 0.5 * dphi * d[k] / len);
            for k in 0..3 {
                forces[i][k] -= g[k];
                forces[j][k] += g[k];
                for m in 0..3 {
                    virial[k][m] += d[k] * g[m];
                }
            }
        }
        let stress = (cell.pbc == [true; 3]).then(|| {
            let volume = neighbors::dot(l[0], neighbors::cross(l[1], l[2])).abs();
            std::array::from_fn(|k| {
                std::array::from_fn(|m| 0.5 * (virial[k][m] + virial[m][k]) / volume)
            })
        });
        Ok(Labels {
            energy,
            forces,
            stress,
        })
    }
}

/// One structure to label: atomic numbers, Cartesian positions (Angstrom), its cell.
pub type Structure = (Vec<u8>, Vec<[f64; 3]>, Cell);

/// A set of `structures` (atomic numbers, positions, a periodic cell each) labelled by `morse`:
/// total energy, forces and stress; edges by `rule`, species classes `classes` (first seen when
/// `None`). For tests and checks of potentials.
pub fn labelled_set(
    morse: &Morse,
    structures: &[Structure],
    rule: &GraphRule,
    classes: Option<&[u8]>,
) -> geobatch_core::Result<geobatch_core::GraphSet> {
    use geobatch_core::{AtomLabels, LabelKinds};
    use geobatch_geometry::GraphSetBuilder;
    let mut b = GraphSetBuilder::new(vec!["energy".into()]).carrying(LabelKinds {
        forces: true,
        stress: true,
    });
    for (k, (z, p, cell)) in structures.iter().enumerate() {
        let id = format!("s{k}");
        let l = morse
            .label(p, Some(cell))
            .map_err(|message| geobatch_core::Error::GraphRule {
                graph: id.clone(),
                message,
            })?;
        let labels = AtomLabels {
            forces: Some(&l.forces),
            stress: l.stress,
        };
        b.push_labelled(&id, z, p, Some(*cell), &[l.energy as f32], labels)?;
    }
    b.build(rule, classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn energy(m: &Morse, p: &[[f64; 3]], cell: Option<&Cell>) -> f64 {
        m.label(p, cell).unwrap().energy
    }

    fn crystal() -> (Vec<[f64; 3]>, Cell) {
        let cell = Cell::from_parameters(4.1, 4.6, 5.0, 84.0, 97.0, 101.0).unwrap();
        let frac = [[0.1, 0.2, 0.3], [0.6, 0.55, 0.8], [0.35, 0.9, 0.05]];
        (frac.iter().map(|f| cell.to_cartesian(*f)).collect(), cell)
    }

    #[test]
    fn the_pair_term_is_smooth_at_the_cutoff_and_its_slope_is_exact() {
        let m = Morse::default();
        let (below, slope) = m.pair(m.cutoff - 1e-9);
        assert!(below.abs() < 1e-12 && slope.abs() < 1e-7, "{below} {slope}");
        for r in [0.3, 1.1, 2.0, 2.7, 4.2] {
            let h = 1e-6;
            let fd = (m.pair(r + h).0 - m.pair(r - h).0) / (2.0 * h);
            assert!(
                (fd - m.pair(r).1).abs() < 1e-7,
                "r = {r}: {fd} vs {}",
                m.pair(r).1
            );
        }
    }

    #[test]
    fn forces_are_the_negative_gradient_of_the_energy_in_a_cell_and_a_molecule() {
        let m = Morse::default();
        let (p, cell) = crystal();
        let molecule = vec![[0.0; 3], [1.9, 0.1, 0.0], [0.4, 2.2, 0.3], [2.5, 2.0, -1.0]];
        for (p, cell) in [(p, Some(cell)), (molecule, None)] {
            let l = m.label(&p, cell.as_ref()).unwrap();
            for i in 0..p.len() {
                for k in 0..3 {
                    let h = 1e-5;
                    let mut a = p.clone();
                    a[i][k] += h;
                    let mut b = p.clone();
                    b[i][k] -= h;
                    let fd = -(energy(&m, &a, cell.as_ref()) - energy(&m, &b, cell.as_ref()))
                        / (2.0 * h);
                    assert!(
                        (fd - l.forces[i][k]).abs() < 1e-6,
                        "atom {i} axis {k}: {fd} vs {}",
                        l.forces[i][k]
                    );
                }
            }
            let total: f64 = l.forces.iter().map(|f| f[0] + f[1] + f[2]).sum();
            assert!(total.abs() < 1e-9, "forces sum to {total}");
        }
    }

    #[test]
    fn the_stress_is_the_strain_derivative_per_volume() {
        let m = Morse::default();
        let (p, cell) = crystal();
        let l = m.label(&p, Some(&cell)).unwrap();
        let stress = l.stress.unwrap();
        let volume = neighbors::dot(
            cell.lattice[0],
            neighbors::cross(cell.lattice[1], cell.lattice[2]),
        );
        for a in 0..3 {
            for b in 0..3 {
                let strained = |h: f64| {
                    // symmetric strain eps_ab = eps_ba = h/2 (h on the diagonal)
                    let mut eps = [[0.0; 3]; 3];
                    eps[a][b] += h / 2.0;
                    eps[b][a] += h / 2.0;
                    let apply = |x: [f64; 3]| -> [f64; 3] {
                        std::array::from_fn(|k| {
                            x[k] + (0..3).map(|m| eps[k][m] * x[m]).sum::<f64>()
                        })
                    };
                    let c = Cell {
                        lattice: cell.lattice.map(apply),
                        pbc: cell.pbc,
                    };
                    let q: Vec<[f64; 3]> = p.iter().map(|x| apply(*x)).collect();
                    energy(&m, &q, Some(&c))
                };
                let h = 1e-6;
                let fd = (strained(h) - strained(-h)) / (2.0 * h) / volume.abs();
                assert!(
                    (fd - stress[a][b]).abs() < 1e-7,
                    "stress {a}{b}: {fd} vs {}",
                    stress[a][b]
                );
            }
        }
        assert_eq!(m.label(&p, None).unwrap().stress, None);
    }
}
