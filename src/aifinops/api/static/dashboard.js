// The aifinops dashboard: reads the JSON API for one month and draws it. No framework, no outside host.

import { $, el, fill } from "./dom.js";
import { renderFailed, renderTask } from "./tasks.js";
import {
  renderCards, renderCostPerTask, renderDaily, renderFreshness, renderKpis, renderTokens, renderTop,
  useCaseColors,
} from "./views.js";

const KEY_STORAGE = "aifinops.apiKey";
const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

class AuthNeeded extends Error {}

/** GET a JSON route; problem documents become errors that carry the server's own explanation. */
async function api(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(url, { headers });
  if (response.status === 401) throw new AuthNeeded(await problemText(response));
  if (!response.ok) throw new Error(`${url.pathname}: ${await problemText(response)}`);
  return response.json();
}

async function problemText(response) {
  try {
    const body = await response.json();
    return body.detail || body.title || response.statusText;
  } catch {
    return `HTTP ${response.status} ${response.statusText}`;
  }
}

// ---- period -----------------------------------------------------------------------------------------

function currentMonth() {
  return new Date().toISOString().slice(0, 7);
}

function shiftMonth(period, delta) {
  const [y, m] = period.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1 + delta, 1)).toISOString().slice(0, 7);
}

function monthName(period, timezone) {
  const [y, m] = period.split("-").map(Number);
  const name = new Date(Date.UTC(y, m - 1, 1)).toLocaleString("en-US", { month: "long", year: "numeric", timeZone: "UTC" });
  return `${name} · time zone ${timezone}`;
}

function periodFromUrl() {
  const asked = new URLSearchParams(window.location.search).get("period");
  return asked && MONTH.test(asked) ? asked : null;
}

/** The month of the newest data any source delivered, when that month is not `period`. */
function newestMonth(freshness, period) {
  const newest = freshness.map((f) => f.last_data_ts).filter(Boolean).sort().at(-1);
  const month = newest ? new Date(newest).toISOString().slice(0, 7) : null;
  return month && month !== period ? month : null;
}

// ---- loading ----------------------------------------------------------------------------------------

// `loads` numbers each load so that an answer arriving after a newer request is dropped, never drawn.
const state = { period: null, data: null, loads: 0 };

async function fetchMonth(period) {
  const [snapshot, kpis, costs, usage, failed] = await Promise.all([
    api("/api/snapshot", { period, fresh: "true" }),  // live, not the last kept snapshot
    api("/api/kpis", { period, group_by: "use_case" }),
    api("/api/costs", { period, group_by: "use_case", granularity: "day" }),
    api("/api/token-usage", { period, group_by: "use_case", granularity: "month" }),
    api("/api/tasks", { period, outcome: "failed", limit: "10" }),
  ]);
  return { snapshot, kpis: kpis.items, costs, usage, failed };
}

function currencies(data) {
  const found = new Set(data.snapshot.totals.filter((t) => t.basis === "estimated").map((t) => t.currency));
  return found.size ? [...found].sort() : ["USD"];
}

/** Charts draw one currency at a time: amounts in different currencies are never added. */
function renderCharts() {
  const { data } = state;
  const list = currencies(data);
  const picker = $("currency");
  const currency = list.includes(picker?.value) ? picker.value : list[0];
  const colors = useCaseColors(data.kpis);
  renderCostPerTask(data.kpis, currency, colors);
  renderDaily(data.costs, currency, colors);
}

function renderCurrencyPicker(list) {
  if (list.length < 2) return fill("currency-slot");
  const select = el("select", { id: "currency" }, list.map((c) => el("option", { value: c, text: c })));
  select.addEventListener("change", renderCharts);
  fill("currency-slot", el("label", { for: "currency", text: "Charts in" }), select);
}

function render(data, note) {
  state.data = data;
  const tz = data.snapshot.period.timezone;
  $("period-label").textContent = monthName(state.period, tz);
  renderCards(data.snapshot, data.kpis);
  renderCurrencyPicker(currencies(data));
  renderCharts();
  renderKpis(data.kpis);
  renderTokens(data.usage);
  renderTop(data.snapshot);
  renderFailed(data.failed, openTask);
  renderFreshness(data.snapshot.freshness);
  $("status").replaceChildren(note || statusLine(data));
}

function statusLine(data) {
  const events = data.snapshot.events;
  const newer = events === 0 ? newestMonth(data.snapshot.freshness, state.period) : null;
  if (!newer) return `Showing ${state.period}: ${events.toLocaleString("en-US")} events.`;
  const link = el("a", { href: `?period=${newer}`, text: `show ${newer}` });
  link.addEventListener("click", (e) => {
    e.preventDefault();
    go(newer);
  });
  return el("span", {}, [`No usage in ${state.period}; the newest data is in ${newer}: `, link, "."]);
}

async function load(period, { fallback = false } = {}) {
  state.period = period;
  $("period").value = period;
  document.body.dataset.state = "loading";
  $("status").textContent = `Loading ${period}…`;
  $("problem").hidden = true;
  const ticket = ++state.loads;
  try {
    let data = await fetchMonth(period);
    if (ticket !== state.loads) return;
    let note = null;
    const newer = fallback && data.snapshot.events === 0 ? newestMonth(data.snapshot.freshness, period) : null;
    if (newer) {
      note = `No data in ${period}; showing ${newer}, the month of the newest data.`;
      state.period = period = newer;
      $("period").value = period;
      history.replaceState(null, "", `?period=${period}`);
      data = await fetchMonth(period);
      if (ticket !== state.loads) return;
    }
    $("key-form").hidden = true;
    render(data, note);
    document.body.dataset.state = "ready";
  } catch (err) {
    if (ticket === state.loads) showError(err);
  }
}

function showError(err) {
  document.body.dataset.state = "error";
  $("status").textContent = "";
  if (err instanceof AuthNeeded) {
    $("key-form").hidden = false;
    $("api-key").focus();
    return;
  }
  $("problem").hidden = false;
  $("problem").textContent = `Could not load the dashboard: ${err.message}`;
}

async function openTask(taskId, tenant) {
  const dialog = $("task-dialog");
  try {
    renderTask(await api(`/api/tasks/${encodeURIComponent(taskId)}`, { tenant }));
    dialog.showModal();
  } catch (err) {
    showError(err);
  }
}

// ---- wiring -----------------------------------------------------------------------------------------

function go(period) {
  if (!MONTH.test(period)) return;
  history.pushState(null, "", `?period=${period}`);
  load(period);
}

function wire() {
  $("period-form").addEventListener("submit", (e) => {
    e.preventDefault();
    go($("period").value);
  });
  $("period-prev").addEventListener("click", () => go(shiftMonth(state.period, -1)));
  $("period-next").addEventListener("click", () => go(shiftMonth(state.period, 1)));
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
    $("api-key").value = "";
    load(state.period);
  });
  $("task-dialog-close").addEventListener("click", () => $("task-dialog").close());
  window.addEventListener("popstate", () => load(periodFromUrl() || currentMonth()));
  // Charts are drawn at the width they get (text stays legible); redraw only when that width changes.
  let timer = null;
  let width = 0;
  new ResizeObserver(([entry]) => {
    if (Math.round(entry.contentRect.width) === width) return;
    width = Math.round(entry.contentRect.width);
    clearTimeout(timer);
    timer = setTimeout(() => state.data && renderCharts(), 120);
  }).observe($("main"));
}

wire();
const asked = periodFromUrl();
load(asked || currentMonth(), { fallback: !asked });
