import { api, startPage, el, showError, formatDate } from './console.js';
import { reasons, reasonBadge, patientLine } from './review-reasons.js';

const status = document.getElementById('status');
const container = document.getElementById('queue');
const form = document.getElementById('filters');
const source = document.getElementById('filter-source');
const reason = document.getElementById('filter-reason');

for (const [code, known] of Object.entries(reasons)) reason.append(el('option', { value: code }, known.label));

function fromWhere(item) {
  if (item.source === 'kiosk') {
    const desk = [item.kiosk, item.kioskOperator && `operator ${item.kioskOperator}`].filter((part) => part).join(', ');
    return `Kiosk ${desk}`;
  }
  return 'Patient upload';
}

function row(item) {
  const link = el('a', { href: `/review-item.html?batch=${encodeURIComponent(item.batch)}` }, formatDate(item.heldAt || item.createdAt));
  return el('tr', {},
    el('td', {}, link),
    el('td', {}, fromWhere(item)),
    el('td', {}, patientLine(item.registered || item.desk)),
    el('td', {}, ...item.reasons.map((code) => reasonBadge(el, code))),
    el('td', {}, String(item.studies)),
    el('td', {}, String(item.instances)));
}

async function load() {
  const query = new URLSearchParams();
  if (source.value) query.set('source', source.value);
  if (reason.value) query.set('reason', reason.value);
  status.textContent = 'Loading…';
  container.replaceChildren();
  try {
    const { items } = await api('GET', `/api/review${query.size ? `?${query}` : ''}`);
    status.textContent = items.length === 1 ? '1 upload waits for review.' : `${items.length} uploads wait for review.`;
    if (!items.length) return;
    container.append(el('table', { class: 'table' },
      el('caption', {}, 'Held uploads, oldest first'),
      el('thead', {}, el('tr', {},
        el('th', { scope: 'col' }, 'Held'), el('th', { scope: 'col' }, 'From'), el('th', { scope: 'col' }, 'Expected patient'),
        el('th', { scope: 'col' }, 'Why'), el('th', { scope: 'col' }, 'Studies'), el('th', { scope: 'col' }, 'Instances'))),
      el('tbody', {}, ...items.map(row))));
  } catch (error) {
    status.textContent = '';
    showError(container, error);
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  load();
});

await startPage({ area: 'review', permission: 'viewReview' });
load();
