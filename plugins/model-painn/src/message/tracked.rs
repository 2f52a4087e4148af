//! The message block on the autodiff backend, tracked to second order: its backward pass is made
//! of four tracked operations (one per gradient, [`Part`]) whose own backward passes are the inner
//! backend's second-order kernels ([`MessageOps::painn_message_second`]). A potential, whose
//! energy is differentiated by the edge vectors and the result again by the weights, runs the
//! block as fused kernels at both levels.

use super::{BackwardInputs, MessageGrads, MessageOps, Part};
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};

/// What the block's backward pass keeps: the four differentiated inputs and the edges.
type MessageState<B> = (
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    IntTensor<B>,
    IntTensor<B>,
);

/// The block's backward pass: by the filters, node messages, vector features and, where they
/// are tracked (a potential's), the directions.
#[derive(Debug)]
struct MessageBackward;

impl<B: MessageOps> Backward<B, 4> for MessageBackward {
    type State = MessageState<B>;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _c: &mut Checkpointer) {
        let [node_w, node_x, node_v, node_d] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (w, xs, v, dir, senders, receivers) = ops.state;
        let dir_grad = node_d.is_some();
        let (gw, gx, gv, gd) =
            B::painn_message_backward(grad, w, xs, v, dir, senders, receivers, dir_grad);
        for (node, g) in [(node_w, Some(gw)), (node_x, Some(gx)), (node_v, Some(gv))]
            .into_iter()
            .chain([(node_d, gd)])
        {
            if let (Some(node), Some(g)) = (node, g) {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

/// The backward pass of one gradient of the block's backward pass: the second-order kernels.
#[derive(Debug)]
struct SecondBackward(Part);

impl<B: MessageOps> Backward<B, 5> for SecondBackward {
    type State = BackwardInputs<B>;

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _c: &mut Checkpointer) {
        let a = grads.consume::<B>(&ops.node);
        let need = ops.parents.each_ref().map(Option::is_some);
        let outs = B::painn_message_second(self.0, a, ops.state, need);
        for (node, g) in ops.parents.into_iter().zip(outs) {
            if let (Some(node), Some(g)) = (node, g) {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: MessageOps, C: CheckpointStrategy> MessageOps for Autodiff<B, C> {
    const FUSED_SMOOTH: bool = B::FUSED_SMOOTH;

    fn painn_tracked(t: &FloatTensor<Self>) -> bool {
        // `is_require_grad` is true for leaves only: a tensor computed from a tracked leaf (the
        // edge vectors plus the padding's offset) is tracked as well
        !t.node.requirement.is_none()
    }

    fn painn_message(
        w: FloatTensor<Self>,
        xs: FloatTensor<Self>,
        v: FloatTensor<Self>,
        dir: FloatTensor<Self>,
        senders: IntTensor<Self>,
        receivers: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        let nodes = [
            w.node.clone(),
            xs.node.clone(),
            v.node.clone(),
            dir.node.clone(),
        ];
        let out = B::painn_message(
            w.primitive.clone(),
            xs.primitive.clone(),
            v.primitive.clone(),
            dir.primitive.clone(),
            senders.clone(),
            receivers.clone(),
            n,
        );
        match MessageBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let state = (
                    w.primitive,
                    xs.primitive,
                    v.primitive,
                    dir.primitive,
                    senders,
                    receivers,
                );
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn painn_message_backward(
        grad: FloatTensor<Self>,
        w: FloatTensor<Self>,
        xs: FloatTensor<Self>,
        v: FloatTensor<Self>,
        dir: FloatTensor<Self>,
        senders: IntTensor<Self>,
        receivers: IntTensor<Self>,
        dir_grad: bool,
    ) -> MessageGrads<Self> {
        let parents = [
            grad.node.clone(),
            w.node.clone(),
            xs.node.clone(),
            v.node.clone(),
            dir.node.clone(),
        ];
        let (gw, gx, gv, gd) = B::painn_message_backward(
            grad.primitive.clone(),
            w.primitive.clone(),
            xs.primitive.clone(),
            v.primitive.clone(),
            dir.primitive.clone(),
            senders.clone(),
            receivers.clone(),
            dir_grad,
        );
        let state = (
            grad.primitive,
            w.primitive,
            xs.primitive,
            v.primitive,
            dir.primitive,
            senders,
            receivers,
        );
        // each gradient its own tracked operation (an operation has one output)
        let track = |part: Part, out: FloatTensor<B>| match SecondBackward(part)
            .prepare::<C>(parents.clone())
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(state.clone(), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        (
            track(Part::W, gw),
            track(Part::X, gx),
            track(Part::V, gv),
            gd.map(|gd| track(Part::Dir, gd)),
        )
    }

    fn painn_message_second(
        part: Part,
        a: FloatTensor<Self>,
        inputs: BackwardInputs<Self>,
        need: [bool; 5],
    ) -> [Option<FloatTensor<Self>>; 5] {
        // a third order: not differentiated further (the results enter the graph as constants)
        use burn::tensor::backend::AutodiffBackend;
        let (g, w, xs, v, dir, senders, receivers) = inputs;
        let inner = (
            g.primitive,
            w.primitive,
            xs.primitive,
            v.primitive,
            dir.primitive,
            senders,
            receivers,
        );
        B::painn_message_second(part, a.primitive, inner, need).map(|o| o.map(Self::from_inner))
    }
}
