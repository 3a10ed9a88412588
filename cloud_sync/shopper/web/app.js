// The shopper's phone: sign in, keep a pass and a non-extractable Ed25519 key in IndexedDB, and
// draw the rotating door code (contracts/member_code.py) with no network once the pass is here.
"use strict";

const API = "/api/shop";
const WINDOW_S = 15;
const CODE_DOMAIN = new TextEncoder().encode("smartstore/code/v1");
const RENEW_BEFORE_MS = 12 * 3600 * 1000;
const CHECK_EVERY_MS = 60 * 1000;
let S = {};
const state = { me: null, pass: null, stores: [], showing: false, timer: null, shownWindow: -1, lastCheck: 0 };
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- strings
function t(key, vars) {
  let text = S[key] || key;
  for (const [k, v] of Object.entries(vars || {})) text = text.split("{" + k + "}").join(String(v));
  return text;
}

async function loadStrings() {
  const lang = (navigator.language || "en").slice(0, 2).toLowerCase();
  for (const name of lang === "en" ? ["en"] : [lang, "en"]) {
    try {
      const r = await fetch("strings/" + name + ".json");
      if (r.ok) { S = await r.json(); document.documentElement.lang = name; break; }
    } catch (e) { /* offline without a cached copy: keys show */ }
  }
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("phone-label").value = t("phone_label_default");
}

const money = (cents) => (cents < 0 ? "-" : "") + (Math.abs(cents) / 100).toFixed(2);
const when = (iso) => new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });

function say(text) { $("status").textContent = text; }
function notice(text, ok) {
  const n = $("notice");
  n.textContent = text; n.hidden = !text; n.className = ok ? "ok" : "";
}

// ---------------------------------------------------------------- storage (IndexedDB)
function db() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("smartstore", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("kv");
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}
async function kv(mode, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const tx = d.transaction("kv", mode);
    const req = fn(tx.objectStore("kv"));
    tx.oncomplete = () => resolve(req && req.result);
    tx.onerror = () => reject(tx.error);
  });
}
const getItem = (k) => kv("readonly", (s) => s.get(k));
const setItem = (k, v) => kv("readwrite", (s) => s.put(v, k));
const delItem = (k) => kv("readwrite", (s) => s.delete(k));

// ---------------------------------------------------------------- bytes
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
function b64decode(text) { return Uint8Array.from(atob(text), (c) => c.charCodeAt(0)); }
function b64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) { out.set(p, i); i += p.length; }
  return out;
}
function shortStr(text) { const b = new TextEncoder().encode(text); return concat(Uint8Array.of(b.length), b); }
function u32(n) { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n); return b; }

// ---------------------------------------------------------------- the phone key and the code
async function phoneKey() {
  let key = await getItem("phone-key");
  if (!key) {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    key = { privateKey: pair.privateKey, publicRaw: raw, created: Date.now() };
    await setItem("phone-key", key);
  }
  return key;
}

async function makeCode(key, signedPass, storeId, window) {
  const passBytes = signedPass.slice(0, signedPass.length - 64);
  const issuerSig = signedPass.slice(signedPass.length - 64);
  const tail = concat(shortStr(storeId), u32(window));
  const message = concat(CODE_DOMAIN, passBytes, issuerSig, tail);
  const sig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, message));
  return "SM1." + b64url(concat(passBytes, issuerSig, tail, sig));
}

function drawQr(text) {
  const qr = qrcode(0, "M");
  qr.addData(text, "Byte");
  qr.make();
  const n = qr.getModuleCount();
  const quiet = 4;
  const box = $("code-box");
  const room = Math.min(box.clientWidth - 24, window.innerHeight - 120) || 320;
  const cell = Math.max(2, Math.floor(room / (n + 2 * quiet)));  // whole pixels per module: sharp edges
  const size = (n + 2 * quiet) * cell;
  const canvas = $("qr");
  canvas.width = size; canvas.height = size;
  canvas.style.width = size + "px"; canvas.style.height = size + "px";
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff"; g.fillRect(0, 0, size, size);
  g.fillStyle = "#000";
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) {
    if (qr.isDark(r, c)) g.fillRect((c + quiet) * cell, (r + quiet) * cell, cell, cell);
  }
}

// ---------------------------------------------------------------- API
function cookie(name) {
  const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
  return m ? decodeURIComponent(m[1]) : null;
}
async function csrf() {
  return cookie("smartstore_shop_csrf") || (await (await fetch(API + "/csrf", { credentials: "same-origin" })).json()).csrf;
}
async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") { headers["Content-Type"] = "application/json"; headers["X-CSRF-Token"] = await csrf(); }
  const r = await fetch(API + path, { method, headers, credentials: "same-origin", body: body ? JSON.stringify(body) : undefined });
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) {
    const err = new Error(data && typeof data.detail === "string" ? data.detail : "HTTP " + r.status);
    err.status = r.status;
    throw err;
  }
  return data;
}

// ---------------------------------------------------------------- views
function show(view) {
  $("signin").hidden = view !== "signin";
  $("home").hidden = view !== "home";
}
function tab(name) {
  for (const b of document.querySelectorAll("nav button")) b.setAttribute("aria-pressed", String(b.dataset.tab === name));
  for (const s of document.querySelectorAll(".tab")) s.hidden = s.id !== name;
  if ($("notice").className === "ok") notice("");  // a success belongs to the section it came from
  if (name !== "door") hideCode();
  if (name === "wallet") loadWallet();
  if (name === "orders") loadOrders();
  if (name === "receipts") loadReceipts();
}

function fillStores(stores) {
  for (const sel of [$("store"), $("order-store")]) {
    const keep = sel.value;
    sel.replaceChildren(...stores.map((s) => new Option(s.name, s.id)));
    if (keep) sel.value = keep;
  }
}

function passInfo(status) {
  const p = state.pass;
  let text;
  let setup = true;
  if (p && p.state === "revoked") { text = t("pass_revoked"); setup = false; }
  else if (p && p.state === "active") { text = t("pass_on_phone", { label: p.label, since: when(p.since) }); setup = false; }
  else if (p && p.state === "expired") text = t("pass_expired");
  else if (status && status.phone_label) {
    text = t("pass_elsewhere", { label: status.phone_label, since: when(status.phone_since) });
  } else text = t("no_pass");
  $("pass-info").textContent = text;
  $("pass-setup").hidden = !setup;
}

// ---------------------------------------------------------------- the pass
async function getPass() {
  try {
    if (state.pass && state.pass.state === "replaced") await delItem("phone-key");  // that key is revoked: make a new one
    const key = await phoneKey();
    const label = $("phone-label").value.trim() || t("phone_label_default");
    const out = await api("POST", "/me/pass", { public_key: b64url(key.publicRaw), label });
    state.pass = { signed: out.signed_pass_b64, expires: out.expires_at, label: out.phone_label, since: out.phone_since,
      phoneKey: hex(key.publicRaw), state: "active", member: out.member_id };
    await setItem("pass", state.pass);
    notice(t("pass_ready", { until: when(out.expires_at) }), true);
    passInfo(null);
  } catch (e) {
    if (e.status === 409) await markPass("revoked");
    else if (e.name === "NotSupportedError") notice(t("no_ed25519"));
    else notice(t("error", { detail: e.message }));
  }
}

async function markPass(kind, label) {
  if (state.pass) { state.pass.state = kind; await setItem("pass", state.pass); }
  hideCode();
  const text = kind === "replaced" ? t("pass_replaced", { label: label || "?" }) : t("pass_" + kind);
  notice(text);
  $("code-status").textContent = text;
  $("code-status").className = "bad";
  passInfo(null);
}

// Ask the cloud what this phone's pass is (revoked, moved, expiring) and renew it when due.
async function checkPass() {
  state.lastCheck = Date.now();
  const key = await getItem("phone-key");
  let status;
  try {
    status = await api("GET", "/me/pass" + (key ? "?phone_key=" + hex(key.publicRaw) : ""));
  } catch (e) {
    if (e.status === 401) { show("signin"); say(t("signed_out")); }
    return;
  }
  status.phoneKeyNow = key ? hex(key.publicRaw) : null;
  if (status.status === "revoked" || status.status === "replaced") {
    await markPass(status.status, status.phone_label);
  } else if (state.pass && state.pass.state !== "active" && status.status === "active") {
    state.pass.state = "active"; await setItem("pass", state.pass); notice("");
  }
  if (state.pass && state.pass.state === "active" && new Date(state.pass.expires) - Date.now() < RENEW_BEFORE_MS) {
    await getPass();
  }
  passInfo(status);
}

// ---------------------------------------------------------------- the door code
async function tick() {
  if (!state.showing) return;
  const p = state.pass;
  if (!p || p.state !== "active") { await markPass(p ? p.state : "expired"); return; }
  if (new Date(p.expires) <= Date.now()) { await markPass("expired"); return; }
  const now = Date.now() / 1000;
  const window = Math.floor(now / WINDOW_S);
  const storeId = $("store").value;
  const store = state.stores.find((s) => s.id === storeId);
  if (window !== state.shownWindow || storeId !== state.shownStore) {
    const key = await getItem("phone-key");
    const code = await makeCode(key, b64decode(p.signed), storeId, window);
    drawQr(code);
    $("qr").setAttribute("aria-label", t("code_for", { store: store ? store.name : storeId, s: "" }));
    $("code-box").dataset.window = String(window);
    $("code-box").dataset.code = code;
    state.shownWindow = window; state.shownStore = storeId;
  }
  const left = Math.ceil((window + 1) * WINDOW_S - now);
  const line = navigator.onLine ? t("code_for", { store: store ? store.name : storeId, s: left })
    : t("code_offline", { until: when(p.expires) });
  if ($("code-status").textContent !== line) { $("code-status").textContent = line; $("code-status").className = ""; }
  if (navigator.onLine && Date.now() - state.lastCheck > CHECK_EVERY_MS) checkPass();
}

let wakeLock = null;
async function keepAwake() {
  try { if ("wakeLock" in navigator && state.showing) wakeLock = await navigator.wakeLock.request("screen"); }
  catch (e) { wakeLock = null; /* not allowed here: the screen may dim, the code still works */ }
}

async function showCode() {
  if (typeof qrcode === "undefined") { notice(t("qr_missing")); return; }
  if (!state.pass) { notice(t("no_pass")); return; }
  state.showing = true; state.shownWindow = -1;
  $("code-box").hidden = false;
  $("show-code").textContent = t("hide_code");
  await keepAwake();
  await tick();
  $("code-box").scrollIntoView({ block: "start" });
  clearInterval(state.timer);
  state.timer = setInterval(tick, 1000);
}
function hideCode() {
  state.showing = false;
  clearInterval(state.timer);
  $("code-box").hidden = true;
  delete $("code-box").dataset.code;
  $("show-code").textContent = t("show_code");
  if (wakeLock) { wakeLock.release().catch(() => {}); wakeLock = null; }
}

// ---------------------------------------------------------------- wallet, orders, receipts
function li(text, amount) {
  const item = document.createElement("li");
  item.textContent = text;
  if (amount !== undefined) {
    const a = document.createElement("span");
    a.className = "amount"; a.textContent = amount;
    item.append(a);
  }
  return item;
}

async function loadWallet() {
  try {
    const w = await api("GET", "/me/wallet");
    $("balance").textContent = money(w.balance_cents);
    $("wallet-history").replaceChildren(...w.entries.map((e) =>
      li(t("kind_" + e.kind) + " · " + when(e.created_at), money(e.amount_cents))));
  } catch (e) { say(navigator.onLine ? t("error", { detail: e.message }) : t("offline")); }
}

async function topUp(ev) {
  ev.preventDefault();
  const cents = Math.round(parseFloat($("topup-amount").value) * 100);
  try {
    const key = "app-" + crypto.getRandomValues(new Uint32Array(2)).join("-");
    const out = await api("POST", "/me/wallet/topups", { amount_cents: cents, idempotency_key: key });
    notice(t("topup_done", { amount: money(out.amount_cents), balance: money(out.balance_cents) }), true);
    await loadWallet();
  } catch (e) { notice(t("error", { detail: e.message })); }
}

async function loadProducts() {
  const storeId = $("order-store").value;
  if (!storeId) return;
  try {
    const items = await api("GET", "/stores/" + encodeURIComponent(storeId) + "/products");
    if (!items.length) { $("products").replaceChildren(li(t("no_products"))); return; }
    $("products").replaceChildren(...items.map((p) => {
      const item = li(p.name + " · " + money(p.price_cents));
      const q = document.createElement("input");
      q.type = "number"; q.min = "0"; q.max = String(p.available); q.value = "0";
      q.dataset.product = p.product_id;
      q.setAttribute("aria-label", t("quantity_of", { name: p.name }));
      item.append(q);
      return item;
    }));
  } catch (e) { say(t("error", { detail: e.message })); }
}

async function loadOrders() {
  await loadProducts();
  try {
    const orders = await api("GET", "/me/orders");
    const names = Object.fromEntries(state.stores.map((s) => [s.id, s.name]));
    $("order-list").replaceChildren(...(orders.length ? orders.map((o) => {
      const item = li((names[o.store_id] || o.store_id) + " · " +
        t("order_line", { status: t("status_" + o.status), total: money(o.total_cents), by: when(o.pickup_by) }));
      item.dataset.order = o.id; item.dataset.status = o.status;
      return item;
    }) : [li(t("no_orders"))]));
  } catch (e) { say(navigator.onLine ? t("error", { detail: e.message }) : t("offline")); }
}

async function placeOrder() {
  const lines = Array.from(document.querySelectorAll("#products input"))
    .map((q) => ({ product_id: q.dataset.product, quantity: parseInt(q.value, 10) || 0 }))
    .filter((l) => l.quantity > 0);
  if (!lines.length) return;
  try {
    const o = await api("POST", "/me/orders", { store_id: $("order-store").value, lines });
    notice(t("order_placed", { by: when(o.pickup_by) }), true);
    await loadOrders();
  } catch (e) { notice(t("error", { detail: e.message })); }
}

async function loadReceipts() {
  try {
    const rows = await api("GET", "/me/receipts");
    const names = Object.fromEntries(state.stores.map((s) => [s.id, s.name]));
    $("receipt-list").replaceChildren(...(rows.length ? rows.map((r) => {
      const item = document.createElement("li");
      item.dataset.sale = r.sale_id;
      const head = document.createElement("strong");
      head.textContent = t("receipt_head", { store: names[r.store_id] || r.store_id, when: when(r.ts) });
      const lines = document.createElement("ul");
      lines.replaceChildren(...r.lines.map((l) => li(l.quantity + " × " + (l.name || l.product_id), money(l.total_cents))));
      if (r.discount_cents) lines.append(li(t("receipt_discount"), money(-r.discount_cents)));
      if (r.promotions.length) lines.append(li(t("receipt_promotions", { names: r.promotions.map((p) => p.name).join(", ") })));
      if (r.coupon_ids.length) lines.append(li(t("receipt_coupons", { names: r.coupon_ids.join(", ") })));
      lines.append(li(t("receipt_total"), money(r.total_cents)));
      item.append(head, lines);
      return item;
    }) : [li(t("no_receipts"))]));
  } catch (e) { say(navigator.onLine ? t("error", { detail: e.message }) : t("offline")); }
}

// ---------------------------------------------------------------- sign-in
async function sendCode(ev) {
  ev.preventDefault();
  try {
    const out = await api("POST", "/codes", { contact: $("contact").value });
    say(t("code_sent", { to: out.sent_to }));
    $("signin-form").hidden = false;
    $("otp").focus();
  } catch (e) { notice(t("error", { detail: e.message })); }
}

async function signIn(ev) {
  ev.preventDefault();
  try {
    const me = await api("POST", "/sessions", { contact: $("contact").value, code: $("otp").value });
    say(me.joined ? t("joined") : t("signed_in"));
    notice("");
    await enterHome(me);
  } catch (e) { notice(t("error", { detail: e.message })); }
}

async function signOut() {
  try { await api("POST", "/sessions/end"); } catch (e) { /* offline: forget locally anyway */ }
  hideCode();
  await delItem("pass");
  state.pass = null;
  show("signin");
  say(t("signed_out"));
}

async function enterHome(me) {
  state.me = me;
  show("home");
  try {
    state.stores = await api("GET", "/stores");
    await setItem("stores", state.stores);
  } catch (e) { state.stores = (await getItem("stores")) || []; }
  fillStores(state.stores);
  passInfo(null);
  await checkPass();
}

// ---------------------------------------------------------------- start
async function start() {
  await loadStrings();
  if (!window.isSecureContext || !crypto.subtle) { notice(t("needs_secure")); return; }
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js", { scope: "./" }).catch(() => {});
  $("code-form").addEventListener("submit", sendCode);
  $("signin-form").addEventListener("submit", signIn);
  $("get-pass").addEventListener("click", getPass);
  $("show-code").addEventListener("click", () => (state.showing ? hideCode() : showCode()));
  $("check-pass").addEventListener("click", checkPass);
  $("store").addEventListener("change", () => { state.shownWindow = -1; tick(); });
  $("topup-form").addEventListener("submit", topUp);
  $("order-store").addEventListener("change", loadProducts);
  $("place-order").addEventListener("click", placeOrder);
  $("refresh-receipts").addEventListener("click", loadReceipts);
  $("sign-out").addEventListener("click", signOut);
  for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => tab(b.dataset.tab));
  document.addEventListener("visibilitychange", () => { if (!document.hidden) keepAwake(); });
  window.addEventListener("online", () => { say(""); checkPass(); });
  window.addEventListener("offline", () => say(t("offline")));
  if (typeof qrcode === "undefined") notice(t("qr_missing"));
  state.pass = (await getItem("pass")) || null;
  let me = null;
  try { me = await api("GET", "/me"); } catch (e) {
    if (e.status === 401) { show("signin"); return; }
  }
  if (me) { await enterHome(me); return; }
  // Offline: the pass and the store list on this phone are enough to show the door code.
  if (state.pass) {
    state.stores = (await getItem("stores")) || [];
    fillStores(state.stores);
    show("home");
    passInfo(null);
    say(t("offline"));
  } else { show("signin"); say(t("offline")); }
}

start().catch((e) => notice(t("error", { detail: e.message })));
