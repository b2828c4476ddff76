// Fleet status from GET /api/fleet: the queue, workers (alive when seen within three lease renewals), the delivery
// backlog per destination, and the kiosks with the sessions of the last 30 days. Refreshed every 30 seconds.
import { api, startPage, el, showError, formatDate } from './console.js';

const errorBox = document.getElementById('error');

function table(caption, headers, rows) {
  if (rows.length === 0) return el('p', { class: 'muted' }, 'None.');
  return el('table', { class: 'table' },
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, ...rows.map((row) => el('tr', {}, ...row.map((cell, i) =>
      i === 0 ? el('th', { scope: 'row' }, cell) : el('td', {}, cell))))));
}

function badge(text, kind) { return el('span', { class: `badge badge-${kind}` }, text); }

function age(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function render(status) {
  const q = status.queue;
  document.getElementById('queue').replaceChildren(table('Jobs by state', ['State', 'Jobs'], [
    ['Queued', String(q.byState.queued ?? 0)], ['Running', String(q.byState.running ?? 0)],
    ['Dead letters', q.deadLetters > 0 ? badge(String(q.deadLetters), 'bad') : '0'],
    ['Oldest queued job waiting', age(q.oldestQueuedSeconds)],
    ['Batches waiting for a worker', String(status.batchesWaiting)],
  ]));
  document.getElementById('workers').replaceChildren(table('Workers', ['Worker', 'State', 'Last seen', 'Current batch', 'Done', 'Failed'],
    status.workers.map((w) => [w.name,
      w.alive ? badge('alive', 'ok') : (w.stoppedAt ? badge('stopped', 'warn') : badge('silent', 'bad')),
      formatDate(w.lastSeenAt), w.currentBatch ?? '—', String(w.batchesDone), String(w.batchesFailed)])));
  document.getElementById('deliveries').replaceChildren(table('Instances waiting per destination', ['Destination', 'Pending', 'Failed'],
    status.deliveries.map((d) => [d.destination, String(d.pending), d.failed > 0 ? badge(String(d.failed), 'bad') : '0'])));
  document.getElementById('kiosks').replaceChildren(table('Kiosks', ['Kiosk', 'State', 'Last seen', 'Address', 'Sessions (30 days)'],
    status.kiosks.map((k) => [k.name, k.revoked ? badge('revoked', 'bad') : badge('active', 'ok'),
      k.lastSeenAt ? formatDate(k.lastSeenAt) : 'never', k.lastAddress ?? '—', String(k.sessions)])));
  document.getElementById('updated').textContent = `Updated ${formatDate(new Date().toISOString())}.`;
}

async function load() {
  errorBox.hidden = true;
  try {
    render(await api('GET', '/api/fleet'));
  } catch (error) {
    showError(errorBox, error);
  }
}

await startPage({ area: 'fleet', permission: 'viewAnalytics' });
document.getElementById('refresh').addEventListener('click', load);
setInterval(load, 30_000);
load();
