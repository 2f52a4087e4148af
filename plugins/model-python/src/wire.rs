//! How each kind of batch travels to the worker and how its predictions come back: the arrays in
//! the bridge's order (`geobatch_bridge.ARRAYS` for graph batches, `NODE_ARRAYS` for node
//! batches), the scalars beside them, and the reply of `predict`.

use std::borrow::Cow;

use bytemuck::cast_slice;
use geobatch_core::{Batch, Error, GraphBatch, GraphLevel, Result, TaskType};
use geobatch_node::{NodeBatch, NodeLevel, NodePredictions};
use serde_json::{Value, json};

/// A batch the worker can read: its task, arrays and scalars, and what `predict` answers.
pub trait Wire: Batch {
    /// The task whose batches these are.
    type Task: TaskType<Batch = Self>;
    /// The task the worker builds the model for (`graph` or `node`).
    const TASK: &'static str;
    /// Every array as bytes with its leading dimension, in the bridge's order (borrowed, or made
    /// here where the batch derives an array when it is read).
    fn parts(&self) -> Vec<(Cow<'_, [u8]>, usize)>;
    /// The scalars the worker shapes the arrays with (real and padded shape, widths).
    fn scalars(&self) -> Value;
    /// Reads the worker's `predict` reply into `out`.
    fn read_predictions(
        reply: &Value,
        out: &mut <Self::Task as TaskType>::Predictions,
    ) -> Result<()>;
}

/// A number the worker sent: a JSON number, or the name of a non-finite one (`"nan"`, `"inf"`),
/// which JSON cannot carry.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    }
}

/// Edge vectors as bytes: borrowed where the batch stores them, copied where it made them.
fn vector_bytes(v: Cow<'_, [[f32; 3]]>) -> Cow<'_, [u8]> {
    match v {
        Cow::Borrowed(v) => Cow::Borrowed(cast_slice(v)),
        Cow::Owned(v) => Cow::Owned(cast_slice(&v).to_vec()),
    }
}

impl Wire for GraphBatch {
    type Task = GraphLevel;
    const TASK: &'static str = "graph";

    fn parts(&self) -> Vec<(Cow<'_, [u8]>, usize)> {
        vec![
            (Cow::Borrowed(cast_slice(&self.species)), self.species.len()),
            (
                Cow::Borrowed(cast_slice(&self.positions)),
                self.positions.len(),
            ),
            (
                Cow::Borrowed(cast_slice(&self.node_graph)),
                self.node_graph.len(),
            ),
            (Cow::Borrowed(cast_slice(&self.senders)), self.senders.len()),
            (
                Cow::Borrowed(cast_slice(&self.receivers)),
                self.receivers.len(),
            ),
            (vector_bytes(self.edge_vectors()), self.senders.len()),
            (Cow::Borrowed(cast_slice(&self.n_node)), self.n_node.len()),
            (Cow::Borrowed(cast_slice(&self.n_edge)), self.n_edge.len()),
            (Cow::Borrowed(cast_slice(&self.targets)), self.n_node.len()),
            (
                Cow::Borrowed(cast_slice(&self.graph_mask)),
                self.graph_mask.len(),
            ),
        ]
    }

    fn scalars(&self) -> Value {
        let (real, padded) = (GraphBatch::real(self), GraphBatch::padded(self));
        json!({
            "real": [real.nodes, real.edges, real.graphs],
            "padded": [padded.nodes, padded.edges, padded.graphs],
            "n_targets": self.n_targets(),
        })
    }

    fn read_predictions(reply: &Value, out: &mut Vec<f32>) -> Result<()> {
        let values = reply
            .get("predictions")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::invalid("python model: predict gave no predictions"))?;
        out.clear();
        out.extend(
            values
                .iter()
                .map(|v| number(v).map_or(f32::NAN, |x| x as f32)),
        );
        Ok(())
    }
}

impl Wire for NodeBatch {
    type Task = NodeLevel;
    const TASK: &'static str = "node";

    fn parts(&self) -> Vec<(Cow<'_, [u8]>, usize)> {
        let nodes = self.n_nodes();
        vec![
            (Cow::Borrowed(cast_slice(&self.nodes)), nodes),
            (Cow::Borrowed(cast_slice(&self.features)), nodes),
            (Cow::Borrowed(cast_slice(&self.row_ptr)), self.row_ptr.len()),
            (Cow::Borrowed(cast_slice(&self.rows)), self.rows.len()),
            (Cow::Borrowed(cast_slice(&self.cols)), self.cols.len()),
            (Cow::Borrowed(cast_slice(&self.values)), self.values.len()),
            (
                Cow::Borrowed(cast_slice(&self.mean_values)),
                self.mean_values.len(),
            ),
            (
                Cow::Borrowed(cast_slice(&self.out_mask)),
                self.out_mask.len(),
            ),
            (Cow::Borrowed(cast_slice(&self.outputs)), self.outputs.len()),
            (Cow::Borrowed(cast_slice(&self.labels)), self.labels.len()),
            (
                Cow::Borrowed(cast_slice(&self.out_rows)),
                self.out_rows.len(),
            ),
            (
                Cow::Borrowed(cast_slice(&self.out_cols)),
                self.out_cols.len(),
            ),
            (
                Cow::Borrowed(cast_slice(&self.out_values)),
                self.out_values.len(),
            ),
            (
                Cow::Borrowed(cast_slice(&self.out_mean_values)),
                self.out_mean_values.len(),
            ),
        ]
    }

    fn scalars(&self) -> Value {
        let real = Batch::real(self);
        json!({
            "real": [real.nodes, real.edges, real.graphs],
            "padded": [real.nodes, real.edges, real.graphs],
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "full_entries": self.full_entries,
        })
    }

    fn read_predictions(reply: &Value, out: &mut NodePredictions) -> Result<()> {
        let classes = reply
            .get("classes")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::invalid("python model: predict gave no classes"))?;
        out.classes.clear();
        for c in classes {
            let c = c
                .as_u64()
                .and_then(|c| u32::try_from(c).ok())
                .ok_or_else(|| {
                    Error::invalid(format!("python model: predict gave the class {c}"))
                })?;
            out.classes.push(c);
        }
        out.nll = reply
            .get("nll")
            .and_then(number)
            .ok_or_else(|| Error::invalid("python model: predict gave no nll"))?;
        Ok(())
    }
}
