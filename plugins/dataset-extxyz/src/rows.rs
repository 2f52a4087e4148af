//! The documented options the structure readers share (`extxyz` here, `asedb`), declared once:
//! each spec puts `#[option(row = rows::NAME)]` on its field of that name.

use geobatch_core::registry::OptionDoc;
use geobatch_core::{SplitSpec, value_default};

/// `per_atom` (default: none).
pub const PER_ATOM: OptionDoc = OptionDoc {
    name: "per_atom",
    ty: "[string]",
    default: value_default!(Vec::<String>::new()),
    doc: "targets divided by the number of atoms (named <target>_per_atom in results)",
};

/// `units` (default: none).
pub const UNITS: OptionDoc = OptionDoc {
    name: "units",
    ty: "[string]",
    default: value_default!(Vec::<String>::new()),
    doc: "units of the targets, one each, for reports",
};

/// `graph` (default [`crate::default_rule`]).
pub const GRAPH: OptionDoc = OptionDoc {
    name: "graph",
    ty: "{ kind = \"knn\" | \"cutoff\" | \"full\", ... }",
    default: value_default!(crate::default_rule()),
    doc: "graph rule; periodic along the directions pbc names",
};

/// `split` (default: `SplitSpec::default()`).
pub const SPLIT: OptionDoc = OptionDoc {
    name: "split",
    ty: "{ train, validation, test[, seed] }",
    default: value_default!(SplitSpec::default()),
    doc: "fractions or counts, seeded by the run's seed",
};

/// `skip_non_finite` (default: off).
pub const SKIP_NON_FINITE: OptionDoc = OptionDoc {
    name: "skip_non_finite",
    ty: "bool",
    default: value_default!(bool::default()),
    doc: "leave out and count structures with a NaN or infinite target or position instead of refusing the data",
};
