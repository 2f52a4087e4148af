//! A plugin's options are declared once, on its spec's fields (`#[plugin_options]`: each field's
//! `#[option]` gives the serde default and the `OptionDoc` row that `geobatch list` and
//! docs/plugins.md show). What the macro cannot see is checked here for every registered plugin:
//! that the rows name exactly the keys serde reads (shared rows, hand-written descriptors), and
//! that every default documented as a TOML value is the default the spec takes.

use geobatch_core::registry::{self, PluginDescriptor, PluginKind, Task};
use geobatch_core::{BatcherSpec, DatasetSpec, ModelSpec, OptionDefault, SinkSpec};
use geobatch_node::NodeLevel;
use geobatch_potential::Potential;
use std::collections::BTreeSet;

#[derive(serde::Deserialize)]
struct One<T> {
    plugin: T,
}

/// Parses `table` as the plugin's kind of spec and serialises it back (its defaults filled).
fn round_trip(d: &PluginDescriptor, table: &str) -> Result<serde_json::Value, String> {
    fn via<T: serde::de::DeserializeOwned + serde::Serialize>(
        table: &str,
    ) -> Result<serde_json::Value, String> {
        let one: One<T> =
            toml::from_str(&format!("[plugin]\n{table}")).map_err(|e| e.to_string())?;
        serde_json::to_value(&one.plugin).map_err(|e| e.to_string())
    }
    match (d.task, d.kind) {
        (Task::Node, PluginKind::Dataset) => via::<Box<dyn DatasetSpec<NodeLevel>>>(table),
        (Task::Node, PluginKind::Batcher) => via::<Box<dyn BatcherSpec<NodeLevel>>>(table),
        (Task::Node, PluginKind::Model) => via::<Box<dyn ModelSpec<NodeLevel>>>(table),
        (Task::Potential, PluginKind::Model) => via::<Box<dyn ModelSpec<Potential>>>(table),
        (_, PluginKind::Dataset) => via::<Box<dyn DatasetSpec>>(table),
        (_, PluginKind::Batcher) => via::<Box<dyn BatcherSpec>>(table),
        (_, PluginKind::Model) => via::<Box<dyn ModelSpec>>(table),
        (_, PluginKind::Sink) => via::<Box<dyn SinkSpec>>(table),
    }
}

/// The field names serde lists when it refuses an unknown key.
fn accepted_fields(d: &PluginDescriptor) -> BTreeSet<String> {
    let err = round_trip(d, &format!("{}\nzz_no_such_option = 1", d.example))
        .expect_err("an unknown key is refused");
    assert!(
        err.contains("unknown field `zz_no_such_option`"),
        "{} {}: {err}",
        d.kind,
        d.name
    );
    let listed = err.split("expected").nth(1).unwrap_or("");
    listed
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn every_plugins_documented_options_are_the_options_it_reads() {
    geobatch_catalog::link();
    let mut checked = 0;
    for d in registry::descriptors() {
        let documented: BTreeSet<String> = d.options.iter().map(|o| o.name.to_string()).collect();
        let accepted = accepted_fields(d);
        assert_eq!(
            documented, accepted,
            "{} {}: its OptionDoc rows (left) and the keys its spec reads (right) differ",
            d.kind, d.name
        );
        checked += 1;
    }
    assert!(checked >= 20, "{checked} plugins");
}

/// A documented default written as a TOML value (`64`, `true`, `"cutoff"`, `[]`), as JSON;
/// `None` for one written in words ("the run's seed", "none", "estimated").
fn default_value(text: &str) -> Option<serde_json::Value> {
    let t: toml::Table = toml::from_str(&format!("v = {text}")).ok()?;
    serde_json::to_value(t.get("v")?).ok()
}

/// Numbers compare as numbers (`1` and `1.0` are one default; a spec may hold an `f32`), and
/// an empty list or table, or a `false` flag, as a value the spec leaves out when empty or off.
fn same(want: &serde_json::Value, got: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (want, got) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= 1e-6 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Null) => x.is_empty(),
        // a flag the spec leaves out when off (so configs written before it hash the same)
        (Value::Bool(false), Value::Null) => true,
        (Value::Object(x), Value::Null) => x.is_empty(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => want == got,
    }
}

#[test]
fn every_documented_default_is_the_default_the_plugin_takes() {
    geobatch_catalog::link();
    let (mut checked, mut wrong) = (0, Vec::new());
    for d in registry::descriptors() {
        // the example's required options alone: every other option takes its default
        let example: toml::Table = toml::from_str(d.example).unwrap();
        let required: BTreeSet<&str> = d
            .options
            .iter()
            .filter(|o| o.default.is_required())
            .map(|o| o.name)
            .collect();
        let mut minimal = toml::Table::new();
        for (k, v) in &example {
            if k == "kind" || required.contains(k.as_str()) {
                minimal.insert(k.clone(), v.clone());
            }
        }
        let spec = round_trip(d, &toml::to_string(&minimal).unwrap())
            .unwrap_or_else(|e| panic!("{} {}: its required options alone: {e}", d.kind, d.name));
        for o in d.options.iter().filter(|o| !required.contains(o.name)) {
            let shown = o.default.to_string();
            let Some(want) = default_value(&shown) else {
                // words are for what no value says; a default shown from its value is TOML
                if matches!(o.default, OptionDefault::Value(_)) {
                    wrong.push(format!(
                        "{} {}: option {} is shown from its value as {shown}, not TOML",
                        d.kind, d.name, o.name
                    ));
                }
                continue;
            };
            let got = spec.get(o.name).cloned().unwrap_or(serde_json::Value::Null);
            if !same(&want, &got) {
                wrong.push(format!(
                    "{} {}: option {} is documented with default {} but defaults to {got}",
                    d.kind, d.name, o.name, o.default
                ));
            }
            checked += 1;
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked >= 40, "{checked} defaults");
}
