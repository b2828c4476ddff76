// A bounded ZIP reader. Entries become File objects fed to the same pipeline as files from a folder.
// Names from the archive are display names only: normalised, never used as paths on this computer.

export const DEFAULT_LIMITS = {
  maxEntries: 20000,
  maxTotalBytes: 16 * 1024 * 1024 * 1024,
  // Entries larger than 1 MiB that claim to shrink more than this are treated as zip bombs.
  maxRatio: 200,
};

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export class ZipError extends Error {
  constructor(code, detail) {
    super(`${code}: ${detail}`);
    this.code = code;
  }
}

async function readBytes(blob, start, end) {
  return new Uint8Array(await blob.slice(start, end).arrayBuffer());
}

// "../a\\b/./c" → "a/b/c"; drive letters and leading slashes dropped.
export function normaliseName(raw) {
  const parts = raw.replace(/\\/g, '/').split('/')
    .filter((part) => part !== '' && part !== '.' && part !== '..')
    .map((part) => part.replace(/[\u0000-\u001f\u007f]/g, ''))
    .filter((part, index) => !(index === 0 && /^[A-Za-z]:$/.test(part)))
    .filter((part) => part !== '');
  return parts.join('/');
}

function findEndOfCentralDirectory(tail) {
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  for (let i = tail.length - 22; i >= 0; i -= 1) {
    if (view.getUint32(i, true) !== EOCD) continue;
    const commentLength = view.getUint16(i + 20, true);
    if (i + 22 + commentLength === tail.length) return i;
  }
  // A comment that does not reach the end exactly: accept the last signature found.
  for (let i = tail.length - 22; i >= 0; i -= 1) if (view.getUint32(i, true) === EOCD) return i;
  return -1;
}

// Returns { entries: [{ name, file }], leftOut: [{ name, reason }] }.
export async function readZip(blob, archiveName = 'archive.zip', options = {}) {
  const limits = { ...DEFAULT_LIMITS, ...options };
  if (blob.size < 22) throw new ZipError('not-zip', 'shorter than an end of central directory record');
  const tailStart = Math.max(0, blob.size - (65535 + 22));
  const tail = await readBytes(blob, tailStart, blob.size);
  const eocdAt = findEndOfCentralDirectory(tail);
  if (eocdAt < 0) throw new ZipError('not-zip', 'no end of central directory record');
  const eocd = new DataView(tail.buffer, tail.byteOffset + eocdAt, 22);
  const diskEntries = eocd.getUint16(8, true);
  const count = eocd.getUint16(10, true);
  const cdSize = eocd.getUint32(12, true);
  const cdOffset = eocd.getUint32(16, true);
  const locatorAt = eocdAt - 20;
  const hasLocator = locatorAt >= 0 && new DataView(tail.buffer, tail.byteOffset + locatorAt, 4).getUint32(0, true) === ZIP64_LOCATOR;
  if (hasLocator || count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    throw new ZipError('zip64', 'ZIP64 archives are not read in the browser');
  }
  if (diskEntries !== count) throw new ZipError('multi-disk', 'split archives are not supported');
  if (count > limits.maxEntries) throw new ZipError('too-many-entries', `${count} entries (limit ${limits.maxEntries})`);
  const eocdOffset = tailStart + eocdAt;
  if (cdOffset + cdSize > eocdOffset) throw new ZipError('damaged', 'central directory overlaps its end record');
  const cd = await readBytes(blob, cdOffset, cdOffset + cdSize);
  const view = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const decoderUtf8 = new TextDecoder('utf-8');
  const entries = [];
  const leftOut = [];
  let position = 0;
  let declaredTotal = 0;
  for (let index = 0; index < count; index += 1) {
    if (position + 46 > cd.length || view.getUint32(position, true) !== CENTRAL) {
      throw new ZipError('damaged', `central directory entry ${index} is broken`);
    }
    const flags = view.getUint16(position + 8, true);
    const method = view.getUint16(position + 10, true);
    const modTime = view.getUint16(position + 12, true);
    const modDate = view.getUint16(position + 14, true);
    const compressedSize = view.getUint32(position + 20, true);
    const size = view.getUint32(position + 24, true);
    const nameLength = view.getUint16(position + 28, true);
    const extraLength = view.getUint16(position + 30, true);
    const commentLength = view.getUint16(position + 32, true);
    const localOffset = view.getUint32(position + 42, true);
    const next = position + 46 + nameLength + extraLength + commentLength;
    if (next > cd.length) throw new ZipError('damaged', `central directory entry ${index} runs past the directory`);
    const rawName = decoderUtf8.decode(cd.subarray(position + 46, position + 46 + nameLength));
    position = next;
    if (rawName.endsWith('/') || rawName.endsWith('\\')) continue;
    const name = `${archiveName}/${normaliseName(rawName) || `entry-${index + 1}`}`;
    if (compressedSize === 0xffffffff || size === 0xffffffff || localOffset === 0xffffffff) {
      throw new ZipError('zip64', 'ZIP64 entry');
    }
    if (flags & 0x1) {
      leftOut.push({ name, reason: 'encrypted' });
      continue;
    }
    if (method !== 0 && method !== 8) {
      leftOut.push({ name, reason: 'unsupported-compression' });
      continue;
    }
    if (method === 0 && compressedSize !== size) {
      leftOut.push({ name, reason: 'damaged-archive' });
      continue;
    }
    if (size > 1024 * 1024 && size / Math.max(1, compressedSize) > limits.maxRatio) {
      leftOut.push({ name, reason: 'bomb' });
      continue;
    }
    declaredTotal += size;
    if (declaredTotal > limits.maxTotalBytes) throw new ZipError('too-large', `more than ${limits.maxTotalBytes} bytes unpacked`);
    if (localOffset + 30 + compressedSize > cdOffset) {
      leftOut.push({ name, reason: 'damaged-archive' });
      continue;
    }
    entries.push({ name, method, size, compressedSize, localOffset, lastModified: dosTime(modDate, modTime) });
  }
  const files = [];
  for (const entry of entries) {
    try {
      files.push({ name: entry.name, file: await extract(blob, entry, cdOffset) });
    } catch (error) {
      if (!(error instanceof ZipError)) throw error;
      leftOut.push({ name: entry.name, reason: error.code === 'bomb' ? 'bomb' : 'damaged-archive' });
    }
  }
  return { entries: files, leftOut };
}

function dosTime(date, time) {
  const year = 1980 + (date >> 9);
  const month = ((date >> 5) & 0xf) - 1;
  const day = date & 0x1f;
  const value = Date.UTC(year, month, day, time >> 11, (time >> 5) & 0x3f, (time & 0x1f) * 2);
  return Number.isNaN(value) ? 0 : value;
}

async function extract(blob, entry, cdOffset) {
  const local = await readBytes(blob, entry.localOffset, entry.localOffset + 30);
  const view = new DataView(local.buffer, local.byteOffset, local.byteLength);
  if (local.length < 30 || view.getUint32(0, true) !== LOCAL) throw new ZipError('damaged', 'local header missing');
  const dataStart = entry.localOffset + 30 + view.getUint16(26, true) + view.getUint16(28, true);
  const dataEnd = dataStart + entry.compressedSize;
  if (dataEnd > cdOffset) throw new ZipError('damaged', 'entry data runs into the central directory');
  const base = entry.name.split('/').pop();
  const data = blob.slice(dataStart, dataEnd);
  if (entry.method === 0) return new File([data], base, { lastModified: entry.lastModified });
  // Inflate as a stream, counting: more output than the directory declared is a bomb.
  const stream = data.stream().pipeThrough(new DecompressionStream('deflate-raw'));
  const reader = stream.getReader();
  const parts = [];
  let produced = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      produced += value.length;
      if (produced > entry.size) {
        await reader.cancel();
        throw new ZipError('bomb', 'inflates to more than its declared size');
      }
      parts.push(value);
    }
  } catch (error) {
    if (error instanceof ZipError) throw error;
    throw new ZipError('damaged', 'could not unpack');
  }
  if (produced !== entry.size) throw new ZipError('damaged', 'unpacked size differs from the declared size');
  return new File(parts, base, { lastModified: entry.lastModified });
}
