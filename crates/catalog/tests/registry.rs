//! Every plugin this build promises is registered, its descriptor agrees with its typetag
//! registration, and unknown names are refused with the list of known ones.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::node::{NodeBatcherSpec, NodeDatasetSpec, NodeModelSpec};
use geobatch_core::registry::{self, PluginKind, Task};
use geobatch_core::{BatcherSpec, DatasetSpec, SinkSpec};

#[test]
fn every_expected_plugin_is_registered() {
    geobatch_catalog::link();
    for (kind, name) in geobatch_catalog::EXPECTED {
        let kind = PluginKind::parse(kind).expect("known kind");
        assert!(
            registry::find(kind, name).is_some(),
            "{kind} {name} is not registered"
        );
    }
    let all = registry::descriptors();
    assert_eq!(
        all.len(),
        geobatch_catalog::EXPECTED.len(),
        "a registered plugin is missing from EXPECTED"
    );
}

#[derive(serde::Deserialize)]
struct One<T> {
    plugin: T,
}

fn parse<T: serde::de::DeserializeOwned>(table: &str) -> Result<T, String> {
    let text = format!("[plugin]\n{table}");
    toml::from_str::<One<T>>(&text)
        .map(|o| o.plugin)
        .map_err(|e| e.to_string())
}

#[test]
fn every_descriptor_example_parses_into_its_registered_spec() {
    geobatch_catalog::link();
    for d in registry::descriptors() {
        let name = match (d.task, d.kind) {
            (Task::Node, PluginKind::Dataset) => {
                parse::<Box<dyn NodeDatasetSpec>>(d.example).map(|s| s.typetag_name())
            }
            (Task::Node, PluginKind::Batcher) => {
                parse::<Box<dyn NodeBatcherSpec>>(d.example).map(|s| s.typetag_name())
            }
            (Task::Node, PluginKind::Model) => {
                parse::<Box<dyn NodeModelSpec>>(d.example).map(|s| s.typetag_name())
            }
            (_, PluginKind::Dataset) => {
                parse::<Box<dyn DatasetSpec>>(d.example).map(|s| s.typetag_name())
            }
            (_, PluginKind::Batcher) => {
                parse::<Box<dyn BatcherSpec>>(d.example).map(|s| s.typetag_name())
            }
            (_, PluginKind::Sink) => {
                parse::<Box<dyn SinkSpec>>(d.example).map(|s| s.typetag_name())
            }
            (_, PluginKind::Model) => continue,
        };
        assert_eq!(
            name.as_deref(),
            Ok(d.name),
            "example of {} {}",
            d.kind,
            d.name
        );
        // a plugin without options (the `full` batcher) has a one-line example
        assert!(
            !d.summary.is_empty() && (!d.options.is_empty() || d.example.lines().count() == 1),
            "{} {} is undocumented",
            d.kind,
            d.name
        );
    }
}

#[test]
fn unknown_names_list_the_registered_ones() {
    geobatch_catalog::link();
    let err = parse::<Box<dyn BatcherSpec>>("kind = \"greedy\"\nbatch_size = 4\n").unwrap_err();
    assert!(err.contains("unknown variant `greedy`"), "{err}");
    let graph_batchers = registry::descriptors()
        .into_iter()
        .filter(|d| d.kind == PluginKind::Batcher && d.task == Task::Graph)
        .map(|d| d.name);
    for name in graph_batchers {
        assert!(
            err.contains(&format!("`{name}`")),
            "{err} does not list {name}"
        );
    }
    let err = parse::<Box<dyn SinkSpec>>("kind = \"csv\"\n").unwrap_err();
    assert!(
        err.contains("`parquet`") && err.contains("`console`"),
        "{err}"
    );
    let err = parse::<Box<dyn DatasetSpec>>("kind = \"qm7\"\n").unwrap_err();
    assert!(err.contains("`synthetic`"), "{err}");
}

#[test]
fn unknown_keys_and_wrong_types_are_refused() {
    geobatch_catalog::link();
    let err = parse::<Box<dyn BatcherSpec>>("kind = \"dynamic\"\nbatch_size = 4\nbudget = 3\n")
        .unwrap_err();
    assert!(
        err.contains("unknown field `budget`") && err.contains("num_estimation_graphs"),
        "{err}"
    );
    let err = parse::<Box<dyn BatcherSpec>>("kind = \"static\"\nbatch_size = 4.5\n").unwrap_err();
    assert!(err.contains("invalid type"), "{err}");
    let err = parse::<Box<dyn BatcherSpec>>("kind = \"static\"\nbatch_size = 4\npad = \"pow3\"\n")
        .unwrap_err();
    assert!(
        err.contains("pow2") && err.contains("multiple64") && err.contains("constant"),
        "{err}"
    );
    let err = parse::<Box<dyn DatasetSpec>>(
        "kind = \"synthetic\"\ngraph = { kind = \"knn\", k = 3, r = 1 }\n",
    )
    .unwrap_err();
    assert!(err.contains("unknown field `r`"), "{err}");
}
