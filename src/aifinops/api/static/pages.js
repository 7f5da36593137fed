// The dashboard's views beyond the overview: each draws one or more JSON API answers (the same read models
// the API serves) into the view panel. Every amount keeps its currency and basis badge.

import { stackedBars, svg } from "./charts.js";
import { count, el, label, money, moneyList, percent, table } from "./dom.js";
import { formatAmount, fromNanos, share, sumByCurrency, toNanos, toNumber } from "./money.js";

let ids = 0;

/** A titled panel; `body` nodes follow the hint. */
export function panel(title, hint, ...body) {
  const id = `p-${++ids}`;
  return el("section", { class: "panel", "aria-labelledby": id }, [
    el("h2", { id, text: title }),
    hint ? el("p", { class: "hint", text: hint }) : null,
    ...body,
  ]);
}

/** A focusable, labelled, scrolling region around a table (keyboard users can scroll it). */
export function region(name, node) {
  return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": name }, [node]);
}

const m = (amount, currency, basis) => money({ amount, currency, basis });
/** An amount that may carry more places than the page rounds (a derived unit price): shown as sent. */
function unitPrice(amount, currency, basis) {
  try {
    return m(amount, currency, basis);
  } catch {
    return el("span", { class: "amount" }, [el("span", { class: "money", text: `${amount} ${currency}` }),
      el("span", { class: `basis basis-${basis}`, text: basis })]);
  }
}
const day = (iso) => (iso ? iso.slice(0, 10) : "—");
const when = (iso) => (iso ? `${new Date(iso).toISOString().slice(0, 16).replace("T", " ")} UTC` : "—");
const shortId = (id) => (id ? id.split("/").slice(-1)[0] : "—");
const cmpNanos = (a, b) => (a > b ? -1 : a < b ? 1 : 0);

/** What a row without a use case is: cost allocated to an app (or no one) that no task carried. */
export function useCaseName(useCase, app) {
  if (useCase) return useCase;
  return app ? `${app}: shared cost without a use case` : "shared cost without a use case";
}

// ---- overview: fully loaded cost per task and the bill ----------------------------------------------

function costOn(group, basis) {
  return (group?.costs || []).filter((c) => c.basis === basis);
}

function change(now, before) {
  if (!now || !before) return el("span", { class: "muted", text: "—" });
  const b = toNanos(before);
  if (b === 0n) return el("span", { class: "muted", text: "—" });
  const delta = toNanos(now) - b;
  const tenths = (delta * 1000n) / b;
  const text = `${tenths > 0n ? "+" : tenths < 0n ? "−" : "±"}${(tenths < 0n ? -tenths : tenths) / 10n}.${(tenths < 0n ? -tenths : tenths) % 10n} %`;
  return el("span", { class: tenths > 0n ? "up" : "down", text });
}

export function renderLoaded(node, current, previous, basis) {
  const before = new Map((previous?.groups || []).map((g) => [g.use_case, g]));
  const rows = [];
  for (const g of current.groups) {
    for (const c of costOn(g, basis)) {
      const p = costOn(before.get(g.use_case), basis).find((x) => x.currency === c.currency);
      rows.push({
        sort: toNanos(c.cost),
        attrs: { "data-loaded": g.use_case || "" },
        cells: [
          useCaseName(g.use_case, null),
          c.cost_per_successful_task ? m(c.cost_per_successful_task, c.currency, basis)
            : el("span", { class: "muted", text: g.tasks ? "no successful task" : "no tasks: not per task" }),
          p?.cost_per_successful_task ? m(p.cost_per_successful_task, p.currency, basis) : "—",
          change(c.cost_per_successful_task, p?.cost_per_successful_task),
          count(g.by_outcome?.succeeded || 0),
          m(c.cost, c.currency, basis),
        ],
      });
    }
  }
  rows.sort((a, b) => cmpNanos(a.sort, b.sort));
  const notes = (current.notes || []).map((n) => el("p", { class: "hint", text: n }));
  node.replaceChildren(table({
    caption: `Cost per successful task, ${basis}`,
    columns: ["Use case", "Per successful task", "Previous month", "Change", "Succeeded", "Cost"],
    numeric: [1, 2, 3, 4, 5],
    rows,
  }), ...notes);
}

const BUCKETS = [
  ["allocated", "allocated to owners", "#0072b2"],
  ["idle", "idle capacity", "#b07800"],
  ["purchases", "commitment purchases", "#7a6a00"],
  ["unallocated", "unallocated", "#b8412c"],
];

/** One horizontal bar per currency: the buckets side by side, summing to the invoice. */
export function billPicture(totals, basis, width) {
  const nodes = [];
  for (const t of totals) {
    const invoice = toNumber(t.invoice);
    const w = Math.max(300, width);
    const root = svg("svg", { viewBox: `0 0 ${w} 86`, width: w, height: 86, role: "img", class: "svg-chart bill",
      "aria-label": `Invoice ${formatAmount(t.invoice)} ${t.currency} ${basis}: ` + BUCKETS.map(([k, name]) =>
        `${name} ${formatAmount(t[k] || "0")}`).join(", ") });
    let x = 0;
    for (const [key, name, color] of BUCKETS) {
      const v = toNumber(t[key] || "0");
      if (v <= 0 || invoice <= 0) continue;
      const bw = (v / invoice) * w;
      const rect = svg("rect", { x, y: 0, width: Math.max(bw, 1), height: 40, fill: color, class: `bucket bucket-${key}` });
      const tip = svg("title");
      tip.textContent = `${name}: ${formatAmount(t[key])} ${t.currency} ${basis} (${share(t[key], t.invoice)})`;
      rect.append(tip);
      root.append(rect);
      x += bw;
    }
    const caption = svg("text", { x: 0, y: 62, class: "axis unit" });
    caption.textContent = `invoice ${formatAmount(t.invoice)} ${t.currency} · ${basis}`;
    root.append(caption);
    nodes.push(root);
    nodes.push(el("ul", { class: "legend bill-legend" }, BUCKETS.map(([key, name]) => el("li", { class: "key" }, [
      el("span", { class: `swatch sw-${key}`, "aria-hidden": "true" }),
      `${name}: `, m(t[key] || "0", t.currency, basis), ` (${share(t[key] || "0", t.invoice)})`,
    ])).concat([el("li", { class: "key sum", "data-invoice": t.invoice }, ["= invoice ", m(t.invoice, t.currency, basis)])])));
  }
  return nodes;
}

/** Unallocated cost grouped by reason and resource, largest first. */
export function reasonsTable(lines, basis) {
  const acc = new Map();
  for (const u of lines) {
    const key = `${u.reason}\u0000${u.resource_id}\u0000${u.currency}`;
    const row = acc.get(key) || { u, nanos: 0n, days: 0 };
    row.nanos += toNanos(u.amount);
    row.days += 1;
    acc.set(key, row);
  }
  const rows = [...acc.values()].sort((a, b) => cmpNanos(a.nanos, b.nanos)).map(({ u, nanos, days }) => ({
    attrs: { "data-reason": "" },
    cells: [shortId(u.resource_id) || "(no resource)", u.reason, u.meter || "—", count(days),
      m(fromNanos(nanos), u.currency, basis)],
  }));
  return table({ caption: "Unallocated cost by reason", columns: ["Resource", "Why unallocated", "Meter", "Days", "Amount"],
    numeric: [3, 4], rows });
}

// ---- budgets and alerts ---------------------------------------------------------------------------

function budgetChart(status, thresholds, width) {
  const w = Math.max(320, width);
  const amount = toNumber(status.amount.amount);
  const f = status.forecast || {};
  const values = [toNumber(status.spend.amount), toNumber(f.high || "0"), amount * 1.05];
  const max = Math.max(...values, 1e-9);
  const x = (v) => 8 + (v / max) * (w - 16);
  const cur = status.amount.currency;
  const root = svg("svg", { viewBox: `0 0 ${w} 80`, width: w, height: 80, role: "img", class: "svg-chart budget",
    "aria-label": `${status.budget}: spend ${formatAmount(status.spend.amount)} ${cur} of ${formatAmount(status.amount.amount)}; forecast ${formatAmount(f.amount || "0")} (band ${formatAmount(f.low || "0")}–${formatAmount(f.high || "0")})` });
  if (f.low && f.high) {
    root.append(svg("rect", { x: x(toNumber(f.low)), y: 14, width: Math.max(2, x(toNumber(f.high)) - x(toNumber(f.low))),
      height: 26, class: "band" }));
  }
  root.append(svg("rect", { x: 8, y: 18, width: Math.max(1, x(toNumber(status.spend.amount)) - 8), height: 18,
    class: status.exceeded ? "spend over" : "spend" }));
  if (f.amount) root.append(svg("line", { x1: x(toNumber(f.amount)), x2: x(toNumber(f.amount)), y1: 10, y2: 44, class: "forecast" }));
  for (const t of thresholds) {
    const at = x((amount * Number(t.percent)) / 100);
    root.append(svg("line", { x1: at, x2: at, y1: 6, y2: 50, class: `threshold ${t.type}` }));
    const label = svg("text", { x: at, y: t.type === "forecast" ? 74 : 62, "text-anchor": "middle", class: "axis" });
    label.textContent = `${t.percent} % ${t.type}`;
    root.append(label);
  }
  return root;
}

export function renderBudgets(node, { status, budgets, alerts }, period, width) {
  const defs = new Map(budgets.map((b) => [b.name, b]));
  const mine = status.budgets.filter((b) => b.period.key === period);
  const cards = mine.map((s) => {
    const thresholds = defs.get(s.budget)?.thresholds || [];
    const state = s.exceeded ? "exceeded" : s.crossed.length ? `crossed ${s.crossed.join(", ")}` : "within budget";
    return el("article", { class: `budget-card ${s.exceeded ? "warn" : ""}`, "data-budget": s.budget }, [
      el("h3", { text: `${s.budget} · ${s.scope || "everything"}` }),
      el("p", {}, [el("strong", { class: "budget-state", text: state }), " · spend ",
        m(s.spend.amount, s.spend.currency, s.spend.basis), " of ", m(s.amount.amount, s.amount.currency, s.spend.basis),
        ` (${percent(s.ratio)})`]),
      budgetChart(s, thresholds, Math.min(width, 900)),
      el("p", { class: "hint" }, ["Forecast ", m(s.forecast.amount, s.forecast.currency, s.spend.basis),
        ` (band ${formatAmount(s.forecast.low)}–${formatAmount(s.forecast.high)} ${s.forecast.currency}), ${s.forecast.method}. `,
        `Spend from ${s.spend_source || "nothing yet"}.`, s.note ? ` ${s.note}` : ""]),
    ]);
  });
  const legend = el("p", { class: "hint" }, ["Bar: spend so far; shaded: the forecast band; dark tick: the forecast; ",
    "thin lines: the thresholds that alert (actual or forecast)."]);
  const mineAlerts = alerts.filter((a) => a.period === period);
  const alertRows = mineAlerts.map((a) => ({
    attrs: { "data-alert": String(a.id) },
    cells: [when(a.fired_at), a.budget, a.threshold, m(a.observed.amount, a.observed.currency, a.observed.basis),
      percent(a.ratio), el("span", { class: a.delivery_status === "delivered" ? "ok-text" : "warn-text", text: a.delivery_status }),
      a.deliveries.map((d) => `${d.channel} (${d.kind}): ${d.status}${d.http_status ? ` ${d.http_status}` : ""}, ${d.attempts} attempt${d.attempts === 1 ? "" : "s"}`).join("; ")],
  }));
  node.replaceChildren(
    panel(`Budgets in ${period}`, `Status as of ${when(status.as_of)}.`, legend,
      ...(cards.length ? cards : [el("p", { class: "muted", text: "No budget runs over this month." })])),
    panel("Alert history", "Each threshold fires once per period; every channel's delivery is listed.",
      region("Alerts", table({ caption: "Alerts fired", columns: ["Fired", "Budget", "Threshold", "Spend", "Of budget",
        "Delivery", "Channels"], numeric: [3, 4], rows: alertRows }))),
  );
}

// ---- anomalies ------------------------------------------------------------------------------------

export function renderAnomalies(node, { costs, found }, currency, width) {
  const days = [];
  for (let t = Date.parse(`${costs.start.slice(0, 10)}T00:00:00Z`); ; t += 86400000) {
    const d = new Date(t).toISOString().slice(0, 10);
    if (d >= costs.end.slice(0, 10)) break;
    days.push(d);
  }
  const totals = new Map();
  for (const item of costs.items.filter((i) => i.currency === currency)) {
    const d = item.period_start.slice(0, 10);
    totals.set(d, (totals.get(d) || 0n) + toNanos(item.cost));
  }
  const marked = new Set(found.anomalies.map((a) => a.at));
  const series = [{ label: "estimated cost", color: "#0072b2",
    values: new Map([...totals].map(([d, v]) => [d, Number(v) / 1e9])),
    texts: new Map([...totals].map(([d, v]) => [d, `${formatAmount(fromNanos(v))} ${currency} estimated`])) }];
  const chart = stackedBars({ days, series, width: Math.max(320, width), unit: `${currency} · estimated`,
    label: `Daily estimated cost in ${currency}; anomaly days marked: ${[...marked].join(", ") || "none"}` });
  const slotW = (Math.max(320, width) - 60) / Math.max(days.length, 1);
  days.forEach((d, i) => {
    if (!marked.has(d)) return;
    const cx = 52 + i * slotW + slotW / 2;
    const mark = svg("path", { d: `M ${cx - 6} 20 L ${cx + 6} 20 L ${cx} 29 Z`, class: "anomaly-mark", "data-day": d });
    const tip = svg("title");
    tip.textContent = `anomaly on ${d}`;
    mark.append(tip);
    chart.append(mark);
  });
  const rows = found.anomalies.map((a) => ({
    attrs: { "data-anomaly": a.at },
    cells: [a.at, a.scope, a.direction, m(a.observed, a.currency, a.basis),
      `${formatAmount(a.expected_range.low)}–${formatAmount(a.expected_range.high)} ${a.currency}`, a.score,
      el("ul", { class: "drivers" }, a.contributors.map((c) => el("li", {},
        [`${c.dimension}=${c.value} `, m(c.delta.startsWith("-") ? c.delta : c.delta, a.currency, a.basis)])))],
  }));
  node.replaceChildren(
    panel("Daily cost with anomalies marked", "Each day is judged against the same weekday of the previous weeks " +
      "(median and spread); a marked day left its range.", chart),
    panel("Anomalies and what drove them", "Drivers: the dimension values whose spend moved most that day.",
      region("Anomalies", table({ caption: "Anomalies", columns: ["Day", "Scope", "Direction", "Observed", "Expected range",
        "Score", "Driven by"], numeric: [3, 5], rows }))),
  );
}

// ---- allocation -----------------------------------------------------------------------------------

const BUCKET_NAMES = { allocated: "allocated", idle: "idle capacity", purchases: "commitment purchase", unallocated: "unallocated" };

export function renderAllocation(node, doc, { by, choices, onBy, download, refused = null, width = 900 }) {
  const dims = doc.by;
  const rows = doc.rows.map((r) => {
    const owner = dims.map((d) => r[d]).filter(Boolean).join(" · ");
    const name = r.bucket === "allocated" ? (owner || "allocated without these dimensions")
      : BUCKET_NAMES[r.bucket];
    return {
      sort: toNanos(r.amount),
      attrs: { "data-bucket": r.bucket },
      cells: [name, ...dims.map((d) => r[d] || (r.bucket === "allocated" ? "(not set)" : "—")), BUCKET_NAMES[r.bucket],
        m(r.amount, r.currency, doc.basis), (r.drivers || []).join("; ")],
    };
  }).sort((a, b) => cmpNanos(a.sort, b.sort));
  const limit = doc.max_unallocated_share;
  const readiness = doc.totals.map((t) => {
    const shareNanos = toNanos(t.invoice) === 0n ? 0n : (toNanos(t.unallocated) * 10n ** 9n) / toNanos(t.invoice);
    const ready = limit === undefined || shareNanos <= toNanos(limit);
    return el("p", { class: `readiness ${ready ? "ok-text" : "warn-text"}`, "data-ready": String(ready) }, [
      `${t.currency}: unallocated `, m(t.unallocated, t.currency, doc.basis), ` = ${share(t.unallocated, t.invoice)} of the invoice; `,
      `the limit for chargeback is ${limit === undefined ? "not set" : `${share(limit, "1")}`} → `,
      el("strong", { text: ready ? "ready for chargeback" : "not ready for chargeback: allocate more first" }),
    ]);
  });
  const select = el("select", { id: "alloc-by" }, choices.map((c) => {
    const o = el("option", { value: c, text: c });
    if (c === by) o.selected = true;
    return o;
  }));
  select.addEventListener("change", () => onBy(select.value));
  const csv = el("button", { type: "button", class: "secondary", id: "download-csv", text: "Download CSV" });
  const focus = el("button", { type: "button", class: "secondary", id: "download-focus", text: "Download FOCUS 1.2 CSV" });
  csv.addEventListener("click", () => download("csv"));
  focus.addEventListener("click", () => download("focus"));
  node.replaceChildren(
    refused ? el("p", { class: "panel warn-text", id: "alloc-refused", role: "alert", text: refused }) : "",
    panel("Chargeback readiness", null, ...readiness, ...(doc.notes || []).map((n) => el("p", { class: "hint", text: n }))),
    panel(`Showback by ${by}`, "Idle capacity, commitment purchases and unallocated cost stay visible as their own lines.",
      el("div", { class: "toolbar" }, [el("label", { for: "alloc-by", text: "Group by" }), select, csv, focus]),
      ...billPicture(doc.totals, doc.basis, width - 40),
      region("Showback", table({ caption: `Showback by ${by}`, columns: ["Owner", ...dims, "Bucket", "Amount", "Drivers"],
        numeric: [dims.length + 2], rows }))),
  );
}

// ---- reconciliation -------------------------------------------------------------------------------

function sumBy(rows, key) {
  const acc = new Map();
  for (const r of rows) {
    const k = `${key(r)}\u0000${r.currency}`;
    const a = acc.get(k) || { key: key(r), currency: r.currency, est: 0n, bill: 0n, statuses: new Set() };
    a.est += toNanos(r.estimated);
    a.bill += toNanos(r.actual);
    a.statuses.add(r.status);
    acc.set(k, a);
  }
  return [...acc.values()];
}

export function renderReconciliation(node, doc, freshness) {
  const basis = doc.basis;
  const perDay = sumBy(doc.resources, (r) => r.day).sort((a, b) => a.key.localeCompare(b.key));
  const dayRows = perDay.map((d) => ({
    attrs: { "data-day": d.key },
    cells: [d.key, m(fromNanos(d.est), d.currency, "estimated"), m(fromNanos(d.bill), d.currency, basis),
      m(fromNanos(d.bill - d.est), d.currency, basis), [...d.statuses].join(", ")],
  }));
  const meters = sumBy(doc.meters, (r) => `${shortId(r.resource_id)} · ${r.meter}`)
    .sort((a, b) => cmpNanos(a.bill - a.est < 0n ? a.est - a.bill : a.bill - a.est, b.bill - b.est < 0n ? b.est - b.bill : b.bill - b.est));
  const meterRows = meters.slice(0, 40).map((r) => ({
    cells: [r.key, m(fromNanos(r.est), r.currency, "estimated"), m(fromNanos(r.bill), r.currency, basis),
      m(fromNanos(r.bill - r.est), r.currency, basis), [...r.statuses].join(", ")],
  }));
  const missing = sumBy(doc.resources.filter((r) => r.status === "telemetry_missing"), (r) => shortId(r.resource_id));
  const missingRows = missing.map((r) => ({ attrs: { "data-missing": r.key },
    cells: [r.key, m(fromNanos(r.bill), r.currency, basis), [...r.statuses].join(", ")] }));
  const priceRows = doc.prices.map((p) => ({
    attrs: p.mismatch ? { "data-mismatch": "true", class: "retry" } : {},
    cells: [p.meter, p.book_price === null ? "not in the price book" : unitPrice(p.book_price, p.currency, "list"),
      unitPrice(p.effective_price, p.currency, basis), `per ${count(p.unit_size)}`, p.mismatch ? "differs" : "matches"],
  }));
  const billed = freshness.filter((f) => f.source.startsWith("billed"));
  const lagRows = billed.map((f) => {
    const lag = f.last_data_ts ? Math.floor((Date.parse(`${doc.as_of}T00:00:00Z`) - Date.parse(f.last_data_ts)) / 86400000) : null;
    return { cells: [f.source, day(f.last_data_ts), when(f.last_ingest_at), lag === null ? "—" : `${lag} days`] };
  });
  node.replaceChildren(
    panel("Estimate against the bill, per day", `Estimated = usage × price book; ${basis} = what Azure billed.`,
      region("Estimate vs bill per day", table({ caption: "Estimate vs bill per day", columns: ["Day", "Estimated", "Billed",
        "Difference", "Status"], numeric: [1, 2, 3], rows: dayRows }))),
    panel("Per meter (largest differences first)", null, region("Estimate vs bill per meter", table({
      caption: "Estimate vs bill per meter", columns: ["Resource · meter", "Estimated", "Billed", "Difference", "Status"],
      numeric: [1, 2, 3], rows: meterRows }))),
    panel("Price drift", "The unit price the bill implies against the price book's.", region("Price drift", table({
      caption: "Price drift", columns: ["Meter", "Price book", "Billed unit price", "Unit", "Check"], rows: priceRows }))),
    panel("Billed without telemetry", "Resources Azure billed while no app reported usage on them.",
      region("Missing telemetry", table({ caption: "Missing telemetry", columns: ["Resource", "Billed", "Status"],
        numeric: [1], rows: missingRows }))),
    panel("Billing lag", `The newest billed day of each billed-cost source, judged on ${doc.as_of}.`,
      region("Billing lag", table({ caption: "Billing lag", columns: ["Source", "Newest billed day", "Collected", "Lag"],
        rows: lagRows }))),
  );
}

// ---- recommendations ------------------------------------------------------------------------------

function moneyIn(value) {
  if (value && typeof value === "object" && "amount" in value && "currency" in value) {
    return m(value.amount, value.currency, value.basis || "estimated");
  }
  return null;
}

export function renderRecommendations(node, doc) {
  if (doc === null) {
    node.replaceChildren(panel("Recommendations", null, el("p", { class: "muted", id: "recommendations-missing",
      text: "Recommendations are not available on this server: it has no /api/recommendations route." })));
    return;
  }
  const items = Array.isArray(doc) ? doc : doc.items || doc.recommendations || [];
  const rows = items.map((r, i) => {
    const amounts = Object.values(r).map(moneyIn).filter(Boolean);
    return { attrs: { "data-recommendation": String(i) }, cells: [String(i + 1), r.title || r.kind || r.id || "—",
      r.detail || r.explanation || r.description || r.what_if || "", el("span", { class: "money-list" }, amounts)] };
  });
  node.replaceChildren(panel("Recommendations", "In the order the optimizer ranks them, with the money at stake.",
    region("Recommendations", table({ caption: "Recommendations", columns: ["#", "Recommendation", "What if", "Money"],
      numeric: [3], rows }))));
}

// ---- inventory and ownership ----------------------------------------------------------------------

export function renderInventory(node, inventory, estate) {
  const gaps = inventory.items.filter((r) => !r.owner || !r.cost_center);
  const gapRows = gaps.map((r) => ({ attrs: { "data-gap": r.name },
    cells: [r.name, r.type, r.owner || "missing", r.cost_center || "missing", r.app || "—", (r.missing || []).join(", ")] }));
  const matrix = inventory.items.map((r) => ({
    cells: [r.name, r.type.split("/").slice(-1)[0], r.resource_group, r.owner || "—", r.cost_center || "—",
      r.app || "—", r.environment || "—"] }));
  const apps = estate.apps.map((a) => ({ attrs: { "data-app": a.app },
    cells: [a.app, a.use_cases.join(", ") || "—", a.teams.join(", ") || "—", a.cost_centers.join(", ") || "—",
      count(a.events), moneyList(a.estimated)] }));
  const shared = (estate.shared_resources || []).map((s) => ({
    cells: [s.name || shortId(s.resource_id), s.kind || s.type || "—", s.owner || "missing", s.cost_center || "missing",
      el("ul", { class: "drivers" }, (s.used_by || []).map((u) => el("li", {}, [`${u.use_case} `,
        m(u.amount, u.currency, u.basis)])))] }));
  node.replaceChildren(
    panel("Resources without an owner or cost center", `${count(inventory.resources)} resources; ` +
      `${count(inventory.without_owner)} without an owner, ${count(gaps.length)} missing an owner or a cost center.`,
      region("Ownership gaps", table({ caption: "Ownership gaps", columns: ["Resource", "Type", "Owner", "Cost center", "App",
        "Missing tags"], rows: gapRows }))),
    panel("Ownership matrix", null, region("Ownership matrix", table({ caption: "Ownership matrix",
      columns: ["Resource", "Type", "Resource group", "Owner", "Cost center", "App", "Environment"], rows: matrix }))),
    panel("The AI estate", "Apps, their use cases, teams and cost centers, from the inventory and the usage " +
      "(`aifinops discover`).", region("Estate apps", table({ caption: "Apps", columns: ["App", "Use cases", "Teams",
        "Cost centers", "Events", "Estimated"], numeric: [4, 5], rows: apps })),
      shared.length ? region("Shared resources", table({ caption: "Shared resources", columns: ["Resource", "Kind", "Owner",
        "Cost center", "Used by"], rows: shared })) : null),
  );
}

// ---- prices ---------------------------------------------------------------------------------------

/** Rows the price book view draws at once: the shipped book alone holds over 1,500 prices. */
export const PRICE_ROWS = 100;

/** The price book; `filter` is the model or product filter to start with (from the URL), `onFilter(value, first)`
 * is told each change (first: the first key since the filter was last committed by Enter or leaving it). */
export function renderPrices(node, book, { filter: initial = "", onFilter = () => {} } = {}) {
  const rowOf = (p) => ({
    attrs: { "data-price": p.model },
    cells: [p.model, p.product_name || "—", p.deployment_type || "any", p.region || "any", p.meter_kind,
      p.processing_tier || "standard", p.context_tier || "—", money(p.price), `per ${p.unit}`, p.source,
      day(p.effective_start), p.effective_end ? day(p.effective_end) : "open", p.in_effect ? "yes" : "no",
      `${count(p.age_days)} days`],
  });
  const columns = ["Model", "Product", "Deployment type", "Region", "Meter", "Processing tier", "Context tier",
    "Price", "Unit", "Source (provenance)", "Effective from", "Effective to", "In effect", "Age"];
  const holder = el("div");
  const shown = el("p", { class: "hint", role: "status", "aria-live": "polite" });
  const filter = el("input", { type: "search", id: "price-filter", placeholder: "e.g. gpt-5.1",
    "aria-describedby": "price-filter-help" });
  const draw = () => {
    const term = filter.value.trim().toLowerCase();
    const matching = book.items.filter((p) => !term || p.model.toLowerCase().includes(term)
      || (p.product_name || "").toLowerCase().includes(term));
    shown.textContent = matching.length > PRICE_ROWS
      ? `Showing ${count(PRICE_ROWS)} of ${count(matching.length)} matching prices: narrow by model or product.`
      : `${count(matching.length)} matching prices.`;
    shown.dataset.matching = String(matching.length);
    holder.replaceChildren(table({ caption: "Price book", columns, numeric: [7, 13],
      rows: matching.slice(0, PRICE_ROWS).map(rowOf) }));
  };
  filter.value = initial;
  let editing = false;
  filter.addEventListener("input", () => {
    draw();
    onFilter(filter.value.trim(), !editing);
    editing = true;
  });
  filter.addEventListener("change", () => { editing = false; });
  draw();
  const captured = book.book && book.book.captured_at
    ? `captured ${day(book.book.captured_at)} from ${book.book.source}` : "never synced nor seeded";
  node.replaceChildren(panel("Price book", `${count(book.prices)} prices from ${book.sources.join(", ") || "no source"}; ` +
    `the book was ${captured}; age = days since the price took effect.`,
    el("label", { for: "price-filter", text: "Model or product " }), filter,
    el("span", { id: "price-filter-help", class: "visually-hidden", text: "Filters the table as you type" }),
    shown, region("Price book", holder)));
}

// ---- freshness ------------------------------------------------------------------------------------

export function renderFreshnessView(node, freshness) {
  const rows = freshness.map((f) => {
    const billed = f.source.startsWith("billed");
    return { attrs: { "data-source": f.source }, cells: [f.source, billed ? "billed cost" : "usage and logs",
      when(f.last_data_ts), when(f.last_ingest_at), f.detail || ""] };
  });
  node.replaceChildren(panel("Data freshness", "Every source: usage from apps, the gateway and logs, Azure Monitor, "
    + "the inventory, and billed cost (billed:source:basis), with the newest data each delivered.",
  region("Data freshness", table({ caption: "Data freshness by source", columns: ["Source", "Kind", "Newest data",
    "Last delivery", "Detail"], rows }))));
}
