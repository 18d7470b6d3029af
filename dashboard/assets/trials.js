// hypersearch dashboard: a study's trial table (paged, filtered, sorted, with jump-to) and
// one trial (its parameters, every metric's curve, why it ended, the commands that re-run it).
"use strict";
(function () {
  const HS = window.HS = window.HS || {};
  HS.views = HS.views || {};
  const el = (...a) => HS.el(...a);
  const badge = state => el("span", { class: "state " + state }, state);

  // ---- The trial table -------------------------------------------------------------------
  const table = { state: "", sort: "number", order: "asc", offset: 0, limit: 50, min: "", max: "", q: "", jump: null };
  HS.views.trials = {
    load(args) {
      const q = new URLSearchParams();
      for (const key of ["state", "sort", "order", "offset", "limit", "min", "max", "q"]) {
        if (table[key] !== "" && table[key] != null) q.set(key, table[key]);
      }
      if (table.jump != null) q.set("jump", table.jump);
      return HS.getJSON(`/api/studies/${HS.enc(args.study)}/trials?${q}`);
    },
    render(main, d, args) {
      const base = "/study/" + HS.enc(args.study);
      HS.crumbs(HS.link(base, args.study), HS.link(base + "/trials", "trials"));
      const jumped = table.jump;
      table.offset = d.offset;
      table.jump = null;
      const input = (key, attrs) => el("input", Object.assign({ name: key, value: table[key] }, attrs));
      const select = (key, options) => {
        const s = el("select", { name: key }, options.map(([v, t]) => el("option", { value: v }, t)));
        s.value = table[key];
        return s;
      };
      const controls = el("form", { class: "controls", id: "filters", on: { submit: ev => {
        ev.preventDefault();
        const form = new FormData(ev.target);
        for (const key of ["state", "sort", "order", "min", "max", "q"]) table[key] = form.get(key);
        table.offset = 0;
        HS.refresh();
      } } },
      "state", select("state", [["", "any"], ...["queued", "running", "complete", "pruned", "failed"].map(s => [s, s])]),
      "sort by", select("sort", [["number", "number"], ["value", "value"], ["attempts", "attempts"],
        ["started", "started"], ["finished", "finished"], ["duration", "duration"]]),
      select("order", [["asc", "ascending"], ["desc", "descending"]]),
      "value from", input("min", { type: "number", step: "any" }), "to", input("max", { type: "number", step: "any" }),
      "parameters", input("q", { type: "search", placeholder: "lr=0.01 relu" }),
      el("button", { type: "submit" }, "Apply"));
      const jumpTo = el("input", { type: "number", name: "jump", min: 0, placeholder: "trial #" });
      const jump = el("form", { class: "controls", id: "jump", on: { submit: ev => {
        ev.preventDefault();
        if (jumpTo.value !== "") { table.jump = Number(jumpTo.value); HS.refresh(); }
      } } }, "Jump to trial", jumpTo, el("button", { type: "submit" }, "Go"));
      const page = (offset, text) => el("button", { type: "button", disabled: offset < 0 || offset >= d.matching || offset === d.offset,
        on: { click: () => { table.offset = offset; HS.refresh(); } } }, text);
      const last = Math.max(0, Math.floor((d.matching - 1) / d.limit) * d.limit);
      const pager = el("div", { class: "controls" }, page(0, "« first"), page(d.offset - d.limit, "‹ previous"),
        el("span", { id: "shown" }, d.matching ? `${d.offset + 1}–${d.offset + d.rows.length} of ${d.matching}` +
          (d.matching !== d.total ? ` matching (${d.total} trials)` : " trials") : "no trial matches"),
        page(d.offset + d.limit, "next ›"), page(last, "last »"));
      const rows = d.rows.map(r => el("tr", { dataset: { trial: r.number }, class: r.number === jumped ? "jumped" : null,
        style: r.number === jumped ? "background:#fff6d6" : null },
        el("td", { class: "num" }, HS.link(`${base}/trials/${r.number}`, r.number)),
        el("td", {}, badge(r.state)), el("td", { class: "num" }, HS.fmt(r.value)),
        el("td", {}, r.worker || "–"), el("td", { class: "num" }, r.attempts),
        el("td", {}, HS.when(r.started)),
        el("td", { class: "num" }, r.finished != null && r.started != null ? HS.fmt(r.finished - r.started) + " s" : "–"),
        el("td", { class: "params" }, r.params)));
      const missing = d.found === false ? el("p", { class: "error" }, `Trial ${jumped} is not among the trials shown.`) : null;
      main.replaceChildren(...[el("h1", {}, `Trials of ${args.study}`), controls, jump, missing, pager,
        d.total ? el("table", { id: "trials" }, el("tr", {}, ["trial", "state", "value", "worker", "attempts", "started", "took", "parameters"]
          .map(h => el("th", {}, h))), rows) : HS.empty("No trial yet.")].filter(Boolean));
    },
  };

  // ---- One trial -------------------------------------------------------------------------
  HS.views.trial = {
    load: args => HS.getJSON(`/api/studies/${HS.enc(args.study)}/trials/${HS.enc(args.number)}`),
    render(main, t, args) {
      const base = "/study/" + HS.enc(args.study);
      HS.crumbs(HS.link(base, args.study), HS.link(base + "/trials", "trials"), el("span", {}, `trial ${t.trial}`));
      const facts = el("table", { id: "facts" },
        [["state", badge(t.state)], [t.metric, el("span", { id: "trial-value", dataset: { value: t.value == null ? "" : String(t.value) } }, HS.fmt(t.value))],
          ["worker", t.worker || "–"], ["attempts", t.attempts], ["started", t.started_at || "–"], ["finished", t.finished_at || "–"]]
          .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))));
      const params = el("table", { id: "params" }, Object.entries(t.params || {})
        .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, typeof v === "object" ? JSON.stringify(v) : String(v)))));
      const panels = el("div", { class: "panels" });
      main.replaceChildren(el("h1", { id: "trial-title" }, `Trial ${t.trial} of ${t.study}`), panels);
      panels.append(
        HS.panel("Where it stands", {}, facts, el("p", { id: "why" }, why(t))),
        HS.panel("Parameters", {}, params));
      const metrics = el("div", { class: "slices" });
      panels.appendChild(HS.panel("Every metric by epoch", { class: "panel wide", id: "metrics" }, metrics));
      drawMetrics(metrics, t);
      panels.appendChild(HS.panel("Attempts", { class: "panel wide" }, el("table", {},
        el("tr", {}, ["attempt", "worker", "state", "failure", "error", "started", "finished"].map(h => el("th", {}, h))),
        t.attempt_history.map(a => el("tr", {}, el("td", {}, a.attempt), el("td", {}, a.worker || "–"), el("td", {}, badge(a.state)),
          el("td", {}, a.failure || ""), el("td", {}, a.error || ""), el("td", {}, a.started_at), el("td", {}, a.finished_at || "–"))))));
      const copyable = text => {
        const pre = el("pre", {}, text);
        const button = el("button", { type: "button", class: "copy", on: { click: () => {
          const done = () => { button.textContent = "copied"; };
          if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, () => select(pre));
          else select(pre);
        } } }, "copy");
        return el("div", {}, button, pre);
      };
      panels.appendChild(HS.panel("Run it again", { class: "panel wide", id: "rerun" },
        t.rerun.map(copyable),
        el("p", { class: "quiet" }, "What the objective was given (training keys):"),
        copyable(JSON.stringify(t.overrides, null, 2)),
        el("details", {}, el("summary", {}, "the study config it runs with"), copyable(t.config))));
    },
  };

  function select(node) {
    const range = document.createRange();
    range.selectNodeContents(node);
    const sel = window.getSelection();
    sel.removeAllRanges(); sel.addRange(range);
  }

  // Why the trial ended, in a sentence.
  function why(t) {
    if (t.state === "pruned" && t.early_stop) return `Pruned: ${t.early_stop.explanation}`;
    if (t.state === "failed") return `Failed: ${t.error || "no reason recorded"}`;
    if (t.state === "complete") return `Complete: it ran to its end with ${t.metric} = ${HS.fmt(t.value)}.`;
    if (t.state === "running") return "Running now.";
    return "Waiting for a worker.";
  }

  // One chart per metric, over the latest attempt's epochs.
  function drawMetrics(box, t) {
    const latest = Math.max(0, ...t.history.map(h => h.attempt));
    const epochs = t.history.filter(h => h.attempt === latest);
    if (!epochs.length) { box.appendChild(HS.empty("No epoch reported.")); return; }
    const names = [...new Set(epochs.flatMap(h => Object.keys(h.metrics)))].sort();
    for (const name of names) {
      const chart = el("div", { style: "width:420px" });
      box.appendChild(chart);
      const xs = epochs.map(h => h.epoch), ys = epochs.map(h => (name in h.metrics ? h.metrics[name] : null));
      HS.charts.plot(chart, {
        height: 220, title: name, scales: { x: { time: false } },
        axes: [{ label: "epoch" }, { size: 60 }],
        series: [{ label: "epoch" }, { label: name, stroke: name === t.metric ? "#d6453d" : "#2f6fdf", width: 2, points: { show: true } }],
      }, [xs, ys]);
    }
  }
})();
