// Failed tasks and one task's steps: the "why" behind a use case's waste.

import { $, count, el, fill, label, moneyList, table } from "./dom.js";

const time = (iso) => (iso ? new Date(iso).toISOString().slice(0, 19).replace("T", " ") : "—");
const minute = (iso) => (iso ? time(iso).slice(0, 16) : "—");

/** Steps as the KPIs count them: the highest step number + 1 when steps are numbered, else first attempts. */
function steps(t) {
  return t.max_step === null || t.max_step === undefined ? t.first_attempts : t.max_step + 1;
}

export function renderFailed(tasks, open) {
  fill("failed-table", table({
    caption: "Latest failed tasks",
    columns: ["Task", "Use case", "Tenant", "Model", "Ended (UTC)", "Steps", "Retries", "Input tokens",
      "Output tokens", "Cost"],
    numeric: [5, 6, 7, 8, 9],
    rows: tasks.items.map((t) => ({
      cells: [
        el("button", { type: "button", class: "link", text: t.task_id, "data-task": t.task_id,
          "data-tenant": t.tenant ?? "", "aria-haspopup": "dialog" }),
        label(t.use_case), label(t.tenant), label(t.model), el("span", { class: "nowrap", text: minute(t.ended_at) }), count(steps(t)),
        count(t.retries), count(t.input_tokens), count(t.output_tokens), moneyList(t.estimated_cost),
      ],
    })),
  }));
  for (const button of $("failed-table").querySelectorAll("button[data-task]")) {
    // A task is its id within its tenant: the tenant goes with the id.
    button.addEventListener("click", () => open(button.dataset.task, button.dataset.tenant));
  }
}

function eventCost(e) {
  if (e.unpriced_reason) return el("span", { class: "warn-text", text: `unpriced: ${e.unpriced_reason}` });
  if (!e.currency) return el("span", { class: "muted", text: "no charge" });
  return moneyList([{ amount: e.cost, currency: e.currency, basis: "estimated" }]);
}

export function renderTask(task) {
  $("task-dialog-title").textContent = `Task ${task.task_id}`;
  const facts = [["Use case", task.use_case], ["App", task.app], ["Tenant", task.tenant], ["Outcome", task.outcome],
    ["Ended (UTC)", time(task.ended_at)], ["Retries", count(task.retries)]];
  fill("task-dialog-body",
    el("dl", { class: "facts" }, facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: label(v) })])),
    el("p", {}, ["Cost of this task: ", moneyList(task.estimated_cost)]),
    el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Task events" }, [table({
      caption: `Events of task ${task.task_id}`,
      columns: ["Time (UTC)", "Step", "Attempt", "Kind", "Status", "Model / tool", "Input", "Cached", "Output",
        "Reasoning", "Latency ms", "Cost"],
      numeric: [1, 2, 6, 7, 8, 9, 10, 11],
      rows: task.events.map((e) => ({
        attrs: e.attempt > 1 ? { class: "retry" } : {},
        cells: [time(e.ts), e.step ?? "—", e.attempt, e.kind, e.status, label(e.model || e.tool_name),
          count(e.input_tokens), count(e.cached_input_tokens), count(e.output_tokens),
          count(e.reasoning_tokens), e.latency_ms ?? "—", eventCost(e)],
      })),
    })]),
  );
}
