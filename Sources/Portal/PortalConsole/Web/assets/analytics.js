// Scan analytics: filters kept in the address (a view can be shared), totals, server-drawn SVG charts, tables and
// CSV downloads. Every number comes from GET /api/analytics; the charts are images the server draws.
import { api, startPage, el, showError, formatBytes } from './console.js';

const FIELDS = ['from', 'to', 'facility', 'kiosk', 'source'];
const CHARTS = [
  ['sessions', 'Sessions per day'], ['instances', 'Instances per day'], ['throughput', 'Throughput per day (MB/s)'],
  ['verdicts', 'Instances by verdict'], ['families', 'Findings by family'], ['codes', 'Findings by code'],
  ['malware', 'Malware by signature'], ['facilities', 'Sessions by sending facility'],
];
const EXPORTS = [
  ['days', 'Per day'], ['facilities', 'Sending facilities'], ['findings', 'Findings by family and code'],
  ['malware', 'Malware by engine and signature'], ['sessions', 'Sessions (one row each)'],
];

const form = document.getElementById('filters');
const errorBox = document.getElementById('error');
const status = document.getElementById('status');

function filterQuery() {
  const params = new URLSearchParams();
  for (const name of FIELDS) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

function table(caption, headers, rows) {
  if (rows.length === 0) return el('p', { class: 'muted' }, 'Nothing in this period.');
  return el('table', { class: 'table' },
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, ...rows.map((row) => el('tr', {}, ...row.map((cell, i) =>
      i === 0 ? el('th', { scope: 'row' }, String(cell)) : el('td', {}, String(cell)))))));
}

function tile(label, value, alert) {
  return el('div', { class: 'card' }, el('p', { class: 'muted' }, label),
    el('p', {}, alert ? el('span', { class: 'badge badge-bad' }, String(value)) : String(value)));
}

function mbps(bytes, seconds) { return seconds > 0 ? (bytes / 1e6 / seconds).toFixed(2) : '—'; }

function byCount(counts) { return Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])); }

function render(report, params) {
  const s = report.statistics;
  const query = params.toString();
  document.getElementById('totals').replaceChildren(
    tile('Sessions', s.sessions), tile('Instances', s.instances), tile('Read', formatBytes(s.bytes)),
    tile('Throughput (MB/s)', mbps(s.bytes, s.seconds)), tile('Clean', s.clean), tile('Disarmed', s.disarmed),
    tile('Rejected', s.rejected, s.rejected > 0), tile('Left out (not DICOM)', s.discarded), tile('Delivered', s.delivered),
    tile('Files with malware', s.malwareFiles, s.malwareFiles > 0),
    tile('Identity mismatches (sessions)', s.mismatchSessions, s.mismatchSessions > 0),
    tile('Imported by override (sessions)', s.overrides), tile('Discs with DICOMDIR', s.withDICOMDIR),
    tile('Discs in IHE PDI layout', s.pdiLayout),
    tile('Checked by a worker / kiosk only', `${report.checkedSessions} / ${report.uncheckedSessions}`));
  document.getElementById('charts').replaceChildren(...CHARTS.map(([name, title]) =>
    el('figure', { class: 'card' },
      el('img', { src: `/api/analytics/charts/${name}.svg?${query}`, alt: `${title} (the tables below hold the same numbers)`, loading: 'lazy' }),
      el('figcaption', {}, title))));
  document.getElementById('days').replaceChildren(table('Sessions per day',
    ['Day', 'Sessions', 'Instances', 'Read', 'Clean', 'Disarmed', 'Rejected', 'Left out', 'Delivered', 'Malware findings',
      'Mismatches', 'Overrides', 'MB/s'],
    s.days.map((d) => [d.date, d.sessions, d.instances, formatBytes(d.bytes), d.clean, d.disarmed, d.rejected, d.discarded,
      d.delivered, d.malware, d.mismatches, d.overrides, mbps(d.bytes, d.seconds)])));
  document.getElementById('facilities').replaceChildren(table('Sending facilities',
    ['Facility', 'Sessions', 'Instances', 'Without DICOMDIR', 'Not IHE PDI', 'JPEG 2000', 'With malware', 'Mismatches'],
    s.facilities.map((f) => [f.name, f.discs, f.instances, f.withoutDICOMDIR, f.nonPDI, f.jpeg2000, f.malware, f.mismatches])));
  document.getElementById('findings').replaceChildren(table('Findings by code', ['Code', 'Findings'], byCount(s.codes)));
  const malware = [];
  for (const [engine, signatures] of Object.entries(s.malware)) {
    for (const [signature, count] of Object.entries(signatures)) malware.push([signature, engine, count]);
  }
  malware.sort((a, b) => b[2] - a[2] || a[0].localeCompare(b[0]));
  document.getElementById('malware').replaceChildren(table('Malware', ['Signature', 'Engine', 'Findings'], malware));
  document.getElementById('exports').replaceChildren(...EXPORTS.map(([name, label]) =>
    el('li', {}, el('a', { href: `/api/analytics/export.csv?${query}${query ? '&' : ''}table=${name}`, download: '' }, `${label} (CSV)`))));
  status.textContent = `${report.filter.from} to ${report.filter.to}: ${s.sessions} session(s).`;
}

async function load() {
  const params = filterQuery();
  errorBox.hidden = true;
  status.textContent = 'Loading…';
  try {
    const report = await api('GET', '/api/analytics?' + params.toString());
    // The period the server used (the default one when none was given).
    form.elements.from.value = report.filter.from;
    form.elements.to.value = report.filter.to;
    history.replaceState(null, '', '?' + params.toString());
    render(report, params);
  } catch (error) {
    status.textContent = '';
    showError(errorBox, error);
  }
}

await startPage({ area: 'analytics', permission: 'viewAnalytics' });
const initial = new URLSearchParams(location.search);
for (const name of FIELDS) if (initial.has(name)) form.elements[name].value = initial.get(name);
form.addEventListener('submit', (event) => { event.preventDefault(); load(); });
load();
