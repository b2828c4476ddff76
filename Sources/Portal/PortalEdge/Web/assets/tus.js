// tus 1.0.0 client (creation, checksum sha256, termination) on fetch(). Resumable across reloads:
// upload URLs are kept in localStorage per batch and file fingerprint (path, size, lastModified),
// and an upload found there is continued from the offset the server reports on HEAD.

const STORAGE_PREFIX = 'portal.tus.';
const BACKOFF_SECONDS = [1, 2, 4, 8, 15, 30, 30, 60];

// What a refused creation means when its answer carries no JSON error: the batch is not the patient's or
// not open any more, or the patient's quota is used up (edge-api.md, Uploads).
const CREATE_REFUSALS = { 404: 'batch.not-found', 409: 'batch.closed', 413: 'quota.bytes', 429: 'quota.uploads' };

export class TusError extends Error {
  constructor(code, status, detail) {
    super(`${code}: ${detail}`);
    this.code = code;
    this.status = status;
  }
}

export function fingerprint(path, file) {
  return `${path}\u0000${file.size}\u0000${file.lastModified}`;
}

// The stored shape follows the contract: { batch, files: [{ fingerprint, uploadURL }] }. The entry is
// parsed once and kept: reading it back and rewriting it for every file cost a disc of N files N²
// (3 s of the page's thread for 1,220 files); another tab's write to it makes the copy stale.
export class UploadStore {
  constructor(batchId, storage = window.localStorage) {
    this.key = STORAGE_PREFIX + batchId;
    this.batchId = batchId;
    this.storage = storage;
    this.state = null;
    window.addEventListener('storage', (event) => {
      if (event.key === this.key || event.key === null) this.state = null;
    });
  }

  load() {
    if (this.state) return this.state;
    let state = { batch: this.batchId, files: [] };
    try {
      const parsed = JSON.parse(this.storage.getItem(this.key) || 'null');
      if (parsed && parsed.batch === this.batchId && Array.isArray(parsed.files)) state = parsed;
    } catch {
      // A damaged entry is forgotten; the server's HEAD answers are what count.
    }
    this.state = state;
    return state;
  }

  get(print) {
    const entry = this.load().files.find((file) => file.fingerprint === print);
    return entry ? entry.uploadURL : null;
  }

  put(print, uploadURL) {
    const state = this.load();
    state.files = state.files.filter((file) => file.fingerprint !== print);
    state.files.push({ fingerprint: print, uploadURL });
    this.storage.setItem(this.key, JSON.stringify(state));
  }

  // Nothing stored for this file: nothing to write.
  forget(print) {
    const state = this.load();
    const kept = state.files.filter((file) => file.fingerprint !== print);
    if (kept.length === state.files.length) return;
    state.files = kept;
    this.storage.setItem(this.key, JSON.stringify(state));
  }

  clear() {
    this.state = null;
    this.storage.removeItem(this.key);
  }

  static batchesWithUploads(storage = window.localStorage) {
    const ids = [];
    for (let i = 0; i < storage.length; i += 1) {
      const key = storage.key(i);
      if (key && key.startsWith(STORAGE_PREFIX)) ids.push(key.slice(STORAGE_PREFIX.length));
    }
    return ids;
  }
}

function utf8Base64(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

// Hashing in a worker so a large chunk never holds up the page; falls back to the page when
// workers are unavailable.
class Hasher {
  constructor() {
    this.pending = new Map();
    this.nextId = 1;
    try {
      this.worker = new Worker(new URL('./hash-worker.js', import.meta.url));
      this.worker.addEventListener('message', (event) => {
        const { id, buffer, checksum, error } = event.data;
        const waiter = this.pending.get(id);
        this.pending.delete(id);
        if (!waiter) return;
        if (error) waiter.reject(new Error(error));
        else waiter.resolve({ buffer, checksum });
      });
      this.worker.addEventListener('error', () => {
        for (const waiter of this.pending.values()) waiter.reject(new Error('hash worker failed'));
        this.pending.clear();
        this.worker = null;
      });
    } catch {
      this.worker = null;
    }
  }

  async digest(buffer) {
    if (this.worker) {
      const id = this.nextId;
      this.nextId += 1;
      return new Promise((resolve, reject) => {
        this.pending.set(id, { resolve, reject });
        this.worker.postMessage({ id, buffer }, [buffer]);
      });
    }
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', buffer));
    let binary = '';
    for (const byte of digest) binary += String.fromCharCode(byte);
    return { buffer, checksum: btoa(binary) };
  }

  close() {
    if (this.worker) this.worker.terminate();
  }
}

// items: [{ path, file }]. Options: batchId, chunkSize, csrf() → token, concurrency,
// onProgress({ sent, total, filesDone, filesTotal, bytesPerSecond }), onRetry(attempt, seconds).
export class TusUploader {
  constructor(options) {
    this.batchId = options.batchId;
    this.chunkSize = Math.max(64 * 1024, options.chunkSize || 8 * 1024 * 1024);
    this.csrf = options.csrf;
    this.concurrency = options.concurrency || 3;
    this.endpoint = options.endpoint || '/uploads/';
    this.onProgress = options.onProgress || (() => {});
    this.onRetry = options.onRetry || (() => {});
    this.store = new UploadStore(this.batchId, options.storage);
    this.paused = false;
    this.resumeWaiters = [];
    this.controllers = new Set();
    this.sentByFile = new Map();
    this.samples = [];
    this.hasher = new Hasher();
  }

  headers(extra = {}) {
    const headers = { 'Tus-Resumable': '1.0.0', ...extra };
    const token = this.csrf();
    if (token) headers['X-CSRF-Token'] = token;
    return headers;
  }

  pause() {
    this.paused = true;
    for (const controller of this.controllers) controller.abort();
  }

  resume() {
    this.paused = false;
    const waiters = this.resumeWaiters;
    this.resumeWaiters = [];
    for (const wake of waiters) wake();
  }

  async waitWhilePaused() {
    while (this.paused) await new Promise((resolve) => this.resumeWaiters.push(resolve));
  }

  async send(url, init) {
    const controller = new AbortController();
    this.controllers.add(controller);
    try {
      return await fetch(url, { ...init, signal: controller.signal, credentials: 'same-origin', cache: 'no-store' });
    } finally {
      this.controllers.delete(controller);
    }
  }

  report() {
    let sent = 0;
    for (const value of this.sentByFile.values()) sent += value;
    const now = performance.now();
    this.samples.push({ at: now, sent });
    while (this.samples.length > 2 && now - this.samples[0].at > 30000) this.samples.shift();
    const first = this.samples[0];
    const seconds = (now - first.at) / 1000;
    const bytesPerSecond = seconds > 1 ? (sent - first.sent) / seconds : 0;
    this.onProgress({ sent, total: this.total, filesDone: this.filesDone, filesTotal: this.filesTotal, bytesPerSecond });
  }

  async uploadAll(items) {
    this.total = items.reduce((sum, item) => sum + item.file.size, 0);
    this.filesTotal = items.length;
    this.filesDone = 0;
    const queue = items.slice();
    const workers = [];
    let failure = null;
    const work = async () => {
      while (queue.length > 0 && failure === null) {
        const item = queue.shift();
        try {
          await this.uploadOne(item);
          this.filesDone += 1;
          this.report();
        } catch (error) {
          failure = failure || error;
        }
      }
    };
    for (let i = 0; i < Math.min(this.concurrency, items.length); i += 1) workers.push(work());
    await Promise.all(workers);
    this.hasher.close();
    if (failure) throw failure;
    // The upload URLs stay stored until the batch is submitted: sending again before that (say,
    // after a failed submit) then only asks HEAD and finds every file complete.
  }

  // Runs `attempt` until it succeeds or fails for good, with back-off between tries; a pause waits
  // for resume (the aborted request counts as no attempt).
  async withRetry(attempt) {
    for (let tries = 0; ; tries += 1) {
      await this.waitWhilePaused();
      try {
        return await attempt();
      } catch (error) {
        if (this.paused) {
          tries -= 1;
          continue;
        }
        // Network errors (status 0), server errors and checksum mismatches (460) are worth another try.
        const retryable = !(error instanceof TusError) || error.status === 0 || error.status >= 500 || error.status === 460;
        if (!retryable || tries >= BACKOFF_SECONDS.length) throw error;
        const seconds = BACKOFF_SECONDS[tries];
        this.onRetry(tries + 1, seconds);
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      }
    }
  }

  async fail(response, what, byStatus = {}) {
    let code = byStatus[response.status] || 'upload.failed';
    try {
      // The edge's tus refusals are plain text naming the code (`quota.files`); other answers may be JSON.
      const text = (await response.text()).trim();
      if (/^[a-z]+(\.[a-z-]+)+$/.test(text)) {
        code = text;
      } else if (text.startsWith('{')) {
        const body = JSON.parse(text);
        if (body && typeof body.error === 'string') code = body.error;
      }
    } catch {
      // No readable body: the status says enough.
    }
    if (response.status === 401) code = 'signed-out';
    return new TusError(code, response.status, `${what}: HTTP ${response.status}`);
  }

  async create(item, print) {
    const response = await this.send(this.endpoint, {
      method: 'POST',
      headers: this.headers({
        'Upload-Length': String(item.file.size),
        'Upload-Metadata': [
          `batch ${utf8Base64(this.batchId)}`,
          `name ${utf8Base64(item.path)}`,
          `size ${utf8Base64(String(item.file.size))}`,
        ].join(','),
      }),
    });
    if (response.status !== 201) throw await this.fail(response, 'create', CREATE_REFUSALS);
    const location = response.headers.get('Location');
    if (!location) throw new TusError('upload.failed', response.status, 'create: no Location');
    const url = new URL(location, window.location.href).toString();
    this.store.put(print, url);
    return url;
  }

  // The server's offset for an upload; null when the server no longer knows it.
  async offsetOf(url) {
    const response = await this.send(url, { method: 'HEAD', headers: this.headers() });
    if (response.status === 404 || response.status === 410) return null;
    if (!response.ok) throw await this.fail(response, 'head');
    const offset = Number(response.headers.get('Upload-Offset'));
    if (!Number.isSafeInteger(offset) || offset < 0) throw new TusError('upload.failed', response.status, 'head: bad Upload-Offset');
    return offset;
  }

  async uploadOne(item) {
    const print = fingerprint(item.path, item.file);
    let url = this.store.get(print);
    let offset = null;
    if (url) offset = await this.withRetry(() => this.offsetOf(url));
    if (offset === null) {
      this.store.forget(print);
      url = await this.withRetry(() => this.create(item, print));
      offset = 0;
    }
    this.sentByFile.set(print, offset);
    this.report();
    let needHead = false;
    let stalls = 0;
    let recreated = false;
    while (offset < item.file.size) {
      const before = offset;
      let next;
      try {
        next = await this.withRetry(async () => {
          // After an interruption the server may hold more (or less) than we think: ask first.
          if (needHead) {
            const actual = await this.offsetOf(url);
            if (actual === null) throw new TusError('upload.gone', 404, 'the server no longer has this upload');
            needHead = false;
            if (actual !== offset) return actual;
          }
          try {
            const outcome = await this.patch(url, item.file, offset, Math.min(item.file.size, offset + this.chunkSize));
            if (outcome.conflict) {
              needHead = true;
              return offset;
            }
            return outcome.offset;
          } catch (error) {
            needHead = true;
            throw error;
          }
        });
      } catch (error) {
        if (!(error instanceof TusError && error.status === 404) || recreated) throw error;
        // The edge forgot the upload (expired or restarted without it): send this file again once.
        recreated = true;
        this.store.forget(print);
        url = await this.withRetry(() => this.create(item, print));
        next = 0;
        needHead = false;
      }
      offset = next;
      stalls = offset === before ? stalls + 1 : 0;
      if (stalls > 5) throw new TusError('upload.failed', 409, 'the server keeps refusing this chunk');
      this.sentByFile.set(print, offset);
      this.report();
    }
  }

  async patch(url, file, start, end) {
    const buffer = await file.slice(start, end).arrayBuffer();
    const { buffer: body, checksum } = await this.hasher.digest(buffer);
    let response;
    try {
      response = await this.send(url, {
        method: 'PATCH',
        headers: this.headers({
          'Upload-Offset': String(start),
          'Content-Type': 'application/offset+octet-stream',
          'Upload-Checksum': `sha256 ${checksum}`,
        }),
        body,
      });
    } catch (error) {
      // A dropped connection leaves the server's offset unknown: learn it before going on.
      throw new TusError('network', 0, String(error));
    }
    if (response.status === 460) throw new TusError('checksum', 460, 'checksum mismatch');
    if (response.status === 409) return { conflict: true };
    if (response.status !== 204 && response.status !== 200) throw await this.fail(response, 'patch');
    const offset = Number(response.headers.get('Upload-Offset'));
    if (!Number.isSafeInteger(offset) || offset <= start || offset > end) {
      throw new TusError('upload.failed', response.status, 'patch: bad Upload-Offset');
    }
    return { offset };
  }

  // Once the batch is submitted (or abandoned: the edge removes its uploads on DELETE) the stored
  // upload URLs have no further use.
  forgetAll() {
    this.store.clear();
  }
}
