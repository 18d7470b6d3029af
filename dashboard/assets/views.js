// hypersearch dashboard: the views (studies, a study, its trial table, a trial, two studies
// compared). Each loads from the JSON API and draws into <main>; app.js routes and refreshes.
"use strict";
(function () {
  const HS = window.HS = window.HS || {};
  HS.views = HS.views || {};
  const el = (...a) => HS.el(...a);
  const STATES = ["queued", "running", "complete", "pruned", "failed"];
  const badge = state => el("span", { class: "state " + state }, state);
  const total = s => STATES.reduce((sum, k) => sum + (s[k] || 0), 0);

  // ---- Studies ---------------------------------------------------------------------------
  HS.views.studies = {
    load: () => HS.getJSON("/api/studies"),
    render(main, data) {
      HS.crumbs();
      if (!data.studies.length) {
        main.replaceChildren(el("h1", {}, "Studies"), HS.empty(`No study in ${data.database} yet.`));
        return;
      }
      const head = ["study", "state", "algorithm", "metric", "trials", ...STATES, "best", "best trial", "trials / min"];
      const rows = data.studies.map(s => el("tr", { dataset: { study: s.study } },
        el("td", {}, HS.link("/study/" + HS.enc(s.study), s.study)),
        el("td", { dataset: { field: "state" } }, s.state),
        el("td", {}, s.algorithm),
        el("td", {}, `${s.metric} (${s.direction})`),
        el("td", { class: "num", dataset: { field: "total" } }, `${total(s)} / ${s.budget}`),
        STATES.map(k => el("td", { class: "num", dataset: { field: k } }, s[k])),
        el("td", { class: "num", dataset: { field: "best", value: s.best_value == null ? "" : String(s.best_value) } }, HS.fmt(s.best_value)),
        el("td", { class: "num" }, s.best_trial == null ? "–" : HS.link(`/study/${HS.enc(s.study)}/trials/${s.best_trial}`, s.best_trial)),
        el("td", { class: "num" }, HS.fmt(s.per_minute))));
      const options = () => data.studies.map(s => el("option", { value: s.study }, s.study));
      const a = el("select", { name: "a" }, options()), b = el("select", { name: "b" }, options());
      if (data.studies.length > 1) b.selectedIndex = 1;
      const compare = el("form", { class: "controls", on: { submit: ev => {
        ev.preventDefault();
        location.href = HS.href(`/compare?a=${HS.enc(a.value)}&b=${HS.enc(b.value)}`);
      } } }, "Compare ", a, " with ", b, el("button", { type: "submit" }, "Compare"));
      main.replaceChildren(el("h1", {}, "Studies"), el("p", { class: "quiet" }, data.database),
        el("table", { id: "studies" }, el("tr", {}, head.map(h => el("th", {}, h))), rows),
        el("p"), compare);
    },
  };

  // ---- A study ---------------------------------------------------------------------------
  const brushes = {};
  HS.views.study = {
    load: args => HS.getJSON("/api/studies/" + HS.enc(args.study)),
    render(main, d, args) {
      const s = d.summary, name = args.study, base = "/study/" + HS.enc(name);
      HS.crumbs(HS.link(base, name));
      const count = (key, label, value) =>
        el("div", { dataset: { count: key } }, el("b", {}, value == null ? s[key] : value), label);
      const counts = el("div", { class: "counts", id: "counts" },
        count("total", "trials", d.trials), STATES.map(k => count(k, k)),
        el("div", { id: "best", dataset: { value: s.best_value == null ? "" : String(s.best_value) } },
          el("b", {}, HS.fmt(s.best_value)),
          s.best_trial == null ? "best: none yet" : HS.link(`${base}/trials/${s.best_trial}`, `best (trial ${s.best_trial})`)),
        el("div", {}, el("b", {}, HS.fmt(d.per_minute)), "trials / min"));
      const panels = el("div", { class: "panels" });
      main.replaceChildren(
        el("h1", { id: "study-name" }, name),
        el("p", { class: "quiet" }, `${s.metric} (${s.direction}) · ${s.algorithm} · ${s.state} · budget ${s.budget} · `,
          HS.link(base + "/trials", "trial table"), " · ", d.database),
        counts, panels);
      const add = (title, attrs) => { const box = el("div"); panels.appendChild(HS.panel(title, attrs, box)); return box; };
      const states = add("Trials by state");
      HS.charts.bars(states, STATES.map(k => ({ label: k, value: s[k], color: HS.charts.STATE_COLORS[k] })));
      history(add("Optimization history", { id: "history" }), d.history);
      curves(add("Learning curves", { id: "curves" }), d.curves);
      importance(add("Parameter importance", { id: "importance" }), name);
      if (d.objectives.length > 1) pareto(add("Pareto front", { id: "pareto", class: "panel wide" }), name, base, d.objectives);
      const par = add("Parallel coordinates", { id: "parallel", class: "panel wide" });
      if (d.params.numbers.length) HS.charts.parallel(par, d.params, brushes);
      else par.appendChild(HS.empty("No complete trial yet: the axes appear with the first."));
      const slices = add("Slices", { id: "slices", class: "panel wide" });
      if (d.params.numbers.length) { slices.className = "slices"; HS.charts.slices(slices, d.params); }
      else slices.appendChild(HS.empty("No complete trial yet."));
      const tl = add("Worker timeline", { id: "timeline", class: "panel wide" });
      if (d.timeline.lanes.length) HS.charts.timeline(tl, d.timeline);
      else tl.appendChild(HS.empty("No attempt started yet."));
      replay(add("What-if replay of the early-stopping rule", { id: "replay", class: "panel wide" }), name);
      panels.appendChild(HS.panel("Study config", { class: "panel wide" }, el("pre", {}, d.config)));
    },
  };

  function history(box, h) {
    if (!h.numbers.length) { box.appendChild(HS.empty("No complete trial yet: the chart fills in as trials finish.")); return; }
    const best = [];
    let at = 0, so = null;
    for (const n of h.numbers) {
      while (at < h.best.length && h.best[at][0] <= n) so = h.best[at++][1];
      best.push(so);
    }
    box.appendChild(el("p", { class: "quiet" }, `${h.numbers.length} of ${h.complete} complete trials drawn`));
    HS.charts.plot(box, {
      scales: { x: { time: false }, y: { distr: h.log_scale ? 3 : 1 } },
      axes: [{ label: "trial" }, { label: `${h.metric} (${h.maximize ? "higher" : "lower"} is better)`, size: 60 }],
      series: [{ label: "trial" },
        { label: h.metric, stroke: "#2f6fdf", paths: () => null, points: { show: true, size: 4, fill: "#2f6fdf" } },
        { label: "best so far", stroke: "#d6453d", width: 2, paths: uPlot.paths.stepped({ align: 1 }) }],
    }, [h.numbers, h.values, best]);
  }

  function curves(box, c) {
    if (!c.bands.length) { box.appendChild(HS.empty("No epoch reported yet.")); return; }
    const epochs = c.bands.map(b => b.epoch);
    const series = [{ label: "epoch" },
      { label: "90th pct", stroke: "#9ab4e8" }, { label: "median", stroke: "#2f6fdf", width: 2 },
      { label: "10th pct", stroke: "#9ab4e8" }];
    const data = [epochs, c.bands.map(b => b.p90), c.bands.map(b => b.p50), c.bands.map(b => b.p10)];
    c.highlighted.forEach((curve, i) => {
      const by = new Map(curve.points.map(([e, v]) => [e, v]));
      series.push({ label: `trial ${curve.number}`, stroke: ["#2f9e5b", "#8e44ad", "#d9a21b", "#16a2b8", "#555"][i % 5], spanGaps: true });
      data.push(epochs.map(e => (by.has(e) ? by.get(e) : null)));
    });
    box.appendChild(el("p", { class: "quiet" },
      `10th to 90th percentile of ${c.curves} trials; ${c.pruned} pruned (× where they stopped)`));
    HS.charts.plot(box, {
      scales: { x: { time: false } },
      axes: [{ label: "epoch" }, { label: c.metric, size: 60 }],
      series, bands: [{ series: [1, 3], fill: "rgba(47,111,223,0.12)" }],
      hooks: { draw: [u => {
        const ctx = u.ctx;
        ctx.save(); ctx.strokeStyle = "#d9a21b"; ctx.lineWidth = 1.5;
        for (const stop of c.stops) {
          const x = u.valToPos(stop.epoch, "x", true), y = u.valToPos(stop.value, "y", true);
          ctx.beginPath(); ctx.moveTo(x - 4, y - 4); ctx.lineTo(x + 4, y + 4);
          ctx.moveTo(x + 4, y - 4); ctx.lineTo(x - 4, y + 4); ctx.stroke();
        }
        ctx.restore();
      }] },
    }, data);
  }

  // A panel filled from `url` by `draw`; the server's message when it refuses (too few
  // trials, a bad rule option).
  function fetched(box, url, draw) {
    box.replaceChildren(el("p", { class: "quiet" }, "loading…"));
    HS.getJSON(url).then(data => { box.replaceChildren(); draw(box, data); },
      err => box.replaceChildren(HS.empty(err.message)));
  }

  // PED-ANOVA importance as bars, with the correlation's sign.
  function importance(box, name) {
    fetched(box, `/api/studies/${HS.enc(name)}/importance`, (box, ranked) => {
      box.appendChild(el("p", { class: "quiet" },
        "What sets the best 10% of complete trials apart (PED-ANOVA); + : higher is better, − : lower is better"));
      HS.charts.bars(box, ranked.map(r => ({
        label: r.parameter, value: r.importance,
        text: `${(r.importance * 100).toFixed(1)}%` +
          (r.correlation == null ? "" : r.correlation > 0 ? "  +" : r.correlation < 0 ? "  −" : ""),
      })));
    });
  }

  // The Pareto front of a study with several objectives, with counts; with three or more, two
  // menus choose the objectives drawn (the front is over all of them).
  function pareto(box, name, base, objectives) {
    const out = el("div");
    const draw = axes => fetched(out, `/api/studies/${HS.enc(name)}/pareto?x=${axes[0]}&y=${axes[1]}`, (out, f) => {
      const rules = f.constraints.length ? `; feasible: ${f.constraints.join(", ")}` : "";
      const counts = el("p", { class: "quiet", id: "pareto-counts",
        dataset: { front: f.front, dominated: f.dominated, infeasible: f.infeasible } });
      out.appendChild(counts);
      if (!f.number.length) {
        counts.textContent = "Pareto front 0";
        out.appendChild(HS.empty("No complete trial with every objective yet."));
        return;
      }
      HS.charts.pareto(out, f, n => { location.href = HS.href(`${base}/trials/${n}`); });
      window.lastPareto = f.axes.join(",");
      const key = (kind, text) => el("span", {}, el("span", { style: `color: ${HS.charts.PARETO_COLORS[kind]}` }, "● "), text);
      counts.append(key("front", `Pareto front ${f.front}`), " · ", key("dominated", `dominated ${f.dominated}`),
        " · ", key("infeasible", `infeasible ${f.infeasible}`), `${rules} · click a point to open its trial`);
    });
    if (objectives.length > 2) {
      const menu = (name, chosen) => el("select", { name, on: { change: () => draw([x.value, y.value]) } },
        objectives.map((o, i) => el("option", { value: i, selected: i === chosen }, o.metric)));
      const x = menu("x", 0), y = menu("y", 1);
      box.appendChild(el("form", { class: "controls" }, "x ", x, " y ", y,
        ` (the front is over all ${objectives.length} objectives)`));
    }
    box.appendChild(out);
    draw([0, 1]);
  }

  // The replay's rule and options, editable; its findings under the form.
  function replay(box, name) {
    const out = el("div", { id: "replay-result" });
    const field = (label, input) => el("label", {}, label + " ", input);
    const rule = el("select", { name: "rule" },
      [["", "the study's own"], ["median", "median"], ["percentile", "percentile"], ["asha", "asha"], ["hyperband", "hyperband"]]
        .map(([v, t]) => el("option", { value: v }, t)));
    const inputs = [
      ["warmup_epochs", "warm-up epochs"], ["percentile", "percentile"], ["reduction_factor", "reduction factor"],
      ["min_resource", "min resource"], ["top", "best trials checked"],
    ].map(([key, label]) => [key, label, el("input", { name: key, size: 5 })]);
    const url = () => {
      const q = new URLSearchParams();
      if (rule.value) {
        q.set("rule", rule.value);
        for (const [key, , input] of inputs) if (input.value.trim() && key !== "top") q.set(key, input.value.trim());
      }
      const top = inputs[inputs.length - 1][2].value.trim();
      if (top) q.set("top", top);
      return `/api/studies/${HS.enc(name)}/replay?${q}`;
    };
    const form = el("form", { class: "controls", on: { submit: ev => { ev.preventDefault(); fetched(out, url(), findings); } } },
      field("rule", rule), inputs.map(([, label, input]) => field(label, input)),
      el("button", { type: "submit" }, "Replay"));
    box.append(form, out);
    fetched(out, url(), findings);
  }

  // What a replay found: totals, the best trials it would have killed, each stop.
  function findings(box, r) {
    const t = r.totals, killed = r.best_killed.trials;
    box.append(
      el("p", { id: "replay-totals" }, `stops ${r.stops.length} trials; epochs ${t.epochs_run} run, ${t.epochs_replayed} under this rule `
        + `(${t.saved_percent.toFixed(1)}% saved); seconds saved ${HS.fmt(t.seconds_saved)}`),
      el("p", {}, killed.length
        ? `of the best ${r.best_killed.checked} complete trials it would have killed: ` + killed.map(k => `#${k.rank} trial ${k.trial}`).join(", ")
        : `of the best ${r.best_killed.checked} complete trials it would have killed none`),
      el("p", { class: "quiet" }, r.order_note));
    if (!r.stops.length) return;
    const table = el("table", {}, el("tr", {}, ["trial", "epoch", "value", "threshold", "recorded"].map(h => el("th", {}, h))),
      r.stops.slice(0, 200).map(s => el("tr", {},
        el("td", {}, HS.link(`/study/${HS.enc(r.study)}/trials/${s.trial}`, String(s.trial))),
        el("td", { class: "num" }, s.epoch), el("td", { class: "num" }, HS.fmt(s.value)),
        el("td", { class: "num" }, HS.fmt(s.threshold)), el("td", {}, s.recorded))));
    box.appendChild(table);
  }

  // ---- Two studies -----------------------------------------------------------------------
  HS.views.compare = {
    load: args => (args.a && args.b
      ? HS.getJSON(`/api/compare?a=${HS.enc(args.a)}&b=${HS.enc(args.b)}`) : Promise.resolve(null)),
    render(main, d, args) {
      HS.crumbs(el("span", {}, "compare"));
      if (!d) { main.replaceChildren(HS.empty("Pick two studies on the studies page."), HS.link("/", "Studies")); return; }
      const sides = [d.a, d.b];
      const row = (label, f) => el("tr", {}, el("th", {}, label), sides.map(s => el("td", { class: "num" }, f(s))));
      const table = el("table", { id: "compare" },
        el("tr", {}, el("th"), sides.map(s => el("th", {}, HS.link("/study/" + HS.enc(s.summary.study), s.summary.study)))),
        row("metric", s => `${s.summary.metric} (${s.summary.direction})`),
        row("algorithm", s => s.summary.algorithm), row("state", s => s.summary.state),
        STATES.map(k => row(k, s => s.summary[k])),
        row("best", s => HS.fmt(s.summary.best_value)), row("trials / min", s => HS.fmt(s.per_minute)));
      const chart = el("div");
      main.replaceChildren(el("h1", {}, `${args.a} vs ${args.b}`), table, HS.panel("Best so far", { id: "compare-history" }, chart));
      // Each line runs from its first change point to the study's last complete trial drawn.
      const xs = [...new Set(sides.flatMap(s => s.history.best.map(p => p[0]).concat(s.history.numbers.slice(-1))))]
        .sort((p, q) => p - q);
      if (!xs.length) { chart.appendChild(HS.empty("No complete trial yet in either study.")); return; }
      const line = s => { let at = 0, so = null; return xs.map(n => { while (at < s.history.best.length && s.history.best[at][0] <= n) so = s.history.best[at++][1]; return so; }); };
      HS.charts.plot(chart, {
        scales: { x: { time: false } }, axes: [{ label: "trial" }, { size: 60 }],
        series: [{ label: "trial" },
          { label: args.a, stroke: "#2f6fdf", width: 2, paths: uPlot.paths.stepped({ align: 1 }) },
          { label: args.b, stroke: "#d6453d", width: 2, paths: uPlot.paths.stepped({ align: 1 }) }],
      }, [xs, line(d.a), line(d.b)]);
    },
  };
})();
