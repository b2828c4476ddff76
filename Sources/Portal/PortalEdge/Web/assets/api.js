// The edge's JSON API (see edge-api.md): CSRF token bookkeeping and uniform errors.
import { t, tn, has } from './i18n.js';

let csrf = null;

export function csrfToken() {
  return csrf;
}

export function rememberCsrf(body) {
  if (body && typeof body.csrf === 'string') csrf = body.csrf;
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.error) || (status >= 500 ? 'server' : 'unknown');
    this.retryAfter = body && body.retryAfter;
    this.fields = (body && body.fields) || null;
    this.serverMessage = body && body.message;
  }
}

export class NetworkError extends Error {
  constructor(cause) {
    super('network');
    this.code = 'network';
    this.cause = cause;
  }
}

export async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (!['GET', 'HEAD', 'OPTIONS'].includes(method) && csrf) headers['X-CSRF-Token'] = csrf;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (error) {
    throw new NetworkError(error);
  }
  let parsed = null;
  const type = response.headers.get('Content-Type') || '';
  if (response.status !== 204 && type.includes('application/json')) {
    try {
      parsed = await response.json();
    } catch {
      parsed = null;
    }
  }
  rememberCsrf(parsed);
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

export const get = (path) => request('GET', path);
export const post = (path, body = {}) => request('POST', path, body);
export const del = (path) => request('DELETE', path);

export async function getSession() {
  const session = await get('/api/session');
  return session;
}

// The text to show for an error: the catalogue's words for its code, else the server's fallback.
export function errorText(error) {
  if (error && error.code && has(`error.${error.code}`)) {
    const seconds = error.retryAfter;
    const minutes = seconds ? Math.max(1, Math.ceil(seconds / 60)) : 1;
    // A short wait in seconds ("Wait 4 seconds"), a longer one in minutes.
    const wait = seconds && seconds < 60 ? tn('common.seconds', seconds) : tn('common.minutes', minutes);
    return t(`error.${error.code}`, { minutes, wait });
  }
  if (error && error.serverMessage) return error.serverMessage;
  return t('error.unknown');
}

// The session is gone: the edge says `signed-out`, or something in between answered 401 without a code. Other
// 401s are refusals the page explains (signin.failed, second-factor.failed, birth-date.mismatch, passkey.failed).
export function isSignedOut(error) {
  return error instanceof ApiError && (error.code === 'signed-out' || (error.status === 401 && error.code === 'unknown'));
}
