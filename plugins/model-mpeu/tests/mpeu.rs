//! MPEU: parameter count against the hand count, and padding never changes a prediction.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::{
    GraphBatch, GraphSet, ModelContext, ModelSpec, OptimizerSpec, Plan, Shape, TargetStats,
};
use geobatch_dataset_synthetic::SyntheticSpec;
use geobatch_model_mpeu::MpeuSpec;

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
    // embedding 5*64 = 320; edge networks (2*64 + 150)*128 + 128*64 = 43776 in step 1 and
    // 192*128 + 128*64 = 32768 in steps 2 and 3; per step the message network 2 * 4096, the sender
    // map 4096 and the update 2 * 4096 (20480 per step); readout 64*32 + 32*1 = 2080.
    let by_hand = 320
        + (278 * 128 + 128 * 64)
        + 2 * (192 * 128 + 128 * 64)
        + 3 * (2 * 4096 + 4096 + 2 * 4096)
        + 64 * 32
        + 32;
    assert_eq!(by_hand, 173_152);
    let spec = MpeuSpec::default();
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
    let mut trainer = MpeuSpec {
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
