//! `#[plugin_options]` on a spec of every kind of option: the rows it writes (named after their
//! fields, in field order, defaults as TOML or as given), and the serde defaults it adds.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::{OptionDoc, plugin_options};
use serde::{Deserialize, Serialize};

/// A row shared by several specs.
const SHARED: OptionDoc = OptionDoc {
    name: "shared",
    ty: "integer",
    default: "7",
    doc: "a row several plugins use",
};

fn seven() -> u32 {
    7
}

/// Every kind of option the macro knows.
#[plugin_options]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[option(ty = "integer", doc = "no default: required")]
    size: usize,
    #[option(ty = "float", default = -1.5, doc = "a negative literal")]
    offset: f64,
    #[option(ty = "string", default = "cutoff".into(), doc = "a string")]
    rule: String,
    #[option(ty = "list of integers", default = vec![], doc = "an empty list")]
    ids: Vec<u32>,
    #[option(ty = "integer", default = 2 * 64, toml = "128", doc = "an expression")]
    step: usize,
    #[serde(default)]
    #[option(ty = "boolean", toml = "false", doc = "serde's own default")]
    quiet: bool,
    #[option(ty = "integer", toml = "none", doc = "absent: none")]
    limit: Option<u64>,
    #[serde(default = "seven")]
    #[option(row = SHARED)]
    shared: u32,
    #[serde(skip)]
    cache: Vec<u8>,
}

#[test]
fn rows_follow_the_fields_with_their_defaults_as_toml() {
    let rows: Vec<(&str, &str, &str, &str)> = Spec::OPTIONS
        .iter()
        .map(|o| (o.name, o.ty, o.default, o.doc))
        .collect();
    assert_eq!(
        rows,
        [
            ("size", "integer", "required", "no default: required"),
            ("offset", "float", "-1.5", "a negative literal"),
            ("rule", "string", "\"cutoff\"", "a string"),
            ("ids", "list of integers", "[]", "an empty list"),
            ("step", "integer", "128", "an expression"),
            ("quiet", "boolean", "false", "serde's own default"),
            ("limit", "integer", "none", "absent: none"),
            ("shared", "integer", "7", "a row several plugins use"),
        ]
    );
}

#[test]
fn absent_keys_take_the_declared_defaults_and_required_ones_are_refused() {
    let spec: Spec = toml::from_str("size = 3").unwrap();
    assert_eq!(
        spec,
        Spec {
            size: 3,
            offset: -1.5,
            rule: "cutoff".into(),
            ids: Vec::new(),
            step: 128,
            quiet: false,
            limit: None,
            shared: 7,
            cache: Vec::new(),
        }
    );
    let err = toml::from_str::<Spec>("step = 64").unwrap_err().to_string();
    assert!(err.contains("missing field `size`"), "{err}");
    let err = toml::from_str::<Spec>("size = 1\nstpe = 64")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `stpe`"), "{err}");
}
