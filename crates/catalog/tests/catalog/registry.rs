//! Every plugin this build promises is registered, its descriptor reads its example into
//! the trait its role names, and unknown names are refused with the list of known ones.

use geobatch_core::registry::{self, PluginKind, Task};
use geobatch_core::{BatcherSpec, DatasetSpec, ModelSpec, SinkSpec};
use geobatch_node::NodeLevel;
use geobatch_potential::Potential;

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

/// A plugin crate added to the workspace but not to the catalog would build, pass its own tests
/// and be missing from every binary: each crate under plugins/ must be linked by this build.
#[test]
fn every_plugin_crate_of_the_workspace_is_in_the_catalog() {
    let plugins = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins");
    let mut seen = 0;
    for entry in std::fs::read_dir(&plugins).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let table: toml::Table = toml::from_str(&text).unwrap();
        let name = table["package"]["name"].as_str().unwrap().to_string();
        let feature = name.strip_prefix("geobatch-").unwrap_or(&name);
        assert!(
            geobatch_catalog::CRATES.contains(&feature),
            "{name} ({}) is not in the catalog: add the feature `{feature}` (with its optional \
             dependency, and to `default`) to crates/catalog/Cargo.toml and its line to the \
             `plugins!` list in crates/catalog/src/lib.rs",
            manifest.display()
        );
        seen += 1;
    }
    assert_eq!(
        seen,
        geobatch_catalog::CRATES.len(),
        "the catalog links a crate not under plugins/"
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
                parse::<Box<dyn DatasetSpec<NodeLevel>>>(d.example).map(|s| s.plugin_name())
            }
            (Task::Node, PluginKind::Batcher) => {
                parse::<Box<dyn BatcherSpec<NodeLevel>>>(d.example).map(|s| s.plugin_name())
            }
            (Task::Node, PluginKind::Model) => {
                parse::<Box<dyn ModelSpec<NodeLevel>>>(d.example).map(|s| s.plugin_name())
            }
            (Task::Potential, PluginKind::Model) => {
                parse::<Box<dyn ModelSpec<Potential>>>(d.example).map(|s| s.plugin_name())
            }
            (_, PluginKind::Dataset) => {
                parse::<Box<dyn DatasetSpec>>(d.example).map(|s| s.plugin_name())
            }
            (_, PluginKind::Batcher) => {
                parse::<Box<dyn BatcherSpec>>(d.example).map(|s| s.plugin_name())
            }
            (_, PluginKind::Sink) => parse::<Box<dyn SinkSpec>>(d.example).map(|s| s.plugin_name()),
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

/// Asserts that `err` refuses the unknown name and lists every registered plugin of `kind` for
/// `task` (whichever plugins this build has).
fn lists_every_registered(err: &str, kind: PluginKind, task: Option<Task>) {
    assert!(err.contains("unknown variant `no-such-plugin`"), "{err}");
    let names: Vec<&str> = registry::descriptors()
        .into_iter()
        .filter(|d| d.kind == kind && task.is_none_or(|t| d.task == t))
        .map(|d| d.name)
        .collect();
    assert!(!names.is_empty(), "no {kind} registered");
    for name in names {
        assert!(
            err.contains(&format!("`{name}`")),
            "{err} does not list {kind} {name}"
        );
    }
}

#[test]
fn unknown_names_list_the_registered_ones() {
    geobatch_catalog::link();
    let unknown = "kind = \"no-such-plugin\"\n";
    let err = parse::<Box<dyn BatcherSpec>>(unknown).unwrap_err();
    lists_every_registered(&err, PluginKind::Batcher, Some(Task::Graph));
    let err = parse::<Box<dyn SinkSpec>>(unknown).unwrap_err();
    lists_every_registered(&err, PluginKind::Sink, None);
    let err = parse::<Box<dyn DatasetSpec>>(unknown).unwrap_err();
    lists_every_registered(&err, PluginKind::Dataset, Some(Task::Graph));
}

#[test]
fn unknown_keys_and_wrong_types_are_refused() {
    geobatch_catalog::link();
    let err = parse::<Box<dyn BatcherSpec>>("kind = \"dynamic\"\nbatch_size = 4\nbuget = 3\n")
        .unwrap_err();
    assert!(
        err.contains("unknown field `buget`")
            && err.contains("num_estimation_graphs")
            && err.contains("budget"),
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

#[derive(serde::Serialize)]
struct Written<'a, T: ?Sized> {
    plugin: &'a T,
}

/// `spec` written back as a config writes it, and read again and written once more.
fn written_twice<T>(spec: &T) -> (String, String)
where
    T: serde::Serialize + ?Sized,
    Box<T>: serde::de::DeserializeOwned,
{
    let once = toml::to_string(&Written { plugin: spec }).unwrap();
    let again: One<Box<T>> = toml::from_str(&once).unwrap_or_else(|e| panic!("{once}: {e}"));
    let twice = toml::to_string(&Written {
        plugin: again.plugin.as_ref(),
    })
    .unwrap();
    (once, twice)
}

#[test]
fn specs_are_read_by_their_task_and_written_back_kind_first() {
    geobatch_catalog::link();
    // a node-level batcher's name is not a graph-level batcher's: the role's task decides
    let err = parse::<Box<dyn BatcherSpec>>("kind = \"cluster\"\nnum_parts = 4\n").unwrap_err();
    assert!(
        err.contains("unknown variant `cluster`") && err.contains("`static`"),
        "{err}"
    );
    let node = parse::<Box<dyn BatcherSpec<NodeLevel>>>("kind = \"cluster\"\nnum_parts = 4\n");
    assert_eq!(node.map(|s| s.batch_size()), Ok(4));
    // one name serving two tasks is two registrations of one trait
    let text = "kind = \"python\"\nmodule = \"m\"\n";
    let graph = parse::<Box<dyn ModelSpec>>(text).map(|s| s.plugin_name());
    let node = parse::<Box<dyn ModelSpec<NodeLevel>>>(text).map(|s| s.plugin_name());
    assert_eq!(
        (graph.as_deref(), node.as_deref()),
        (Ok("python"), Ok("python"))
    );
    let err = parse::<Box<dyn BatcherSpec>>("batch_size = 4\n").unwrap_err();
    assert!(err.contains("missing field `kind`"), "{err}");
    // from JSON (the Python planner's options), a null is an option left out
    let spec: Box<dyn BatcherSpec> = serde_json::from_value(serde_json::json!({
        "kind": "dynamic", "batch_size": 4, "budget": null
    }))
    .unwrap();
    assert_eq!((spec.batch_size(), spec.facts().budget), (4, None));
    // written back: `kind` first, then the options, and the same text when read again
    for d in registry::descriptors() {
        let (once, twice) = match (d.task, d.kind) {
            (Task::Graph, PluginKind::Batcher) => {
                written_twice(parse::<Box<dyn BatcherSpec>>(d.example).unwrap().as_ref())
            }
            (Task::Graph, PluginKind::Dataset) => {
                written_twice(parse::<Box<dyn DatasetSpec>>(d.example).unwrap().as_ref())
            }
            (_, PluginKind::Sink) => {
                written_twice(parse::<Box<dyn SinkSpec>>(d.example).unwrap().as_ref())
            }
            (Task::Node, PluginKind::Batcher) => written_twice(
                parse::<Box<dyn BatcherSpec<NodeLevel>>>(d.example)
                    .unwrap()
                    .as_ref(),
            ),
            _ => continue,
        };
        assert!(
            once.starts_with(&format!("[plugin]\nkind = \"{}\"\n", d.name)),
            "{} {}: {once}",
            d.kind,
            d.name
        );
        assert_eq!(once, twice, "{} {}", d.kind, d.name);
    }
}

/// A potential's model is a graph-level model read again (a dataset that carries forces makes
/// the config's model the potential of the same name and options): every potential registers a
/// graph-level model of its name, reads its options back unchanged, and a model that is no
/// potential is refused naming those that are.
#[test]
fn a_potential_is_the_graph_level_model_of_its_name_read_again() {
    geobatch_catalog::link();
    let all = registry::descriptors();
    let models = |task: Task| -> Vec<&str> {
        all.iter()
            .filter(|d| d.kind == PluginKind::Model && d.task == task)
            .map(|d| d.name)
            .collect()
    };
    let potentials = models(Task::Potential);
    assert_eq!(potentials, ["painn", "schnet"]);
    for name in potentials {
        assert!(models(Task::Graph).contains(&name), "{name}");
        let example = all
            .iter()
            .find(|d| d.kind == PluginKind::Model && d.task == Task::Graph && d.name == name)
            .map(|d| d.example)
            .unwrap();
        let spec = parse::<Box<dyn ModelSpec>>(example).unwrap();
        let potential = geobatch_potential::potential_of(spec.as_ref()).unwrap();
        assert_eq!(potential.plugin_name(), name);
        assert_eq!(
            toml::to_string(&*potential).unwrap(),
            toml::to_string(&*spec).unwrap(),
            "{name}: the same options"
        );
    }
    let mpeu = parse::<Box<dyn ModelSpec>>("kind = \"mpeu\"\n").unwrap();
    let err = geobatch_potential::potential_of(mpeu.as_ref())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("model.kind = \"mpeu\" does not train as a potential")
            && err.contains("use \"painn\" or \"schnet\""),
        "{err}"
    );
}
