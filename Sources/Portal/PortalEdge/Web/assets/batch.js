// The result of one batch: where it is, and once the hospital has checked it, what happened to
// each study, with the receipt code. Refreshes itself until the result is in.
import { t, tn } from './i18n.js';
import { get, isSignedOut } from './api.js';
import { boot, showError, el, $, go, formatBytes, formatDicomDate, formatTimestamp } from './ui.js';

const FINAL = new Set(['delivered', 'held', 'failed']);
const REFRESH_MS = 15000;

function cell(labelKey, content, className) {
  return el('td', { 'data-label': t(labelKey), class: className }, content);
}

function studyRow(study) {
  const notes = el('div');
  if (study.heldBecause) notes.append(el('p', { class: 'flag', text: t('batch.heldBecause', { reason: study.heldBecause }) }));
  for (const note of study.notes || []) notes.append(el('p', { text: note }));
  if (!study.heldBecause && (!study.notes || study.notes.length === 0)) notes.append(t('batch.noNotes'));
  return el('tr', { class: study.heldBecause ? 'flagged' : null },
    cell('batch.col.study', study.description || t('common.noDescription')),
    cell('batch.col.date', formatDicomDate(study.date)),
    cell('batch.col.modality', study.modality || ''),
    cell('batch.col.accepted', String(study.accepted ?? 0), 'number'),
    cell('batch.col.cleaned', String(study.cleaned ?? 0), 'number'),
    cell('batch.col.refused', String(study.refused ?? 0), 'number'),
    cell('batch.col.notes', notes));
}

function render(batch) {
  $('#batch-loading').hidden = true;
  // Only a batch found is worth printing (not the "could not find this upload" page).
  $('#print').hidden = false;
  $('#batch-state').textContent = t(`state.${batch.state}`);
  $('#batch-explain').textContent = t(`state.${batch.state}.explain`);
  const dates = [t('batch.createdAt', { date: formatTimestamp(batch.createdAt) })];
  if (batch.submittedAt) dates.push(t('batch.submittedAt', { date: formatTimestamp(batch.submittedAt) }));
  $('#batch-dates').textContent = dates.join(' ');
  const uploads = batch.uploads || [];
  $('#uploads-box').hidden = uploads.length === 0;
  const bytes = uploads.reduce((sum, upload) => sum + (upload.length || 0), 0);
  $('#uploads-text').textContent = t('batch.uploadsText', { files: tn('common.files', uploads.length), size: formatBytes(bytes) });
  const continueLink = $('#continue-sending');
  continueLink.hidden = batch.state !== 'open';
  continueLink.href = `/upload.html?batch=${encodeURIComponent(batch.id)}`;
  const result = batch.result;
  $('#result').hidden = !result;
  if (!result) return;
  $('#receipt-code').textContent = result.receiptCode || '';
  $('#reached').textContent = t(result.reachedHospital ? 'batch.reached.yes' : 'batch.reached.no');
  $('#result-summary').textContent = result.summary || '';
  $('#result-rows').replaceChildren(...(result.studies || []).map(studyRow));
  const leftOut = result.leftOut || [];
  $('#left-out-box').hidden = leftOut.length === 0;
  $('#left-out').replaceChildren(...leftOut.map((item) => el('li', { text: t('batch.leftOutItem', { name: item.name, why: item.why }) })));
  $('#decided-at').textContent = result.decidedAt ? t('batch.decidedAt', { date: formatTimestamp(result.decidedAt) }) : '';
}

async function refresh(id) {
  try {
    const batch = await get(`/api/batches/${encodeURIComponent(id)}`);
    render(batch);
    // Waiting for the hospital: look again now and then. An open batch waits for the patient instead.
    const waiting = batch.state === 'submitted' || batch.state === 'received' || (FINAL.has(batch.state) && !batch.result);
    if (waiting) setTimeout(() => refresh(id), REFRESH_MS);
  } catch (error) {
    $('#batch-loading').hidden = true;
    if (isSignedOut(error)) go('/');
    else showError($('#page-error'), error);
  }
}

async function main() {
  await boot({ requireSignedIn: true });
  $('#print').addEventListener('click', () => window.print());
  const id = new URLSearchParams(window.location.search).get('id');
  if (!id) {
    $('#batch-loading').hidden = true;
    showError($('#page-error'), t('error.batch.not-found'));
    return;
  }
  refresh(id);
}

main();
