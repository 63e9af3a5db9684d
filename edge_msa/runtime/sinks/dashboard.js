// edge-msa dashboard: events pushed over Server-Sent Events (/stream), drawn with plain DOM + SVG.
// Text from events (transcripts, reasons) is only ever set as textContent, never parsed as HTML.
"use strict";
(() => {
  const SCALE = 3;
  const WINDOW_S = 60;  // the timeline shows at most the last minute
  const MODS = ["text", "audio", "vision"];
  const NEEDS = { text: ["audio", "asr"], audio: ["audio"], vision: ["video", "face"] };  // sources
  const TROUBLE = ["absent", "failed", "stalled", "muted"];
  const SVG = "http://www.w3.org/2000/svg";
  const token = new URLSearchParams(location.search).get("token");
  const events = new Map();  // index -> event (a reconnect resends the kept ones)
  let health = {};

  const $ = (id) => document.getElementById(id);
  const withToken = (path) =>
    token ? `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : path;
  const signed = (x) => (x >= 0 ? "+" : "") + x.toFixed(2);
  const clamp = (x) => Math.max(-SCALE, Math.min(SCALE, x));

  function node(tag, attrs = {}, text = null, ns = null) {
    const el = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== null) el.textContent = text;
    return el;
  }

  function latest() {
    let best = null;
    for (const e of events.values()) if (!best || e.index > best.index) best = e;
    return best;
  }

  function drawGauge(e) {
    $("needle").setAttribute("transform", `rotate(${(clamp(e.score) / SCALE) * 90} 110 118)`);
    const score = $("score");
    score.textContent = `${e.label} ${signed(e.score)} (±${e.uncertainty.toFixed(2)})`;
    score.className = `score ${e.label}`;
  }

  function sourceTrouble(m) {
    for (const name of NEEDS[m]) {
      const h = health[name];
      if (h && TROUBLE.includes(h.state)) return `${name} ${h.state}` + (h.error ? `: ${h.error}` : "");
    }
    return null;
  }

  function drawBadges(e) {
    for (const m of MODS) {
      const badge = document.querySelector(`.badge[data-m="${m}"]`);
      const ev = e && e.evidence[m];
      const trouble = sourceTrouble(m);
      const used = Boolean(e && e.modalities[m]) && !trouble;
      badge.className = `badge ${used ? "on" : "off"}`;
      badge.querySelector(".said").textContent =
        ev && ev.present && ev.score !== null ? ` alone ${signed(ev.score)}` : " —";
      const why = trouble || (e && !e.modalities[m] ? e.masked[m] || "not used" : "");
      badge.querySelector("small").textContent = why ? `masked: ${why}` : "";
    }
  }

  function drawTimeline(list) {
    const svg = $("timeline");
    svg.replaceChildren();
    const W = 640, H = 200, L = 30, R = 8, T = 8, B = 22;
    const end = list.length ? list[list.length - 1].end : 0;
    const first = list.length ? list[0].start : 0;
    const t0 = Math.floor(Math.max(first, end - WINDOW_S));
    const span = Math.max(20, end - t0);
    const x = (t) => L + ((t - t0) / span) * (W - L - R);
    const y = (s) => T + ((SCALE - clamp(s)) / (2 * SCALE)) * (H - T - B);
    for (let s = -SCALE; s <= SCALE; s++) {
      svg.append(node("line", { x1: L, x2: W - R, y1: y(s), y2: y(s), class: s ? "grid" : "zero" }, null, SVG));
      svg.append(node("text", { x: L - 4, y: y(s) + 3, "text-anchor": "end", class: "axis" }, signed(s).replace(".00", ""), SVG));
    }
    const step = span > 30 ? 10 : 5;
    for (let t = Math.ceil(t0 / step) * step; t <= t0 + span; t += step) {
      svg.append(node("text", { x: x(t), y: H - 6, "text-anchor": "middle", class: "axis" }, `${t}s`, SVG));
    }
    const shown = list.filter((e) => e.end >= t0);
    const series = [["fused", (e) => e.score]].concat(MODS.map((m) => [m, (e) => {
      const ev = e.evidence[m];
      return ev && ev.present && ev.score !== null ? ev.score : null;
    }]));
    for (const [name, value] of series) {
      let run = [];
      const flush = () => {
        if (run.length === 1) run.push(run[0]);  // a lone point still shows as a dot
        if (run.length) svg.append(node("polyline", { points: run.join(" "), class: name }, null, SVG));
        run = [];
      };
      for (const e of shown) {
        const v = value(e);
        if (v === null) flush();
        else run.push(`${x(e.end).toFixed(1)},${y(v).toFixed(1)}`);
      }
      flush();
    }
  }

  function drawTranscript(list) {
    const items = list.slice(-30).reverse().map((e) => {
      const li = node("li");
      li.append(node("span", { class: "time" }, `${e.start.toFixed(1)}–${e.end.toFixed(1)} s`));
      li.append(node("span", { class: `lab ${e.label}` }, `${e.label} ${signed(e.score)}`));
      li.append(node("q", {}, e.transcript || "(no words)"));
      return li;
    });
    $("transcript").replaceChildren(...items);
  }

  function drawLatency(e) {
    const rows = Object.entries(e.latency_ms).map(([k, v]) => {
      const tr = node("tr");
      tr.append(node("td", {}, k.replace(/_ms$/, "")), node("td", {}, v.toFixed(1)));
      return tr;
    });
    $("latency").tBodies[0].replaceChildren(...rows);
  }

  function drawHealth() {
    const items = Object.entries(health).map(([name, h]) =>
      node("li", { class: TROUBLE.includes(h.state) ? "trouble" : "ok" },
        `${name}: ${h.state}` + (h.error ? ` (${h.error})` : "")));
    $("health").replaceChildren(...items);
    drawBadges(latest());
  }

  function render() {
    const list = [...events.values()].sort((a, b) => a.index - b.index);
    const e = list[list.length - 1];
    if (!e) return;
    drawGauge(e);
    drawBadges(e);
    drawTimeline(list);
    drawTranscript(list);
    drawLatency(e);
  }

  // camera snapshots: fetch a new one when told, one request at a time
  let loading = false, wanted = null;
  const img = $("frame");
  function loadFrame(n) {
    if (loading) { wanted = n; return; }
    loading = true;
    img.src = withToken(`/frame.jpg?n=${n}`);
  }
  img.addEventListener("load", () => {
    img.hidden = false;
    $("no-frame").hidden = true;
    loading = false;
    if (wanted !== null) { const n = wanted; wanted = null; loadFrame(n); }
  });
  img.addEventListener("error", () => { loading = false; });

  const status = $("status");
  const source = new EventSource(withToken("/stream"));
  source.addEventListener("open", () => { status.textContent = "live"; status.className = "status live"; });
  source.addEventListener("error", () => { status.textContent = "disconnected"; status.className = "status lost"; });
  let pending = false;  // draw at most once per animation frame (a reconnect replays many events)
  source.addEventListener("sentiment", (m) => {
    const e = JSON.parse(m.data);
    events.set(e.index, e);
    while (events.size > 200) events.delete(events.keys().next().value);
    if (!pending) {
      pending = true;
      requestAnimationFrame(() => { pending = false; render(); });
    }
  });
  source.addEventListener("health", (m) => { health = JSON.parse(m.data); drawHealth(); });
  source.addEventListener("frame", (m) => loadFrame(JSON.parse(m.data).n));
  drawTimeline([]);
})();
