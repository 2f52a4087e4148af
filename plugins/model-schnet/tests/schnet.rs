//! SchNet: parameter count against the hand count, and padding never changes a prediction.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::{
    GraphBatch, GraphSet, ModelContext, ModelSpec, OptimizerSpec, Plan, Shape, TargetStats,
};
use geobatch_dataset_synthetic::SyntheticSpec;
use geobatch_model_schnet::SchNetSpec;

fn ctx(species: usize) -> ModelContext {
    ModelContext {
        n_species: species,
        target_stats: vec![TargetStats {
            mean: -70.0,
            std: 10.0,
        }],
        seed: 3,
        device: "cpu".into(),
        optimizer: OptimizerSpec::default(),
    }
}

#[test]
fn parameter_count_matches_the_hand_count() {
    // QM9: 5 species, C = 64, K = 150, 3 steps, 1 target:
    // embedding 5*64 = 320; per step filter 150*64 + 64*64 = 13696, sender map 4096,
    // update 2 * 4096 = 8192, so 25984 per step and 77952 for three; readout 64*32 + 32*1 = 2080.
    let by_hand = 320 + 3 * (150 * 64 + 64 * 64 + 64 * 64 + 2 * 64 * 64) + 64 * 32 + 32;
    assert_eq!(by_hand, 80_352);
    let spec = SchNetSpec::default();
    assert_eq!(spec.parameter_count(5, 1), by_hand);
    assert_eq!(spec.build(&ctx(5)).unwrap().parameter_count(), by_hand);
}

fn collate(set: &GraphSet, graphs: &[u32], pad: impl Fn(Shape) -> Shape) -> GraphBatch {
    let mut plan = Plan::default();
    for &g in graphs {
        plan.push(g, set.sizes()[g as usize]);
    }
    plan.padded = pad(plan.real);
    let mut batch = GraphBatch::new();
    batch.collate(set, &plan).unwrap();
    batch
}

#[test]
fn padded_batches_and_single_graphs_predict_the_same() {
    let set = toml::from_str::<SyntheticSpec>("graphs = 12")
        .unwrap()
        .generate(5)
        .unwrap();
    let mut trainer = SchNetSpec {
        latent: 16,
        ..Default::default()
    }
    .build(&ctx(set.species_classes().len()))
    .unwrap();
    let graphs: Vec<u32> = (0..6).collect();
    // heavily padded: many extra nodes, edges and empty padding graphs
    let padded = collate(&set, &graphs, |r| {
        Shape::new(r.nodes + 100, r.edges + 500, r.graphs + 5)
    });
    let mut together = Vec::new();
    trainer.predict(&padded, &mut together).unwrap();
    assert_eq!(together.len(), 6);
    for (i, &g) in graphs.iter().enumerate() {
        let alone = collate(&set, &[g], |r| {
            Shape::new(r.nodes + 1, r.edges, r.graphs + 1)
        });
        let mut one = Vec::new();
        trainer.predict(&alone, &mut one).unwrap();
        let (a, b) = (f64::from(one[0]), f64::from(together[i]));
        assert!(
            (a - b).abs() <= 1e-4 * a.abs().max(1.0),
            "graph {g}: alone {a}, in a padded batch {b}"
        );
    }
}
