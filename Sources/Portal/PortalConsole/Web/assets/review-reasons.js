// How the review's reasons read, and which badge each gets; shared by the queue and the item page.
export const reasons = {
  'identity-mismatch': { label: 'Another patient', badge: 'badge-bad' },
  'partial-match': { label: 'Partial match', badge: 'badge-warn' },
  'identity-unverified': { label: 'Patient not checked', badge: 'badge-warn' },
  'several-patients': { label: 'Several patients', badge: 'badge-bad' },
  'unreadable-upload': { label: 'Unreadable upload', badge: 'badge-bad' },
  'changed-bytes': { label: 'Changed bytes', badge: 'badge-bad' },
  'unreadable-media': { label: 'Media not fully read', badge: 'badge-warn' },
  'nothing-deliverable': { label: 'Nothing deliverable', badge: 'badge-warn' },
  'delivery-failed': { label: 'PACS refused', badge: 'badge-bad' },
  'rejected-files': { label: 'Files rejected', badge: 'badge-warn' },
};

export function reasonBadge(el, code) {
  const known = reasons[code] || { label: code, badge: 'badge-warn' };
  return el('span', { class: `badge ${known.badge}`, title: code }, known.label);
}

export function patientLine(patient) {
  if (!patient) return '—';
  const parts = [patient.name, patient.patientID, patient.birthDate].filter((part) => part);
  return parts.length ? parts.join(' · ') : '—';
}
