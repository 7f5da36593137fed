// Inline SVG charts: stacked daily bars and paired horizontal bars. Geometry only; the caller passes the
// text to show, already formatted, so no amount is ever rounded here.

const SVG = "http://www.w3.org/2000/svg";

/** Colour-blind-safe series colours: Okabe–Ito hues darkened to at least 3:1 against white (WCAG 1.4.11). */
export const PALETTE = ["#0072b2", "#b07800", "#00875f", "#b4589a", "#2f8fcf", "#c25400", "#7a6a00", "#5b5b5b"];

export function svg(tag, attrs = {}, children = []) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

function text(x, y, content, attrs = {}) {
  const el = svg("text", { x, y, ...attrs });
  el.textContent = content;
  return el;
}

function titled(el, label) {
  const t = svg("title");
  t.textContent = label;
  el.append(t);
  return el;
}

/** Round numbers for an axis: 0 and about `count` steps up to at least `max`. */
export function niceTicks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function tickLabel(v) {
  return v >= 1000 ? `${v / 1000}k` : String(v);
}

function chartRoot(width, height, label) {
  return svg("svg", {
    viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": label, class: "svg-chart",
  });
}

/**
 * Stacked bars per day. `days` are "YYYY-MM-DD"; each series {label, color, values: Map(day → number),
 * texts: Map(day → shown amount)}; `unit` names currency and basis for the axis.
 */
export function stackedBars({ days, series, width, unit, label }) {
  const height = 280;
  const pad = { left: 52, right: 8, top: 30, bottom: 30 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const totals = days.map((d) => series.reduce((s, x) => s + (x.values.get(d) || 0), 0));
  const ticks = niceTicks(Math.max(...totals, 0));
  const top = ticks[ticks.length - 1];
  const y = (v) => pad.top + plotH - (v / top) * plotH;
  const root = chartRoot(width, height, label);
  for (const t of ticks) {
    root.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(t), y2: y(t), class: "grid" }));
    root.append(text(pad.left - 6, y(t) + 4, tickLabel(t), { "text-anchor": "end", class: "axis" }));
  }
  root.append(text(pad.left, 12, unit, { class: "axis unit" }));
  const slot = plotW / Math.max(days.length, 1);
  const barW = Math.max(2, Math.min(22, slot * 0.72));
  const labelEvery = Math.ceil(days.length / Math.max(1, Math.floor(plotW / 34)));
  days.forEach((day, i) => {
    const x = pad.left + i * slot + (slot - barW) / 2;
    let base = 0;
    for (const s of series) {
      const v = s.values.get(day) || 0;
      if (v <= 0) continue;
      const rect = svg("rect", {
        x, y: y(base + v), width: barW, height: Math.max(0.5, y(base) - y(base + v)), fill: s.color,
        class: "bar", "data-day": day, "data-series": s.label,
      });
      root.append(titled(rect, `${day} · ${s.label}: ${s.texts.get(day)}`));
      base += v;
    }
    if (i % labelEvery === 0) {
      root.append(text(x + barW / 2, height - pad.bottom + 16, String(Number(day.slice(8))),
        { "text-anchor": "middle", class: "axis" }));
    }
  });
  root.append(svg("line", {
    x1: pad.left, x2: width - pad.right, y1: y(0), y2: y(0), class: "baseline",
  }));
  return root;
}

function barPanel(root, { x, width, rowY, barH, value, max, color, shown }) {
  const w = max > 0 ? (value / max) * (width - 110) : 0;
  const rect = svg("rect", { x, y: rowY, width: Math.max(w, value > 0 ? 1.5 : 0), height: barH, rx: 2, fill: color });
  root.append(titled(rect, shown));
  root.append(text(x + w + 6, rowY + barH / 2 + 4, shown, { class: "value" }));
}

/**
 * Two bar panels side by side sharing one row per item: rows are {label, left: {value, text},
 * right: {value, text}, color}; headings name each panel (with currency and basis).
 */
export function pairedBars({ rows, width, headings, label }) {
  const narrow = width < 560;
  // Wide enough for the longest name at 13 px bold (about 7.8 px a character), never a third of the chart.
  const longest = Math.max(...rows.map((r) => r.label.length), 4);
  const labelW = narrow ? 0 : Math.min(width / 3, longest * 7.8 + 14);
  const rowH = narrow ? 58 : 38;
  const head = 34;
  const height = head + rows.length * rowH + 6;
  const gap = 18;
  const panelW = (width - labelW - gap) / 2;
  const leftX = labelW;
  const rightX = labelW + panelW + gap;
  const maxL = Math.max(...rows.map((r) => r.left.value), 0);
  const maxR = Math.max(...rows.map((r) => r.right.value), 0);
  const root = chartRoot(width, height, label);
  root.append(text(leftX, 14, headings[0][0], { class: "panel-head" }));
  root.append(text(leftX, 28, headings[0][1], { class: "axis unit" }));
  root.append(text(rightX, 14, headings[1][0], { class: "panel-head" }));
  root.append(text(rightX, 28, headings[1][1], { class: "axis unit" }));
  root.append(svg("line", { x1: rightX - gap / 2, x2: rightX - gap / 2, y1: 4, y2: height - 4, class: "grid" }));
  rows.forEach((r, i) => {
    const top = head + i * rowH;
    const barY = narrow ? top + 24 : top + 8;
    const name = text(narrow ? 0 : labelW - 10, narrow ? top + 16 : top + 24, r.label,
      { "text-anchor": narrow ? "start" : "end", class: "row-label" });
    root.append(name);
    barPanel(root, { x: leftX, width: panelW, rowY: barY, barH: 20, value: r.left.value, max: maxL,
      color: r.color, shown: r.left.text });
    barPanel(root, { x: rightX, width: panelW, rowY: barY, barH: 20, value: r.right.value, max: maxR,
      color: "#b8412c", shown: r.right.text });
  });
  return root;
}
