// Small DOM helpers. Text always goes in via textContent: file names and DICOM values are hostile.
import { loadMessages, applyMessages, t, formatNumber } from './i18n.js';
import { errorText, getSession, isSignedOut, post } from './api.js';

export function el(tag, options = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') node.textContent = value;
    else if (name === 'class') node.className = value;
    else if (name === 'on') for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

// Shows one section of a page, hides its siblings with data-step, and moves focus to its heading so
// keyboard and screen-reader users land on what changed. The page's first step keeps the browser's
// own starting point (the skip link comes first).
let stepShown = false;
export function showStep(id) {
  for (const section of document.querySelectorAll('[data-step]')) section.hidden = section.id !== id;
  const section = document.getElementById(id);
  const heading = section && section.querySelector('h1, h2');
  const first = !stepShown;
  stepShown = true;
  if (heading && !first) {
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  }
}

export function showError(region, error) {
  const text = typeof error === 'string' ? error : errorText(error);
  region.textContent = text;
  region.hidden = false;
}

export function clearError(region) {
  region.textContent = '';
  region.hidden = true;
}

export function announce(text) {
  const region = document.getElementById('announcer');
  if (region) region.textContent = text;
}

export function setBusy(button, busy) {
  button.disabled = busy;
  button.setAttribute('aria-busy', busy ? 'true' : 'false');
}

export function formatBytes(bytes) {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return t('common.size', {
    value: new Intl.NumberFormat('en', { maximumFractionDigits: digits }).format(value),
    unit: t(`unit.${units[unit]}`),
  });
}

// DICOM dates (YYYYMMDD) and ISO timestamps shown as "3 March 2021".
// A DICOM date (YYYYMMDD, as the disc has it) or an ISO date (YYYY-MM-DD, as the hospital's result gives it).
export function formatDicomDate(value) {
  const match = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec((value || '').trim());
  if (!match) return value ? value.trim() : t('common.unknownDate');
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  if (Number.isNaN(date.getTime())) return value;
  return new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' }).format(date);
}

export function formatTimestamp(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit' }).format(date);
}

export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return t('upload.timeLeft.unknown');
  if (seconds < 60) return t('upload.timeLeft.seconds');
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return t('upload.timeLeft.minutes', { minutes: formatNumber(minutes) });
  return t('upload.timeLeft.hours', { hours: formatNumber(Math.round(minutes / 60)) });
}

export function go(path) {
  window.location.assign(path);
}

// Every page starts here: load the catalogue, fill the static text, read the session.
// A page that needs a signed-in patient is sent to sign-in otherwise.
export async function boot({ requireSignedIn = false } = {}) {
  document.documentElement.classList.add('js');
  await loadMessages();
  applyMessages();
  let session;
  try {
    session = await getSession();
  } catch (error) {
    const region = document.getElementById('page-error');
    if (region) showError(region, error);
    throw error;
  }
  if (requireSignedIn && session.state !== 'signed-in') {
    go('/');
    return new Promise(() => {});
  }
  for (const button of document.querySelectorAll('[data-action="sign-out"]')) {
    button.addEventListener('click', () => signOut());
  }
  return session;
}

export async function signOut() {
  try {
    await post('/api/signout');
  } catch (error) {
    if (!isSignedOut(error)) {
      const region = document.getElementById('page-error');
      if (region) showError(region, error);
      return;
    }
  }
  go('/');
}
