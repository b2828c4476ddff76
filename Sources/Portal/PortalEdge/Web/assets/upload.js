// The upload app: pick a disc (folder, files, ZIP or drag and drop), read each file's header, show
// the studies found, then — after a fresh second factor — send the ticked ones with tus and submit.
import { t, tn, formatNumber } from './i18n.js';
import { get, post, getSession, csrfToken, isSignedOut, ApiError } from './api.js';
import { boot, showStep, showError, clearError, setBusy, go, el, $, announce, formatBytes, formatDicomDate, formatDuration } from './ui.js';
import { classifyFile } from './classify.js';
import { readZip, ZipError } from './zip.js';
import { fromInput, entriesFromDrop, walkEntries, MAX_ENTRIES } from './files.js';
import { groupStudies, readableName } from './studies.js';
import { TusUploader } from './tus.js';
import { getPasskey, passkeyCeremony, passkeysAvailable } from './webauthn.js';

const READ_CONCURRENCY = 8;
const UI_INTERVAL_MS = 250;
// A step-up must still be valid when the last chunk is sent and submit is called; uploads longer
// than this margin ask again at submit.
const STEP_UP_MARGIN_MS = 30000;

const state = {
  session: null,
  batchId: null,
  studies: [],
  dicomdirs: [],
  leftOut: [],
  ticked: new Set(),
  uploader: null,
};

function throttle(fn) {
  let last = 0;
  return (force, ...args) => {
    const now = performance.now();
    if (force || now - last >= UI_INTERVAL_MS) {
      last = now;
      fn(...args);
    }
  };
}

// ZIPs are opened here (one level: a ZIP inside a ZIP is left out).
async function expandZip(item, leftOut, sessionLimits) {
  try {
    const limits = sessionLimits ? { maxTotalBytes: sessionLimits.maxBytes, maxEntries: Math.min(MAX_ENTRIES, sessionLimits.maxFiles || MAX_ENTRIES) } : {};
    const { entries, leftOut: skipped } = await readZip(item.file, item.path, limits);
    leftOut.push(...skipped.map((entry) => ({ path: entry.name, reason: entry.reason })));
    return entries.map((entry) => ({ path: entry.name, file: entry.file, fromZip: true }));
  } catch (error) {
    if (!(error instanceof ZipError)) throw error;
    leftOut.push({ path: item.path, reason: `zip.${error.code}` });
    return [];
  }
}

async function ingest(list, truncated) {
  clearError($('#page-error'));
  showStep('step-reading');
  const images = [];
  const dicomdirs = [];
  const leftOut = [];
  const queue = list.slice();
  let total = queue.length;
  let done = 0;
  const progress = throttle(() => {
    $('#reading-progress').max = Math.max(1, total);
    $('#reading-progress').value = done;
    $('#reading-text').textContent = t('upload.reading.progress', { done: formatNumber(done), total: formatNumber(total) });
  });
  progress(true);
  const worker = async () => {
    while (queue.length > 0) {
      const item = queue.shift();
      const entry = await classifyFile(item.file, item.path);
      if (entry.kind === 'zip') {
        if (item.fromZip) leftOut.push({ path: item.path, reason: 'nested-archive' });
        else {
          const inner = await expandZip(item, leftOut, state.session.limits);
          queue.push(...inner);
          total += inner.length;
        }
      } else if (entry.kind === 'image') images.push(entry);
      else if (entry.kind === 'dicomdir') dicomdirs.push(entry);
      else leftOut.push({ path: entry.path, reason: entry.reason });
      done += 1;
      progress(false);
    }
  };
  await Promise.all(Array.from({ length: READ_CONCURRENCY }, worker));
  progress(true);
  state.dicomdirs = dicomdirs;
  state.leftOut = leftOut;
  state.studies = groupStudies(images, state.session.patient);
  state.ticked = new Set(state.studies.filter((study) => study.patientMatches).map((study) => study.key));
  renderReview(truncated);
}

function flagText(study) {
  const parts = [];
  for (const name of study.otherNames) parts.push(t('upload.flag.name', { name: readableName(name) || name }));
  for (const date of study.otherDates) parts.push(t('upload.flag.birthDate', { date: formatDicomDate(date) }));
  return t('upload.flag.someoneElse', { details: parts.join(', ') });
}

function studyRow(study, index) {
  const description = study.unreadable ? t('upload.study.unreadable') : (study.description || t('common.noDescription'));
  const checkboxId = `study-${index}`;
  const checkbox = el('input', { type: 'checkbox', id: checkboxId, checked: state.ticked.has(study.key) });
  checkbox.addEventListener('change', () => {
    if (checkbox.checked) state.ticked.add(study.key);
    else state.ticked.delete(study.key);
    updateSummary();
  });
  const label = el('label', { for: checkboxId, class: 'visually-hidden', text: t('upload.study.sendLabel', { description, date: formatDicomDate(study.date) }) });
  const details = el('div', {}, el('strong', { text: description }));
  const who = [];
  if (study.names.size > 0) who.push(t('upload.study.name', { name: [...study.names].map((name) => readableName(name) || name).join(', ') }));
  if (study.birthDates.size > 0) who.push(t('upload.study.born', { date: [...study.birthDates].map(formatDicomDate).join(', ') }));
  if (who.length > 0) details.append(el('p', { class: 'hint', text: who.join(' ') }));
  if (!study.patientMatches) details.append(el('p', { class: 'flag', text: flagText(study) }));
  if (study.unreadable) details.append(el('p', { class: 'hint', text: t('upload.study.unreadableHint') }));
  const series = study.series.filter((item) => item.uid);
  if (series.length > 0) {
    details.append(el('ul', { class: 'series-list' }, series.map((item) => el('li', {
      text: t('upload.series', { description: item.description || t('common.noDescription'), modality: item.modality || '', images: tn('common.images', item.images) }),
    }))));
  }
  return el('tr', { class: study.patientMatches ? null : 'flagged' },
    el('td', { class: 'study-check', 'data-label': t('upload.col.send') }, checkbox, label),
    el('td', {}, details),
    el('td', { 'data-label': t('upload.col.date') , text: formatDicomDate(study.date) }),
    el('td', { 'data-label': t('upload.col.modality'), text: study.modalities.join(', ') }),
    el('td', { class: 'number', 'data-label': t('upload.col.images'), text: formatNumber(study.images) }),
    el('td', { class: 'number', 'data-label': t('upload.col.size'), text: formatBytes(study.bytes) }));
}

function selectedFiles() {
  const files = [];
  for (const study of state.studies) if (state.ticked.has(study.key)) files.push(...study.files);
  if (files.length > 0) files.push(...state.dicomdirs);
  return files;
}

function updateSummary() {
  const files = selectedFiles();
  const images = state.studies.filter((study) => state.ticked.has(study.key)).reduce((sum, study) => sum + study.images, 0);
  const bytes = files.reduce((sum, file) => sum + file.size, 0);
  $('#review-summary').textContent = t('upload.review.summary', {
    studies: tn('common.studies', state.studies.length),
    chosen: tn('upload.review.chosen', state.ticked.size),
    images: tn('common.images', images),
    size: formatBytes(bytes),
  });
}

function renderReview(truncated) {
  $('#review-truncated').hidden = !truncated;
  $('#review-none').hidden = state.studies.length > 0;
  $('#study-rows').replaceChildren(...state.studies.map(studyRow));
  const box = $('#left-out-box');
  box.hidden = state.leftOut.length === 0;
  $('#left-out-summary').textContent = tn('upload.leftOut.summary', state.leftOut.length);
  $('#left-out').replaceChildren(...state.leftOut.map((item) => el('li', {},
    el('span', { text: item.path }), ' — ', el('span', { text: t(`leftout.${item.reason}`) }))));
  $('#consent-label').textContent = t('upload.consent', { hospital: state.session.hospital || t('common.hospital') });
  $('#send').disabled = state.studies.length === 0;
  updateSummary();
  showStep('step-review');
}

// The second factor again before sending. Resolves once the edge has confirmed it.
let stepUpWaiter = null;
function stepUp() {
  const methods = state.session.methods;
  $('#stepup-totp-form').hidden = Array.isArray(methods) && !methods.includes('totp');
  $('#stepup-passkey').hidden = !passkeysAvailable() || (Array.isArray(methods) && !methods.includes('passkey'));
  $('#stepup-code').value = '';
  clearError($('#stepup-error'));
  showStep('step-stepup');
  return new Promise((resolve, reject) => {
    stepUpWaiter = { resolve, reject };
  });
}

function steppedUp(body) {
  state.session.stepUpValidUntil = body.stepUpValidUntil;
  const waiter = stepUpWaiter;
  stepUpWaiter = null;
  if (waiter) waiter.resolve();
}

function stepUpStillValid() {
  const until = Date.parse(state.session.stepUpValidUntil || '');
  return Number.isFinite(until) && until > Date.now() + STEP_UP_MARGIN_MS;
}

function summary() {
  return {
    studies: state.studies.filter((study) => state.ticked.has(study.key)).map((study) => ({
      studyInstanceUID: study.uid,
      description: study.description,
      date: study.date,
      modality: study.modalities.join('\\'),
      images: study.images,
      patientMatches: study.patientMatches,
    })),
  };
}

function showSendProgress({ sent, total, filesDone, filesTotal, bytesPerSecond }) {
  const bar = $('#send-progress');
  bar.max = Math.max(1, total);
  bar.value = sent;
  const percent = total > 0 ? Math.floor((sent / total) * 100) : 100;
  const text = t('upload.sending.progress', { percent: formatNumber(percent), sent: formatBytes(sent), total: formatBytes(total), files: formatNumber(filesDone), filesTotal: formatNumber(filesTotal) });
  $('#send-text').textContent = text;
  $('#send-time').textContent = bytesPerSecond > 0 ? formatDuration((total - sent) / bytesPerSecond) : t('upload.timeLeft.unknown');
  $('#send-retry').hidden = true;
}

const announceProgress = throttle((text) => {
  $('#send-live').textContent = text;
});

async function sendAll() {
  const region = $('#send-error');
  clearError(region);
  $('#retry').hidden = true;
  $('#pause').hidden = false;
  $('#resume').hidden = true;
  showStep('step-sending');
  const limits = state.session.limits || {};
  try {
    if (!state.batchId) {
      // Named after what it holds, so the patient's list of uploads tells them apart.
      const names = state.studies.filter((study) => state.ticked.has(study.key) && !study.unreadable)
        .map((study) => study.description || study.modality || '').filter((name) => name);
      const batch = await post('/api/batches', names.length ? { label: names.join(', ').slice(0, 200) } : {});
      state.batchId = batch.id;
      // A reload of this page continues this batch.
      history.replaceState(null, '', `/upload.html?batch=${encodeURIComponent(batch.id)}`);
    }
    const items = selectedFiles().map((entry) => ({ path: entry.path, file: entry.file }));
    state.uploader = new TusUploader({
      batchId: state.batchId,
      chunkSize: limits.chunkSize,
      csrf: csrfToken,
      concurrency: 3,
      onProgress: (progress) => {
        showSendProgress(progress);
        const percent = progress.total > 0 ? Math.floor((progress.sent / progress.total) * 100) : 100;
        // Screen readers hear every tenth percent, not every chunk.
        announceProgress(false, t('upload.sending.announce', { percent: formatNumber(percent - (percent % 10)) }));
      },
      onRetry: (attempt, seconds) => {
        const notice = $('#send-retry');
        notice.textContent = t('upload.sending.retrying', { seconds: formatNumber(seconds) });
        notice.hidden = false;
      },
    });
    await state.uploader.uploadAll(items);
    $('#pause').hidden = true;
    announce(t('upload.sending.submitting'));
    await submit();
  } catch (error) {
    $('#pause').hidden = true;
    $('#resume').hidden = true;
    if (isSignedOut(error) || (error && error.code === 'signed-out')) {
      go('/');
      return;
    }
    if (error && error.code === 'step-up.cancelled') {
      showStep('step-review');
      return;
    }
    showError(region, sendErrorText(error));
    $('#retry').hidden = false;
    $('#retry').focus();
  }
}

function sendErrorText(error) {
  // The disc was taken out or a file vanished while it was being read.
  if (error && (error.name === 'NotReadableError' || error.name === 'NotFoundError')) return t('upload.sending.unreadable');
  if (error && error.code === 'network') return t('error.network');
  return error;
}

async function submit() {
  const body = { consent: true, summary: summary() };
  const path = `/api/batches/${encodeURIComponent(state.batchId)}/submit`;
  try {
    await post(path, body);
  } catch (error) {
    if (!(error instanceof ApiError && error.code === 'step-up.required')) throw error;
    await stepUp();
    showStep('step-sending');
    await post(path, body);
  }
  if (state.uploader) state.uploader.forgetAll();
  go(`/batch.html?id=${encodeURIComponent(state.batchId)}`);
}

function checkLimits(files) {
  const limits = state.session.limits;
  if (!limits) return null;
  const bytes = files.reduce((sum, file) => sum + file.size, 0);
  if (limits.maxFiles && files.length > limits.maxFiles) return t('error.quota.files');
  if (limits.maxBytes && bytes > limits.maxBytes) return t('error.quota.bytes');
  return null;
}

function wirePickers() {
  const pickers = [['#pick-folder', '#input-folder'], ['#pick-files', '#input-files'], ['#pick-zip', '#input-zip']];
  for (const [button, input] of pickers) {
    $(button).addEventListener('click', () => $(input).click());
    $(input).addEventListener('change', (event) => {
      const list = fromInput(event.target.files);
      event.target.value = '';
      if (list.length === 0) return;
      const truncated = list.length > MAX_ENTRIES;
      ingest(truncated ? list.slice(0, MAX_ENTRIES) : list, truncated).catch(fatal);
    });
  }
  const zone = $('#drop-zone');
  // Dropping a file anywhere else must not make the browser open it in place of the page.
  for (const type of ['dragover', 'drop']) document.addEventListener(type, (event) => event.preventDefault());
  zone.addEventListener('dragenter', () => zone.classList.add('active'));
  zone.addEventListener('dragleave', () => zone.classList.remove('active'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('active');
    const { entries, loose } = entriesFromDrop(event.dataTransfer);
    walkEntries(entries).then(({ files, truncated }) => ingest([...loose, ...files], truncated)).catch(fatal);
  });
}

function wireReview() {
  $('#pick-again').addEventListener('click', () => showStep('step-pick'));
  $('#review-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const region = $('#review-error');
    clearError(region);
    const files = selectedFiles();
    if (state.ticked.size === 0 || files.length === 0) {
      showError(region, t('upload.review.noneChosen'));
      return;
    }
    if (!$('#consent').checked) {
      showError(region, t('error.consent.required'));
      $('#consent').focus();
      return;
    }
    const over = checkLimits(files);
    if (over) {
      showError(region, over);
      return;
    }
    setBusy($('#send'), true);
    try {
      state.session = await getSession();
      if (state.session.state !== 'signed-in') return go('/');
      if (!stepUpStillValid()) await stepUp();
      await sendAll();
    } catch (error) {
      if (error && error.code === 'step-up.cancelled') showStep('step-review');
      else showError(region, error);
    } finally {
      setBusy($('#send'), false);
    }
  });
}

function wireStepUp() {
  $('#stepup-totp-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const region = $('#stepup-error');
    clearError(region);
    const code = $('#stepup-code').value.replace(/\s+/g, '');
    if (!/^\d{6}$/.test(code)) {
      showError(region, t('signin.totp.invalid'));
      $('#stepup-code').focus();
      return;
    }
    setBusy($('#stepup-submit'), true);
    try {
      steppedUp(await post('/api/step-up/totp', { code }));
    } catch (error) {
      if (isSignedOut(error)) go('/');
      else showError(region, error);
    } finally {
      setBusy($('#stepup-submit'), false);
    }
  });
  $('#stepup-passkey-button').addEventListener('click', async () => {
    const region = $('#stepup-error');
    clearError(region);
    setBusy($('#stepup-passkey-button'), true);
    try {
      steppedUp(await passkeyCeremony(post, '/api/step-up/passkey', getPasskey));
    } catch (error) {
      if (isSignedOut(error)) go('/');
      else showError(region, error);
    } finally {
      setBusy($('#stepup-passkey-button'), false);
    }
  });
  $('#stepup-cancel').addEventListener('click', () => {
    const waiter = stepUpWaiter;
    stepUpWaiter = null;
    if (waiter) waiter.reject({ code: 'step-up.cancelled' });
    else showStep('step-review');
  });
}

function wireSending() {
  $('#pause').addEventListener('click', () => {
    if (!state.uploader) return;
    state.uploader.pause();
    $('#pause').hidden = true;
    $('#resume').hidden = false;
    $('#resume').focus();
    announce(t('upload.paused'));
  });
  $('#resume').addEventListener('click', () => {
    if (!state.uploader) return;
    state.uploader.resume();
    $('#resume').hidden = true;
    $('#pause').hidden = false;
    $('#pause').focus();
    announce(t('upload.resumed'));
  });
  $('#retry').addEventListener('click', () => sendAll());
}

function fatal(error) {
  showStep('step-pick');
  showError($('#pick-error'), error instanceof Error && !(error instanceof ApiError) ? t('error.unknown') : error);
}

async function main() {
  wirePickers();
  wireReview();
  wireStepUp();
  wireSending();
  state.session = await boot({ requireSignedIn: true });
  const resumeId = new URLSearchParams(window.location.search).get('batch');
  if (resumeId) {
    try {
      const batch = await get(`/api/batches/${encodeURIComponent(resumeId)}`);
      if (batch.state !== 'open') return go(`/batch.html?id=${encodeURIComponent(resumeId)}`);
      state.batchId = batch.id;
      $('#resume-notice').hidden = false;
    } catch (error) {
      if (isSignedOut(error)) return go('/');
      showError($('#page-error'), error);
    }
  }
  showStep('step-pick');
}

main();
