// A patient's page: the record, the portal account with the staff actions on it (each confirmed first), the
// invitations, and every upload of the patient with what became of it. Opening the page is audited by the server.
import { api, startPage, el, showError, formatDate } from "./console.js";
import { badge, stateBadges } from "./patient-states.js";

const id = new URLSearchParams(location.search).get("id") || "";

const actions = {
  invite: { path: "invite", ask: "E-mail an invitation to this patient?", done: "The invitation was e-mailed." },
  resend: {
    path: "resend",
    ask: "Send a new invitation? The link in the earlier e-mail stops working.",
    done: "A new invitation was e-mailed; the earlier link no longer works.",
  },
  revoke: { path: "revoke", ask: "Revoke the invitation? Its link stops working.", done: "The invitation was revoked." },
  unlock: {
    path: "unlock",
    ask: "Unlock the account? Do this only after confirming who is asking.",
    done: "Unlock requested: the portal carries it out within a minute.",
  },
  reset: {
    path: "reset-second-factor",
    ask: "Reset the second factor? The patient's passkeys, authenticator app and recovery codes are removed and they are signed out; they must enrol again from a new invitation. Do this only after confirming who is asking.",
    done: "Reset requested: the portal carries it out within a minute. Send a new invitation so the patient can enrol again.",
  },
};

function term(list, name, value) {
  list.append(el("dt", {}, name), el("dd", {}, value === null || value === undefined || value === "" ? "—" : value));
}

function when(iso) {
  return iso ? formatDate(iso) : "—";
}

function number(value) {
  return value === null || value === undefined ? "—" : String(value);
}

function show(answer, mayChange) {
  const patient = answer.patient;
  document.getElementById("title").textContent = patient.name;
  document.title = `${patient.name} · DICOM portal console`;

  const record = document.getElementById("record");
  record.replaceChildren();
  term(record, "Patient ID", patient.patientID);
  term(record, "Issuer", patient.issuer);
  term(record, "Name", patient.name);
  term(record, "Birth date", patient.birthDate);
  term(record, "Sex", patient.sex);
  term(record, "E-mail", patient.email);
  term(record, "Registered", when(patient.createdAt));

  document.getElementById("account-state").replaceChildren(...stateBadges(patient));
  const account = document.getElementById("account");
  account.replaceChildren();
  term(account, "Enrolled", when(patient.enrolledAt));
  term(account, "Known to the portal", patient.onEdge ? "Yes" : "Not yet");
  if (patient.unlockRequestedAt) term(account, "Unlock requested", when(patient.unlockRequestedAt));
  if (patient.resetRequestedAt) term(account, "Second-factor reset requested", when(patient.resetRequestedAt));

  document.getElementById("actions").hidden = !mayChange;
  const live = patient.state === "pending";
  document.getElementById("invite").hidden = live || !patient.email;
  document.getElementById("resend").hidden = !patient.invitation || !patient.email;
  document.getElementById("revoke").hidden = !(patient.invitation && !patient.invitation.revokedAt && (live || patient.state === "expired"));
  document.getElementById("unlock").hidden = !patient.locked;
  document.getElementById("reset").hidden = patient.state !== "enrolled";

  document.querySelector("#invitations tbody").replaceChildren(...(answer.invitations || []).map((invitation) => el("tr", {},
    el("td", {}, String(invitation.id)),
    el("td", {}, when(invitation.createdAt)),
    el("td", {}, when(invitation.sentAt)),
    el("td", {}, when(invitation.pushedAt)),
    el("td", {}, when(invitation.expiresAt)),
    el("td", {}, when(invitation.revokedAt)))));

  const uploads = answer.uploads || [];
  document.getElementById("uploads-empty").hidden = uploads.length > 0;
  document.querySelector("#uploads tbody").replaceChildren(...uploads.map((upload) => el("tr", {},
    el("td", {}, when(upload.createdAt)),
    el("td", {}, upload.source === "kiosk" ? `Kiosk ${upload.kiosk || ""}`.trim() : "Portal"),
    el("td", {}, badge(upload.state, { delivered: "badge-ok", held: "badge-warn", failed: "badge-bad" }[upload.state] || ""),
      ...(upload.problems.length ? [" ", el("span", { class: "muted" }, upload.problems.join("; "))] : [])),
    el("td", {}, number(upload.files)),
    el("td", {}, number(upload.dicom)),
    el("td", {}, number(upload.delivered)),
    el("td", {}, number(upload.rejected)),
    el("td", {}, number(upload.heldStudies)),
    el("td", {}, upload.reviewState ? `${upload.reviewState}${upload.reviewedBy ? ` by ${upload.reviewedBy}` : ""}` : "—"),
    el("td", {}, when(upload.processedAt)))));
}

async function main() {
  const { staff } = await startPage({ area: "patients", permission: "viewPatients" });
  const mayChange = staff.permissions.includes("managePatients");
  const pageError = document.getElementById("page-error");
  try {
    show(await api("GET", `/api/patients/${encodeURIComponent(id)}`), mayChange);
  } catch (error) {
    showError(pageError, error);
    return;
  }
  if (!mayChange) return;
  for (const [button, action] of Object.entries(actions)) {
    document.getElementById(button).addEventListener("click", async (event) => {
      const errors = document.getElementById("action-error");
      const status = document.getElementById("action-status");
      errors.replaceChildren();
      status.textContent = "";
      if (!window.confirm(action.ask)) return;
      event.target.disabled = true;
      try {
        await api("POST", `/api/patients/${encodeURIComponent(id)}/${action.path}`);
        status.textContent = action.done;
        show(await api("GET", `/api/patients/${encodeURIComponent(id)}`), mayChange);
      } catch (error) {
        showError(errors, error);
      } finally {
        event.target.disabled = false;
      }
    });
  }
}

main();
