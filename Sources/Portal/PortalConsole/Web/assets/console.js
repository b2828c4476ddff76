// The console's shell, shared by every page: the JSON API with its CSRF token, the page start (session, permission,
// navigation), small DOM and formatting helpers. Plain module, no third-party code.

let csrf = null;

// Every area's page, in nav order, and the permission that shows it.
const AREAS = [
  { area: 'home', href: 'home.html', label: 'Overview', permission: null },
  { area: 'patients', href: 'patients.html', label: 'Patients', permission: 'viewPatients' },
  { area: 'review', href: 'review.html', label: 'Review', permission: 'viewReview' },
  { area: 'analytics', href: 'analytics.html', label: 'Analytics', permission: 'viewAnalytics' },
  { area: 'fleet', href: 'fleet.html', label: 'Fleet', permission: 'viewAnalytics' },
  { area: 'audit', href: 'audit.html', label: 'Audit', permission: 'viewAudit' },
  { area: 'staff', href: 'staff.html', label: 'Staff', permission: 'manageStaff' },
];

export function allowedAreas(permissions) {
  return AREAS.filter((entry) => !entry.permission || permissions.includes(entry.permission));
}

// Calls the API: resolves to the parsed JSON (null for 204), or throws {status, code, message}.
export async function api(method, path, body) {
  const unsafe = !['GET', 'HEAD', 'OPTIONS'].includes(method);
  if (unsafe && !csrf && path !== '/api/session') await api('GET', '/api/session');
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (unsafe && csrf) headers['X-CSRF-Token'] = csrf;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw { status: 0, code: 'network', message: 'The console cannot be reached. Check the network and try again.' };
  }
  let parsed = null;
  if (response.status !== 204 && (response.headers.get('Content-Type') || '').includes('application/json')) {
    try {
      parsed = await response.json();
    } catch {
      parsed = null;
    }
  }
  if (parsed && typeof parsed.csrf === 'string') csrf = parsed.csrf;
  if (!response.ok) {
    throw {
      status: response.status,
      code: (parsed && parsed.error) || 'unknown',
      message: (parsed && parsed.message) || `The console answered ${response.status}.`,
      retryAfter: parsed && parsed.retryAfter,
    };
  }
  return parsed;
}

// el('a', {href: 'x', class: 'button'}, 'text', child): attributes (on* functions become listeners; true/false
// toggle boolean attributes), then text or nodes; null and undefined children are skipped.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2).toLowerCase(), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Shows an error (from api() or anything thrown) in `container`, replacing what it showed, and shows the container if a
// page kept it hidden while there was none; announced to screen readers.
export function showError(container, error) {
  const message = (error && error.message) || 'Something went wrong. Reload the page and try again.';
  container.replaceChildren(el('p', { class: 'error', role: 'alert' }, message));
  container.hidden = false;
}

export function formatBytes(n) {
  const value = Number(n) || 0;
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let scaled = value;
  let unit = 0;
  while (scaled >= 1000 && unit < units.length - 1) {
    scaled /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? scaled : scaled.toFixed(scaled < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatDate(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function drawNav(staff, current) {
  const links = allowedAreas(staff.permissions).map((entry) =>
    el('li', {}, el('a', { href: entry.href, 'aria-current': entry.area === current ? 'page' : null }, entry.label)));
  const signOut = el('button', { type: 'button', class: 'button', 'data-action': 'sign-out' }, 'Sign out');
  signOut.addEventListener('click', async () => {
    try {
      await api('POST', '/api/signout');
    } finally {
      window.location.assign('index.html');
    }
  });
  const header = el('header', { class: 'console-header' },
    el('a', { href: 'home.html', class: 'console-title' }, 'DICOM portal console'),
    el('nav', { 'aria-label': 'Console areas' }, el('ul', {}, links)),
    el('div', { class: 'console-user' }, el('span', { class: 'muted' }, `${staff.displayName} (${staff.role})`), signOut));
  document.body.prepend(header);
}

// Starts an area's page: the session must be signed in (else the sign-in page, coming back here afterwards) and the
// role must grant `permission` (else the page says so and this throws). Draws the navigation.
export async function startPage({ area, permission }) {
  const session = await api('GET', '/api/session');
  if (session.state !== 'signed-in' || !session.staff) {
    const back = window.location.pathname.replace(/^\//, '') + window.location.search;
    window.location.replace(`index.html?next=${encodeURIComponent(back)}`);
    throw { status: 401, code: 'signed-out', message: 'Please sign in.' };
  }
  const staff = session.staff;
  drawNav(staff, area);
  if (permission && !staff.permissions.includes(permission)) {
    const error = { status: 403, code: 'forbidden', message: `Your role (${staff.role}) does not allow this page. Ask an administrator.` };
    const main = document.querySelector('main') || document.body;
    showError(main, error);
    throw error;
  }
  return { staff };
}
