// The aifinops dashboard: reads the JSON API for one month and draws one view of it. No framework, no outside
// host. The URL holds every control — month, basis, the allocation's group by, the charts' currency and the
// price filter (query) — and the view (hash): every view can be shared and the back button walks through them.

import { $, el, fill } from "./dom.js";
import {
  billPicture, reasonsTable, renderAllocation, renderAnomalies, renderBudgets, renderFreshnessView, renderInventory,
  renderLoaded, renderPrices, renderReconciliation, renderRecommendations,
} from "./pages.js";
import { renderFailed, renderTask } from "./tasks.js";
import {
  renderCards, renderCostPerTask, renderDaily, renderFreshness, renderKpis, renderTokens, renderTop,
  TOP_DIMENSIONS, useCaseColors,
} from "./views.js";

const KEY_STORAGE = "aifinops.apiKey";
const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
const BASES = ["estimated", "actual", "amortized"];
const VIEWS = {
  overview: "What did one successful task cost, and why?",
  budgets: "Budgets and alerts",
  anomalies: "Anomalies",
  allocation: "Allocation and showback",
  reconciliation: "Reconciliation: estimate against the bill",
  recommendations: "Recommendations",
  inventory: "Inventory and ownership",
  prices: "Prices",
  freshness: "Data freshness",
};
const DIMENSION_CHOICES = ["app", "use_case", "tenant", "cost_center", "team", "environment", "deployment", "model",
  "agent", "user_group"];

class AuthNeeded extends Error {}
class NotFound extends Error {}
class Refused extends Error {}  // 422: the server names the parameter and the reason

/** GET a JSON route; problem documents become errors that carry the server's own explanation. */
async function api(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(url, { headers });
  if (response.status === 401) throw new AuthNeeded(await problemText(response));
  if (response.status === 404) throw new NotFound(`${url.pathname}: ${await problemText(response)}`);
  if (response.status === 422) throw new Refused(`${url.pathname}: ${await problemText(response)}`);
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

/** null instead of an error when the route answers 404 (no stored allocation, a route not served). */
async function optional(promise) {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof NotFound) return null;
    throw err;
  }
}

// ---- period, basis and view in the URL --------------------------------------------------------------

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

function basisFromUrl() {
  const asked = new URLSearchParams(window.location.search).get("basis");
  return BASES.includes(asked) ? asked : null;
}

/** The allocation view's group by in the URL (`by`), else by app. */
function byFromUrl() {
  const asked = new URLSearchParams(window.location.search).get("by");
  return DIMENSION_CHOICES.includes(asked) ? asked : "app";
}

/** A text control's value in the URL (`currency`, the price filter `q`), or "". */
function textFromUrl(name) {
  return new URLSearchParams(window.location.search).get(name) || "";
}

function viewFromUrl() {
  const asked = window.location.hash.replace(/^#\/?/, "");
  return asked in VIEWS ? asked : "overview";
}

/** The current URL with `changes` to its query (null or "" removes a control), on the current view. */
function urlWith(changes) {
  const query = new URLSearchParams(window.location.search);
  for (const [name, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === "") query.delete(name);
    else query.set(name, value);
  }
  return `?${query}${window.location.hash}`;
}

/** The URL of `period` (and `basis`, when given) with the other controls kept, on the current view. */
function urlFor(period, basis) {
  return urlWith(basis === undefined ? { period } : { period, basis });
}

/** Push a URL whose controls changed and draw what it names: each change is one step of the back button. */
function navigate(changes) {
  history.pushState(null, "", urlWith(changes));
  load(periodFromUrl() || state.period);
}

/** The month of the newest data any source delivered, when that month is not `period`. */
function newestMonth(freshness, period) {
  const newest = freshness.map((f) => f.last_data_ts).filter(Boolean).sort().at(-1);
  const month = newest ? new Date(newest).toISOString().slice(0, 7) : null;
  return month && month !== period ? month : null;
}

/** The basis asked for in the URL, else the fully loaded one (actual) when the month's bill is in. */
function chosenBasis(snapshot) {
  const asked = basisFromUrl();
  if (asked) return asked;
  return snapshot.totals.some((t) => t.basis === "actual") ? "actual" : "estimated";
}

const billedBasis = (basis) => (basis === "estimated" ? "actual" : basis);

// ---- overview ---------------------------------------------------------------------------------------

// `loads` numbers each load so that an answer arriving after a newer request is dropped, never drawn.
const state = { period: null, data: null, loads: 0 };

async function fetchMonth(period) {
  const [snapshot, kpis, costs, usage, failed, loaded, before] = await Promise.all([
    api("/api/snapshot", { period, fresh: "true" }),  // live, not the last kept snapshot
    api("/api/kpis", { period, group_by: "use_case" }),
    api("/api/costs", { period, group_by: "use_case", granularity: "day" }),
    api("/api/token-usage", { period, group_by: "use_case", granularity: "month" }),
    api("/api/tasks", { period, outcome: "failed", limit: "10" }),
    optional(api("/api/allocation/kpis", { period })),
    optional(api("/api/allocation/kpis", { period: shiftMonth(period, -1) })),
  ]);
  const basis = chosenBasis(snapshot);
  const billed = billedBasis(basis);
  // Only ask for what is stored (the snapshot says which bases are allocated): no 404 to explain away. The daily
  // chart and the top spenders follow the basis once the bill is allocated; until then they show the estimate.
  const billedView = allocated(snapshot, billed) && basis !== "estimated";
  const billDoc = allocated(snapshot, billed) ? optional(api("/api/allocation", { period, basis: billed })) : null;
  const [bill, billedCosts, top] = await Promise.all([
    billDoc,
    billedView ? optional(api("/api/costs", { period, group_by: "use_case", granularity: "day", basis })) : null,
    // Top spenders by the dimensions the stored allocation is over (its default grouping, `by` of the bill).
    billedView ? billDoc.then((doc) => {
      const dims = TOP_DIMENSIONS.filter((d) => doc?.by.includes(d));
      return dims.length ? optional(api("/api/costs", { period, group_by: dims.join(","), granularity: "month",
        basis })).then((costs) => costs && { ...costs, dims }) : null;
    }) : null,
  ]);
  return { snapshot, kpis: kpis.items, costs: billedCosts || costs, usage, failed, loaded, before, bill, basis,
    top };
}

/** Whether the period's bill is allocated on `basis` (stored allocation buckets in the snapshot). */
function allocated(snapshot, basis) {
  return (snapshot.allocation?.[basis] || []).length > 0;
}

function currencies(data) {
  const found = new Set(data.snapshot.totals.filter((t) => t.basis === "estimated").map((t) => t.currency));
  return found.size ? [...found].sort() : ["USD"];
}

/** Charts draw one currency at a time: amounts in different currencies are never added. */
function renderCharts() {
  const { data } = state;
  const list = currencies(data);
  const asked = textFromUrl("currency");
  const currency = list.includes(asked) ? asked : list[0];
  const colors = useCaseColors(data.kpis);
  const served = data.kpis.some((k) => k.cost_per_successful_task.some((m) => m.basis === data.basis));
  renderCostPerTask(data.kpis, currency, colors, served ? data.basis : "estimated");
  renderDaily(data.costs, currency, colors);
}

function renderCurrencyPicker(list) {
  if (list.length < 2) return fill("currency-slot");
  const asked = textFromUrl("currency");
  const select = el("select", { id: "currency" }, list.map((c) => {
    const option = el("option", { value: c, text: c });
    if (c === asked) option.selected = true;
    return option;
  }));
  select.addEventListener("change", () => {
    history.pushState(null, "", urlWith({ currency: select.value }));
    renderCharts();
  });
  fill("currency-slot", el("label", { for: "currency", text: "Charts in" }), select);
}

function renderOverviewBill(data) {
  if (!data.bill) {
    fill("bill-chart", el("p", { class: "muted", text: "No allocated bill for this month yet: collect the bill and "
      + "run the allocation (aifinops collect, then POST /api/allocation/run)." }));
    fill("bill-reasons");
    return;
  }
  fill("bill-chart", ...billPicture(data.bill.totals, data.bill.basis, $("bill-chart").clientWidth));
  fill("bill-reasons", reasonsTable(data.bill.unallocated, data.bill.basis));
}

function renderOverviewLoaded(data) {
  if (!data.loaded) {
    fill("loaded-table", el("p", { class: "muted", text: "No bill allocated for this month yet: the estimated "
      + "figures are below." }));
    return;
  }
  renderLoaded($("loaded-table"), data.loaded, data.before, data.basis);
}

function render(data, note) {
  state.data = data;
  const tz = data.snapshot.period.timezone;
  $("basis").value = data.basis;
  $("period-label").textContent = `${monthName(state.period, tz)} · basis ${data.basis}`;
  renderOverviewLoaded(data);
  renderOverviewBill(data);
  renderCards(data.snapshot, data.kpis);
  renderCurrencyPicker(currencies(data));
  renderCharts();
  renderKpis(data.kpis);
  renderTokens(data.usage);
  renderTop(data.snapshot, data.top, data.basis);
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

function begin(period) {
  state.period = period;
  $("period").value = period;
  document.body.dataset.state = "loading";
  $("status").textContent = `Loading ${period}…`;
  $("problem").hidden = true;
  return ++state.loads;
}

async function loadOverview(period, fallback) {
  const ticket = begin(period);
  try {
    let data = await fetchMonth(period);
    if (ticket !== state.loads) return;
    let note = null;
    const newer = fallback && data.snapshot.events === 0 ? newestMonth(data.snapshot.freshness, period) : null;
    if (newer) {
      note = `No data in ${period}; showing ${newer}, the month of the newest data.`;
      state.period = period = newer;
      $("period").value = period;
      history.replaceState(null, "", urlFor(period));
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

// ---- the other views ----------------------------------------------------------------------------------

/** The last second of `period`, or now while the month runs: budgets are judged as of then. */
function periodEnd(period) {
  const end = new Date(`${shiftMonth(period, 1)}-01T00:00:00Z`).getTime() - 1000;
  return new Date(Math.min(end, Date.now())).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function download(period, basis, format) {
  const url = new URL("/api/allocation/report", window.location.origin);
  const query = { period, basis: billedBasis(basis), format, ...(format === "csv" ? { by: byFromUrl() } : {}) };
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const headers = {};
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers.Authorization = `Bearer ${key}`;
  fetch(url, { headers }).then(async (response) => {
    if (!response.ok) throw new Error(await problemText(response));
    const name = `aifinops-${format === "focus" ? "focus" : "showback"}-${period}-${query.basis}.csv`;
    const link = el("a", { href: URL.createObjectURL(await response.blob()), download: name, hidden: "" });
    document.body.append(link);
    link.click();
    link.remove();
  }).catch(showError);
}

function drawers(period, basis, snapshot) {
  const node = $("view-other");
  const width = Math.max(320, $("main").clientWidth - 60);
  return {
    budgets: async () => {
      const [status, budgets, alerts] = await Promise.all([api("/api/budgets/status", { as_of: periodEnd(period) }),
        api("/api/budgets"), api("/api/alerts", { limit: "1000" })]);
      renderBudgets(node, { status, budgets, alerts }, period, width);
    },
    anomalies: async () => {
      const [costs, found] = await Promise.all([api("/api/costs", { period, granularity: "day" }),
        api("/api/anomalies/days", { period, by: "use_case" })]);
      renderAnomalies(node, { costs, found }, costs.items[0]?.currency || "USD", width);
    },
    allocation: async () => {
      const by = byFromUrl();
      const query = { period, basis: billedBasis(basis) };
      let doc = null;
      let refused = null;
      if (allocated(snapshot, billedBasis(basis))) {
        try {
          doc = await optional(api("/api/allocation", { ...query, by }));
        } catch (err) {
          if (!(err instanceof Refused)) throw err;
          // Not a dimension the stored allocation is over: show its own grouping and say why.
          refused = `Grouping by ${by} needs an allocation over ${by}: ${err.message}`;
          doc = await optional(api("/api/allocation", query));
        }
      }
      if (!doc) {
        node.replaceChildren(el("p", { class: "panel muted", text: `No allocation of ${period} on the `
          + `${billedBasis(basis)} basis yet: collect the bill and run the allocation.` }));
        return;
      }
      renderAllocation(node, doc, {
        by: refused ? doc.by[0] : by, choices: refused ? doc.by : DIMENSION_CHOICES, refused,
        onBy: (by) => navigate({ by }),
        download: (format) => download(period, basis, format), width,
      });
    },
    reconciliation: async () => {
      renderReconciliation(node, await api("/api/reconciliation", { period, basis: billedBasis(basis) }),
        snapshot.freshness);
    },
    recommendations: async () => {
      renderRecommendations(node, await optional(api("/api/recommendations", { period })));
    },
    inventory: async () => {
      const [inventory, estate] = await Promise.all([api("/api/inventory"), api("/api/estate", { period })]);
      renderInventory(node, inventory, estate);
    },
    prices: async () => renderPrices(node, await api("/api/prices"), {
      filter: textFromUrl("q"),
      // Typing narrows in place: one history entry per filter typed, not one per key.
      onFilter: (q, first) => history[first ? "pushState" : "replaceState"](null, "", urlWith({ q })),
    }),
    freshness: async () => renderFreshnessView(node, snapshot.freshness),
  };
}

async function loadView(view, period) {
  const ticket = begin(period);
  fill("currency-slot");
  try {
    const snapshot = await api("/api/snapshot", { period });
    if (ticket !== state.loads) return;
    const basis = chosenBasis(snapshot);
    $("basis").value = basis;
    $("period-label").textContent = `${monthName(period, snapshot.period.timezone)} · basis ${basis}`;
    await drawers(period, basis, snapshot)[view]();
    if (ticket !== state.loads) return;
    $("key-form").hidden = true;
    $("status").textContent = `Showing ${VIEWS[view].toLowerCase()} for ${period}.`;
    document.body.dataset.state = "ready";
  } catch (err) {
    if (ticket === state.loads) showError(err);
  }
}

function showView(view) {
  for (const node of document.querySelectorAll("[data-view-panel]")) {
    node.hidden = (node.dataset.viewPanel === "overview") !== (view === "overview");
  }
  for (const link of document.querySelectorAll("#view-nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  $("view-title").textContent = VIEWS[view];
  document.title = `aifinops — ${VIEWS[view]}`;
  document.body.dataset.view = view;
}

function load(period, { fallback = false } = {}) {
  const view = viewFromUrl();
  showView(view);
  return view === "overview" ? loadOverview(period, fallback) : loadView(view, period);
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
  history.pushState(null, "", urlFor(period));
  load(period);
}

/** The basis of the switch, in the URL. */
function chooseBasis(basis) {
  navigate({ basis });
}

function wire() {
  $("period-form").addEventListener("submit", (e) => {
    e.preventDefault();
    go($("period").value);
  });
  $("period-prev").addEventListener("click", () => go(shiftMonth(state.period, -1)));
  $("period-next").addEventListener("click", () => go(shiftMonth(state.period, 1)));
  $("basis").addEventListener("change", () => chooseBasis($("basis").value));
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
    $("api-key").value = "";
    load(state.period);
  });
  $("task-dialog-close").addEventListener("click", () => $("task-dialog").close());
  // Back, forward and the view links: the URL names month, basis and view, so each view can be shared.
  window.addEventListener("popstate", () => load(periodFromUrl() || state.period || currentMonth()));
  // Charts are drawn at the width they get (text stays legible); redraw only when that width changes.
  let timer = null;
  let width = 0;
  new ResizeObserver(([entry]) => {
    if (Math.round(entry.contentRect.width) === width) return;
    width = Math.round(entry.contentRect.width);
    clearTimeout(timer);
    timer = setTimeout(() => state.data && viewFromUrl() === "overview" && renderCharts(), 120);
  }).observe($("main"));
}

wire();
const asked = periodFromUrl();
load(asked || currentMonth(), { fallback: !asked });
