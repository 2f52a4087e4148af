//! The batchers a job compares (`advise`, `batches --world-size`): `--batchers` specs, each
//! `KIND[:KEY=VALUE...]`, or the study's default candidates and the config's own batcher.

use crate::{ExperimentConfig, RunError};
use geobatch_core::{BatcherSpec, Task};

/// The candidates when `--batchers` is not given: the study's dynamic, static-64 and static-2^N,
/// and `pack` (those registered in this build), plus the config's own batcher.
pub const DEFAULT_BATCHERS: &[&str] = &[
    "dynamic",
    "static:pad=multiple64",
    "static:pad=pow2",
    "pack",
];

/// A candidate's batcher table from `KIND[:KEY=VALUE...]` (values TOML, else strings); the
/// config's batch size unless the spec sets one.
pub fn candidate_table(spec: &str, batch_size: usize) -> Result<toml::Table, RunError> {
    let mut parts = spec.split(':');
    let kind = parts.next().unwrap_or_default().trim();
    if kind.is_empty() {
        return Err(RunError::Usage(format!(
            "--batchers {spec:?}: expected KIND[:KEY=VALUE...], e.g. static:pad=pow2"
        )));
    }
    let names = geobatch_core::registry::names(geobatch_core::PluginKind::Batcher);
    if !names.contains(&kind) {
        return Err(RunError::Usage(format!(
            "--batchers {spec:?}: unknown batcher {kind:?}; registered: {}",
            names.join(", ")
        )));
    }
    let mut t = toml::Table::new();
    t.insert("kind".into(), toml::Value::String(kind.into()));
    t.insert(
        "batch_size".into(),
        toml::Value::Integer(i64::try_from(batch_size).unwrap_or(i64::MAX)),
    );
    for kv in parts {
        crate::config::apply_override(&mut t, kv)
            .map_err(|m| RunError::Usage(format!("--batchers {spec:?}: {kv:?}: {m}")))?;
    }
    Ok(t)
}

/// The candidates of the straggler study (`batches --world-size`) when `--batchers` is not
/// given: [`DEFAULT_BATCHERS`], the study's constant shape and the max-atoms batches of the
/// potentials' codes (those registered in this build), plus the config's own batcher.
pub const STRAGGLER_BATCHERS: &[&str] = &[
    "dynamic",
    "static:pad=multiple64",
    "static:pad=pow2",
    "static:pad=constant",
    "pack",
    "atoms",
];

/// The candidates' batcher tables: `batchers` (`--batchers`), or, when empty, those of
/// `defaults` registered in this build followed by the config's own batcher (which a caller
/// leaves out when a default candidate has its label).
pub fn tables(
    batchers: &[String],
    defaults: &[&str],
    base: &ExperimentConfig,
    batch_size: usize,
) -> Result<Vec<toml::Table>, RunError> {
    let specs: Vec<String> = if batchers.is_empty() {
        let names = geobatch_core::registry::names(geobatch_core::PluginKind::Batcher);
        defaults
            .iter()
            .filter(|s| names.contains(&s.split(':').next().unwrap_or_default()))
            .map(|s| s.to_string())
            .collect()
    } else {
        batchers.to_vec()
    };
    let mut tables = specs
        .iter()
        .map(|s| candidate_table(s, batch_size))
        .collect::<Result<Vec<_>, _>>()?;
    if batchers.is_empty() {
        let own =
            toml::Table::try_from(&base.batcher).map_err(|e| RunError::Failed(e.to_string()))?;
        tables.push(own);
    }
    Ok(tables)
}

/// The batcher a candidate's table describes, read so that its errors name the key
/// (`batcher.pad`).
pub fn spec(table: &toml::Table) -> Result<Box<dyn BatcherSpec>, RunError> {
    crate::config::plugin_from_table("batcher", table, Task::Graph).map_err(RunError::Usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_take_the_config_batch_size_and_typed_options() {
        geobatch_catalog::link();
        let t = candidate_table("static:pad=pow2", 32).expect("parsed");
        assert_eq!(t["kind"].as_str(), Some("static"));
        assert_eq!(t["pad"].as_str(), Some("pow2"));
        assert_eq!(t["batch_size"].as_integer(), Some(32));
        let t = candidate_table("pack:batch_size=64:window=128", 32).expect("parsed");
        assert_eq!(t["batch_size"].as_integer(), Some(64));
        assert_eq!(t["window"].as_integer(), Some(128));
        let e = candidate_table("greedy-nonexistent", 32).expect_err("unknown");
        assert!(
            e.to_string().contains("unknown batcher") && e.to_string().contains("registered:"),
            "{e}"
        );
        assert!(candidate_table("", 32).is_err());
        assert!(
            candidate_table("static:pad", 32)
                .expect_err("no value")
                .to_string()
                .contains("KEY=VALUE")
        );
    }
}
