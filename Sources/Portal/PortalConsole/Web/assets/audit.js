// The audit page: search with filters and keyset paging, CSV export of the same filters, the per-patient access
// report, and chain verification. Everything shown comes from /api/audit*, written into the page as text only.
import { api, startPage, el, showError, formatDate } from "/assets/console.js";

const form = document.getElementById("filters");
const results = document.getElementById("results");
const searchError = document.getElementById("search-error");
const more = document.getElementById("more");
const csv = document.getElementById("csv");
let next = null;

function filters() {
  const params = new URLSearchParams();
  for (const name of ["patient", "staff", "kiosk", "from", "to", "type"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

function detailText(detail) {
  return Object.entries(detail || {}).map(([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`).join(", ");
}

function recordsTable(records) {
  return el("table", { class: "table" },
    el("thead", {}, el("tr", {}, ...["#", "When", "Event", "Actor", "Detail"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...records.map((r) => el("tr", {},
      el("td", {}, String(r.seq)), el("td", {}, formatDate(r.at)), el("td", {}, r.eventType),
      el("td", {}, r.actor), el("td", {}, detailText(r.detail))))));
}

async function search(append) {
  searchError.replaceChildren();
  const params = filters();
  csv.href = "/api/audit/export.csv?" + params.toString();
  if (append && next !== null) params.set("after", String(next));
  try {
    const page = await api("GET", "/api/audit?" + params.toString());
    next = page.next ?? null;
    const table = recordsTable(page.records);
    if (append && results.querySelector("tbody")) {
      results.querySelector("tbody").append(...table.querySelector("tbody").children);
    } else {
      results.replaceChildren(page.records.length ? table : el("p", { class: "muted" }, "No records match."));
    }
    more.hidden = next === null;
  } catch (error) {
    showError(searchError, error);
  }
}

async function report() {
  searchError.replaceChildren();
  const patient = form.elements.patient.value.trim();
  const section = document.getElementById("report-section");
  const container = document.getElementById("report");
  if (!/^[0-9]+$/.test(patient)) {
    showError(searchError, { status: 400, code: "bad-request", message: "Enter the patient's portal number first." });
    return;
  }
  try {
    const answer = await api("GET", `/api/audit/patients/${patient}/access`);
    const actors = el("table", { class: "table" },
      el("thead", {}, el("tr", {}, ...["Actor", "Kind", "Records", "First", "Last", "What"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...answer.actors.map((a) => el("tr", {},
        el("td", {}, a.actor), el("td", {}, el("span", { class: "badge" }, a.kind)), el("td", {}, String(a.count)),
        el("td", {}, formatDate(a.first)), el("td", {}, formatDate(a.last)),
        el("td", {}, Object.entries(a.events).map(([type, count]) => `${type} ×${count}`).join(", "))))));
    container.replaceChildren(actors, el("h3", {}, "Records"), recordsTable(answer.records),
      ...(answer.truncated ? [el("p", { class: "muted" }, "More records match than are listed: download the CSV for all of them.")] : []));
    section.hidden = false;
    section.querySelector("h2").focus?.();
  } catch (error) {
    showError(container, error);
    section.hidden = false;
  }
}

async function verify() {
  const container = document.getElementById("verify-result");
  container.replaceChildren(el("p", { class: "muted" }, "Verifying…"));
  try {
    const answer = await api("POST", "/api/audit/verify");
    const badge = answer.result === "intact" ? "badge badge-ok" : "badge badge-bad";
    const kiosks = answer.kiosks.length
      ? el("table", { class: "table" },
          el("thead", {}, el("tr", {}, ...["Kiosk", "Verified", "Unsigned", "Failed", "Latest failure"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, ...answer.kiosks.map((k) => el("tr", {},
            el("td", {}, k.kiosk), el("td", {}, String(k.verified)), el("td", {}, String(k.unsigned)),
            el("td", {}, el("span", { class: k.failed ? "badge badge-bad" : "badge badge-ok" }, String(k.failed))),
            el("td", {}, k.lastProblem || "")))))
      : el("p", { class: "muted" }, "No kiosk has sent a trail segment yet.");
    container.replaceChildren(
      el("p", {}, el("span", { class: badge }, answer.result), " ", answer.message),
      el("p", { class: "muted" }, `${answer.anchors} anchor(s) checked.`),
      el("h3", {}, "Kiosk trail segments"), kiosks);
  } catch (error) {
    showError(container, error);
  }
}

await startPage({ area: "audit", permission: "viewAudit" });
form.addEventListener("submit", (event) => { event.preventDefault(); next = null; search(false); });
form.addEventListener("input", () => { csv.href = "/api/audit/export.csv?" + filters().toString(); });
more.addEventListener("click", () => search(true));
document.getElementById("report-button").addEventListener("click", report);
document.getElementById("verify").addEventListener("click", verify);
document.getElementById("report-heading").tabIndex = -1;
search(false);
