// The patients page: search the registry (with each patient's portal account), register one patient, and import a
// CSV file after checking every row (a dry run whose per-row outcomes are shown before anything is registered).
import { api, startPage, el, showError } from "./console.js";
import { badge, stateBadges } from "./patient-states.js";

const pageSize = 50;
const outcomeWords = {
  valid: ["Will be registered", "badge-ok"],
  registered: ["Registered", "badge-ok"],
  existing: ["Already registered", ""],
  duplicate: ["Repeated in the file", "badge-warn"],
  invalid: ["Refused", "badge-bad"],
};

let offset = 0;
let query = "";
let pendingCSV = null;

async function search() {
  const status = document.getElementById("search-status");
  const errors = document.getElementById("search-error");
  errors.replaceChildren();
  status.textContent = "Searching…";
  try {
    const params = new URLSearchParams({ q: query, offset: String(offset), limit: String(pageSize) });
    const answer = await api("GET", `/api/patients?${params}`);
    const body = document.querySelector("#patients tbody");
    body.replaceChildren(...answer.patients.map((patient) => el("tr", {},
      el("td", {}, el("a", { href: `patient.html?id=${encodeURIComponent(patient.id)}` }, patient.name)),
      el("td", {}, patient.patientID + (patient.issuer ? ` (${patient.issuer})` : "")),
      el("td", {}, patient.birthDate),
      el("td", {}, patient.email || ""),
      el("td", {}, ...stateBadges(patient)))));
    const last = Math.min(offset + answer.patients.length, answer.total);
    status.textContent = answer.total === 0 ? "No patient matches." : `Patients ${offset + 1}–${last} of ${answer.total}.`;
    document.getElementById("previous").disabled = offset === 0;
    document.getElementById("next").disabled = last >= answer.total;
  } catch (error) {
    status.textContent = "";
    showError(errors, error);
  }
}

async function register(event) {
  event.preventDefault();
  const form = event.target;
  const errors = document.getElementById("register-error");
  const status = document.getElementById("register-status");
  errors.replaceChildren();
  status.textContent = "";
  const body = Object.fromEntries(["patientID", "issuer", "name", "birthDate", "sex", "email"].map((key) => [key, form.elements[key].value.trim()]));
  try {
    const answer = await api("POST", "/api/patients", body);
    form.reset();
    status.replaceChildren("Registered ", el("a", { href: `patient.html?id=${encodeURIComponent(answer.patient.id)}` }, answer.patient.name), ".");
    await search();
  } catch (error) {
    showError(errors, error);
  }
}

function showRows(answer) {
  const table = document.getElementById("import-rows");
  table.querySelector("caption").textContent = answer.dryRun ? "What each row would do" : "What each row did";
  table.querySelector("tbody").replaceChildren(...answer.rows.map((row) => el("tr", {},
    el("td", {}, String(row.line)),
    el("td", {}, row.patientID || ""),
    el("td", {}, badge(...(outcomeWords[row.outcome] || [row.outcome, ""]))),
    el("td", {}, row.message || ""))));
  table.hidden = false;
  const c = answer.counts;
  document.getElementById("import-status").textContent = answer.dryRun
    ? `${c.valid} to register, ${c.existing} already registered, ${c.duplicate} repeated, ${c.invalid} refused.`
    : `${c.registered} registered, ${c.existing} already registered, ${c.duplicate} repeated, ${c.invalid} refused.`;
}

async function check(event) {
  event.preventDefault();
  const errors = document.getElementById("import-error");
  const confirm = document.getElementById("import-confirm");
  errors.replaceChildren();
  confirm.hidden = true;
  document.getElementById("import-rows").hidden = true;
  document.getElementById("import-status").textContent = "";
  const file = document.getElementById("import-file").files[0];
  if (!file) return;
  try {
    pendingCSV = await file.text();
    const answer = await api("POST", "/api/patients/import?dryRun=true", { csv: pendingCSV });
    showRows(answer);
    confirm.hidden = answer.counts.valid === 0;
    if (!confirm.hidden) confirm.focus();
  } catch (error) {
    pendingCSV = null;
    showError(errors, error);
  }
}

async function confirmImport() {
  const errors = document.getElementById("import-error");
  const confirm = document.getElementById("import-confirm");
  errors.replaceChildren();
  if (pendingCSV === null) return;
  confirm.disabled = true;
  try {
    const answer = await api("POST", "/api/patients/import", { csv: pendingCSV });
    pendingCSV = null;
    confirm.hidden = true;
    showRows(answer);
    await search();
  } catch (error) {
    showError(errors, error);
  } finally {
    confirm.disabled = false;
  }
}

async function main() {
  const { staff } = await startPage({ area: "patients", permission: "viewPatients" });
  const mayChange = staff.permissions.includes("managePatients");
  document.getElementById("register-card").hidden = !mayChange;
  document.getElementById("import-card").hidden = !mayChange;
  document.getElementById("search").addEventListener("submit", (event) => {
    event.preventDefault();
    query = document.getElementById("search-query").value.trim();
    offset = 0;
    search();
  });
  document.getElementById("previous").addEventListener("click", () => { offset = Math.max(0, offset - pageSize); search(); });
  document.getElementById("next").addEventListener("click", () => { offset += pageSize; search(); });
  if (mayChange) {
    document.getElementById("register").addEventListener("submit", register);
    document.getElementById("import").addEventListener("submit", check);
    document.getElementById("import-confirm").addEventListener("click", confirmImport);
  }
  await search();
}

main();
