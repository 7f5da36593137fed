// The dashboard's views: each renders one API answer into its section of the page.

import { PALETTE, pairedBars, stackedBars } from "./charts.js";
import { $, count, el, fill, label, money, moneyList, percent, table } from "./dom.js";
import { formatAmount, fromNanos, share, sumByCurrency, toNanos, toNumber } from "./money.js";
import { useCaseName } from "./pages.js";

/** Beyond seven use cases the stack would be unreadable: the smaller ones are drawn as one. */
const OTHER = "other use cases";
const OTHER_COLOR = PALETTE[PALETTE.length - 1];

/** KPI amounts come on every basis served (estimated, actual, amortized): charts and orderings use one. */
const onBasis = (amounts, basis = "estimated") => amounts.filter((m) => m.basis === basis);
const steps = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

// ---- summary --------------------------------------------------------------------------------------

function card(title, value, note, extra = "") {
  return el("div", { class: `card ${extra}` }, [
    el("dt", { text: title }),
    el("dd", {}, [value, note ? el("span", { class: "note", text: note }) : null]),
  ]);
}

export function renderCards(snapshot, kpis) {
  const tasks = kpis.reduce((s, k) => s + k.tasks, 0);
  const outcomes = (name) => kpis.reduce((s, k) => s + (k.by_outcome[name] || 0), 0);
  const closed = tasks - outcomes("open");
  const wasted = sumByCurrency(kpis.flatMap((k) => k.cost_of_failed_and_abandoned));
  const wastedNote = wasted.map((w) => {
    const total = snapshot.totals.find((t) => t.currency === w.currency && t.basis === w.basis);
    return total ? `${share(w.amount, total.amount)} of ${w.currency} ${w.basis} cost` : "";
  }).filter(Boolean).join("; ");
  const unpriced = snapshot.unpriced_events;
  $("cards").replaceChildren(
    card("Total cost", moneyList(snapshot.totals), "one line per currency and basis"),
    card("Tasks", el("span", { class: "big", text: count(tasks) }),
      `${count(outcomes("succeeded"))} succeeded · success rate ${closed ? percent(outcomes("succeeded") / closed) : "—"}`),
    card("Failed and abandoned tasks cost", moneyList(wasted), wastedNote),
    card("Unpriced events", el("span", { class: "big", text: count(unpriced) }),
      unpriced
        ? "no price in effect at their time: counted, never costed as 0 — run `aifinops prices sync`"
        : `all ${count(snapshot.events)} events priced`,
      unpriced ? "warn" : "ok"),
    freshnessCard(snapshot.freshness),
  );
}

function ago(iso) {
  const minutes = Math.round((Date.now() - Date.parse(iso)) / 60000);
  if (minutes < 2) return "just now";
  if (minutes < 120) return `${minutes} min ago`;
  if (minutes < 48 * 60) return `${Math.round(minutes / 60)} h ago`;
  return `${Math.round(minutes / 1440)} days ago`;
}

const when = (iso) => (iso ? `${iso.slice(0, 16).replace("T", " ")} UTC` : "—");
const utc = (iso) => (iso ? new Date(iso).toISOString() : null);

function freshnessCard(rows) {
  const newest = rows.map((r) => r.last_data_ts).filter(Boolean).sort().at(-1);
  const ingest = rows.map((r) => r.last_ingest_at).filter(Boolean).sort().at(-1);
  return card("Newest data", el("span", { class: "big small", text: newest ? when(utc(newest)) : "none yet" }),
    ingest ? `last delivery ${ago(ingest)} · ${rows.length} source${rows.length === 1 ? "" : "s"}`
      : "no source has delivered data", newest ? "" : "warn");
}

export function renderFreshness(rows) {
  fill("fresh-table", table({
    caption: "Data freshness by source",
    columns: ["Source", "Newest data", "Last delivery", "Detail"],
    rows: rows.map((r) => ({ cells: [r.source, when(utc(r.last_data_ts)),
      r.last_ingest_at ? `${when(utc(r.last_ingest_at))} (${ago(r.last_ingest_at)})` : "—", r.detail || ""] })),
  }));
}

// ---- use cases ------------------------------------------------------------------------------------

const COLUMNS = ["Use case", "Cost per successful task", "Success rate", "Tasks", "Failed / abandoned", "Cost",
  "Failed + abandoned cost", "Avg steps / retries", "Avg tokens in / out", "Unpriced events"];

function moneyCell(amounts, kpi) {
  const node = moneyList(amounts);
  node.dataset.kpi = kpi;
  return node;
}

function outcomesText(by) {
  const order = ["succeeded", "failed", "abandoned", "escalated", "open"];
  return order.filter((o) => by[o]).map((o) => `${count(by[o])} ${o}`).join(", ") || "no tasks";
}

function costOrder(k) {
  const cost = onBasis(k.cost);
  return cost.length ? toNanos(cost[0].amount) : -1n;
}

export function renderKpis(kpis) {
  const sorted = [...kpis].sort((a, b) => (costOrder(b) > costOrder(a) ? 1 : costOrder(b) < costOrder(a) ? -1 : 0));
  const rows = sorted.map((k) => ({
    attrs: { "data-use-case": label(k.use_case) },
    cells: [useCaseName(k.use_case, null), moneyCell(k.cost_per_successful_task, "cost_per_successful_task"),
      percent(k.success_rate), el("span", { title: outcomesText(k.by_outcome), text: count(k.tasks) }),
      `${count(k.by_outcome.failed || 0)} / ${count(k.by_outcome.abandoned || 0)}`, moneyCell(k.cost, "cost"),
      moneyCell(k.cost_of_failed_and_abandoned, "cost_of_failed_and_abandoned"),
      `${steps.format(Number(k.avg_steps))} / ${steps.format(Number(k.avg_retries))}`, `${count(k.avg_input_tokens)} / ${count(k.avg_output_tokens)}`,
      count(k.unpriced_events)],
  }));
  const free = kpis.filter((k) => k.tasks && onBasis(k.cost).length
    && onBasis(k.cost).every((m) => toNanos(m.amount) === 0n) && !k.unpriced_events);
  fill("kpi-table", table({ caption: "KPIs by use case", columns: COLUMNS, rows,
    numeric: [1, 2, 3, 4, 5, 6, 7, 8, 9] }),
  free.length ? el("p", { class: "hint", text: `${free.map((k) => label(k.use_case)).join(", ")}: priced at 0 ` +
    "per token — typically provisioned throughput, billed by the hour whether used or not; its cost appears " +
    "on the actual and amortized basis." }) : "");
}

export function renderCostPerTask(kpis, currency, colors, basis = "estimated") {
  const rows = kpis
    .map((k) => {
      const per = onBasis(k.cost_per_successful_task, basis).find((m) => m.currency === currency);
      const lost = onBasis(k.cost_of_failed_and_abandoned, basis).find((m) => m.currency === currency);
      return { k, per, lost };
    })
    .filter((r) => r.per || r.lost)
    .sort((a, b) => toNumber(b.per?.amount ?? "0") - toNumber(a.per?.amount ?? "0"))
    .map(({ k, per, lost }) => ({
      label: label(k.use_case), color: colors.get(label(k.use_case)) ?? OTHER_COLOR,
      left: { value: per ? toNumber(per.amount) : 0, text: per ? `${formatAmount(per.amount)} ${currency}` : "no successful task" },
      right: { value: lost ? toNumber(lost.amount) : 0, text: `${formatAmount(lost?.amount ?? "0")} ${currency}` },
    }));
  const width = Math.max(300, $("cpt-chart").clientWidth);
  const unit = `${currency} · ${basis}`;
  fill("cpt-chart", rows.length ? pairedBars({
    rows, width, label: `Cost per successful task and cost of failed and abandoned tasks by use case, ${unit}`,
    headings: [["Per successful task", unit], ["Failed + abandoned", width < 560 ? unit : `${unit} · month`]],
  }) : el("p", { class: "muted", text: "No tasks in this month." }));
}

// ---- daily cost -----------------------------------------------------------------------------------


function daysOf(startIso, endIso) {
  const days = [];
  const [y, m, d] = startIso.slice(0, 10).split("-").map(Number);
  const end = endIso.slice(0, 10);
  for (let t = Date.UTC(y, m - 1, d); ; t += 86400000) {
    const day = new Date(t).toISOString().slice(0, 10);
    if (day >= end) return days;
    days.push(day);
  }
}

/** Billed cost nobody's task carried: drawn as its own series, never folded into a use case. */
const BUCKET_SERIES = new Map([
  ["idle", ["idle capacity", "#6e7781"]],
  ["purchases", ["commitment purchases", "#1b1f24"]],
  ["unallocated", ["unallocated", "#b8412c"]],
  ["shared", ["shared cost without a use case", "#8a6d00"]],
]);

function seriesName(item, colors) {
  if (item.bucket && item.bucket !== "allocated") return BUCKET_SERIES.get(item.bucket)?.[0] ?? item.bucket;
  if (!item.use_case) return item.bucket ? BUCKET_SERIES.get("shared")[0] : label(item.use_case);
  return colors.has(item.use_case) ? item.use_case : OTHER;
}

export function renderDaily(costs, currency, colors) {
  const basis = costs.basis || "estimated";
  const days = daysOf(costs.start, costs.end);
  const byCase = new Map();
  for (const item of costs.items.filter((i) => i.currency === currency)) {
    const name = seriesName(item, colors);
    if (!byCase.has(name)) byCase.set(name, new Map());
    const day = item.period_start.slice(0, 10);
    byCase.get(name).set(day, (byCase.get(name).get(day) || 0n) + toNanos(item.cost));
  }
  const extra = [...BUCKET_SERIES.values()].map(([n]) => n);
  const colorOf = (n) => colors.get(n) ?? new Map([...BUCKET_SERIES.values()]).get(n) ?? OTHER_COLOR;
  const names = [...colors.keys(), OTHER, ...extra].filter((n) => [...(byCase.get(n)?.values() ?? [])].some((x) => x > 0n));
  const series = names.map((n) => ({
    label: n, color: colorOf(n),
    values: new Map([...byCase.get(n)].map(([d, v]) => [d, Number(v) / 1e9])),
    texts: new Map([...byCase.get(n)].map(([d, v]) => [d, `${formatAmount(fromNanos(v))} ${currency} ${basis}`])),
  }));
  if (!series.length) {
    fill("daily-chart", el("p", { class: "muted", text: `No ${currency} cost in this month.` }));
    fill("daily-legend");
    fill("daily-table");
    return;
  }
  const width = Math.max(300, $("daily-chart").clientWidth);
  fill("daily-chart", stackedBars({ days, series, width, unit: `${currency} · ${basis}`,
    label: `Daily ${basis} cost in ${currency}, stacked by use case` }));
  fill("daily-legend", ...series.map((s) => el("span", { class: "key" }, [
    el("span", { class: `swatch c${PALETTE.indexOf(s.color)}`, "aria-hidden": "true",
      "data-color": s.color }), s.label])));
  fill("daily-table", table({ caption: `Daily ${basis} cost in ${currency} by use case`,
    columns: ["Day", ...names.map((n) => `${n} (${currency}, ${basis})`)],
    numeric: names.map((_, i) => i + 1),
    rows: days.map((d) => ({ cells: [d, ...names.map((n) => formatAmount(fromNanos(byCase.get(n).get(d) || 0n)))] })),
  }));
}


// ---- tokens and top spenders ----------------------------------------------------------------------

export function renderTokens(usage) {
  const rows = [...usage.items]
    .sort((a, b) => b.total_tokens - a.total_tokens)
    .map((u) => ({
      cells: [label(u.use_case), count(u.requests), count(u.input_tokens),
        u.input_tokens ? percent(u.cached_input_tokens / u.input_tokens) : "—", count(u.output_tokens),
        count(u.reasoning_tokens), count(u.retries)],
    }));
  fill("token-table", table({
    caption: "Tokens by use case (basis usage)",
    columns: ["Use case", "Requests", "Input tokens", "Cached share of input", "Output tokens",
      "Reasoning tokens (in output)", "Retries"],
    numeric: [1, 2, 3, 4, 5, 6], rows,
  }));
}

const TOP = [["app", "By app"], ["tenant", "By tenant"], ["model", "By model"]];
/** The dimensions of the top spenders tables (the billed basis asks /api/costs grouped by all of them). */
export const TOP_DIMENSIONS = TOP.map(([dim]) => dim);

/** The five largest allocated amounts per value of `dim` and currency in a month of /api/costs grouped by
 * TOP_DIMENSIONS, as the snapshot ranks its estimated ones (amount descending, then name). Idle capacity,
 * purchases and unallocated cost are no one's spend: they stay out (the bill picture shows them). */
export function topOnBasis(costs, dim) {
  const acc = new Map();
  for (const item of costs.items) {
    if (item.bucket && item.bucket !== "allocated") continue;
    const key = `${item[dim] ?? ""}\u0000${item.currency}`;
    const row = acc.get(key) || { [dim]: item[dim] ?? null, currency: item.currency, nanos: 0n };
    row.nanos += toNanos(item.cost);
    acc.set(key, row);
  }
  return [...acc.values()]
    .sort((a, b) => (a.nanos > b.nanos ? -1 : a.nanos < b.nanos ? 1 : String(a[dim]).localeCompare(String(b[dim]))))
    .slice(0, 5)
    .map(({ nanos, ...row }) => ({ ...row, amount: fromNanos(nanos), basis: costs.basis }));
}

/** Top spenders on `basis`: from `billed` (/api/costs on that basis, over the dimensions `billed.dims` the
 * stored allocation has) when given, else — and for a dimension the allocation is not over — the snapshot's
 * estimate, saying why. */
export function renderTop(snapshot, billed = null, basis = "estimated") {
  fill("top-tables", ...TOP.map(([dim, heading]) => {
    const fromBill = billed && billed.dims.includes(dim);
    const shown = fromBill ? billed.basis : "estimated";
    const totals = new Map(snapshot.totals.filter((t) => t.basis === shown).map((t) => [t.currency, t]));
    const why = basis === "estimated" ? "" : billed ? `: the allocated bill is not split by ${dim}`
      : `: the ${basis} bill of this month is not allocated yet`;
    const note = `basis ${shown}${why}`;
    return el("div", { class: "top", "data-top-basis": shown }, [
    el("h3", { id: `top-${dim}`, text: heading }),
    el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": `top-${dim}` }, [table({
      caption: `Top spenders ${heading.toLowerCase()} (${note})`,
      columns: [dim === "app" ? "App" : dim === "tenant" ? "Tenant" : "Model", "Cost", "Share"],
      numeric: [1, 2],
      rows: (fromBill ? topOnBasis(billed, dim) : snapshot.top[dim] || []).map((row) => {
        const total = totals.get(row.currency);
        return { attrs: { "data-top": dim, "data-value": row[dim] ?? "" }, cells: [label(row[dim]), money(row),
          total ? share(row.amount, total.amount) : "—"] };
      }),
    })]),
    why ? el("p", { class: "hint", text: `Basis ${shown}${why}.` }) : "",
    ]);
  }));
}

/** One colour per use case, the same in every chart, by descending cost; the rest share OTHER_COLOR. */
export function useCaseColors(kpis) {
  const names = [...kpis]
    .sort((a, b) => sumNanos(onBasis(b.cost)) > sumNanos(onBasis(a.cost)) ? 1
      : sumNanos(onBasis(b.cost)) < sumNanos(onBasis(a.cost)) ? -1 : 0)
    .map((k) => label(k.use_case))
    .slice(0, PALETTE.length - 1);
  return new Map(names.map((n, i) => [n, PALETTE[i]]));
}

function sumNanos(amounts) {
  return amounts.reduce((s, m) => s + toNanos(m.amount), 0n);
}
