// Small DOM builders for the dashboard: elements, amounts with their basis, accessible tables.

import { formatAmount } from "./money.js";

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

/** One amount: rounded for reading, exact in its tooltip and data attributes, basis beside it. */
export function money(m) {
  return el("span", { class: "amount" }, [
    el("span", {
      class: "money", text: `${formatAmount(m.amount)} ${m.currency}`, title: `${m.amount} ${m.currency}`,
      dataset: { amount: m.amount, currency: m.currency, basis: m.basis },
    }),
    el("span", { class: `basis basis-${m.basis}`, text: m.basis }),
  ]);
}

export function moneyList(amounts) {
  if (!amounts.length) return el("span", { class: "muted", text: "—" });
  return el("span", { class: "money-list" }, amounts.map(money));
}

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
export const count = (n) => integer.format(Number(n));
export const percent = (ratio) => (ratio === null ? "—" : `${decimal.format(Number(ratio) * 100)} %`);

/** A table with a caption, column headers and a row header in the first column. */
export function table({ caption, columns, rows, numeric = [] }) {
  const head = el("tr", {}, columns.map((c, i) =>
    el("th", { scope: "col", class: numeric.includes(i) ? "num" : "", text: c })));
  const body = rows.map((r) => el("tr", r.attrs || {}, r.cells.map((c, i) => {
    const cell = el(i === 0 ? "th" : "td", i === 0 ? { scope: "row" } : {});
    if (numeric.includes(i)) cell.classList.add("num");
    cell.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return cell;
  })));
  return el("table", {}, [
    caption ? el("caption", { class: "visually-hidden", text: caption }) : null,
    el("thead", {}, [head]),
    el("tbody", {}, body.length ? body : [el("tr", {}, [el("td", {
      colspan: String(columns.length), class: "muted", text: "No data for this month.",
    })])]),
  ]);
}

export function fill(id, ...nodes) {
  $(id).replaceChildren(...nodes);
}

export const label = (v) => (v === null || v === undefined || v === "" ? "(none)" : v);

