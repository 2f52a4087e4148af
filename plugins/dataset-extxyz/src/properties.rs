//! The `Properties=name:T:m:...` column spec of an extended XYZ frame: per-atom columns with their
//! type (`S` string, `I` integer, `R` real, `L` logical) and width.

/// The type of a per-atom column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `S`: a string (`species`).
    Str,
    /// `I`: an integer (`Z`).
    Int,
    /// `R`: a real number (`pos`, `forces`).
    Real,
    /// `L`: a logical, `T`/`F`/`True`/`False`.
    Logical,
}

/// One per-atom property: its name, type and number of columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// Name, e.g. `pos`.
    pub name: String,
    /// Type of its values.
    pub kind: Kind,
    /// Number of columns (3 for `pos`).
    pub width: usize,
}

/// The most columns one property may span (a damaged width must not make a reader wait for
/// millions of fields).
pub const MAX_WIDTH: usize = 10_000;

/// What ASE assumes when a comment line has no `Properties`.
pub const DEFAULT: &str = "species:S:1:pos:R:3";

/// Parses a `Properties` value.
pub fn parse(spec: &str) -> Result<Vec<Property>, String> {
    let fields: Vec<&str> = spec.split(':').collect();
    if !fields.len().is_multiple_of(3) {
        return Err(format!(
            "Properties={spec:?} is not a list of name:type:columns triples"
        ));
    }
    let mut out: Vec<Property> = Vec::with_capacity(fields.len() / 3);
    for t in fields.chunks_exact(3) {
        let kind = match t[1] {
            "S" => Kind::Str,
            "I" => Kind::Int,
            "R" => Kind::Real,
            "L" => Kind::Logical,
            other => {
                return Err(format!(
                    "Properties: {}: type {other:?} is none of S, I, R, L",
                    t[0]
                ));
            }
        };
        let width = t[2]
            .parse::<usize>()
            .ok()
            .filter(|w| (1..=MAX_WIDTH).contains(w))
            .ok_or_else(|| {
                format!(
                    "Properties: {}: {:?} is not a number of columns (1 to {MAX_WIDTH})",
                    t[0], t[2]
                )
            })?;
        if t[0].is_empty() {
            return Err(format!("Properties={spec:?}: a property has no name"));
        }
        if out.iter().any(|p| p.name == t[0]) {
            return Err(format!("Properties: {} is listed twice", t[0]));
        }
        out.push(Property {
            name: t[0].to_string(),
            kind,
            width,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_are_named() {
        let p = parse("species:S:1:pos:R:3:forces:R:3:fixed:L:1:Z:I:1").unwrap();
        assert_eq!(p.len(), 5);
        assert_eq!(
            p[1],
            Property {
                name: "pos".into(),
                kind: Kind::Real,
                width: 3
            }
        );
        assert_eq!(p[3].kind, Kind::Logical);
        assert!(parse("species:S:1:pos:R").unwrap_err().contains("triples"));
        assert!(parse("species:X:1").unwrap_err().contains("\"X\""));
        assert!(parse("pos:R:0").unwrap_err().contains("columns"));
        assert!(parse("pos:R:99999999999").unwrap_err().contains("columns"));
        assert!(parse("pos:R:3:pos:R:3").unwrap_err().contains("twice"));
    }
}
