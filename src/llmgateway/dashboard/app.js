// The llmgateway dashboard: overview, logs and playground, over the gateway's own APIs.
// No build step and no outside scripts: plain JavaScript; charts by Chart.js, shipped in vendor/.
"use strict";

const KEY_STORAGE = "llmgateway.key";
const $ = (selector) => document.querySelector(selector);

// -- talking to the gateway ---------------------------------------------------------------
function authHeaders() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  if (response.status === 401 && !path.startsWith("/api/engine/chat/")) throw new Unauthorized();
  return response;
}

async function getJSON(path) {
  const response = await api(path);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

// -- formatting ------------------------------------------------------------------------------
const fmt = {
  num: (v, digits = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits)),
  usd: (v) => (v === null || v === undefined ? "–" : `$${Number(v).toFixed(6)}`),
  time: (unix) => new Date(unix * 1000).toLocaleString(),
  int: (v) => (v === null || v === undefined ? "–" : String(v)),
};

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// -- charts (Chart.js, shipped in vendor/) -------------------------------------------------
const PALETTE = ["#6aa6ff", "#e69138", "#1e7d3a", "#8e7cc3", "#c0392b", "#1d4e9e", "#a27c00", "#45818e"];

// One chart per container, drawn afresh each time the page loads its data: the one it held goes first.
function replaceChart(container, ...children) {
  const existing = container.querySelector("canvas");
  if (existing) Chart.getChart(existing)?.destroy();
  container.replaceChildren(...children);
}

function emptyChart(container, message = "no requests in this range") {
  replaceChart(container, el("div", { class: "empty", text: message }));
}

function drawChart(container, type, labels, datasets, options = {}) {
  const canvas = el("canvas", { role: "img", "aria-label": container.id });
  replaceChart(container, canvas);
  return new Chart(canvas, {
    type,
    data: { labels, datasets },
    options: { animation: false, responsive: true, maintainAspectRatio: false, ...options },
  });
}

// Each bucket labelled with its own start: the day too when the range spans days.
function bucketLabel(start, spansDays) {
  const options = spansDays
    ? { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }
    : { hour: "2-digit", minute: "2-digit" };
  return new Date(start * 1000).toLocaleString([], options);
}

// Bars over time: one bar per series (e.g. requests and errors) in each bucket.
function timeChart(container, points, series, rangeSeconds) {
  if (!points.length) return emptyChart(container);
  const labels = points.map((p) => bucketLabel(p.start, rangeSeconds > 86400));
  const datasets = series.map((s) => ({ label: s.label, data: points.map((p) => p[s.key]), backgroundColor: s.color }));
  const ticks = { callback: (value) => Number(value.toPrecision(3)) };  // 0.00003, not 3.000000E-5
  drawChart(container, "bar", labels, datasets, { scales: { y: { beginAtZero: true, ticks } } });
}

// Horizontal bars per model: p50 and p95 side by side.
function percentileChart(container, rows, p50Key, p95Key) {
  rows = rows.filter((r) => r[p50Key] !== null);
  if (!rows.length) return emptyChart(container);
  drawChart(container, "bar", rows.map((r) => r.model), [
    { label: "p50", data: rows.map((r) => r[p50Key]), backgroundColor: "#6aa6ff" },
    { label: "p95", data: rows.map((r) => r[p95Key]), backgroundColor: "#1d4e9e" },
  ], { indexAxis: "y" });
}

// Stacked bars per UTC day, one dataset per key or team (spend report rows with `day`).
function spendChart(container, rows, nameOf) {
  if (!rows.length) return emptyChart(container, "no spend recorded");
  const days = [...new Set(rows.map((r) => r.day))].sort();
  const owners = [...new Set(rows.map(nameOf))];
  const datasets = owners.map((owner, i) => ({
    label: owner,
    data: days.map((day) => rows.filter((r) => r.day === day && nameOf(r) === owner).reduce((sum, r) => sum + r.cost_usd, 0)),
    backgroundColor: PALETTE[i % PALETTE.length],
  }));
  drawChart(container, "bar", days, datasets, { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } });
}

// -- overview --------------------------------------------------------------------------------
let catalog = null;

async function loadCatalog() {
  if (!catalog) catalog = await getJSON("/api/engine/models");
  return catalog;
}

async function showOverview() {
  const models = await loadCatalog();
  const providerSelect = $("#ov-provider");
  if (providerSelect.options.length === 1) {
    for (const id of Object.keys(models)) providerSelect.append(el("option", { value: id, text: id }));
  }
  const range = Number($("#ov-range").value);
  const provider = providerSelect.value;
  const since = Date.now() / 1000 - range;
  const query = new URLSearchParams({ since: String(since), bucket_s: String(Math.max(60, range / 48)) });
  if (provider) query.set("provider", provider);
  const modelSelect = $("#ov-model");
  const model = modelSelect.value;
  if (model) query.set("model", model);
  const statsQuery = new URLSearchParams({ group_by: "model", since: String(since) });
  if (provider) statsQuery.set("provider", provider);
  const [points, stats] = await Promise.all([
    getJSON(`/api/tracking/timeseries?${query}`),
    getJSON(`/api/tracking/stats?${statsQuery}`),
  ]);
  const known = new Set([...modelSelect.options].map((o) => o.value));
  for (const row of stats) if (!known.has(row.model)) modelSelect.append(el("option", { value: row.model, text: row.model }));
  const shown = model ? stats.filter((r) => r.model === model) : stats;
  const total = (key) => points.reduce((sum, p) => sum + p[key], 0);
  $("#ov-cards").replaceChildren(
    card("requests", total("requests")),
    card("errors", total("errors")),
    card("cost", fmt.usd(total("cost_usd"))),
    card("tokens in / out", `${total("input_tokens")} / ${total("output_tokens")}`),
    card("cache hit rate", total("cacheable") ? `${((100 * total("cache_hits")) / total("cacheable")).toFixed(1)}%` : "–"),
    card("saved by the cache", fmt.usd(total("cost_saved_usd"))),
  );
  timeChart($("#ov-requests"), points, [
    { key: "requests", label: "requests", color: "#6aa6ff" },
    { key: "errors", label: "errors", color: "#c0392b" },
  ], range);
  timeChart($("#ov-cost"), points, [{ key: "cost_usd", label: "cost", color: "#1e7d3a" }], range);
  timeChart($("#ov-tokens"), points, [
    { key: "input_tokens", label: "input", color: "#8e7cc3" },
    { key: "output_tokens", label: "output", color: "#e69138" },
  ], range);
  percentileChart($("#ov-latency"), shown, "latency_p50_s", "latency_p95_s");
  percentileChart($("#ov-ttft"), shown, "time_to_first_token_p50_s", "time_to_first_token_p95_s");
}

function card(label, value) {
  return el("div", { class: "card" }, el("span", { text: label }), el("b", { text: String(value) }));
}

// -- logs ------------------------------------------------------------------------------------
const PAGE_SIZE = 25;
let logsSkip = 0;

async function showLogs() {
  const rows = await getJSON(`/api/tracking/logs?skip=${logsSkip}&limit=${PAGE_SIZE}`);
  const body = $("#logs-table tbody");
  body.replaceChildren(
    ...rows.map((row) =>
      el("tr", { "data-id": row.id, onclick: () => showRecord(row) },
        el("td", { text: fmt.time(row.timestamp) }),
        el("td", { class: `status-${row.status}`, text: row.status }),
        el("td", { text: `${row.provider}/${row.model_requested}` }),
        el("td", { class: "input", text: row.chat_input || "" }),
        el("td", { text: `${fmt.int(row.input_tokens)} / ${fmt.int(row.output_tokens)}` }),
        el("td", { text: fmt.num(row.latency_s) }),
        el("td", { text: fmt.num(row.time_to_first_token_s) }),
        el("td", { text: fmt.usd(row.cost_usd) }),
      ),
    ),
  );
  $("#logs-page").textContent = `${logsSkip + 1}–${logsSkip + rows.length}`;
  $("#logs-prev").disabled = logsSkip === 0;
  $("#logs-next").disabled = rows.length < PAGE_SIZE;
}

function showRecord(row) {
  $("#log-detail").hidden = false;
  $("#log-detail-id").textContent = row.id;
  $("#log-detail-body").textContent = JSON.stringify(row, null, 2);
}

// -- playground ------------------------------------------------------------------------------
async function addTarget() {
  const models = await loadCatalog();
  const provider = el("select", { class: "provider" });
  for (const id of Object.keys(models)) provider.append(el("option", { value: id, text: models[id].name }));
  const model = el("select", { class: "model" });
  const params = el("span", { class: "params" });
  const remove = el("button", { type: "button", text: "×", onclick: () => target.remove() });
  const target = el("div", { class: "target" }, provider, model, params, remove);
  const fillModels = async () => {
    model.replaceChildren(...models[provider.value].models.map((m) => el("option", { value: m, text: m })));
    await fillParameters();
  };
  const fillParameters = async () => {
    const query = new URLSearchParams({ provider: provider.value, model: model.value });
    const spec = await getJSON(`/api/engine/parameters?${query}`);
    params.replaceChildren(
      ...spec.filter((p) => p.type !== "stop").map((p) =>
        el("label", {}, `${p.name} `,
          el("input", { type: "number", "data-id": p.id, step: p.step ?? "any", min: p.min ?? "", max: p.max ?? "",
            placeholder: p.default ?? "" }),
        ),
      ),
    );
  };
  provider.addEventListener("change", fillModels);
  model.addEventListener("change", fillParameters);
  $("#pg-targets").append(target);
  await fillModels();
}

async function send() {
  const prompt = $("#pg-prompt").value;
  const targets = [...document.querySelectorAll("#pg-targets .target")];
  $("#pg-results").replaceChildren();
  await Promise.all(targets.map((target) => runTarget(target, prompt)));
}

async function runTarget(target, prompt) {
  const provider = target.querySelector(".provider").value;
  const model = target.querySelector(".model").value;
  const parameters = {};
  for (const input of target.querySelectorAll(".params input")) {
    if (input.value !== "") parameters[input.dataset.id] = Number(input.value);
  }
  const output = el("div", { class: "output" });
  const metrics = el("div", { class: "metrics", text: "waiting for the first token…" });
  const box = el("div", { class: "result", "data-model": `${provider}/${model}` }, el("b", { text: `${provider}/${model}` }), output, metrics);
  $("#pg-results").append(box);
  const response = await api(`/api/engine/chat/${provider}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify({ model, chat_input: prompt, parameters, is_stream: true }),
  });
  if (!response.ok) {
    const error = await response.json().catch(() => ({ error: { message: response.statusText } }));
    metrics.textContent = "";
    output.append(el("span", { class: "error", text: `${response.status}: ${error.error.message}` }));
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      handleEvent(block, output, metrics);
    }
  }
}

function handleEvent(block, output, metrics) {
  const isError = block.startsWith("event: error");
  const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
  if (!data || data === "[DONE]") return;
  const chunk = JSON.parse(data);
  if (isError) {
    output.append(el("span", { class: "error", text: ` [${chunk.error.message}]` }));
    return;
  }
  if (chunk.chat_output_stream) output.append(chunk.chat_output_stream);
  if (chunk.metrics) {
    const m = chunk.metrics;
    metrics.textContent =
      `latency ${fmt.num(m.latency_s)} s · first token ${fmt.num(m.time_to_first_token_s)} s · ` +
      `${fmt.num(m.tokens_per_second, 1)} tokens/s · ${m.input_tokens} in / ${m.output_tokens} out · ` +
      `cost ${m.price_known ? fmt.usd(m.cost_usd) : "unknown"}${m.tokens_estimated ? " (estimated)" : ""}`;
  }
}

// -- keys, teams and spend ------------------------------------------------------------------
async function adminJSON(path, body) {
  const response = await api(`/api/admin${path}`, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const payload = await response.json();
  if (!response.ok) throw new AdminError(payload.error || { type: "error", message: response.statusText });
  return payload;
}

class AdminError extends Error {
  constructor(error) { super(error.message); this.type = error.type; }
}

const limitsOf = (row) => ["rpm", "tpm", "max_parallel"].filter((k) => row[k]).map((k) => `${k} ${row[k]}`).join(" · ") || "–";
const budgetOf = (row) => (row.budget_usd === null ? "–" : `${fmt.usd(row.budget_used_usd)} of $${row.budget_usd} / ${row.budget_period}`);

function formFields(form) {
  const fields = {};
  for (const input of form.querySelectorAll("[name]")) {
    if (input.value === "") continue;
    fields[input.name] = input.type === "number" ? Number(input.value) : input.value;
  }
  if (fields.models !== undefined) fields.models = fields.models.split(",").map((m) => m.trim()).filter(Boolean);
  return fields;
}

async function showKeys() {
  let teams, keys;
  try {
    [teams, keys] = await Promise.all([adminJSON("/teams"), adminJSON("/keys")]);
  } catch (error) {
    if (!(error instanceof AdminError)) throw error;
    $("#keys-on").hidden = true;
    $("#keys-off").hidden = false;
    $("#keys-off").textContent = error.message;
    return;
  }
  $("#keys-off").hidden = true;
  $("#keys-on").hidden = false;
  const teamName = Object.fromEntries(teams.map((t) => [t.id, t.name]));
  $("#key-team").replaceChildren(el("option", { value: "", text: "no team" }), ...teams.map((t) => el("option", { value: t.id, text: t.name })));
  $("#teams-table tbody").replaceChildren(...teams.map((t) =>
    el("tr", { "data-id": t.id }, el("td", { text: t.name }), el("td", { text: limitsOf(t) }), el("td", { class: "budget", text: budgetOf(t) }))));
  $("#keys-table tbody").replaceChildren(...keys.map((k) => {
    const state = k.revoked_at ? "revoked" : k.expires_at && k.expires_at * 1000 < Date.now() ? "expired" : "active";
    const actions = el("td", {});
    if (state === "active") {
      actions.append(
        el("button", { type: "button", class: "rotate", text: "rotate", onclick: () => changeKey(k, "rotate") }),
        el("button", { type: "button", class: "revoke", text: "revoke", onclick: () => changeKey(k, "revoke") }),
      );
    }
    return el("tr", { "data-id": k.id },
      el("td", { text: k.name }), el("td", { text: `${k.hint}…` }), el("td", { text: teamName[k.team_id] || "–" }),
      el("td", { class: `state-${state}`, text: state }), el("td", { text: limitsOf(k) }),
      el("td", { class: "budget", text: budgetOf(k) }), el("td", { text: (k.allowed_models || ["*"]).join(", ") }), actions);
  }));
  const budgeted = [...teams.map((t) => ({ ...t, label: `team ${t.name}` })), ...keys.map((k) => ({ ...k, label: k.name }))]
    .filter((row) => row.budget_usd !== null);
  if (budgeted.length) {
    drawChart($("#keys-budgets"), "bar", budgeted.map((row) => row.label), [
      { label: "used (USD)", data: budgeted.map((row) => row.budget_used_usd), backgroundColor: "#e69138" },
      { label: "budget (USD)", data: budgeted.map((row) => row.budget_usd), backgroundColor: "#c9ced9" },
    ], { indexAxis: "y" });
  } else emptyChart($("#keys-budgets"), "no key or team has a budget");
  const since = String(Date.now() / 1000 - 30 * 86400);
  const [perKey, perTeam] = await Promise.all([
    adminJSON(`/spend?group_by=key&per_day=true&since=${since}`),
    adminJSON(`/spend?group_by=team&per_day=true&since=${since}`),
  ]);
  spendChart($("#keys-spend"), perKey, (r) => r.name || r.key);
  spendChart($("#teams-spend"), perTeam, (r) => r.name || r.team);
}

async function changeKey(key, action) {
  const changed = await adminJSON(`/keys/${key.id}/${action}`, {});
  showNewKey(changed.key);
  await showKeys();
}

function showNewKey(key) {
  $("#new-key").hidden = !key;
  $("#new-key code").textContent = key || "";
}

async function submitAdminForm(event, path, after) {
  event.preventDefault();
  const form = event.target;
  try {
    const created = await adminJSON(path, formFields(form));
    form.querySelector(".error").textContent = "";
    form.reset();
    after(created);
    await showKeys();
  } catch (error) {
    if (!(error instanceof AdminError)) throw error;
    form.querySelector(".error").textContent = error.message;
  }
}

// -- pages and access ------------------------------------------------------------------------
const pages = { overview: showOverview, logs: showLogs, keys: showKeys, playground: async () => {
  if (!document.querySelector("#pg-targets .target")) await addTarget();
} };

async function route() {
  const name = (location.hash || "#overview").slice(1);
  const page = pages[name] ? name : "overview";
  for (const section of document.querySelectorAll(".page")) section.hidden = section.id !== page;
  for (const link of document.querySelectorAll("header nav a")) link.classList.toggle("active", link.dataset.page === page);
  try {
    $("#login").hidden = true;
    await pages[page]();
  } catch (error) {
    if (!(error instanceof Unauthorized)) throw error;
    for (const section of document.querySelectorAll(".page")) section.hidden = true;
    $("#login").hidden = false;
    $("#login-error").textContent = sessionStorage.getItem(KEY_STORAGE) ? "That key was refused." : "";
  }
}

$("#login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, $("#login-key").value);
  catalog = null;
  route();
});
for (const id of ["#ov-range", "#ov-provider", "#ov-model"]) $(id).addEventListener("change", showOverview);
$("#logs-prev").addEventListener("click", () => { logsSkip = Math.max(0, logsSkip - PAGE_SIZE); showLogs(); });
$("#logs-next").addEventListener("click", () => { logsSkip += PAGE_SIZE; showLogs(); });
$("#pg-add").addEventListener("click", addTarget);
$("#team-form").addEventListener("submit", (event) => submitAdminForm(event, "/teams", () => {}));
$("#key-form").addEventListener("submit", (event) => submitAdminForm(event, "/keys", (created) => showNewKey(created.key)));
$("#pg-send").addEventListener("click", send);
window.addEventListener("hashchange", route);
route();
