// The buyer's drop page at /drops/{id}: the product, a countdown to the start, the waiting
// room (join, live place and units ahead over the event stream), the buy button while
// admitted, and the restock line once sold out. The buyer's token comes from the brand's
// site in the URL fragment (#token=…); it is kept in memory only and the fragment is cleared.
"use strict";

const productId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const token = new URLSearchParams(location.hash.slice(1)).get("token");
if (location.hash) history.replaceState(null, "", location.pathname + location.search);

const $ = (id) => document.getElementById(id);
const view = {
  product: null,
  standing: null,
  skewMs: 0, // server time minus this machine's time, from the Date header
  stream: null,
  orderKey: null,
};

const now = () => Date.now() + view.skewMs;

async function api(method, path, body, extraHeaders) {
  const headers = { ...(extraHeaders || {}) };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const date = res.headers.get("date");
  if (date) view.skewMs = new Date(date).getTime() + 500 - Date.now();
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  return { status: res.status, ok: res.ok, data };
}

function say(text, ok) {
  const m = $("message");
  m.textContent = text || "";
  m.className = ok ? "message ok" : "message";
}

function errorText(r) {
  return (r.data && r.data.error && r.data.error.message) || `The server answered ${r.status}.`;
}

function duration(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(sec)}` : `${two(m)}:${two(sec)}`;
}

const STATES = {
  NOT_JOINED: ["", "Join the line to get your turn at this drop."],
  WAITING_FOR_OPEN: ["You're in the line", "Everyone who joins before the start is placed in a fair, verifiable shuffle when the sale opens."],
  WAITING: ["You're in the line", "You get your turn when the free units are more than those held by the people ahead of you."],
  ADMITTED: ["It's your turn", "Buy before the time runs out; then your turn passes to the next person."],
  ORDERED: ["You ordered", "Your order holds its unit while you pay."],
  EXPIRED: ["Your turn passed", "The time to buy ran out."],
  LEFT: ["You left the line", ""],
  SOLD_OUT: ["Sold out", "Every unit has gone. We can tell you when it is restocked."],
};

function render() {
  const p = view.product;
  if (!p) return;
  const starts = p.sale_starts_at ? new Date(p.sale_starts_at).getTime() : null;
  const st = view.standing;
  // The server's word beats this machine's clock: past WAITING_FOR_OPEN the sale has begun.
  const started = starts === null || now() >= starts || Boolean(st && st.state !== "WAITING_FOR_OPEN");
  $("start").hidden = started;
  if (!started) $("countdown").textContent = duration(starts - now());

  const queued = p.queue && p.queue.enabled;
  const state = !token ? "NO_TOKEN" : queued ? (st ? st.state : "NOT_JOINED") : "OPEN_SALE";
  $("drop").dataset.state = state;
  const [title, explain] = STATES[state] || ["", ""];
  $("state").textContent = state === "NO_TOKEN" ? "Sign in on the brand's site to join this drop." : title;
  $("explain").textContent = state === "OPEN_SALE" ? "" : explain;

  $("place-row").hidden = !(st && st.place);
  $("ahead-row").hidden = !(st && st.units_ahead !== undefined && st.state === "WAITING");
  if (st && st.place) $("place").textContent = st.place.toLocaleString();
  if (st && st.units_ahead !== undefined) $("ahead").textContent = st.units_ahead.toLocaleString();
  const until = st && st.admitted_until ? new Date(st.admitted_until).getTime() : null;
  $("left-row").hidden = !(state === "ADMITTED" && until);
  if (until) $("time-left").textContent = duration(until - now());

  $("join").hidden = state !== "NOT_JOINED";
  $("buy").hidden = !(state === "ADMITTED" || (state === "OPEN_SALE" && started));
  $("notify").hidden = !(state === "SOLD_OUT" || state === "EXPIRED") || view.notified;
}

function follow() {
  if (view.stream || !token) return;
  const url = `/products/${encodeURIComponent(productId)}/queue/events?token=${encodeURIComponent(token)}`;
  const es = new EventSource(url);
  view.stream = es;
  es.addEventListener("standing", (e) => {
    view.standing = JSON.parse(e.data);
    $("conn").textContent = "live";
    if (view.standing.state !== "ADMITTED") view.orderKey = null;
    render();
  });
  es.addEventListener("heartbeat", () => { $("conn").textContent = "live"; });
  es.onerror = () => { $("conn").textContent = "reconnecting…"; };
}

async function join() {
  $("join").disabled = true;
  const r = await api("PUT", `/products/${encodeURIComponent(productId)}/queue`);
  $("join").disabled = false;
  if (!r.ok) return say(errorText(r));
  say("");
  view.standing = r.data;
  render();
  follow();
}

async function buy() {
  $("buy").disabled = true;
  // One key per turn: a retried click never orders twice.
  view.orderKey = view.orderKey || crypto.randomUUID();
  const r = await api("POST", `/products/${encodeURIComponent(productId)}/orders`, { quantity: 1 },
    { "idempotency-key": view.orderKey });
  $("buy").disabled = false;
  if (!r.ok) return say(errorText(r));
  const pay = r.data.expires_at ? ` Pay by ${new Date(r.data.expires_at).toLocaleTimeString()}.` : "";
  say(`Order #${r.data.id} is yours.${pay}`, true);
  if (view.standing) view.standing = { state: "ORDERED" };
  render();
}

async function notifyMe() {
  $("notify").disabled = true;
  const r = await api("PUT", `/products/${encodeURIComponent(productId)}/subscription`);
  $("notify").disabled = false;
  if (!r.ok) return say(errorText(r));
  view.notified = true;
  say("You're on the restock line: we'll tell you when it's back.", true);
  render();
}

async function start() {
  $("join").addEventListener("click", join);
  $("buy").addEventListener("click", buy);
  $("notify").addEventListener("click", notifyMe);
  const r = await api("GET", `/products/${encodeURIComponent(productId)}`);
  if (!r.ok) {
    $("name").textContent = "Drop not found";
    $("drop").dataset.state = "NOT_FOUND";
    return say(errorText(r));
  }
  view.product = r.data;
  $("name").textContent = r.data.name;
  document.title = `${r.data.name} · dropline`;
  $("price").textContent = r.data.price.toLocaleString();
  if (r.data.sale_starts_at) $("when").textContent = new Date(r.data.sale_starts_at).toLocaleString();
  const brands = await api("GET", "/brands?limit=1000");
  if (brands.ok) {
    const names = brands.data.items.filter((b) => r.data.brand_ids.includes(b.id)).map((b) => b.name);
    $("brands").textContent = names.join(" × ");
  }
  if (token && r.data.queue && r.data.queue.enabled) {
    const s = await api("GET", `/products/${encodeURIComponent(productId)}/queue`);
    if (s.ok) {
      view.standing = s.data;
      follow();
    }
  }
  render();
  setInterval(render, 250);
}

start();
