//! Neighbour search in linear time: every pair of atoms closer than a radius, periodic images
//! included, found with a cell list (atoms binned in fractional coordinates, bins at least a
//! radius thick, each atom compared with the atoms of its own and the adjacent bins).
//!
//! Works for any cell ASE accepts: triclinic, atoms outside the cell, radii larger than the cell
//! (more bins are searched, and their images), and 0-, 1- or 2-dimensional periodicity with any
//! (also zero) lattice vector along the open directions, which only bins the atoms. Geometry is
//! double precision; a pair is a neighbour when its distance is strictly below the radius (ASE's
//! `neighbor_list` rule), and its image is the integer lattice translation of the sender, so that
//! `vector = receiver - (sender + image . lattice)`, ASE's `-D` with `S` = image.

/// The most periodic images searched along one lattice vector, each way.
pub const MAX_IMAGE_RANGE: f64 = 64.0;

/// One neighbour of a receiver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    /// Sender, then image, as one integer ([`Neighbour::order_of`]): sorting by it sorts by
    /// (sender, image) when every image is within +-127 along each vector.
    pub order: u64,
    /// The sender atom.
    pub sender: u32,
    /// Lattice translation of the sender (zero along open directions).
    pub image: [i32; 3],
    /// Receiver minus (sender + image shift), Angstrom.
    pub vector: [f64; 3],
}

impl Neighbour {
    /// The sort key of a sender and image: the sender, then each image component offset by 128
    /// in a byte; `u64::MAX` when a component is outside -128..=127 (sort those by fields).
    pub fn order_of(sender: u32, image: [i32; 3]) -> u64 {
        if image.iter().any(|&x| !(-128..=127).contains(&x)) {
            return u64::MAX;
        }
        let [a, b, c] = image.map(|x| (x + 128) as u64);
        (u64::from(sender) << 24) | (a << 16) | (b << 8) | c
    }
}

/// The search space of one structure: a basis whose periodic rows are the lattice's and whose open
/// rows span the rest, the atoms' bins and what a radius needs to scan.
pub struct Grid<'a> {
    positions: &'a [[f64; 3]],
    lattice: [[f64; 3]; 3],
    pbc: [bool; 3],
    radius: f64,
    bins: [i64; 3],
    reach: [i64; 3],
    /// Bin offsets into `atoms` (one more than the bins).
    start: Vec<u32>,
    /// Wrapped positions of `atoms`, in their order (what the search compares).
    sorted: Vec<[f64; 3]>,
    /// Of `atoms`, in their order: the atom, its position as given and its wrapping (what an
    /// accepted candidate is measured again with), side by side in memory.
    slots: Vec<(u32, [f64; 3], [i32; 3])>,
    /// Every atom's bin and the lattice translation its wrapping removed.
    placed: Vec<([i64; 3], [i32; 3])>,
}

/// The cross product of two vectors.
pub fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// The dot product of two vectors.
pub fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// The length of a vector.
pub fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

fn scale(a: [f64; 3], s: f64) -> [f64; 3] {
    a.map(|x| x * s)
}

/// The basis fractional coordinates are taken in: periodic rows are the lattice's; open rows are
/// unit vectors perpendicular to the periodic ones (and to each other), whatever the lattice
/// holds there (ASE's 1D and 2D cells may hold zeros).
///
/// # Errors
/// A periodic vector of no length, periodic vectors in one line or (three) in one plane.
pub fn periodic_basis(lattice: &[[f64; 3]; 3], pbc: [bool; 3]) -> Result<[[f64; 3]; 3], String> {
    let periodic: Vec<usize> = (0..3).filter(|&i| pbc[i]).collect();
    for &i in &periodic {
        let l = norm(lattice[i]);
        if !(l.is_finite() && l > 0.0) {
            return Err(format!(
                "the structure is periodic along lattice vector {} but that vector has no length",
                i + 1
            ));
        }
    }
    let unit = |a: [f64; 3]| scale(a, 1.0 / norm(a));
    let mut b = [[0.0; 3]; 3];
    match periodic.as_slice() {
        [] => b = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        &[i] => {
            let u = unit(lattice[i]);
            // the axis least along u, made perpendicular to it
            let axis = (0..3)
                .min_by(|&x, &y| u[x].abs().total_cmp(&u[y].abs()))
                .unwrap_or(0);
            let mut e = [0.0; 3];
            e[axis] = 1.0;
            let v = unit([0, 1, 2].map(|k| e[k] - dot(e, u) * u[k]));
            let w = cross(u, v);
            let open: Vec<usize> = (0..3).filter(|&k| k != i).collect();
            b[i] = lattice[i];
            b[open[0]] = v;
            b[open[1]] = w;
        }
        &[i, j] => {
            let n = cross(lattice[i], lattice[j]);
            let area = norm(n);
            if area <= 1e-6 * norm(lattice[i]) * norm(lattice[j]) {
                return Err(format!(
                    "lattice vectors {} and {} are parallel: the periodic plane has no area",
                    i + 1,
                    j + 1
                ));
            }
            let k = 3 - i - j;
            b[i] = lattice[i];
            b[j] = lattice[j];
            b[k] = scale(n, 1.0 / area);
        }
        _ => {
            b = *lattice;
            let volume = dot(b[0], cross(b[1], b[2])).abs();
            let scale3 = norm(b[0]) * norm(b[1]) * norm(b[2]);
            if volume.is_nan() || volume <= 1e-9 * scale3 {
                return Err(
                    "the periodic cell has no volume (its three lattice vectors lie in one \
                     plane): check the lattice"
                        .into(),
                );
            }
        }
    }
    Ok(b)
}

/// Checks that a cell can be periodic as `pbc` says: every periodic lattice vector has a length,
/// and the periodic vectors span a line, a plane or a volume as their count asks (the open ones
/// may be anything, zero included).
///
/// # Errors
/// What is wrong, naming the lattice vector.
pub fn check_cell(lattice: &[[f64; 3]; 3], pbc: [bool; 3]) -> Result<(), String> {
    periodic_basis(lattice, pbc).map(|_| ())
}

/// The inverse of a 3x3 matrix of rows (for fractional coordinates: `f = p . inv`).
fn inverse(b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let det = dot(b[0], cross(b[1], b[2]));
    // columns of the inverse are the reciprocal vectors over the determinant
    let r = [cross(b[1], b[2]), cross(b[2], b[0]), cross(b[0], b[1])];
    let mut inv = [[0.0; 3]; 3];
    for (col, rc) in r.iter().enumerate() {
        for row in 0..3 {
            inv[row][col] = rc[row] / det;
        }
    }
    inv
}

/// How fractional coordinates become bins: where the open directions start and how far they
/// span, bins per direction, and how many bins a radius reaches each way.
struct Layout {
    pbc: [bool; 3],
    lo: [f64; 3],
    span: [f64; 3],
    bins: [i64; 3],
    reach: [i64; 3],
}

impl Layout {
    /// Bins a little thicker than `radius` (rounding never hides a neighbour two bins away), over
    /// the cell along periodic directions and over the atoms' extent along open ones; at most
    /// about eight bins an atom (a gas of far-apart atoms would have far more bins than atoms).
    fn new(
        frac: &[[f64; 3]],
        pbc: [bool; 3],
        heights: [f64; 3],
        radius: f64,
    ) -> Result<Layout, String> {
        let thick = radius * (1.0 + 1e-9) + 1e-12;
        let mut lo = [0.0f64; 3];
        let mut span = [1.0f64; 3];
        let mut bins = [1i64; 3];
        for c in 0..3 {
            if !pbc[c] {
                let (min, max) = frac
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(a, z), f| (a.min(f[c]), z.max(f[c])));
                (lo[c], span[c]) = if frac.is_empty() {
                    (0.0, 0.0)
                } else {
                    (min, max - min)
                };
            }
            bins[c] = ((span[c] * heights[c] / thick).floor() as i64).clamp(1, 1 << 20);
        }
        let cap = (8 * frac.len()).max(64) as f64;
        while bins.iter().map(|&x| x as f64).product::<f64>() > cap {
            let f = (bins.iter().map(|&x| x as f64).product::<f64>() / cap).cbrt();
            let shrunk = bins.map(|x| ((x as f64 / f.max(1.01)).floor() as i64).max(1));
            if shrunk == bins {
                break;
            }
            bins = shrunk;
        }
        let mut reach = [0i64; 3];
        for c in 0..3 {
            let t = span[c] * heights[c] / bins[c] as f64;
            let r = if t > 0.0 {
                (radius / t).floor() + 1.0
            } else {
                1.0
            };
            if pbc[c] && r > MAX_IMAGE_RANGE {
                return Err(format!(
                    "the cell is {:.3e} Angstrom thick along lattice vector {}: a radius of \
                     {radius} Angstrom would need {r:.0} periodic images that way (at most \
                     {MAX_IMAGE_RANGE} are searched); check the lattice parameters",
                    heights[c],
                    c + 1
                ));
            }
            reach[c] = if pbc[c] {
                r as i64
            } else {
                r.min(bins[c] as f64) as i64
            };
        }
        Ok(Layout {
            pbc,
            lo,
            span,
            bins,
            reach,
        })
    }

    /// The bin of fractional coordinates `f` and the lattice translation wrapping removed.
    fn place(&self, f: [f64; 3]) -> ([i64; 3], [i32; 3]) {
        let mut bin = [0i64; 3];
        let mut wrap = [0i32; 3];
        for c in 0..3 {
            let mut x = f[c];
            if self.pbc[c] {
                let w = x.floor();
                x -= w;
                wrap[c] = w as i32;
            } else {
                x = if self.span[c] > 0.0 {
                    (x - self.lo[c]) / self.span[c]
                } else {
                    0.0
                };
            }
            bin[c] = ((x * self.bins[c] as f64) as i64).clamp(0, self.bins[c] - 1);
        }
        (bin, wrap)
    }
}

/// The atoms ordered by bin (a counting sort) and each bin's offset into them.
fn bin_order(placed: &[([i64; 3], [i32; 3])], bins: [i64; 3]) -> (Vec<u32>, Vec<u32>) {
    let flat = |b: [i64; 3]| ((b[0] * bins[1] + b[1]) * bins[2] + b[2]) as usize;
    let total = (bins[0] * bins[1] * bins[2]) as usize;
    let mut start = vec![0u32; total + 1];
    for (bin, _) in placed {
        start[flat(*bin) + 1] += 1;
    }
    for k in 0..total {
        start[k + 1] += start[k];
    }
    let mut fill = start.clone();
    let mut atoms = vec![0u32; placed.len()];
    for (i, (bin, _)) in placed.iter().enumerate() {
        let at = &mut fill[flat(*bin)];
        atoms[*at as usize] = i as u32;
        *at += 1;
    }
    (start, atoms)
}

impl<'a> Grid<'a> {
    /// Bins `positions` for pairs closer than `radius` under `lattice` (rows) and `pbc`.
    ///
    /// # Errors
    /// A periodic lattice vector of no length, periodic vectors in one line or plane, a cell so
    /// thin that the radius would need more than [`MAX_IMAGE_RANGE`] images, a position that is
    /// not finite.
    pub fn new(
        positions: &'a [[f64; 3]],
        lattice: &[[f64; 3]; 3],
        pbc: [bool; 3],
        radius: f64,
    ) -> Result<Self, String> {
        if !(radius.is_finite() && radius > 0.0) {
            return Err(format!("the radius must be positive, got {radius}"));
        }
        let b = periodic_basis(lattice, pbc)?;
        let inv = inverse(&b);
        let volume = dot(b[0], cross(b[1], b[2])).abs();
        // distance between the planes of one basis row's fractional coordinate
        let heights = [
            volume / norm(cross(b[1], b[2])),
            volume / norm(cross(b[2], b[0])),
            volume / norm(cross(b[0], b[1])),
        ];
        let frac: Vec<[f64; 3]> = positions
            .iter()
            .map(|p| [0, 1, 2].map(|c| p[0] * inv[0][c] + p[1] * inv[1][c] + p[2] * inv[2][c]))
            .collect();
        if frac.iter().flatten().any(|x| !x.is_finite()) {
            return Err("a position is not a finite number".into());
        }
        let layout = Layout::new(&frac, pbc, heights, radius)?;
        let (bins, reach) = (layout.bins, layout.reach);
        let placed: Vec<([i64; 3], [i32; 3])> = frac.iter().map(|f| layout.place(*f)).collect();
        let (start, atoms) = bin_order(&placed, bins);
        let mut lattice_p = [[0.0; 3]; 3];
        for c in 0..3 {
            if pbc[c] {
                lattice_p[c] = b[c];
            }
        }
        let sorted = atoms
            .iter()
            .map(|&i| {
                let (p, w) = (positions[i as usize], placed[i as usize].1.map(f64::from));
                [0, 1, 2].map(|c| {
                    p[c] - (w[0] * lattice_p[0][c]
                        + w[1] * lattice_p[1][c]
                        + w[2] * lattice_p[2][c])
                })
            })
            .collect();
        let slots = atoms
            .iter()
            .map(|&i| (i, positions[i as usize], placed[i as usize].1))
            .collect();
        Ok(Grid {
            positions,
            lattice: lattice_p,
            pbc,
            radius,
            bins,
            reach,
            start,
            sorted,
            slots,
            placed,
        })
    }

    /// Every neighbour of atom `i` (closer than the radius, itself excluded, its own periodic
    /// images included), appended to `out` in no particular order.
    ///
    /// Candidates are compared on wrapped positions with the bin's lattice shift (a little
    /// generously); those that pass are measured again from the given positions and their image,
    /// which is what the radius is held to and what the vector is.
    pub fn neighbours_of(&self, i: usize, out: &mut Vec<Neighbour>) {
        let (bin, wrap_i) = self.placed[i];
        let pi = self.positions[i];
        let l = &self.lattice;
        let wi = {
            let w = wrap_i.map(f64::from);
            [0, 1, 2].map(|c| pi[c] - (w[0] * l[0][c] + w[1] * l[1][c] + w[2] * l[2][c]))
        };
        let r2 = self.radius * self.radius;
        let loose = r2 * (1.0 + 1e-9);
        let (rx, ry, rz) = (self.reach[0], self.reach[1], self.reach[2]);
        let shift = |q: i32, c: usize| l[c].map(|x| f64::from(q) * x);
        let add = |a: [f64; 3], b: [f64; 3]| [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
        for dx in -rx..=rx {
            let Some((bx, qx)) = self.step(0, bin[0] + dx) else {
                continue;
            };
            let sx = shift(qx, 0);
            for dy in -ry..=ry {
                let Some((by, qy)) = self.step(1, bin[1] + dy) else {
                    continue;
                };
                let sxy = add(sx, shift(qy, 1));
                for dz in -rz..=rz {
                    let Some((bz, qz)) = self.step(2, bin[2] + dz) else {
                        continue;
                    };
                    let k = ((bx * self.bins[1] + by) * self.bins[2] + bz) as usize;
                    let q = [qx, qy, qz];
                    // where the receiver sits relative to this bin's image
                    let s3 = add(sxy, shift(qz, 2));
                    let centre = [wi[0] - s3[0], wi[1] - s3[1], wi[2] - s3[2]];
                    let (a, z) = (self.start[k] as usize, self.start[k + 1] as usize);
                    for (slot, wj) in self.sorted[a..z].iter().enumerate() {
                        let d = [centre[0] - wj[0], centre[1] - wj[1], centre[2] - wj[2]];
                        if d[0] * d[0] + d[1] * d[1] + d[2] * d[2] >= loose {
                            continue;
                        }
                        let (j, pj, wrap_j) = self.slots[a + slot];
                        let image = [0, 1, 2].map(|c| q[c] + wrap_i[c] - wrap_j[c]);
                        if i == j as usize && image == [0, 0, 0] {
                            continue;
                        }
                        let n = image.map(f64::from);
                        let v = [0, 1, 2].map(|c| {
                            pi[c] - (pj[c] + n[0] * l[0][c] + n[1] * l[1][c] + n[2] * l[2][c])
                        });
                        if dot(v, v) < r2 {
                            out.push(Neighbour {
                                order: Neighbour::order_of(j, image),
                                sender: j,
                                image,
                                vector: v,
                            });
                        }
                    }
                }
            }
        }
    }

    /// Bin `b` along axis `c` as a bin of the grid and the lattice translation it lies in; `None`
    /// outside an open direction's bins.
    #[inline]
    fn step(&self, c: usize, b: i64) -> Option<(i64, i32)> {
        let n = self.bins[c];
        if self.pbc[c] {
            // one image either way without a division (the usual reach of one bin)
            Some(if (0..n).contains(&b) {
                (b, 0)
            } else if (-n..0).contains(&b) {
                (b + n, -1)
            } else if (n..2 * n).contains(&b) {
                (b - n, 1)
            } else {
                (b.rem_euclid(n), b.div_euclid(n) as i32)
            })
        } else if (0..n).contains(&b) {
            Some((b, 0))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests;
