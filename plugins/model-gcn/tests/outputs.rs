//! The last block computes only the output rows: an output node's prediction does not depend on
//! which other nodes of the batch are outputs, for GCN and SAGE with 1 to 3 layers; and training
//! on batches lowers the loss.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use burn::tensor::Tensor;
use geobatch_core::{ModelSpec, SplitName};
use geobatch_dataset_graphs::SbmParams;
use geobatch_model_gcn::GcnSpec;
use geobatch_model_gcn::net::{NodeInputs, NodeNet};
use geobatch_nn::backend::Cpu;
use geobatch_node::{
    NodeBatch, NodeCollator, NodeGraph, NodeLevel, NodeModelContext, NodeOptimizerSpec, NodePlan,
    NodePredictions,
};

fn graph() -> NodeGraph {
    let p = SbmParams {
        nodes: 400,
        classes: 4,
        communities: 8,
        avg_degree: 6.0,
        homophily: 0.8,
        features: 5,
        signal: 1.0,
    };
    let g = p.generate(2).unwrap();
    let train: Vec<u32> = (0..400).step_by(4).collect();
    NodeGraph::from_edges(
        400,
        &g.edges,
        g.features,
        5,
        g.labels,
        [train, vec![], vec![]],
    )
    .unwrap()
}

fn batch(g: &NodeGraph, outputs: Vec<u32>, aux: Vec<u32>) -> NodeBatch {
    let mut b = NodeBatch::default();
    NodeCollator::new()
        .collate(g, &NodePlan::new(outputs, aux), &mut b)
        .unwrap();
    b
}

fn rows(t: Tensor<Cpu, 2>) -> Vec<Vec<f32>> {
    let [n, c] = t.dims();
    let v = t.into_data().convert::<f32>().into_vec::<f32>().unwrap();
    (0..n).map(|i| v[i * c..(i + 1) * c].to_vec()).collect()
}

#[test]
fn predictions_of_an_output_do_not_depend_on_the_other_outputs() {
    let g = graph();
    // a subgraph (so some entries are cut), with a few outputs or with every node as output
    let aux: Vec<u32> = (0..250).collect();
    let few = vec![3u32, 17, 40, 41, 199];
    let b_few = batch(&g, few.clone(), aux.clone());
    let b_all = batch(&g, aux.clone(), aux.clone());
    let device = Default::default();
    for sage in [false, true] {
        for layers in 1..=3 {
            let net = NodeNet::<Cpu>::new(sage, 5, 16, layers, 4, true, 0.5, 0.0, 7, &device);
            let a = rows(net.forward(&NodeInputs::new(&b_few, &device)));
            let all = rows(net.forward(&NodeInputs::new(&b_all, &device)));
            for (i, &o) in few.iter().enumerate() {
                for (x, y) in a[i].iter().zip(&all[o as usize]) {
                    assert!(
                        (x - y).abs() < 1e-5,
                        "sage {sage} layers {layers} node {o}: {x} vs {y}"
                    );
                }
            }
        }
    }
}

#[test]
fn training_on_batches_lowers_the_loss() {
    let g = graph();
    let spec: Box<dyn ModelSpec<NodeLevel>> = Box::new(GcnSpec {
        net: toml::from_str("hidden = 16\nlayers = 2\n").unwrap(),
    });
    let mut t = spec
        .build(&NodeModelContext {
            n_features: 5,
            n_classes: 4,
            seed: 1,
            device: "cpu".into(),
            optimizer: NodeOptimizerSpec {
                learning_rate: 0.01,
                weight_decay: 0.0,
            },
        })
        .unwrap();
    let train = g.split(SplitName::Train).to_vec();
    let halves = [
        batch(&g, train[..50].to_vec(), (0..250).collect()),
        batch(&g, train[50..].to_vec(), (150..400).collect()),
    ];
    let mut out = NodePredictions::default();
    let before: f64 = halves
        .iter()
        .map(|b| {
            t.predict(b, &mut out).unwrap();
            out.nll
        })
        .sum();
    for step in 0..60 {
        t.train_step(&halves[step % 2], step as u64).unwrap();
    }
    let after: f64 = halves
        .iter()
        .map(|b| {
            t.predict(b, &mut out).unwrap();
            out.nll
        })
        .sum();
    assert!(after < 0.7 * before, "loss {before} -> {after}");
    assert_eq!(out.classes.len(), 50);
}
