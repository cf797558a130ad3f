// ShipIt dashboard: live updates of a running run and of a pipeline's steps. The pages work
// without this script; it only saves a reload.
"use strict";

// The colour class of each state word, as ui/layout.rs's state_class gives it.
const CLASSES = {
  good: ["succeeded", "success", "completed", "merged", "applied", "already_applied", "low"],
  bad: ["failed", "failure", "conflict", "error", "high", "cancelled", "blocked"],
  warn: ["running", "in_progress", "starting", "partial", "medium", "undecided", "warning"],
};

function stateClass(state) {
  for (const [name, states] of Object.entries(CLASSES)) {
    if (states.includes(state)) return name;
  }
  return "neutral";
}

function setBadge(container, state) {
  if (!container) return;
  const badge = document.createElement("span");
  badge.className = "badge " + stateClass(state);
  badge.textContent = state;
  container.replaceChildren(badge);
}

async function poll(url, update, every) {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, every));
    let answer;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (!response.ok) continue;
      answer = await response.json();
    } catch (error) {
      continue;
    }
    if (!update(answer)) return;
  }
}

function followRun(facts) {
  const id = facts.dataset.run;
  poll("/runs/" + encodeURIComponent(id), (run) => {
    if (run.status !== "running") {
      window.location.reload();
      return false;
    }
    const message = facts.querySelector('[data-field="message"]');
    if (message && run.message) message.textContent = run.message;
    const progress = facts.querySelector('[data-field="progress"]');
    if (progress && run.done != null && run.total) progress.textContent = run.done + "/" + run.total;
    return true;
  }, 3000);
}

function followPipeline(container) {
  const uid = container.dataset.pipeline;
  poll("/pipelines/" + encodeURIComponent(uid), (pipeline) => {
    for (const step of pipeline.steps) {
      for (const node of container.querySelectorAll("g[data-step]")) {
        if (node.dataset.step !== step.uid) continue;
        node.setAttribute("class", "node " + stateClass(step.state));
        const text = node.querySelector("text.state");
        if (text) text.textContent = step.state;
      }
      for (const row of document.querySelectorAll("tr[data-step-row]")) {
        if (row.dataset.stepRow !== step.uid) continue;
        setBadge(row.querySelector('[data-field="state"]'), step.state);
        const message = row.querySelector('[data-field="message"]');
        if (message) message.textContent = step.message || "";
      }
    }
    setBadge(document.querySelector('[data-field="pipeline-state"]'), pipeline.state);
    return pipeline.state === "pending" || pipeline.state === "running";
  }, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  const run = document.querySelector("dl[data-run]");
  if (run && run.dataset.status === "running") followRun(run);
  const pipeline = document.querySelector("[data-pipeline]");
  if (pipeline) followPipeline(pipeline);
});
