//! A job's own settings edit the typed config, never its text (`--steps`, `--epochs`,
//! `bench step --model` and `--batch-sizes`, advise's variants): the edited config is the one
//! the same setting written in the file makes, byte for byte, and its errors name the key
//! without line numbers of a text the user never wrote.

use geobatch_core::BatcherSpec;
use geobatch_runner::jobs::{AnyConfig, Request};
use geobatch_runner::{LoadedConfig, RunError};
use std::path::{Path, PathBuf};

const GRAPH: &str = "[experiment]\nname = \"t\"\nseed = 3\n[dataset]\nkind = \"synthetic\"\n\
    graphs = 40\n[model]\nkind = \"schnet\"\nlatent = 8\nsteps = 1\n[batcher]\nkind = \"static\"\n\
    batch_size = 8\npad = \"multiple64\"\n";

const NODE: &str = "[experiment]\nname = \"n\"\n[dataset]\nkind = \"sbm\"\nnodes = 300\n[model]\n\
    kind = \"gcn\"\n[batcher]\nkind = \"cluster\"\nnum_parts = 4\n";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    geobatch_catalog::link();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn steps_and_epochs_set_on_the_value_make_the_config_the_file_would() {
    let dir = tempfile::tempdir().unwrap();
    for (text, request, written) in [
        (
            GRAPH,
            Request::Train {
                steps: Some(7),
                epochs: None,
            },
            "training.steps=7",
        ),
        (
            NODE,
            Request::Train {
                steps: None,
                epochs: Some(5),
            },
            "training.epochs=5",
        ),
    ] {
        let path = write(dir.path(), "c.toml", text);
        let edited = AnyConfig::open(&path, &[], request).unwrap();
        let as_text = AnyConfig::from_file_with(&path, &[written.to_string()]).unwrap();
        assert_eq!(edited.resolved(), as_text.resolved(), "{written}");
        assert_eq!(edited.run_dir(), as_text.run_dir(), "{written}");
        let plain = AnyConfig::from_file_with(&path, &[]).unwrap();
        assert_ne!(
            edited.run_dir(),
            plain.run_dir(),
            "--steps names another run"
        );
    }
}

#[test]
fn a_refused_round_count_is_named_without_the_overrides_note() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "c.toml", GRAPH);
    let zero = Request::Train {
        steps: Some(0),
        epochs: None,
    };
    let e = AnyConfig::open(&path, &[], zero).unwrap_err().to_string();
    assert!(e.contains("training.steps must be at least 1"), "{e}");
    assert!(!e.contains("after --set"), "no --set was given: {e}");
}

#[test]
fn a_batch_size_edit_copies_the_spec_and_leaves_the_config_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "c.toml", GRAPH);
    let loaded = LoadedConfig::from_file(&path).unwrap();
    let spec = geobatch_runner::bench::with_batch_size(loaded.config.batcher.as_ref(), 32).unwrap();
    assert_eq!(spec.batch_size(), 32);
    // a size the batcher cannot take is refused by the edit, as in a config
    let e = geobatch_runner::bench::with_batch_size(loaded.config.batcher.as_ref(), 1)
        .err()
        .map(|e| e.to_string());
    assert!(
        e.as_deref()
            .is_some_and(|e| e.contains("batch_size must be at least 2")),
        "{e:?}"
    );
    assert_eq!(
        spec.label(),
        loaded.config.batcher.label(),
        "other options kept"
    );
    assert_eq!(
        loaded.config.batcher.batch_size(),
        8,
        "the config's own spec"
    );
    let as_text = LoadedConfig::from_file_with(&path, &["batcher.batch_size=32".into()]).unwrap();
    let edited = loaded.edited(|c| c.batcher = spec).unwrap();
    assert_eq!(edited.resolved, as_text.resolved);
    assert_eq!(edited.hash, as_text.hash);
}

#[test]
fn a_model_by_name_is_its_defaults_and_an_unknown_one_lists_the_registered() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "c.toml", GRAPH);
    let loaded = LoadedConfig::from_file(&path).unwrap();
    let painn = geobatch_runner::bench::model_named("painn").unwrap();
    let edited = loaded.edited(|c| c.model = Some(painn)).unwrap();
    let as_text =
        LoadedConfig::from_file_with(&path, &["model={ kind = \"painn\" }".into()]).unwrap();
    assert_eq!(edited.resolved, as_text.resolved);
    let e = geobatch_runner::bench::model_named("gcn").unwrap_err();
    assert!(matches!(e, RunError::Usage(_)), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("registered: ") && e.contains("schnet"), "{e}");
    assert!(
        !e.contains("gcn,"),
        "node-level models are not offered: {e}"
    );
}

#[test]
fn a_plugin_read_from_its_table_names_the_key_inside_it() {
    geobatch_catalog::link();
    let table = |text: &str| toml::from_str::<toml::Table>(text).unwrap();
    let read = |text: &str| {
        geobatch_runner::config::plugin_from_table::<Box<dyn BatcherSpec>>(
            "batcher",
            &table(text),
            geobatch_core::Task::Graph,
        )
    };
    let ok = read("kind = \"static\"\nbatch_size = 16\npad = \"pow2\"").unwrap();
    assert_eq!(ok.label(), "static-2n");
    for (text, key) in [
        (
            "kind = \"static\"\nbatch_size = 4\npadd = 64",
            "key `batcher.padd`",
        ),
        (
            "kind = \"static\"\nbatch_size = 4\npad = 7",
            "key `batcher.pad`",
        ),
        (
            "kind = \"dynamic\"\nbatch_size = -1",
            "key `batcher.batch_size`",
        ),
    ] {
        let e = read(text).unwrap_err();
        assert!(e.starts_with(key), "{text}: {e}");
        assert!(
            !e.contains("line 1"),
            "no line of a text the user never wrote: {e}"
        );
    }
}
