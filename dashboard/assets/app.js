// hypersearch dashboard: the router, live updates and the helpers every view uses.
// A view is { load(args) -> Promise<data>, render(main, data, args) }; on every change the
// server announces, the current view loads and renders again (at most one load at a time).
"use strict";
(function () {
  const HS = window.HS = window.HS || {};
  HS.views = HS.views || {};
  const query = new URLSearchParams(location.search);
  HS.live = query.get("live") !== "0";
  HS.query = query;
  HS.timing = {};

  // An element: HS.el("a", {href: "/"}, "text", child...).
  HS.el = function (tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value == null || value === false) continue;
      if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child == null || child === false) continue;
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    }
    return node;
  };

  // A path inside the dashboard, keeping `?live=0` when the page has it.
  HS.href = function (path) {
    if (HS.live) return path;
    return path + (path.includes("?") ? "&" : "?") + "live=0";
  };
  HS.link = (path, text, attrs) => HS.el("a", Object.assign({ href: HS.href(path) }, attrs || {}), text);
  HS.enc = encodeURIComponent;

  // JSON from the API, never from the browser's cache (the study changes under it); a
  // failure carries the server's message and status.
  HS.getJSON = async function (url) {
    const response = await fetch(url, { headers: { accept: "application/json" }, cache: "no-store" });
    const body = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok) {
      const err = new Error(body.error || response.statusText);
      err.status = response.status;
      throw err;
    }
    return body;
  };

  // A number as people read it; "–" for none.
  HS.fmt = function (v) {
    if (v == null || Number.isNaN(v)) return "–";
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
    return String(+v.toPrecision(6));
  };
  HS.when = secs => (secs == null ? "–" : new Date(secs * 1000).toLocaleString());
  HS.empty = text => HS.el("p", { class: "empty" }, text);
  HS.panel = (title, attrs, ...children) =>
    HS.el("section", Object.assign({ class: "panel" }, attrs || {}), HS.el("h2", {}, title), ...children);
  HS.crumbs = function (...parts) {
    const nav = document.getElementById("crumbs");
    nav.replaceChildren(...parts.flatMap((part, i) => (i ? [" / ", part] : [part])));
  };

  // Which view the path names.
  function route() {
    const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    if (parts.length === 0) return { view: "studies", args: {} };
    if (parts[0] === "compare") return { view: "compare", args: { a: query.get("a"), b: query.get("b") } };
    if (parts[0] === "study" && parts.length === 2) return { view: "study", args: { study: parts[1] } };
    if (parts[0] === "study" && parts[2] === "trials" && parts.length === 3) return { view: "trials", args: { study: parts[1] } };
    if (parts[0] === "study" && parts[2] === "trials" && parts.length === 4) {
      return { view: "trial", args: { study: parts[1], number: parts[3] } };
    }
    return { view: "missing", args: {} };
  }

  let loading = false, again = false, first = true;
  // Loads and draws the current view again; a change that comes while loading queues one more.
  async function refresh() {
    if (loading) { again = true; return; }
    loading = true;
    const { view, args } = route();
    const main = document.getElementById("main");
    try {
      const data = await HS.views[view].load(args);
      if (first) HS.timing.data = performance.now();
      const scroll = window.scrollY;
      HS.views[view].render(main, data, args);
      window.scrollTo(0, scroll);
      document.body.dataset.version = data && data.version != null ? data.version : "";
    } catch (err) {
      main.replaceChildren(HS.el("p", { class: "error", id: "error", dataset: { status: err.status || "" } }, err.message));
    }
    if (first) {
      first = false;
      requestAnimationFrame(() => setTimeout(() => {
        HS.timing.painted = performance.now();
        document.body.dataset.ready = "1";
      }, 0));
    }
    loading = false;
    if (again) { again = false; setTimeout(refresh, 250); }
  }
  HS.refresh = refresh;

  // Server-sent events: `changed` and `resync` both reload the view; so does a reconnect,
  // as events may have been missed while the stream was down.
  function listen() {
    const badge = document.getElementById("live");
    if (!HS.live || !window.EventSource) { badge.textContent = "live updates off"; return; }
    const events = new EventSource("/api/events");
    let opened = false;
    events.addEventListener("open", () => {
      badge.textContent = "live"; badge.className = "on";
      if (opened) refresh();
      opened = true;
    });
    events.addEventListener("error", () => { badge.textContent = "reconnecting…"; badge.className = ""; });
    events.addEventListener("changed", () => refresh());
    events.addEventListener("resync", () => refresh());
  }

  HS.views.missing = {
    load: async () => null,
    render: main => main.replaceChildren(HS.empty("No such page."), HS.link("/", "All studies")),
  };

  document.addEventListener("DOMContentLoaded", () => { refresh(); listen(); });
})();
