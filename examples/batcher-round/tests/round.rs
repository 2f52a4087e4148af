//! Tests of the round batcher, and of docs/writing-a-batcher.md, which quotes this crate.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_batcher_round::RoundSpec;
use geobatch_core::registry::{self, PluginKind};
use geobatch_core::{BatcherContext, BatcherSpec, GraphSize, GraphStream, Plan, Quirks, Shape};
use geobatch_core::{StreamMode, Task};
use geobatch_testkit::arb_graph_set;
use geobatch_testkit::batcher::check_batcher;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

#[test]
fn nodes_and_edges_are_padded_to_a_multiple_of_step() {
    let sizes = vec![
        GraphSize {
            nodes: 5,
            edges: 20
        };
        7
    ];
    let spec = RoundSpec {
        batch_size: 4,
        step: 16,
    };
    let ctx = BatcherContext {
        sizes: &sizes,
        split: "test",
        quirks: Quirks::Clean,
    };
    let mut batcher = spec.build(&ctx).unwrap();
    let mut stream = GraphStream::new(7, StreamMode::Eval, 0, Quirks::Clean, "test").unwrap();
    let mut plan = Plan::default();
    let mut padded = Vec::new();
    while batcher.next_plan(&mut stream, &sizes, &mut plan).unwrap() {
        padded.push(plan.padded);
    }
    // 3 + 3 + 1 graphs: 15 nodes + 1 -> 16, 60 edges -> 64; 5 + 1 -> 16, 20 -> 32
    assert_eq!(
        padded,
        [
            Shape::new(16, 64, 4),
            Shape::new(16, 64, 4),
            Shape::new(16, 32, 4)
        ]
    );
}

// the invariants every batcher keeps, from geobatch-testkit
proptest! {
    #[test]
    fn round_keeps_every_batcher_invariant(
        set in arb_graph_set(40, 12),
        batch_size in 2usize..10,
        step in 1usize..100,
    ) {
        let spec = RoundSpec { batch_size, step };
        if let Err(e) = check_batcher(&spec, &set, batch_size) {
            panic!("{e}");
        }
    }
}

#[test]
fn round_is_registered_under_its_name() {
    let spec: Box<dyn BatcherSpec> =
        toml::from_str("kind = \"round\"\nbatch_size = 32\nstep = 64\n").unwrap();
    assert_eq!(spec.label(), "round-64");
    let d = registry::descriptors()
        .into_iter()
        .find(|d| d.kind == PluginKind::Batcher && d.name == "round")
        .unwrap();
    assert_eq!(d.task, Task::Graph);
    let example: Box<dyn BatcherSpec> = toml::from_str(d.example).unwrap();
    example.validate().unwrap();
    let err =
        toml::from_str::<Box<dyn BatcherSpec>>("kind = \"round\"\nbatch_size = 8\nsetp = 4\n")
            .unwrap_err()
            .to_string();
    assert!(err.contains("setp"), "{err}");
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fenced blocks of a markdown text: (info string, lines).
fn blocks(text: &str) -> Vec<(String, Vec<&str>)> {
    let mut out = Vec::new();
    let mut open: Option<(String, Vec<&str>)> = None;
    for line in text.lines() {
        match (open.take(), line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_string(), Vec::new())),
            (Some(block), Some(_)) => out.push(block),
            (Some((info, mut lines)), None) => {
                lines.push(line);
                open = Some((info, lines));
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed code block");
    out
}

/// Every code block of the guide is checked: a block whose first line names a file (`// path`
/// or `# path`) must appear in that file as it is; a shell block may only name config files
/// that exist. So the guide cannot drift from the code it teaches.
#[test]
fn every_code_block_of_the_guide_is_in_the_code() {
    let guide = std::fs::read_to_string(repo().join("docs/writing-a-batcher.md")).unwrap();
    let blocks = blocks(&guide);
    assert!(blocks.len() >= 8, "{} blocks", blocks.len());
    for (info, lines) in &blocks {
        let first = lines.first().copied().unwrap_or_default();
        let named = first
            .strip_prefix("// ")
            .or_else(|| first.strip_prefix("# "))
            .map(|p| repo().join(p.trim()))
            .filter(|p| p.is_file());
        if let Some(file) = named {
            let source = std::fs::read_to_string(&file).unwrap();
            let body = lines[1..].join("\n");
            assert!(
                source.contains(&body),
                "a ```{info} block of the guide is not in {}:\n{body}",
                file.display()
            );
        } else if info == "sh" {
            for word in lines.iter().flat_map(|l| l.split_whitespace()) {
                if word.ends_with(".toml") {
                    assert!(
                        repo().join(word).is_file(),
                        "the guide runs {word}: missing"
                    );
                }
            }
        } else {
            panic!(
                "a ```{info} block names no file it is quoted from:\n{}",
                lines.join("\n")
            );
        }
    }
}
