//! Extended XYZ as ASE reads it back: a structure with a potential's predictions (`energy` and
//! `stress` on the comment line, `forces:R:3` per atom), as `geobatch predict` writes them.

use crate::structures::Structure;
use std::io::Write;

/// `T` or `F`, as ASE writes a boolean.
fn flag(b: bool) -> &'static str {
    if b { "T" } else { "F" }
}

/// Writes one frame: `s` as read (positions as given), with its predicted total `energy` (eV),
/// `forces` (eV/Angstrom, one per atom) and `stress` (eV/Angstrom^3, row-major 3x3) when it has
/// one. Numbers are written with every digit (Rust's shortest round trip).
pub fn predicted_frame(
    out: &mut impl Write,
    s: &Structure,
    energy: f64,
    forces: &[[f32; 3]],
    stress: Option<&[f32; 9]>,
) -> std::io::Result<()> {
    writeln!(out, "{}", s.numbers.len())?;
    let mut line = String::new();
    if let Some(l) = &s.lattice {
        let v: Vec<String> = l.iter().flatten().map(|x| x.to_string()).collect();
        line.push_str(&format!("Lattice=\"{}\" ", v.join(" ")));
    }
    line.push_str("Properties=species:S:1:pos:R:3:forces:R:3 ");
    line.push_str(&format!("energy={energy} "));
    if let Some(st) = stress {
        let v: Vec<String> = st.iter().map(|x| f64::from(*x).to_string()).collect();
        line.push_str(&format!("stress=\"{}\" ", v.join(" ")));
    }
    line.push_str(&format!(
        "pbc=\"{} {} {}\"",
        flag(s.pbc[0]),
        flag(s.pbc[1]),
        flag(s.pbc[2])
    ));
    writeln!(out, "{line}")?;
    for ((z, p), f) in s.numbers.iter().zip(&s.positions).zip(forces) {
        let symbol = geobatch_geometry::elements::symbol(*z).unwrap_or("X");
        writeln!(
            out,
            "{symbol} {} {} {} {} {} {}",
            p[0],
            p[1],
            p[2],
            f64::from(f[0]),
            f64::from(f[1]),
            f64::from(f[2])
        )?;
    }
    Ok(())
}
