import { api, startPage, el, showError, formatDate } from './console.js';
import { reasonBadge, patientLine } from './review-reasons.js';

const batch = new URLSearchParams(location.search).get('batch') || '';
const status = document.getElementById('status');
const summary = document.getElementById('summary');
const comparison = document.getElementById('comparison');
const findings = document.getElementById('findings');
const decision = document.getElementById('decision');
const form = document.getElementById('decide');
const reassign = document.getElementById('reassign');
const search = document.getElementById('patient-search');
const results = document.getElementById('patient-results');
let chosenPatient = null;
let mayDecide = false;

// Header values are compared as staff would: case and the DICOM padding do not matter, nor "-" in dates.
const normal = (value) => (value || '').toString().trim().toUpperCase().replace(/[\s^]+/g, ' ').replace(/-/g, '');

function field(label, expected, found, comparison) {
  const differs = comparison === 'differs' || comparison === 'missing'
    || (comparison === undefined && expected && found && normal(expected) !== normal(found));
  const cell = el('td', differs ? { class: 'badge-bad' } : {}, found || '—');
  if (differs) cell.append(el('span', { class: 'muted' }, ' (differs)'));
  return el('tr', {}, el('th', { scope: 'row' }, label), el('td', {}, expected || '—'), cell,
    el('td', { class: 'muted' }, comparison ? comparison.replace('-', ' ') : ''));
}

function studyCard(expected, study, index) {
  const header = study.header;
  const table = el('table', { class: 'table' },
    el('caption', {}, `Study ${index + 1}: ${study.description || 'no description'}`),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Field'), el('th', { scope: 'col' }, 'Expected patient'),
      el('th', { scope: 'col' }, 'In the images'), el('th', { scope: 'col' }, 'Check'))),
    el('tbody', {},
      field('Name', expected?.name, header.name, study.fields.name),
      field('Patient ID', expected?.patientID, header.patientID, study.fields.patientID),
      field('Issuer of Patient ID', expected?.issuer, header.issuer, expected?.issuer && header.issuer ? undefined : 'not-compared'),
      field('Birth date', expected?.birthDate, header.birthDate, study.fields.birthDate),
      field('Sex', expected?.sex, header.sex, expected?.sex && header.sex ? undefined : 'not-compared'),
      el('tr', {}, el('th', { scope: 'row' }, 'Study date'), el('td', {}, ''), el('td', {}, study.studyDate || '—'), el('td', {})),
      el('tr', {}, el('th', { scope: 'row' }, 'Modality'), el('td', {}, ''), el('td', {}, study.modalities.join(', ') || '—'), el('td', {})),
      el('tr', {}, el('th', { scope: 'row' }, 'Institution'), el('td', {}, ''), el('td', {}, study.institutions.join(', ') || '—'), el('td', {})),
      el('tr', {}, el('th', { scope: 'row' }, 'Instances'), el('td', {}, ''),
        el('td', {}, `${study.instances} in ${study.series} series`), el('td', {}))));
  const verdict = study.reason ? reasonBadge(el, study.reason) : el('span', { class: 'badge badge-ok' }, 'Matches');
  const score = study.identityScore === undefined || study.identityScore === null ? '' : ` (score ${study.identityScore}/100)`;
  return el('div', { class: 'card' }, el('h3', {}, verdict, ' ', study.modalities.join(', ')),
    el('p', { class: 'muted' }, `${study.identityReasons.join('; ') || 'Not compared'}${score}.`), el('div', { class: 'table-wrap' }, table));
}

function render(detail) {
  const item = detail.item;
  const expected = item.registered || item.desk;
  const origin = item.source === 'kiosk'
    ? `Kiosk ${item.kiosk || ''}${item.kioskOperator ? `, operator ${item.kioskOperator}` : ''}`
    : 'The patient\'s own upload';
  summary.append(
    el('p', {}, ...item.reasons.map((code) => reasonBadge(el, code))),
    el('dl', {},
      el('dt', {}, 'From'), el('dd', {}, origin),
      el('dt', {}, 'Registered patient'), el('dd', {}, patientLine(item.registered)),
      ...(item.desk ? [el('dt', {}, 'Named at the desk'), el('dd', {}, patientLine(item.desk))] : []),
      el('dt', {}, 'Held'), el('dd', {}, formatDate(item.heldAt || item.createdAt)),
      el('dt', {}, 'Files'), el('dd', {}, `${detail.totals.files} (${detail.totals.dicom} DICOM, ${detail.totals.delivered} delivered, ${detail.totals.rejected} rejected)`)),
    ...(detail.problems.length ? [el('ul', {}, ...detail.problems.map((problem) => el('li', {}, problem)))] : []));
  comparison.append(...detail.studies.map((study, index) => studyCard(expected, study, index)));
  if (!detail.studies.length) comparison.append(el('p', { class: 'muted' }, 'No study in this upload could be read.'));
  findings.append(detail.findings.length
    ? el('table', { class: 'table' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Code'), el('th', { scope: 'col' }, 'Severity'), el('th', { scope: 'col' }, 'Count'))),
      el('tbody', {}, ...detail.findings.map((finding) => el('tr', {},
        el('td', {}, finding.code), el('td', {}, finding.severity), el('td', {}, String(finding.count))))))
    : el('p', { class: 'muted' }, 'No findings.'));
  const pending = item.reviewState === null || item.reviewState === undefined || item.reviewState === 'pending';
  // An auditor reads; only a reviewer (or an administrator) decides.
  decision.hidden = !pending || !mayDecide;
  if (!pending) status.textContent = `Decided: ${item.reviewState}.`;
}

function choose(patient, button) {
  chosenPatient = patient;
  for (const other of results.querySelectorAll('button')) other.setAttribute('aria-pressed', 'false');
  button.setAttribute('aria-pressed', 'true');
}

let searching = 0;
search.addEventListener('input', async () => {
  const query = search.value.trim();
  const mine = ++searching;
  if (query.length < 2) { results.replaceChildren(); return; }
  try {
    const { patients } = await api('GET', `/api/patients?q=${encodeURIComponent(query)}`);
    if (mine !== searching) return;
    results.replaceChildren(...patients.slice(0, 20).map((patient) => {
      const button = el('button', { type: 'button', class: 'button', 'aria-pressed': 'false' }, patientLine(patient));
      button.addEventListener('click', () => choose(patient, button));
      return button;
    }));
    if (!patients.length) results.replaceChildren(el('p', { class: 'muted' }, 'No registered patient matches.'));
  } catch (error) {
    showError(results, error);
  }
});

form.addEventListener('change', () => {
  reassign.hidden = form.elements.decision.value !== 'reassign';
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const choice = form.elements.decision.value;
  const reason = form.elements.reason.value.trim();
  if (!choice) { showError(status, { message: 'Choose a decision.' }); return; }
  if (!reason) { showError(status, { message: 'Give a reason: it is kept in the audit trail.' }); return; }
  const body = { reason };
  if (choice === 'reassign') {
    if (!chosenPatient) { showError(status, { message: 'Pick the patient to reassign the upload to.' }); return; }
    body.patient = chosenPatient.id;
  }
  try {
    const result = await api('POST', `/api/review/${encodeURIComponent(batch)}/${choice}`, body);
    decision.hidden = true;
    status.textContent = `Recorded: ${result.reviewState}. `;
    status.append(el('a', { href: '/review.html' }, 'Back to the queue'));
  } catch (error) {
    showError(status, error);
  }
});

const { staff } = await startPage({ area: 'review', permission: 'viewReview' });
mayDecide = staff.permissions.includes('review');
try {
  render(await api('GET', `/api/review/${encodeURIComponent(batch)}`));
} catch (error) {
  showError(status, error);
}
