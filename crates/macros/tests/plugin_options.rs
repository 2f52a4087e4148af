//! `#[plugin_options]` on a spec of every kind of option: the rows it writes (named after their
//! fields, in field order, defaults as written or shown from their values), and the serde
//! defaults it adds.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::{OptionDefault, OptionDoc, plugin_options, value_default};
use serde::{Deserialize, Serialize};

/// A row shared by several specs.
const SHARED: OptionDoc = OptionDoc {
    name: "shared",
    ty: "integer",
    default: value_default!(seven()),
    doc: "a row several plugins use",
};

fn seven() -> u32 {
    7
}

/// A default that is neither a literal nor serde's: a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Window {
    from: u32,
    to: u32,
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
    #[option(ty = "integer", default = 2 * 64, doc = "an expression")]
    step: usize,
    #[option(ty = "table", default = Window { from: 1, to: 9 }, doc = "a table")]
    window: Window,
    #[serde(default)]
    #[option(ty = "boolean", doc = "serde's own default")]
    quiet: bool,
    #[serde(default)]
    #[option(ty = "integer", toml = "0 (every one)", doc = "in words")]
    every: u32,
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
    let rows: Vec<(&str, &str, String, &str)> = Spec::OPTIONS
        .iter()
        .map(|o| (o.name, o.ty, o.default.to_string(), o.doc))
        .collect();
    let rows: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .map(|(n, t, d, o)| (*n, *t, d.as_str(), *o))
        .collect();
    assert_eq!(
        rows,
        [
            ("size", "integer", "required", "no default: required"),
            ("offset", "float", "-1.5", "a negative literal"),
            ("rule", "string", "\"cutoff\"", "a string"),
            ("ids", "list of integers", "[]", "an empty list"),
            ("step", "integer", "128", "an expression"),
            ("window", "table", "{ from = 1, to = 9 }", "a table"),
            ("quiet", "boolean", "false", "serde's own default"),
            ("every", "integer", "0 (every one)", "in words"),
            ("limit", "integer", "none", "absent: none"),
            ("shared", "integer", "7", "a row several plugins use"),
        ]
    );
    let kinds: Vec<&str> = Spec::OPTIONS
        .iter()
        .map(|o| match o.default {
            OptionDefault::Required => "required",
            OptionDefault::Text(_) => "text",
            OptionDefault::Value(_) => "value",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "required", "text", "text", "text", "value", "value", "value", "text", "text", "value"
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
            window: Window { from: 1, to: 9 },
            quiet: false,
            every: 0,
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
