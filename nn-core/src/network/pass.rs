//! Forward and backward passes over preallocated buffers: a [`Workspace`] is sized once for
//! the largest batch, and no pass allocates.

use super::{Network, activation, batch_norm, dropout, loss};
use crate::linalg::{Threads, View, matmul};

/// Training mode (batch statistics, dropout drawn from `dropout_key`) or inference mode.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    Train { dropout_key: u64 },
    Eval,
}

/// Buffers of one hidden layer, each `rows × output` (statistics: `output`).
#[derive(Debug)]
struct LayerBuffers {
    /// Pre-activation values (after bias or batch norm).
    pre: Vec<f32>,
    /// Normalized values x̂ (batch norm only).
    xhat: Vec<f32>,
    /// The layer's output after activation, dropout and residual.
    out: Vec<f32>,
    /// Dropout mask (0 or 1/(1−p)).
    mask: Vec<f32>,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
}

/// Every buffer a forward and backward pass needs, for up to `capacity` rows.
#[derive(Debug)]
pub(crate) struct Workspace {
    capacity: usize,
    /// The batch's inputs, `rows × features`, filled by the caller.
    pub input: Vec<f32>,
    /// The batch's labels, filled by the caller.
    pub labels: Vec<u32>,
    layers: Vec<LayerBuffers>,
    /// Logits, then (after the loss) their gradient.
    pub logits: Vec<f32>,
    grads: [Vec<f32>; 2],
}

impl Workspace {
    /// Allocates buffers for batches of up to `capacity` rows of `net`.
    pub(crate) fn new(net: &Network, capacity: usize) -> Self {
        let layers = net
            .hidden
            .iter()
            .map(|l| {
                let full = capacity * l.output;
                let bn = l.bn.is_some();
                LayerBuffers {
                    pre: vec![0.0; full],
                    xhat: vec![0.0; if bn { full } else { 0 }],
                    out: vec![0.0; full],
                    mask: vec![0.0; if l.dropout > 0.0 { full } else { 0 }],
                    mean: vec![0.0; if bn { l.output } else { 0 }],
                    inv_std: vec![0.0; if bn { l.output } else { 0 }],
                }
            })
            .collect();
        let widest = capacity * net.max_width();
        Workspace {
            capacity,
            input: vec![0.0; capacity * net.features],
            labels: vec![0; capacity],
            layers,
            logits: vec![0.0; capacity * net.classes],
            grads: [vec![0.0; widest], vec![0.0; widest]],
        }
    }

    /// The most rows a pass can take.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Runs the network on the first `rows` rows of `ws.input`, leaving logits in `ws.logits`.
/// Training mode updates the batch-norm running statistics.
pub(crate) fn forward(
    net: &mut Network,
    ws: &mut Workspace,
    rows: usize,
    mode: Mode,
    threads: Threads<'_>,
) {
    let Network {
        hidden,
        output,
        activation: act,
        features,
        params,
        running_mean,
        running_var,
        ..
    } = net;
    for (l, layer) in hidden.iter().enumerate() {
        let (before, rest) = ws.layers.split_at_mut(l);
        let buf = &mut rest[0];
        let input: &[f32] = if l == 0 {
            &ws.input[..rows * *features]
        } else {
            &before[l - 1].out[..rows * layer.input]
        };
        let n = rows * layer.output;
        let (pre, out) = (&mut buf.pre[..n], &mut buf.out[..n]);
        let w = View::new(&params[layer.w..], layer.input, layer.output);
        matmul(pre, false, View::new(input, rows, layer.input), w, threads);
        let width = layer.output;
        match layer.bn {
            Some(bn) => {
                let gamma = &params[bn.gamma..][..width];
                let beta = &params[bn.beta..][..width];
                let rm = &mut running_mean[bn.running..][..width];
                let rv = &mut running_var[bn.running..][..width];
                match mode {
                    Mode::Train { .. } => batch_norm::forward_train(
                        pre,
                        &mut buf.xhat[..n],
                        gamma,
                        beta,
                        &mut buf.mean,
                        &mut buf.inv_std,
                        rm,
                        rv,
                        width,
                    ),
                    Mode::Eval => {
                        batch_norm::forward_eval(pre, gamma, beta, rm, rv, &mut buf.mean, width)
                    }
                }
                activation::forward(*act, pre, None, out, width);
            }
            None => {
                let bias = layer.bias.map(|b| &params[b..][..width]);
                activation::forward(*act, pre, bias, out, width);
            }
        }
        if let (Mode::Train { dropout_key }, true) = (mode, layer.dropout > 0.0) {
            dropout::apply(
                out,
                &mut buf.mask[..n],
                layer.dropout,
                dropout::mix(dropout_key, l as u64),
            );
        }
        if layer.residual {
            out.iter_mut().zip(input).for_each(|(o, x)| *o += x);
        }
    }
    let input: &[f32] = match ws.layers.last() {
        Some(last) => &last.out[..rows * output.input],
        None => &ws.input[..rows * *features],
    };
    let logits = &mut ws.logits[..rows * output.output];
    matmul(
        logits,
        false,
        View::new(input, rows, output.input),
        View::new(&params[output.w..], output.input, output.output),
        threads,
    );
    if let Some(b) = output.bias {
        let bias = &params[b..][..output.output];
        for row in logits.chunks_exact_mut(output.output) {
            row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
        }
    }
}

/// Forward pass plus softmax cross-entropy, leaving dL/dlogits in `ws.logits`; returns (sum
/// of losses, number correct).
pub(crate) fn forward_loss(
    net: &mut Network,
    ws: &mut Workspace,
    rows: usize,
    mode: Mode,
    threads: Threads<'_>,
) -> (f64, usize) {
    forward(net, ws, rows, mode, threads);
    loss::softmax_cross_entropy(
        &mut ws.logits[..rows * net.classes],
        &ws.labels[..rows],
        net.classes,
        rows,
    )
}

/// Backpropagates the gradient in `ws.logits` (from [`forward_loss`] in training mode) and
/// writes the gradient of every parameter into `grads` (same layout as `net.params`).
pub(crate) fn backward(
    net: &Network,
    ws: &mut Workspace,
    grads: &mut [f32],
    rows: usize,
    threads: Threads<'_>,
) {
    let params = &net.params;
    let out_layer = &net.output;
    let last_input: &[f32] = match ws.layers.last() {
        Some(last) => &last.out[..rows * out_layer.input],
        None => &ws.input[..rows * net.features],
    };
    let g_logits = &ws.logits[..rows * out_layer.output];
    dense_param_grads(out_layer, last_input, g_logits, grads, rows, threads);
    let [ga, gb] = &mut ws.grads;
    let (mut cur, mut other) = (ga, gb);
    if net.hidden.is_empty() {
        return;
    }
    matmul(
        &mut cur[..rows * out_layer.input],
        false,
        View::new(g_logits, rows, out_layer.output),
        View::new(&params[out_layer.w..], out_layer.input, out_layer.output).t(),
        threads,
    );
    for (l, layer) in net.hidden.iter().enumerate().rev() {
        let buf = &ws.layers[l];
        let n = rows * layer.output;
        let g = &mut cur[..n];
        if layer.residual {
            other[..n].copy_from_slice(g);
        }
        let mask = (layer.dropout > 0.0).then(|| &buf.mask[..n]);
        let width = layer.output;
        match layer.bn {
            Some(bn) => {
                activation::backward(net.activation, &buf.pre[..n], mask, g, None, width);
                let (head, tail) = grads.split_at_mut(bn.beta);
                batch_norm::backward(
                    g,
                    &buf.xhat[..n],
                    &params[bn.gamma..][..width],
                    &buf.inv_std,
                    &mut head[bn.gamma..][..width],
                    &mut tail[..width],
                    width,
                );
            }
            None => {
                let db = layer.bias.map(|b| &mut grads[b..][..width]);
                if let Some(db) = db {
                    db.fill(0.0);
                    activation::backward(net.activation, &buf.pre[..n], mask, g, Some(db), width);
                } else {
                    activation::backward(net.activation, &buf.pre[..n], mask, g, None, width);
                }
            }
        }
        let input: &[f32] = if l == 0 {
            &ws.input[..rows * net.features]
        } else {
            &ws.layers[l - 1].out[..rows * layer.input]
        };
        matmul(
            &mut grads[layer.w..][..layer.input * layer.output],
            false,
            View::new(input, rows, layer.input).t(),
            View::new(g, rows, width),
            threads,
        );
        if l > 0 {
            matmul(
                &mut other[..rows * layer.input],
                layer.residual,
                View::new(g, rows, width),
                View::new(&params[layer.w..], layer.input, width).t(),
                threads,
            );
            std::mem::swap(&mut cur, &mut other);
        }
    }
}

/// Weight and bias gradients of a dense layer without batch norm, given its input and the
/// gradient of its output.
fn dense_param_grads(
    layer: &super::Dense,
    input: &[f32],
    g: &[f32],
    grads: &mut [f32],
    rows: usize,
    threads: Threads<'_>,
) {
    matmul(
        &mut grads[layer.w..][..layer.input * layer.output],
        false,
        View::new(input, rows, layer.input).t(),
        View::new(g, rows, layer.output),
        threads,
    );
    if let Some(b) = layer.bias {
        let db = &mut grads[b..][..layer.output];
        db.fill(0.0);
        for row in g.chunks_exact(layer.output) {
            db.iter_mut().zip(row).for_each(|(d, v)| *d += v);
        }
    }
}
