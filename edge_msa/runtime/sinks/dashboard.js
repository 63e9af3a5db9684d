// edge-msa dashboard: the page arrives with the server's state (body data-state: the kept events,
// health, the latest frame, whether the run is over), then follows Server-Sent Events (/stream).
// Drawn with plain DOM + SVG. Text from events (transcripts, reasons) is only ever set as
// textContent, never parsed as HTML.
"use strict";
(() => {
  const state = JSON.parse(document.body.dataset.state);
  const SCALE = state.scale_max;
  const BAND = state.neutral_band;  // |score| within it: neutral (events.label_for)
  const WINDOW_S = 60;  // the timeline shows at most the last minute
  const MODS = ["text", "voice", "face"];
  const NEEDS = { text: ["audio", "asr"], voice: ["audio"], face: ["video", "face"] };  // sources
  const TROUBLE = ["absent", "failed", "stalled", "muted"];
  const SVG = "http://www.w3.org/2000/svg";
  const token = new URLSearchParams(location.search).get("token");
  const events = new Map();  // index -> event (a reconnect resends the kept ones)
  let health = state.health;

  const $ = (id) => document.getElementById(id);
  const withToken = (path) =>
    token ? `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : path;
  const signed = (x) => (x >= 0 ? "+" : "") + x.toFixed(2);
  const clamp = (x) => Math.max(-SCALE, Math.min(SCALE, x));
  // events.tone: the sign (neutral band) and strength 1..3 (thirds of the scale) of a score
  const tone = (x) => [x > BAND ? "positive" : x < -BAND ? "negative" : "neutral",
    Math.min(3, 1 + Math.floor((3 * Math.abs(x)) / SCALE))];

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
      const alone = ev && ev.present && ev.score !== null ? ev.score : null;
      const [sign, strength] = alone === null ? ["", 0] : tone(alone);
      badge.className = used ? `badge on ${sign} s${strength}`.trim() : "badge off";
      badge.title = alone === null ? "" : `${m} alone: ${sign}, strength ${strength} of 3`;
      badge.querySelector(".said").textContent = alone === null ? " —" : ` alone ${signed(alone)}`;
      const why = trouble || (e && !e.modalities[m] ? e.masked[m] || "not used" : "");
      badge.querySelector("small").textContent = why ? `masked: ${why}` : "";
    }
  }

  // The person's baseline (docs/calibration.md): what the calibrated path subtracted from the face,
  // how many utterances the voice statistics hold, and whether enrolment is running or done.
  function drawBaseline(e) {
    const b = e.baseline || {};
    const parts = [];
    if (b.enrolling) parts.push("enrolling: stay neutral");
    else if (b.enrolled) parts.push("enrolled");
    if (b.face) parts.push(`resting face ${signed(-b.face.offset)} from ${b.face.frames} frames`);
    if (b.voice) parts.push(`voice baseline from ${b.voice.utterances} utterances`);
    $("baseline").textContent = parts.length ? `baseline: ${parts.join(", ")}` : "";
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
    drawBaseline(e);
    drawTimeline(list);
    drawTranscript(list);
    drawLatency(e);
  }

  // Camera snapshots: each is loaded off-screen and swapped in only once it decoded, so a failed
  // fetch (the run gone) never replaces the last frame with a broken image. One request at a time.
  // The first one starts while the page loads (it holds the page's load event: a screenshot taken
  // at load already shows the camera).
  let loading = false, wanted = null, shown = 0;
  function loadFrame(n) {
    if (n <= shown) return;
    if (loading) { wanted = n; return; }
    loading = true;
    const next = new Image();
    const done = () => {
      loading = false;
      if (wanted !== null) { const w = wanted; wanted = null; loadFrame(w); }
    };
    next.addEventListener("load", () => {
      next.id = "frame";
      next.alt = $("frame").alt;
      $("frame").replaceWith(next);
      $("no-frame").hidden = true;
      shown = n;
      done();
    });
    next.addEventListener("error", done);
    next.src = withToken(`/frame.jpg?n=${n}`);
  }

  const status = $("status");
  const setStatus = (text, kind) => { status.textContent = text; status.className = `status ${kind}`; };
  function addEvent(e) {
    events.set(e.index, e);
    while (events.size > 200) events.delete(events.keys().next().value);
  }

  state.events.forEach(addEvent);
  drawTimeline([]);
  render();
  drawHealth();
  if (state.frame) loadFrame(state.frame);
  // Someone else sat down: the run forgets the person's baselines (POST /person/new; the header
  // is what a page from another site cannot send)
  function newPerson() {
    fetch(withToken("/person/new"), { method: "POST", headers: { "X-Requested-With": "edge-msa" } })
      .then((r) => r.json().then((body) => {
        $("new-person-said").textContent = r.ok ? "the next event starts a new baseline"
          : `not done: ${body.error}`;
      }))
      .catch(() => { $("new-person-said").textContent = "not done: the server did not answer"; });
  }

  if (state.ended) {
    setStatus("run ended", "ended");  // the final state: nothing more will come
  } else {
    $("new-person").hidden = false;
    $("new-person").addEventListener("click", newPerson);
    const source = new EventSource(withToken("/stream"));
    source.addEventListener("open", () => setStatus("live", "live"));
    source.addEventListener("error", () => setStatus("disconnected", "lost"));
    let pending = false;  // draw at most once per animation frame (a reconnect replays many events)
    source.addEventListener("sentiment", (m) => {
      addEvent(JSON.parse(m.data));
      if (!pending) {
        pending = true;
        requestAnimationFrame(() => { pending = false; render(); });
      }
    });
    source.addEventListener("health", (m) => { health = JSON.parse(m.data); drawHealth(); });
    source.addEventListener("frame", (m) => loadFrame(JSON.parse(m.data).n));
    source.addEventListener("ended", () => {
      $("new-person").hidden = true;
      source.close();  // no reconnect: the server keeps the final state (--linger) or is gone
      render();
      setStatus("run ended", "ended");
    });
  }
})();
