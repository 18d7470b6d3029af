//! Forward and backward passes over preallocated buffers: a [`Workspace`] holds every array a
//! pass needs, sized once for the largest batch; a batch of `rows` uses their leading rows
//! (still contiguous), and no pass allocates.

use ndarray::{Array1, Array2, ArrayView2, s};

use super::{Network, Parameters, activation, batch_norm, dropout, loss};
use crate::linalg::{Threads, matmul};

/// Training mode (batch statistics, dropout drawn from `dropout_key`) or inference mode.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    Train { dropout_key: u64 },
    Eval,
}

/// Arrays of one hidden layer, each `capacity × output` (statistics: `output`); those a layer
/// does not use (no batch norm, no dropout) have no rows.
#[derive(Debug)]
struct LayerBuffers {
    /// Pre-activation values (after bias or batch norm).
    pre: Array2<f32>,
    /// Normalized values x̂ (batch norm only).
    xhat: Array2<f32>,
    /// The layer's output after activation, dropout and residual.
    out: Array2<f32>,
    /// Dropout mask (0 or 1/(1−p)).
    mask: Array2<f32>,
    /// dL/d(out) when the backward pass reaches the layer, then dL/d(pre) in place.
    grad: Array2<f32>,
    mean: Array1<f32>,
    inv_std: Array1<f32>,
}

/// Every array a forward and backward pass needs, for up to `capacity` rows.
#[derive(Debug)]
pub(crate) struct Workspace {
    capacity: usize,
    /// The batch's inputs, `capacity × features`, filled by the caller.
    pub input: Array2<f32>,
    /// The batch's labels, filled by the caller.
    pub labels: Vec<u32>,
    layers: Vec<LayerBuffers>,
    /// Logits, then (after the loss) their gradient, `capacity × classes`.
    pub logits: Array2<f32>,
}

impl Workspace {
    /// Allocates arrays for batches of up to `capacity` rows of `net`.
    pub(crate) fn new(net: &Network, capacity: usize) -> Self {
        let layers = net
            .hidden
            .iter()
            .map(|l| {
                let full = (capacity, l.output);
                let (bn, drop) = (l.running.is_some(), l.dropout > 0.0);
                let width = if bn { l.output } else { 0 };
                LayerBuffers {
                    pre: Array2::zeros(full),
                    xhat: Array2::zeros(if bn { full } else { (0, l.output) }),
                    out: Array2::zeros(full),
                    mask: Array2::zeros(if drop { full } else { (0, l.output) }),
                    grad: Array2::zeros(full),
                    mean: Array1::zeros(width),
                    inv_std: Array1::zeros(width),
                }
            })
            .collect();
        Workspace {
            capacity,
            input: Array2::zeros((capacity, net.features)),
            labels: vec![0; capacity],
            layers,
            logits: Array2::zeros((capacity, net.classes)),
        }
    }

    /// The most rows a pass can take.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The logits of the last forward pass over `rows` rows.
    pub(crate) fn logits(&self, rows: usize) -> ArrayView2<'_, f32> {
        self.logits.slice(s![..rows, ..])
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
        activation: act,
        params,
        ..
    } = net;
    let x = ws.input.slice(s![..rows, ..]);
    for (l, (layer, p)) in hidden.iter_mut().zip(&params.hidden).enumerate() {
        let (before, rest) = ws.layers.split_at_mut(l);
        let buf = &mut rest[0];
        let input = before.last().map_or(x, |b| b.out.slice(s![..rows, ..]));
        let mut pre = buf.pre.slice_mut(s![..rows, ..]);
        let mut out = buf.out.slice_mut(s![..rows, ..]);
        matmul(pre.view_mut(), false, input, p.w.view(), threads);
        match (&p.bn, &mut layer.running) {
            (Some(bn), Some(running)) => {
                match mode {
                    Mode::Train { .. } => batch_norm::forward_train(
                        pre.view_mut(),
                        buf.xhat.slice_mut(s![..rows, ..]),
                        bn,
                        &mut buf.mean,
                        &mut buf.inv_std,
                        running,
                    ),
                    Mode::Eval => {
                        batch_norm::forward_eval(pre.view_mut(), bn, running, &mut buf.mean)
                    }
                }
                activation::forward(*act, pre, None, out.view_mut());
            }
            _ => {
                let bias = p.bias.as_ref().map(|b| b.view());
                activation::forward(*act, pre, bias, out.view_mut());
            }
        }
        if let (Mode::Train { dropout_key }, true) = (mode, layer.dropout > 0.0) {
            dropout::apply(
                out.view_mut(),
                buf.mask.slice_mut(s![..rows, ..]),
                layer.dropout,
                dropout::mix(dropout_key, l as u64),
            );
        }
        if layer.residual {
            out += &input;
        }
    }
    let input = ws.layers.last().map_or(x, |b| b.out.slice(s![..rows, ..]));
    let mut logits = ws.logits.slice_mut(s![..rows, ..]);
    matmul(
        logits.view_mut(),
        false,
        input,
        params.output.w.view(),
        threads,
    );
    if let Some(bias) = &params.output.bias {
        logits += bias;
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
    loss::softmax_cross_entropy(ws.logits.slice_mut(s![..rows, ..]), &ws.labels[..rows])
}

/// Backpropagates the gradient in `ws.logits` (from [`forward_loss`] in training mode) and
/// writes the gradient of every parameter into `grads` (same shapes as `net.params`).
pub(crate) fn backward(
    net: &Network,
    ws: &mut Workspace,
    grads: &mut Parameters,
    rows: usize,
    threads: Threads<'_>,
) {
    let params = &net.params;
    let Workspace {
        input,
        layers,
        logits,
        ..
    } = ws;
    let x = input.slice(s![..rows, ..]);
    let g_logits = logits.slice(s![..rows, ..]);
    let last_input = layers.last().map_or(x, |b| b.out.slice(s![..rows, ..]));
    matmul(
        grads.output.w.view_mut(),
        false,
        last_input.t(),
        g_logits,
        threads,
    );
    if let Some(db) = &mut grads.output.bias {
        db.fill(0.0);
        for row in g_logits.rows() {
            *db += &row;
        }
    }
    let Some(top) = layers.last_mut() else {
        return;
    };
    matmul(
        top.grad.slice_mut(s![..rows, ..]),
        false,
        g_logits,
        params.output.w.t(),
        threads,
    );
    for (l, layer) in net.hidden.iter().enumerate().rev() {
        let (before, rest) = layers.split_at_mut(l);
        let LayerBuffers {
            pre,
            xhat,
            mask,
            grad,
            inv_std,
            ..
        } = &mut rest[0];
        let mut g = grad.slice_mut(s![..rows, ..]);
        let mut prev = before.last_mut();
        if layer.residual
            && let Some(prev) = &mut prev
        {
            // The skip connection passes dL/d(out) to the input unchanged.
            prev.grad.slice_mut(s![..rows, ..]).assign(&g);
        }
        let mask = (layer.dropout > 0.0).then(|| mask.slice(s![..rows, ..]));
        let pre = pre.slice(s![..rows, ..]);
        let (p, pg) = (&params.hidden[l], &mut grads.hidden[l]);
        match (&p.bn, &mut pg.bn) {
            (Some(bn), Some(bn_grad)) => {
                activation::backward(net.activation, pre, mask, g.view_mut(), None);
                batch_norm::backward(
                    g.view_mut(),
                    xhat.slice(s![..rows, ..]),
                    bn,
                    inv_std,
                    bn_grad,
                );
            }
            _ => activation::backward(net.activation, pre, mask, g.view_mut(), pg.bias.as_mut()),
        }
        let input = prev.as_ref().map_or(x, |b| b.out.slice(s![..rows, ..]));
        matmul(pg.w.view_mut(), false, input.t(), g.view(), threads);
        if let Some(prev) = prev {
            matmul(
                prev.grad.slice_mut(s![..rows, ..]),
                layer.residual,
                g.view(),
                p.w.t(),
                threads,
            );
        }
    }
}
