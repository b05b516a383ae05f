// The llmgateway dashboard: overview, logs and playground, over the gateway's own APIs.
// No build step and no outside scripts: plain JavaScript, charts drawn as SVG.
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

// -- SVG charts ------------------------------------------------------------------------------
const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attributes) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function emptyChart(container, message = "no requests in this range") {
  container.replaceChildren(el("div", { class: "empty", text: message }));
}

// Bars over time: one or two series (e.g. requests and errors) per bucket.
function timeChart(container, points, series) {
  if (!points.length) return emptyChart(container);
  const width = 900, height = 180, pad = 36;
  const max = Math.max(...points.map((p) => Math.max(...series.map((s) => p[s.key])))) || 1;
  const step = (width - pad * 2) / points.length;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  chart.append(svg("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, stroke: "#c9ced9" }));
  const top = svg("text", { x: 2, y: pad, "font-size": 11, fill: "#4b5468" });
  top.textContent = Number.isInteger(max) ? String(max) : max.toPrecision(3);
  chart.append(top);
  points.forEach((point, i) => {
    series.forEach((s, j) => {
      const barWidth = Math.max(1, step / series.length - 2);
      const h = ((height - pad * 2) * point[s.key]) / max;
      const bar = svg("rect", {
        x: pad + i * step + j * (barWidth + 1), y: height - pad - h, width: barWidth, height: h, fill: s.color,
      });
      const title = svg("title", {});
      title.textContent = `${fmt.time(point.start)}: ${s.label} ${point[s.key]}`;
      bar.append(title);
      chart.append(bar);
    });
  });
  const first = svg("text", { x: pad, y: height - 8, "font-size": 11, fill: "#4b5468" });
  first.textContent = fmt.time(points[0].start);
  const last = svg("text", { x: width - pad, y: height - 8, "font-size": 11, fill: "#4b5468", "text-anchor": "end" });
  last.textContent = fmt.time(points[points.length - 1].start);
  chart.append(first, last);
  container.replaceChildren(chart, legend(series));
}

// Horizontal bars per model: p50 and p95 side by side.
function percentileChart(container, rows, p50Key, p95Key) {
  rows = rows.filter((r) => r[p50Key] !== null);
  if (!rows.length) return emptyChart(container);
  const width = 900, rowHeight = 34, labelWidth = 220;
  const height = rows.length * rowHeight + 10;
  const max = Math.max(...rows.map((r) => r[p95Key])) || 1;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  rows.forEach((row, i) => {
    const y = 5 + i * rowHeight;
    const label = svg("text", { x: 0, y: y + 18, "font-size": 12, fill: "#1d2330" });
    label.textContent = row.model;
    chart.append(label);
    [[p50Key, "#6aa6ff", 0], [p95Key, "#1d4e9e", 14]].forEach(([key, color, offset]) => {
      const w = ((width - labelWidth - 80) * row[key]) / max;
      chart.append(svg("rect", { x: labelWidth, y: y + offset, width: Math.max(1, w), height: 12, fill: color }));
      const value = svg("text", { x: labelWidth + w + 6, y: y + offset + 10, "font-size": 11, fill: "#4b5468" });
      value.textContent = fmt.num(row[key]);
      chart.append(value);
    });
  });
  container.replaceChildren(chart, legend([{ label: "p50", color: "#6aa6ff" }, { label: "p95", color: "#1d4e9e" }]));
}

function legend(series) {
  return el("div", {}, ...series.map((s) => el("span", { style: `color:${s.color};margin-right:12px`, text: `■ ${s.label}` })));
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
  ]);
  timeChart($("#ov-cost"), points, [{ key: "cost_usd", label: "cost", color: "#1e7d3a" }]);
  timeChart($("#ov-tokens"), points, [
    { key: "input_tokens", label: "input", color: "#8e7cc3" },
    { key: "output_tokens", label: "output", color: "#e69138" },
  ]);
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

// -- pages and access ------------------------------------------------------------------------
const pages = { overview: showOverview, logs: showLogs, playground: async () => {
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
$("#pg-send").addEventListener("click", send);
window.addEventListener("hashchange", route);
route();
