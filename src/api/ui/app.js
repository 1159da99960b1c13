// kidou's live status page. Plain script, no framework, no build step.
//
// Loads /api/v1/profiles and /api/v1/machines, then follows
// /api/v1/events: an event for a MAC has that machine fetched again
// (debounced), so rows change without a reload. The event stream is read
// with fetch() and a ReadableStream rather than EventSource, because
// EventSource cannot send an Authorization header and [api] read-token =
// yes needs one; one code path serves both cases. A boot ends by going
// quiet (no event marks it), so machines whose timeline is open are also
// fetched again every few seconds until it closes.
//
// Every text from the API goes into the page with textContent or
// setAttribute, never as HTML. The token lives in sessionStorage only.
"use strict";

(function () {
  const TOKEN_KEY = "kidou-token";
  const DEBOUNCE_MS = 250;
  const OPEN_POLL_MS = 3000;
  const STATUS_POLL_MS = 3000;  // the lease database's state (GET /api/v1/status)
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 15000;
  const SSE_BUFFER_MAX = 1 << 20;

  const $ = (id) => document.getElementById(id);
  const state = {
    machines: new Map(),   // mac -> machine JSON
    rows: new Map(),       // mac -> <tr>
    profiles: [],
    pending: new Set(),    // MACs to fetch again
    pendingAll: false,
    timer: null,
    lastSeq: null,
    stream: null,          // AbortController of the event stream
    retryMs: RETRY_MIN_MS,
    needToken: false,
    running: false,        // the stream's loop runs
  };

  // For tests: set once at load; a reload would make a new one.
  window.kidouPage = { loadMark: Math.random().toString(36).slice(2), events: 0, updates: 0 };

  // --- helpers ---------------------------------------------------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }

  function setToken(t) {
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage off: the token is asked each time */ }
    $("token-button").textContent = t ? "Token ✓" : "Token";
  }

  function authHeaders(t) {
    const tok = t === undefined ? token() : t;
    return tok ? { Authorization: "Bearer " + tok } : {};
  }

  class HttpError extends Error {
    constructor(status, msg, field) {
      super(msg);
      this.status = status;
      this.field = field || null;
    }
  }

  // A JSON request; a refusal throws HttpError with the API's message.
  async function api(method, path, body, tok) {
    const init = { method: method, headers: authHeaders(tok), cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let doc = null;
    try { doc = await res.json(); } catch (e) { doc = null; }
    if (!res.ok) {
      const msg = doc && typeof doc.error === "string" ? doc.error : res.status + " " + res.statusText;
      throw new HttpError(res.status, msg, doc && doc.field);
    }
    return doc;
  }

  function fmtMs(ms) {
    if (ms < 1000) return ms + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
    const s = Math.round(ms / 1000);
    return Math.floor(s / 60) + " min " + (s % 60) + " s";
  }

  function fmtTime(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleTimeString();
  }

  function showMessage(text) {
    const m = $("message");
    m.textContent = text || "";
    m.hidden = !text;
  }

  function setLive(what, text) {
    const l = $("live");
    l.dataset.state = what;
    l.textContent = text;
  }

  // --- what a machine shows ----------------------------------------------

  // The state word and its class: the timeline's outcome.
  function machineState(m) {
    const t = m.timeline;
    if (!t) return { word: "no boot seen", cls: "idle" };
    if (t.open) return { word: "booting", cls: "booting" };
    switch (t.outcome) {
      case "booted": return { word: "booted", cls: "booted" };
      case "served": return { word: "served", cls: "served" };
      case "stalled": return { word: "stalled", cls: "stalled" };
      case "local": return { word: "local disk", cls: "local" };
      default: return { word: String(t.outcome || "?"), cls: "idle" };
    }
  }

  function currentStep(m) {
    const t = m.timeline;
    if (!t || !t.steps || !t.steps.length) return null;
    if (t.outcome === "stalled") {
      for (let i = t.steps.length - 1; i >= 0; i--)
        if (t.steps[i].state === "failed" || t.steps[i].state === "open") return t.steps[i];
    }
    return t.steps[t.steps.length - 1];
  }

  function nextBootText(m) {
    const nb = m.next_boot || { mode: "default" };
    if (nb.mode === "local") return { text: "local disk", cls: "nb-local" };
    if (nb.mode === "profile") {
      if (m.install_pending) return { text: "install " + nb.profile + " once", cls: "nb-install" };
      return { text: nb.profile + (nb.once ? " (done)" : " (every boot)"), cls: "nb-profile" };
    }
    return { text: "default", cls: "nb-default" };
  }

  function stepWord(st) {
    return st === "open" ? "in progress" : st === "probe" ? "size asked" : st;
  }

  function timelineBar(t) {
    const wrap = el("div", "tl");
    if (!t || !t.steps || !t.steps.length) {
      wrap.appendChild(el("span", "tl-none", "—"));
      return wrap;
    }
    const last = Math.max(1, t.duration_ms, ...t.steps.map((s) => s.end_ms));
    // An open timeline gets room at its end: a transfer in progress is
    // drawn from its start to the bar's end.
    const total = t.open ? last * 1.1 + 100 : last;
    const bar = el("div", "tl-bar");
    bar.setAttribute("title", "started " + fmtTime(t.started_at) + ", " + t.steps.length +
                     " steps, " + fmtMs(t.duration_ms) +
                     (t.dropped_steps ? " (" + t.dropped_steps + " steps not kept)" : ""));
    for (const s of t.steps) {
      const seg = el("span", "seg seg-" + (["instant", "open", "ok", "failed", "probe"].includes(s.state) ? s.state : "other"));
      const left = (s.start_ms / total) * 100;
      const end = s.state === "open" && t.open ? total : s.end_ms;
      const width = ((end - s.start_ms) / total) * 100;
      // CSSOM, not a style attribute: allowed by the page's CSP.
      seg.style.left = left.toFixed(3) + "%";
      seg.style.width = Math.max(0, Math.min(width, 100 - left)).toFixed(3) + "%";
      let tip = s.name + " · " + stepWord(s.state) + " · at " + fmtMs(s.start_ms);
      if (s.end_ms > s.start_ms) tip += ", took " + fmtMs(s.end_ms - s.start_ms);
      if (s.reason) tip += " · " + s.reason;
      seg.setAttribute("title", tip);
      seg.dataset.step = s.name;
      bar.appendChild(seg);
    }
    wrap.appendChild(bar);
    wrap.appendChild(el("span", "tl-total", fmtMs(t.duration_ms)));
    return wrap;
  }

  function cell(cls, ...children) {
    const td = el("td", cls);
    for (const c of children) if (c) td.appendChild(c);
    return td;
  }

  function renderRow(tr, m) {
    const st = machineState(m);
    const nb = nextBootText(m);
    const step = currentStep(m);
    const t = m.timeline;

    tr.className = "row st-" + st.cls;
    tr.dataset.mac = m.mac;
    tr.dataset.state = st.cls;
    tr.dataset.search = [m.mac, m.hostname, m.host, m.ip, m.profile,
                         m.next_boot && m.next_boot.profile].filter(Boolean).join(" ").toLowerCase();
    tr.replaceChildren();

    const who = cell("c-machine");
    if (m.hostname || m.host) who.appendChild(el("div", "hostname", m.hostname || m.host));
    else who.appendChild(el("div", "hostname dim", "unnamed"));
    who.appendChild(el("div", "mac mono", m.mac));
    tr.appendChild(who);
    tr.appendChild(cell("c-ip mono", el("span", "", m.ip || "—")));
    tr.appendChild(cell("c-profile", el("span", "", m.profile || "—")));
    tr.appendChild(cell("c-next", el("span", "badge " + nb.cls, nb.text)));

    const stc = cell("c-state", el("span", "badge state st-" + st.cls, st.word));
    if (t && t.outcome === "stalled") stc.appendChild(el("div", "reason", t.reason || "no reason given"));
    tr.appendChild(stc);

    const sc = cell("c-step");
    if (step) {
      sc.appendChild(el("div", "step-name mono", step.name));
      let detail = stepWord(step.state);
      if (step.end_ms > step.start_ms) detail += " · " + fmtMs(step.end_ms - step.start_ms);
      if (step.reason) detail += " · " + step.reason;
      sc.appendChild(el("div", "step-detail", detail));
    } else {
      sc.appendChild(el("span", "dim", "—"));
    }
    tr.appendChild(sc);
    tr.appendChild(cell("c-timeline", timelineBar(t)));

    const btn = el("button", "ghost nb-button", "Next boot…");
    btn.type = "button";
    btn.addEventListener("click", () => openNextBoot(m.mac));
    tr.appendChild(cell("c-actions", btn));
  }

  // --- the table ---------------------------------------------------------

  function upsert(m) {
    state.machines.set(m.mac, m);
    let tr = state.rows.get(m.mac);
    if (!tr) {
      tr = el("tr");
      state.rows.set(m.mac, tr);
      // keep the API's order (by MAC)
      const body = $("rows");
      let before = null;
      for (const r of body.children) {
        if (r.dataset.mac > m.mac) { before = r; break; }
      }
      body.insertBefore(tr, before);
    }
    renderRow(tr, m);
    applyFilter(tr);
    window.kidouPage.updates++;
  }

  function remove(mac) {
    const tr = state.rows.get(mac);
    if (tr) tr.remove();
    state.rows.delete(mac);
    state.machines.delete(mac);
  }

  function replaceAll(list) {
    const seen = new Set();
    for (const m of list) {
      seen.add(m.mac);
      upsert(m);
    }
    for (const mac of [...state.rows.keys()]) if (!seen.has(mac)) remove(mac);
    updateCounts();
  }

  function applyFilter(tr) {
    const q = $("filter").value.trim().toLowerCase();
    tr.hidden = q !== "" && !q.split(/\s+/).every((w) => tr.dataset.search.includes(w));
  }

  function updateCounts() {
    let booting = 0, stalled = 0, shown = 0;
    for (const [mac, m] of state.machines) {
      const s = machineState(m).cls;
      if (s === "booting") booting++;
      if (s === "stalled") stalled++;
      if (!state.rows.get(mac).hidden) shown++;
    }
    const n = state.machines.size;
    const c = $("counts");
    c.replaceChildren();
    c.appendChild(el("span", "", (shown === n ? n : shown + " of " + n) + (n === 1 ? " machine" : " machines")));
    if (booting) c.appendChild(el("span", "count-booting", booting + " booting"));
    if (stalled) c.appendChild(el("span", "count-stalled", stalled + " stalled"));
    $("empty").hidden = n !== 0;
  }

  // --- loading -----------------------------------------------------------

  function tokenNeeded(err) {
    state.needToken = true;
    $("login").hidden = false;
    $("login-error").textContent = token() ? err.message : "";
    setLive("off", "needs a token");
    $("login-token").focus();
  }

  async function loadAll() {
    try {
      const [profiles, machines] = await Promise.all([
        api("GET", "/api/v1/profiles"), api("GET", "/api/v1/machines")]);
      state.profiles = profiles.map((p) => p.name);
      replaceAll(machines);
      showMessage("");
      return true;
    } catch (err) {
      if (err instanceof HttpError && err.status === 401) tokenNeeded(err);
      else showMessage("Cannot read the API: " + err.message);
      return false;
    }
  }

  async function loadOne(mac) {
    try {
      upsert(await api("GET", "/api/v1/machines/" + encodeURIComponent(mac)));
    } catch (err) {
      if (err instanceof HttpError && err.status === 404) remove(mac);
      else if (err instanceof HttpError && err.status === 401) tokenNeeded(err);
    }
  }

  function schedule(mac) {
    if (mac) state.pending.add(mac);
    else state.pendingAll = true;
    if (!state.timer) state.timer = setTimeout(flush, DEBOUNCE_MS);
  }

  async function flush() {
    state.timer = null;
    const macs = [...state.pending];
    state.pending.clear();
    if (state.pendingAll || macs.length > 50) {
      state.pendingAll = false;
      await loadAll();
    } else {
      await Promise.all(macs.map(loadOne));
    }
    updateCounts();
  }

  // A boot ends by going quiet: look again at the open ones.
  setInterval(() => {
    if (state.needToken) return;
    for (const [mac, m] of state.machines)
      if (m.timeline && m.timeline.open) schedule(mac);
  }, OPEN_POLL_MS);

  // The lease database (PostgreSQL) can be away: while it is, no lease is
  // acknowledged. No event says so; GET /api/v1/status does.
  async function loadStatus() {
    if (state.needToken) return;
    try {
      const st = await api("GET", "/api/v1/status");
      $("store-down").hidden = !(st.lease_store && st.lease_store.up === false);
    } catch (err) {
      // the API itself unreachable: the event stream's state says so
    }
  }
  setInterval(loadStatus, STATUS_POLL_MS);

  // --- the event stream ----------------------------------------------------

  function onEvent(data) {
    let ev;
    try { ev = JSON.parse(data); } catch (e) { return; }
    window.kidouPage.events++;
    if (typeof ev.seq === "number") {
      // a gap: some events were missed (the stream was dropped); read all
      if (state.lastSeq !== null && ev.seq > state.lastSeq + 1) schedule(null);
      state.lastSeq = ev.seq;
    }
    if (typeof ev.mac === "string") {
      schedule(ev.mac);
    } else if (typeof ev.ip === "string") {
      for (const [mac, m] of state.machines) if (m.ip === ev.ip) schedule(mac);
    }
  }

  // One SSE message block (RFC: lines "field: value"; data lines joined).
  function onBlock(block) {
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("data:")) data.push(line.slice(line[5] === " " ? 6 : 5));
    }
    if (data.length) onEvent(data.join("\n"));
  }

  async function follow() {
    const ctrl = new AbortController();
    state.stream = ctrl;
    const res = await fetch("/api/v1/events", { headers: authHeaders(), cache: "no-store", signal: ctrl.signal });
    if (res.status === 401) throw new HttpError(401, "missing or wrong bearer token");
    if (!res.ok || !res.body) throw new Error("events: " + res.status + " " + res.statusText);
    setLive("on", "live");
    state.retryMs = RETRY_MIN_MS;
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        onBlock(buf.slice(0, i));
        buf = buf.slice(i + 2);
      }
      if (buf.length > SSE_BUFFER_MAX) throw new Error("events: message too long");
    }
    throw new Error("events: stream ended");
  }

  async function run() {
    state.running = true;
    try {
      await runLoop();
    } finally {
      state.running = false;
    }
  }

  async function runLoop() {
    for (;;) {
      if (state.needToken) return;
      try {
        await follow();
      } catch (err) {
        if (err instanceof HttpError && err.status === 401) {
          tokenNeeded(err);
          return;
        }
        setLive("off", "reconnecting…");
      }
      await new Promise((r) => setTimeout(r, state.retryMs));
      state.retryMs = Math.min(state.retryMs * 2, RETRY_MAX_MS);
      // events may have been missed while away
      if (!state.needToken) await loadAll();
    }
  }

  async function start() {
    state.needToken = false;
    if (await loadAll()) {
      $("login").hidden = true;
      loadStatus();
      // a new token: the stream reconnects with it
      if (state.stream) state.stream.abort();
      if (!state.running) run();
    }
  }

  // --- next boot -----------------------------------------------------------

  function openNextBoot(mac) {
    const d = $("nb-dialog");
    const m = state.machines.get(mac);
    d.dataset.mac = mac;
    $("nb-mac").textContent = (m && (m.hostname || m.host)) ? (m.hostname || m.host) + " (" + mac + ")" : mac;
    const sel = $("nb-choice");
    sel.replaceChildren();
    for (const p of state.profiles) {
      const o = el("option", "", "profile " + p);
      o.value = "profile:" + p;
      sel.appendChild(o);
    }
    const local = el("option", "", "local disk");
    local.value = "local";
    sel.appendChild(local);
    const def = el("option", "", "default (as configured)");
    def.value = "default";
    sel.appendChild(def);
    const nb = m && m.next_boot;
    if (nb && nb.mode === "profile") sel.value = "profile:" + nb.profile;
    else if (nb && nb.mode === "local") sel.value = "local";
    syncOnce();
    $("nb-token").value = token();
    $("nb-error").textContent = "";
    d.showModal();
    sel.focus();
  }

  function syncOnce() {
    $("nb-once").disabled = !$("nb-choice").value.startsWith("profile:");
  }

  async function submitNextBoot(ev) {
    ev.preventDefault();
    const d = $("nb-dialog");
    const mac = d.dataset.mac;
    const choice = $("nb-choice").value;
    const tok = $("nb-token").value.trim();
    let body;
    if (choice === "local") body = { local: true };
    else if (choice === "default") body = { default: true };
    else body = { profile: choice.slice("profile:".length), once: $("nb-once").checked };
    $("nb-error").textContent = "";
    if (!tok) {
      $("nb-error").textContent = "The API token is needed to change a machine.";
      $("nb-token").focus();
      return;
    }
    $("nb-submit").disabled = true;
    try {
      await api("PUT", "/api/v1/machines/" + encodeURIComponent(mac) + "/next-boot", body, tok);
      setToken(tok);
      d.close();
      await loadOne(mac);
      updateCounts();
    } catch (err) {
      if (err instanceof HttpError && err.status === 401 && tok === token()) setToken("");
      $("nb-error").textContent = (err instanceof HttpError ? "Refused (" + err.status + "): " : "") +
        err.message;
    } finally {
      $("nb-submit").disabled = false;
    }
  }

  // --- wiring --------------------------------------------------------------

  function init() {
    setToken(token());
    $("filter").addEventListener("input", () => {
      for (const tr of state.rows.values()) applyFilter(tr);
      updateCounts();
    });
    $("nb-choice").addEventListener("change", syncOnce);
    $("nb-form").addEventListener("submit", submitNextBoot);
    $("nb-cancel").addEventListener("click", () => $("nb-dialog").close());
    $("login-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      setToken($("login-token").value.trim());
      $("login-token").value = "";
      start();
    });
    $("token-button").addEventListener("click", () => {
      if (token() && confirm("Forget the token for this tab?")) {
        setToken("");
        return;
      }
      $("login").hidden = false;
      $("login-text").textContent = "The API token, kept for this tab only (sessionStorage):";
      $("login-token").focus();
    });
    updateCounts();
    start();
  }

  init();
})();
