// The dropline operator dashboard: products, their rounds, and live progress over
// server-sent events (GET /admin/events?token=…), with polling when the stream is down.
"use strict";

const $ = (sel, el = document) => el.querySelector(sel);
const TOKEN_KEY = "dropline.adminToken";
const CHART_SECONDS = 60;

const state = {
  token: localStorage.getItem(TOKEN_KEY) || "",
  brands: new Map(),
  cards: new Map(),   // product id -> card element
  live: new Map(),    // product id -> live round figures
  events: null,
  streaming: false,
  recipients: null,   // {product, round, next}
};

async function api(method, path, body) {
  const headers = {};
  if (state.token) headers.Authorization = "Bearer " + state.token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  if (!resp.ok) {
    const msg = data && data.error ? `${data.error.code}: ${data.error.message}` : `HTTP ${resp.status}`;
    throw new Error(msg);
  }
  return data;
}

async function all(path) {
  const items = [];
  let after = null;
  for (let i = 0; i < 50; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api("GET", `${path}${sep}limit=1000${after ? "&after=" + after : ""}`);
    items.push(...page.items);
    if (!page.next) break;
    after = page.next;
  }
  return items;
}

function notice(text) {
  const el = $("#notice");
  el.textContent = text || "";
  el.hidden = !text;
}

const fmtTime = (t) => (t ? new Date(t).toLocaleString() : "—");
const fmtNum = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString());

function saleWindow(p) {
  if (!p.sale_starts_at && !p.sale_ends_at) return "always open";
  return `${p.sale_starts_at ? fmtTime(p.sale_starts_at) : "now"} → ${p.sale_ends_at ? fmtTime(p.sale_ends_at) : "open"}`;
}

function card(product) {
  let el = state.cards.get(product.id);
  if (!el) {
    el = $("#product-tpl").content.firstElementChild.cloneNode(true);
    el.dataset.productId = product.id;
    el.dataset.testid = "product";
    $(".restock", el).addEventListener("click", () => restock(product.id, el));
    $(".resume", el).addEventListener("click", () => resume(product.id, el));
    state.cards.set(product.id, el);
    $("#products").appendChild(el);
  }
  $(".name", el).textContent = product.name;
  const ss = $(".stock-status", el);
  ss.textContent = product.stock_status;
  ss.className = "pill stock-status " + product.stock_status;
  $(".stock", el).textContent = fmtNum(product.stock);
  $(".brands", el).textContent = product.brand_ids.map((b) => state.brands.get(b) || `#${b}`).join(" × ");
  $(".window", el).textContent = saleWindow(product);
  $(".round-no", el).textContent = product.restock_round;
  $(".draw", el).hidden = product.sale_mode !== "draw";
  return el;
}

// A draw product: its window, entries, status and seed hash; after the draw the revealed
// seed, the entries digest and the winners (the winners need an admin token).
async function refreshDraw(product) {
  const el = state.cards.get(product.id);
  if (!el || product.sale_mode !== "draw") return;
  const d = await api("GET", `/products/${product.id}/draw`);
  const st = $(".draw-status", el);
  st.textContent = d.status;
  st.className = "pill draw-status " + d.status;
  $(".draw-entries", el).textContent = fmtNum(d.entries);
  $(".draw-window", el).textContent = saleWindow(product);
  $(".draw-hash", el).textContent = d.seed_hash;
  $(".draw-revealed", el).hidden = !d.seed;
  $(".draw-seed", el).textContent = d.seed || "";
  $(".draw-digest", el).textContent = d.entries_digest || "";
  const winners = $(".draw-winners", el);
  winners.hidden = d.status !== "DRAWN" || !state.token;
  if (!winners.hidden) {
    const page = await api("GET", `/products/${product.id}/draw/entries?limit=1000`);
    const won = page.items.filter((e) => e.status === "WON");
    $(".winners", el).textContent = won.length
      ? won.map((e) => `#${e.rank} user ${e.user_id} ×${e.quantity}`).join(", ")
      : "none";
  }
}

async function refreshProduct(id) {
  const product = await api("GET", `/products/${id}`);
  card(product);
  await refreshDraw(product).catch(() => {});
  if (state.token) await refreshRounds(id);
}

async function refreshRounds(id) {
  const el = state.cards.get(id);
  if (!el) return;
  let rounds;
  try {
    rounds = (await api("GET", `/products/${id}/notifications/rounds?limit=20`)).items;
  } catch (e) {
    $(".rounds", el).innerHTML = `<tr><td colspan="7" class="err">${e.message}</td></tr>`;
    return;
  }
  const body = $(".rounds", el);
  body.innerHTML = "";
  for (const r of rounds) {
    const tr = document.createElement("tr");
    tr.dataset.round = r.round;
    tr.innerHTML = `<td>${r.round}</td><td><span class="pill ${r.status}">${r.status}</span></td>
      <td>${fmtNum(r.notified_count)}</td><td>${r.last_sent_user_id ?? "—"}</td>
      <td>${fmtTime(r.started_at)}</td><td>${fmtTime(r.finished_at)}</td><td></td>`;
    const btn = document.createElement("button");
    btn.textContent = "Recipients";
    btn.addEventListener("click", () => openRecipients(id, r.round));
    tr.lastElementChild.appendChild(btn);
    if (r.error) {
      const err = document.createElement("tr");
      err.innerHTML = `<td></td><td colspan="6" class="err"></td>`;
      err.lastElementChild.textContent = r.error;
      body.append(tr, err);
    } else {
      body.appendChild(tr);
    }
  }
  const latest = rounds[0];
  $(".resume", el).hidden = !(latest && latest.status === "CANCELED_BY_ERROR");
  if (latest) {
    const known = state.live.get(id);
    // The stream knows more while it runs; otherwise show the stored round.
    if (!known || known.round !== latest.round || !state.streaming || latest.status !== "IN_PROGRESS") {
      applyProgress({
        product_id: id, round: latest.round, status: latest.status,
        notified_count: latest.notified_count, last_sent_user_id: latest.last_sent_user_id,
        stock: known && known.round === latest.round ? known.stock : null,
        rate_per_sec: latest.status === "IN_PROGRESS" && known ? known.rate : 0,
        busiest_second: known && known.round === latest.round ? known.busiest : 0,
        alert_mode: latest.alert_mode, claims: latest.claims,
        at: new Date().toISOString(),
      }, true);
    }
  }
}

function applyProgress(e, fromPoll = false) {
  const el = state.cards.get(e.product_id);
  if (!el) return;
  let live = state.live.get(e.product_id);
  if (!live || live.round !== e.round) {
    live = { round: e.round, samples: new Map(), stockAtStart: null, busiest: 0, rate: 0, stock: null };
    state.live.set(e.product_id, live);
  }
  const wasRunning = live.status === "IN_PROGRESS";
  live.status = e.status;
  live.notified = e.notified_count;
  live.rate = e.rate_per_sec || 0;
  live.busiest = Math.max(live.busiest, e.busiest_second || 0);
  if (e.stock !== null && e.stock !== undefined) {
    live.stock = e.stock;
    if (live.stockAtStart === null || e.stock > live.stockAtStart) live.stockAtStart = e.stock;
  }
  if (e.status === "IN_PROGRESS" && !fromPoll) {
    const sec = Math.floor(Date.parse(e.at) / 1000);
    live.samples.set(sec, Math.max(live.samples.get(sec) || 0, live.rate));
  }
  const box = $(".live", el);
  box.hidden = false;
  const pill = $(".status", box);
  pill.textContent = e.status;
  pill.className = "pill status " + e.status;
  el.dataset.roundStatus = e.status;
  $(".live-round", box).textContent = e.round;
  $(".rate", box).textContent = fmtNum(Math.round(live.rate));
  $(".busiest", box).textContent = fmtNum(live.busiest);
  $(".sent", box).textContent = fmtNum(live.notified);
  $(".live-stock", box).textContent = live.stock === null ? "—" : fmtNum(live.stock);
  // A claim round: its claims by status, as they are made, used, expire or are released.
  const claims = $(".claims", box);
  claims.hidden = e.alert_mode !== "claim" || !e.claims;
  if (!claims.hidden) {
    for (const k of ["open", "used", "expired", "released"]) {
      $(`.claims-${k}`, box).textContent = fmtNum(e.claims[k]);
    }
  }
  // The line's length is not known here: while sending the bar moves, once ended it is full.
  const sentFill = $(".sent-fill", box);
  const running = live.status === "IN_PROGRESS";
  sentFill.classList.toggle("running", running);
  sentFill.style.width = running ? "100%" : live.notified > 0 ? "100%" : "0%";
  const start = live.stockAtStart || 0;
  $(".stock-fill", box).style.width = start > 0 && live.stock !== null ? `${(live.stock / start) * 100}%` : "0%";
  if (live.stock !== null) $(".stock", el).textContent = fmtNum(live.stock);
  // Keep the history row of this round in step with the live figures.
  const row = $(`.rounds tr[data-round="${e.round}"]`, el);
  if (row && !fromPoll) {
    row.children[1].innerHTML = `<span class="pill ${e.status}">${e.status}</span>`;
    row.children[2].textContent = fmtNum(e.notified_count);
    row.children[3].textContent = e.last_sent_user_id ?? "—";
  }
  drawChart($(".chart", box), live);
  if (wasRunning && e.status !== "IN_PROGRESS" && !fromPoll) {
    refreshProduct(e.product_id).catch((err) => notice(err.message));
  }
}

function drawChart(canvas, live) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 560, h = canvas.clientHeight || 120;
  if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const secs = [...live.samples.keys()].sort((a, b) => a - b);
  const last = secs.length ? secs[secs.length - 1] : 0;
  const first = Math.max(secs.length ? secs[0] : 0, last - CHART_SECONDS + 1);
  const peak = Math.max(10, ...live.samples.values());
  const top = Math.ceil(peak / 100) * 100 || 10;
  const pad = { l: 40, r: 8, t: 10, b: 18 };
  const cw = w - pad.l - pad.r, ch = h - pad.t - pad.b;
  ctx.strokeStyle = "#e3e1dc"; ctx.fillStyle = "#6b6b70"; ctx.font = "11px system-ui";
  for (const f of [0, 0.5, 1]) {
    const y = pad.t + ch * (1 - f);
    ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(w - pad.r, y); ctx.stroke();
    ctx.fillText(`${Math.round(top * f)}/s`, 4, y + 4);
  }
  const n = Math.max(1, last - first + 1);
  const bw = cw / Math.max(n, 10);
  ctx.fillStyle = "#2456c7";
  for (let s = first; s <= last; s++) {
    const v = live.samples.get(s) || 0;
    const bh = (v / top) * ch;
    ctx.fillRect(pad.l + (s - first) * bw + 1, pad.t + ch - bh, Math.max(1, bw - 2), bh);
  }
  ctx.fillStyle = "#6b6b70";
  ctx.fillText(secs.length ? `${n}s` : "no sends yet", pad.l, h - 4);
}

async function restock(id, el) {
  const qty = parseInt($(".qty", el).value, 10);
  const btn = $(".restock", el);
  btn.disabled = true;
  try {
    const round = await api("POST", `/products/${id}/notifications/re-stock`,
      Number.isFinite(qty) && qty > 0 ? { quantity: qty } : undefined);
    notice("");
    // The stream may have brought this round's progress before this answer: keep what it
    // brought (it is newer); a round the page has not seen yet starts from this answer.
    const known = state.live.get(id);
    if (!known || known.round !== round.round) {
      state.live.delete(id);
      applyProgress({ ...round, stock: null, rate_per_sec: 0, busiest_second: 0, at: new Date().toISOString() });
    }
    await refreshProduct(id);
  } catch (e) {
    notice(`Restock failed: ${e.message}`);
  } finally {
    btn.disabled = false;
  }
}

async function resume(id, el) {
  const btn = $(".resume", el);
  btn.disabled = true;
  try {
    await api("POST", `/admin/products/${id}/notifications/re-stock`);
    notice("");
    await refreshProduct(id);
  } catch (e) {
    notice(`Resume failed: ${e.message}`);
  } finally {
    btn.disabled = false;
  }
}

async function openRecipients(product, round, more = false) {
  const panel = $("#recipients-panel");
  const body = $("#recipients");
  if (!more) {
    state.recipients = { product, round, next: null, count: 0 };
    body.innerHTML = "";
  }
  const r = state.recipients;
  try {
    const page = await api("GET",
      `/products/${product}/notifications/rounds/${round}/recipients?limit=100${r.next ? "&after=" + r.next : ""}`);
    for (const item of page.items) {
      r.count += 1;
      const tr = document.createElement("tr");
      tr.innerHTML = `<td>${r.count}</td><td>${item.user_id}</td><td>${fmtTime(item.sent_at)}</td>`;
      body.appendChild(tr);
    }
    r.next = page.next;
    $("#recipients-more").hidden = !page.next;
    $("#recipients-title").textContent = `Recipients of round ${round} · product ${product}`;
    panel.hidden = false;
  } catch (e) {
    notice(`Recipients: ${e.message}`);
  }
}

function connect() {
  if (state.events) state.events.close();
  state.streaming = false;
  const conn = $("#conn");
  if (!state.token) {
    conn.textContent = "no token";
    conn.className = "pill off";
    return;
  }
  const es = new EventSource(`/admin/events?token=${encodeURIComponent(state.token)}`);
  state.events = es;
  es.addEventListener("ready", () => {
    state.streaming = true;
    conn.textContent = "live";
    conn.className = "pill on";
  });
  es.addEventListener("round", (msg) => applyProgress(JSON.parse(msg.data)));
  es.onerror = () => {
    state.streaming = false;
    conn.textContent = "polling";
    conn.className = "pill off";
  };
}

// Fallback while the stream is down: poll the rounds of products with a running round.
setInterval(() => {
  if (state.streaming || !state.token) return;
  for (const [id, live] of state.live) {
    if (live.status === "IN_PROGRESS") refreshRounds(id).catch(() => {});
  }
}, 2000);

async function load() {
  try {
    const brands = await all("/brands");
    state.brands = new Map(brands.map((b) => [b.id, b.name]));
    const products = await all("/products");
    for (const p of products) card(p);
    await Promise.all(products.map((p) => refreshDraw(p).catch(() => {})));
    if (!products.length) notice("No products yet.");
    else if (!state.token) notice("Paste an admin token to see rounds, restock and resume.");
    if (state.token) await Promise.all(products.map((p) => refreshRounds(p.id)));
  } catch (e) {
    notice(`Loading failed: ${e.message}`);
  }
}

$("#token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.token = $("#token").value.trim();
  localStorage.setItem(TOKEN_KEY, state.token);
  $("#token").value = "";
  notice("");
  connect();
  load();
});
$("#forget").addEventListener("click", () => {
  localStorage.removeItem(TOKEN_KEY);
  state.token = "";
  connect();
});
$("#recipients-more").addEventListener("click", () => {
  const r = state.recipients;
  if (r) openRecipients(r.product, r.round, true);
});

connect();
load();
