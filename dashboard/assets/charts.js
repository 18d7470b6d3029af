// hypersearch dashboard: the charts. Line charts through the vendored uPlot; parallel
// coordinates (with brushing), slices, the worker timeline and bars drawn on a canvas here.
"use strict";
(function () {
  const C = {};
  const STATE_COLORS = {
    complete: "#2f9e5b", pruned: "#d9a21b", failed: "#d6453d", running: "#2f6fdf",
    queued: "#9aa1b0", lost: "#8e44ad", preempted: "#7f8c8d",
  };
  C.STATE_COLORS = STATE_COLORS;
  // The Pareto chart's colour per standing (its legend uses them too).
  const PARETO_COLORS = { front: "#d6453d", dominated: "rgba(47,111,223,0.35)", infeasible: "rgba(154,161,176,0.6)" };
  C.PARETO_COLORS = PARETO_COLORS;

  // A canvas of `width` x `height` CSS pixels, sharp on high-density screens.
  function canvas(parent, width, height) {
    const c = document.createElement("canvas");
    const ratio = window.devicePixelRatio || 1;
    c.width = width * ratio; c.height = height * ratio;
    c.style.width = width + "px"; c.style.height = height + "px";
    parent.appendChild(c);
    const ctx = c.getContext("2d");
    ctx.scale(ratio, ratio);
    ctx.font = "12px system-ui, sans-serif";
    return { c, ctx, width, height };
  }
  C.canvas = canvas;

  function widthOf(el, fallback) {
    return Math.max(320, Math.floor((el.clientWidth || fallback || 600) - 4));
  }

  // Where `v` sits on an axis from 0 (bottom) to 1 (top).
  function scaler(axis) {
    if (axis.kind === "categorical") {
      const n = Math.max(1, axis.categories.length - 1);
      return v => (v == null ? null : v / n);
    }
    const log = axis.log && axis.low > 0;
    const lo = log ? Math.log10(axis.low) : axis.low;
    const hi = log ? Math.log10(axis.high) : axis.high;
    const span = hi - lo || 1;
    return v => (v == null ? null : ((log ? Math.log10(v) : v) - lo) / span);
  }

  function label(axis, t) {
    if (axis.kind === "categorical") {
      const n = axis.categories.length - 1;
      return axis.categories[Math.round(t * Math.max(1, n))] || "";
    }
    const log = axis.log && axis.low > 0;
    const v = log ? Math.pow(10, Math.log10(axis.low) + t * (Math.log10(axis.high) - Math.log10(axis.low)))
      : axis.low + t * (axis.high - axis.low);
    return HS.fmt(v) + (log && t === 0 ? " (log)" : "");
  }

  // Colour from good (t = 1) to poor (t = 0).
  function ramp(t) {
    const a = [214, 69, 61], b = [47, 111, 223];
    const m = (i) => Math.round(a[i] + (b[i] - a[i]) * t);
    return `rgba(${m(0)},${m(1)},${m(2)},0.45)`;
  }

  // The value axis of a parameter table, from its values.
  function valueAxis(table) {
    let low = Infinity, high = -Infinity;
    for (const v of table.values) { if (v < low) low = v; if (v > high) high = v; }
    if (!(high > low)) { high = low + 1; }
    const log = low > 0 && high / low >= 100;
    return { kind: "numeric", low, high, log, name: table.metric };
  }

  // Parallel coordinates: one axis per parameter and the metric, one line per trial drawn.
  // Drag along an axis to keep the trials inside that range (brushing); click it to clear.
  C.parallel = function (el, table, brushes, onBrush) {
    const axes = table.columns.map(col => Object.assign({ name: col.name, cells: col.cells }, col.axis));
    axes.push(Object.assign({ cells: table.values }, valueAxis(table)));
    const width = widthOf(el), height = 360;
    const pad = { left: 50, right: 90, top: 28, bottom: 24 };
    const { c, ctx } = canvas(el, width, height);
    const x = i => pad.left + i * (width - pad.left - pad.right) / Math.max(1, axes.length - 1);
    const y = t => pad.top + (1 - t) * (height - pad.top - pad.bottom);
    const scales = axes.map(scaler);
    const values = axes.map((axis, i) => axis.cells.map(scales[i]));
    const metric = axes.length - 1;
    const shown = document.createElement("div");
    shown.className = "quiet";
    el.appendChild(shown);
    function kept(row) {
      for (const [i, [lo, hi]] of Object.entries(brushes)) {
        const t = values[i] && values[i][row];
        if (t == null || t < lo || t > hi) return false;
      }
      return true;
    }
    function draw(drag) {
      ctx.clearRect(0, 0, width, height);
      let count = 0;
      const rows = table.numbers.length;
      for (let pass = 0; pass < 2; pass++) {
        for (let r = 0; r < rows; r++) {
          const keep = kept(r);
          if ((pass === 0) === keep) continue;
          if (keep) count++;
          const good = table.maximize ? values[metric][r] : 1 - values[metric][r];
          ctx.strokeStyle = keep ? ramp(good) : "rgba(180,185,195,0.15)";
          ctx.beginPath();
          let started = false;
          for (let i = 0; i < axes.length; i++) {
            const t = values[i][r];
            if (t == null) { started = false; continue; }
            if (started) ctx.lineTo(x(i), y(t)); else ctx.moveTo(x(i), y(t));
            started = true;
          }
          ctx.stroke();
        }
      }
      ctx.fillStyle = "#1d2330"; ctx.strokeStyle = "#1d2330";
      axes.forEach((axis, i) => {
        ctx.beginPath(); ctx.moveTo(x(i), y(0)); ctx.lineTo(x(i), y(1)); ctx.stroke();
        ctx.textAlign = "center";
        ctx.fillText(axis.name, x(i), 14);
        ctx.textAlign = "left";
        for (const t of [0, 0.5, 1]) {
          if (axis.kind === "categorical" && axis.categories.length < 3 && t === 0.5) continue;
          ctx.fillText(label(axis, t), x(i) + 4, y(t) + 4);
        }
        const b = brushes[i] || (drag && drag.axis === i ? [Math.min(drag.a, drag.b), Math.max(drag.a, drag.b)] : null);
        if (b) {
          ctx.fillStyle = "rgba(47,111,223,0.25)";
          ctx.fillRect(x(i) - 7, y(b[1]), 14, y(b[0]) - y(b[1]));
          ctx.fillStyle = "#1d2330";
        }
      });
      shown.textContent = `${count} of ${rows} trials drawn kept` +
        (Object.keys(brushes).length ? " (drag on an axis to filter, click it to clear)" : "; drag on an axis to filter");
    }
    const toT = ev => {
      const rect = c.getBoundingClientRect();
      const py = ev.clientY - rect.top;
      return Math.min(1, Math.max(0, 1 - (py - pad.top) / (height - pad.top - pad.bottom)));
    };
    let drag = null;
    c.addEventListener("mousedown", ev => {
      const rect = c.getBoundingClientRect();
      const px = ev.clientX - rect.left;
      const axis = axes.findIndex((_, i) => Math.abs(x(i) - px) < 12);
      if (axis < 0) return;
      drag = { axis, a: toT(ev), b: toT(ev) };
    });
    c.addEventListener("mousemove", ev => { if (drag) { drag.b = toT(ev); draw(drag); } });
    window.addEventListener("mouseup", () => {
      if (!drag) return;
      if (Math.abs(drag.a - drag.b) < 0.01) delete brushes[drag.axis];
      else brushes[drag.axis] = [Math.min(drag.a, drag.b), Math.max(drag.a, drag.b)];
      drag = null;
      draw();
      if (onBrush) onBrush(brushes);
    });
    draw();
  };

  // One scatter per parameter: the metric against the parameter's value.
  C.slices = function (el, table) {
    const metricAxis = valueAxis(table);
    const ys = scaler(metricAxis);
    for (const col of table.columns) {
      const box = document.createElement("div");
      el.appendChild(box);
      const width = 300, height = 220, pad = { left: 64, right: 12, top: 20, bottom: 34 };
      const { ctx } = canvas(box, width, height);
      const axis = Object.assign({}, col.axis);
      const xs = scaler(axis);
      const px = t => pad.left + t * (width - pad.left - pad.right);
      const py = t => pad.top + (1 - t) * (height - pad.top - pad.bottom);
      ctx.fillStyle = "rgba(47,111,223,0.5)";
      col.cells.forEach((cell, r) => {
        const tx = xs(cell), ty = ys(table.values[r]);
        if (tx == null || ty == null) return;
        const jitter = axis.kind === "categorical" ? ((r * 7919) % 100 / 100 - 0.5) * 0.06 : 0;
        ctx.fillRect(px(tx + jitter) - 1.5, py(ty) - 1.5, 3, 3);
      });
      ctx.fillStyle = "#1d2330"; ctx.strokeStyle = "#9aa1b0";
      ctx.strokeRect(pad.left, pad.top, width - pad.left - pad.right, height - pad.top - pad.bottom);
      ctx.textAlign = "center";
      ctx.fillText(col.name + (axis.log ? " (log scale)" : ""), width / 2, height - 4);
      ctx.fillText(label(axis, 0), px(0) + 12, height - 20);
      ctx.fillText(label(axis, 1), px(1) - 14, height - 20);
      ctx.textAlign = "right";
      ctx.fillText(HS.fmt(metricAxis.low), pad.left - 4, py(0));
      ctx.fillText(HS.fmt(metricAxis.high), pad.left - 4, py(1) + 8);
      ctx.textAlign = "left";
      ctx.fillText(table.metric, 4, 12);
    }
  };

  // The worker timeline: one row per slot of each worker, attempts as bars coloured by how
  // they ended; retries outlined.
  C.timeline = function (el, tl) {
    const rows = [];
    for (const lane of tl.lanes) lane.tracks.forEach((track, i) => rows.push({ lane, track, first: i === 0 }));
    const width = widthOf(el), rowH = 18, pad = { left: 150, right: 16, top: 8, bottom: 30 };
    const height = pad.top + pad.bottom + rows.length * rowH;
    const { ctx } = canvas(el, width, height);
    const span = tl.span || 1;
    const px = s => pad.left + s / span * (width - pad.left - pad.right);
    rows.forEach((row, r) => {
      const top = pad.top + r * rowH;
      if (row.first) {
        ctx.fillStyle = "#1d2330"; ctx.textAlign = "right";
        const share = Math.round(100 * Math.min(1, row.lane.busy / (span * row.lane.tracks.length)));
        ctx.fillText(`${row.lane.worker.slice(0, 16)} ${share}% busy`, pad.left - 6, top + 13);
      }
      const t = row.track;
      for (let i = 0; i < t.start.length; i++) {
        const a = px(t.start[i]), b = Math.max(px(t.end[i]), a + 1);
        ctx.fillStyle = STATE_COLORS[t.state[i]] || "#999";
        ctx.fillRect(a, top + 2, b - a, rowH - 4);
        if (t.attempt[i] > 1) { ctx.strokeStyle = "#d6453d"; ctx.strokeRect(a, top + 2, b - a, rowH - 4); }
      }
    });
    ctx.fillStyle = "#1d2330"; ctx.textAlign = "center";
    for (let k = 0; k <= 5; k++) {
      const s = span * k / 5;
      ctx.fillText(HS.fmt(+s.toPrecision(3)), px(s), height - 16);
    }
    ctx.fillText("seconds since the first trial started", (pad.left + width) / 2, height - 2);
  };

  // Horizontal bars: `items` of {label, value, color, text} (`text` is shown instead of the
  // value when given).
  C.bars = function (el, items) {
    const width = widthOf(el, 400), rowH = 22, pad = { left: 110, right: 60 };
    const { ctx } = canvas(el, width, items.length * rowH + 4);
    const max = Math.max(1, ...items.map(i => i.value));
    items.forEach((item, r) => {
      const w = item.value / max * (width - pad.left - pad.right);
      ctx.fillStyle = item.color || "#2f6fdf";
      ctx.fillRect(pad.left, r * rowH + 3, w, rowH - 6);
      ctx.fillStyle = "#1d2330";
      ctx.textAlign = "right"; ctx.fillText(item.label, pad.left - 6, r * rowH + 15);
      ctx.textAlign = "left"; ctx.fillText(item.text ?? String(item.value), pad.left + w + 6, r * rowH + 15);
    });
  };

  // The Pareto front of a study with several objectives: each complete trial at two of its
  // objectives (`f.axes`), the front joined by its staircase (with two objectives), dominated trials muted, infeasible grey.
  // An objective spanning three decades or more (a parameter count) gets a log axis. A click
  // on a point opens its trial.
  C.pareto = function (el, f, open) {
    const width = widthOf(el), height = 340, pad = { left: 72, right: 16, top: 16, bottom: 40 };
    const { c, ctx } = canvas(el, width, height);
    const axisOf = (values, objective) => {
      let low = Infinity, high = -Infinity;
      for (const v of values) if (Number.isFinite(v)) { if (v < low) low = v; if (v > high) high = v; }
      if (!(high > low)) { low = Number.isFinite(low) ? low - 0.5 : 0; high = low + 1; }
      return { kind: "numeric", low, high, log: low > 0 && high / low >= 1e3, name: objective.metric };
    };
    const [ox, oy] = [f.objectives[f.axes[0]], f.objectives[f.axes[1]]];
    const ax = axisOf(f.x, ox), ay = axisOf(f.y, oy);
    const sx = scaler(ax), sy = scaler(ay);
    // Points keep 3 % of the frame clear of its edges.
    const inset = t => 0.03 + 0.94 * t;
    const px = v => pad.left + inset(sx(v)) * (width - pad.left - pad.right);
    const py = v => pad.top + (1 - inset(sy(v))) * (height - pad.top - pad.bottom);
    const style = PARETO_COLORS;
    for (const kind of ["infeasible", "dominated", "front"]) {
      ctx.fillStyle = style[kind];
      const r = kind === "front" ? 3.5 : 2;
      f.standing.forEach((s, i) => {
        if (s !== kind) return;
        ctx.beginPath(); ctx.arc(px(f.x[i]), py(f.y[i]), r, 0, 2 * Math.PI); ctx.fill();
      });
    }
    // The staircase, when the two objectives drawn are all there are (with more, the front
    // seen from two of them is no staircase): front points along x, stepping to each next.
    const front = f.standing.map((s, i) => i).filter(i => f.standing[i] === "front").sort((a, b) => f.x[a] - f.x[b]);
    if (front.length > 1 && f.objectives.length === 2) {
      ctx.strokeStyle = style.front; ctx.lineWidth = 1.2; ctx.beginPath();
      front.forEach((i, k) => {
        if (k === 0) { ctx.moveTo(px(f.x[i]), py(f.y[i])); return; }
        ctx.lineTo(px(f.x[i]), py(f.y[front[k - 1]])); ctx.lineTo(px(f.x[i]), py(f.y[i]));
      });
      ctx.stroke();
    }
    const better = o => (o.maximize ? "higher" : "lower") + " is better";
    ctx.fillStyle = "#1d2330"; ctx.strokeStyle = "#9aa1b0";
    ctx.strokeRect(pad.left, pad.top, width - pad.left - pad.right, height - pad.top - pad.bottom);
    ctx.textAlign = "center";
    ctx.fillText(`${ax.name} (${better(ox)}${ax.log ? ", log scale" : ""})`, (pad.left + width - pad.right) / 2, height - 6);
    ctx.fillText(HS.fmt(ax.low), px(ax.low), height - 24);
    ctx.fillText(HS.fmt(ax.high), px(ax.high), height - 24);
    ctx.textAlign = "right";
    ctx.fillText(HS.fmt(ay.low), pad.left - 4, py(ay.low) + 4);
    ctx.fillText(HS.fmt(ay.high), pad.left - 4, py(ay.high) + 4);
    ctx.save(); ctx.translate(14, (pad.top + height - pad.bottom) / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center";
    ctx.fillText(`${ay.name} (${better(oy)}${ay.log ? ", log scale" : ""})`, 0, 0);
    ctx.restore();
    c.style.cursor = "pointer";
    c.addEventListener("click", ev => {
      const box = c.getBoundingClientRect(), x = ev.clientX - box.left, y = ev.clientY - box.top;
      let best = -1, near = 64;
      f.number.forEach((n, i) => {
        const d = (px(f.x[i]) - x) ** 2 + (py(f.y[i]) - y) ** 2;
        if (d < near) { near = d; best = i; }
      });
      if (best >= 0) open(f.number[best]);
    });
  };

  // A uPlot chart filling `el`'s width.
  C.plot = function (el, opts, data) {
    opts.width = widthOf(el);
    opts.height = opts.height || 300;
    return new uPlot(opts, data, el);
  };

  window.HS = window.HS || {};
  window.HS.charts = C;
})();
