// Exposes the portal's modules to Selenium (execute_async_script) and records CSP violations.
import { readDicomHeader, parseDicomHeader } from '/assets/dicom-header.js';
import { classifyFile } from '/assets/classify.js';
import { readZip, ZipError } from '/assets/zip.js';
import { encodeQr, qrSvg } from '/assets/qr.js';
import { TusUploader, UploadStore } from '/assets/tus.js';
import { groupStudies, namesMatch } from '/assets/studies.js';
import { csrfToken, getSession } from '/assets/api.js';
import { base64urlToBuffer, bufferToBase64url } from '/assets/webauthn.js';

const violations = [];
document.addEventListener('securitypolicyviolation', (event) => violations.push(`${event.violatedDirective} ${event.blockedURI}`));

async function fetchBlob(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.blob();
}

// Deterministic file contents: byte i of a file is (i * 31 + seed) mod 256.
function makeItems(files) {
  return files.map(({ path, size, seed }) => {
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i += 1) bytes[i] = (i * 31 + seed) & 0xff;
    return { path, file: new File([bytes], path.split('/').pop(), { lastModified: 1700000000000 + seed }) };
  });
}

window.harness = {
  violations: () => violations,

  async header(url) {
    const blob = await fetchBlob(url);
    const started = performance.now();
    const result = await readDicomHeader(blob);
    return { ...result, ms: performance.now() - started };
  },

  // Bytes given as base64, with a claimed file size (to test lengths beyond a read window).
  parseBase64(base64, fileSize) {
    const binary = atob(base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    const started = performance.now();
    const result = parseDicomHeader(bytes, fileSize ?? bytes.length);
    return { ...result, ms: performance.now() - started };
  },

  async classify(url, path) {
    const blob = await fetchBlob(url);
    const file = new File([blob], path.split('/').pop());
    const entry = await classifyFile(file, path);
    return { kind: entry.kind, reason: entry.reason, isDicomDir: entry.header ? entry.header.isDicomDir : null };
  },

  async zip(url, options) {
    const blob = await fetchBlob(url);
    try {
      const { entries, leftOut } = await readZip(blob, 'disc.zip', options || {});
      const files = [];
      for (const entry of entries) {
        const bytes = new Uint8Array(await entry.file.arrayBuffer());
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
        files.push({ name: entry.name, size: entry.file.size, sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('') });
      }
      return { files, leftOut };
    } catch (error) {
      if (error instanceof ZipError) return { error: error.code };
      return { error: `unexpected: ${error}` };
    }
  },

  qr(text, mask) {
    const { version, size, mask: chosen, modules } = encodeQr(text, mask ?? null);
    return { version, size, mask: chosen, rows: modules.map((row) => row.map((dark) => (dark ? '1' : '0')).join('')) };
  },

  qrSvg(text) {
    const target = document.getElementById('qr-target');
    target.replaceChildren(qrSvg(text, 'QR'));
    return true;
  },

  studies(images, patient) {
    return groupStudies(images.map((fields) => ({ size: 100, header: { fields } })), patient).map((study) => ({
      uid: study.uid, images: study.images, patientMatches: study.patientMatches, otherNames: study.otherNames, otherDates: study.otherDates,
    }));
  },

  namesMatch,

  base64url(text) {
    const buffer = base64urlToBuffer(text);
    return bufferToBase64url(buffer);
  },

  // Starts an upload and pauses it once `stopAfter` bytes are confirmed, as if the tab were closed.
  async uploadUntil(batchId, files, chunkSize, stopAfter) {
    await getSession();
    const items = makeItems(files);
    let uploader;
    await new Promise((resolve) => {
      uploader = new TusUploader({
        batchId, chunkSize, csrf: csrfToken,
        onProgress: (p) => {
          if (p.sent >= stopAfter) {
            uploader.pause();
            resolve();
          }
        },
      });
      uploader.uploadAll(items).then(resolve, resolve);
    });
    return new UploadStore(batchId).load();
  },

  // Uploads in-memory files (name → size, content is a deterministic pattern) with tus.
  async upload(batchId, files, chunkSize) {
    await getSession();
    const items = makeItems(files);
    const progress = [];
    const retries = [];
    const uploader = new TusUploader({
      batchId, chunkSize, csrf: csrfToken,
      onProgress: (p) => progress.push(p.sent),
      onRetry: (attempt, seconds) => retries.push(seconds),
    });
    let error = null;
    try {
      await uploader.uploadAll(items);
    } catch (caught) {
      error = caught.code || String(caught);
    }
    return { error, progress, retries, stored: new UploadStore(batchId).load() };
  },
};
window.harnessReady = true;
