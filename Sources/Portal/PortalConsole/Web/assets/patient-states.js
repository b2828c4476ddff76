// How the patients pages word a portal account's state and a row's outcome, shared by patients.js and patient.js.
import { el, formatDate } from "./console.js";

const stateWords = {
  none: ["Not invited", ""],
  pending: ["Invited", ""],
  expired: ["Invitation expired", "badge-warn"],
  revoked: ["Invitation revoked", "badge-warn"],
  enrolled: ["Enrolled", "badge-ok"],
  reset: ["Second factor reset: invite again", "badge-warn"],
};

export function badge(words, style) {
  return el("span", { class: style ? `badge ${style}` : "badge" }, words);
}

export function stateBadges(patient) {
  const [words, style] = stateWords[patient.state] || [patient.state, ""];
  const parts = [badge(words, style)];
  if (patient.state === "pending" && patient.invitation) parts.push(" ", el("span", { class: "muted" }, `until ${formatDate(patient.invitation.expiresAt)}`));
  if (patient.locked) parts.push(" ", badge("Locked", "badge-bad"));
  return parts;
}
