// A bounded DICOM Part 10 header reader: enough of the header to group a disc's files by study and
// to check whose images they are. It reads at most READ_LIMIT bytes of a file, checks every length
// against what is really there, and stops at Pixel Data.

export const READ_LIMIT = 256 * 1024;
const MAX_SEQUENCE_DEPTH = 16;

export const DICOMDIR_SOP_CLASS = '1.2.840.10008.1.3.10';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const DEFLATED_LE = '1.2.840.10008.1.2.1.99';

const WANTED = new Map([
  [0x00080005, 'SpecificCharacterSet'],
  [0x00080016, 'SOPClassUID'],
  [0x00080018, 'SOPInstanceUID'],
  [0x00080020, 'StudyDate'],
  [0x00080060, 'Modality'],
  [0x00081030, 'StudyDescription'],
  [0x0008103e, 'SeriesDescription'],
  [0x00100010, 'PatientName'],
  [0x00100020, 'PatientID'],
  [0x00100030, 'PatientBirthDate'],
  [0x0020000d, 'StudyInstanceUID'],
  [0x0020000e, 'SeriesInstanceUID'],
]);
// Values decoded with the file's character set; the others are plain ASCII.
const TEXT_FIELDS = new Set(['PatientName', 'StudyDescription', 'SeriesDescription', 'PatientID']);

// VRs with a 2-byte reserved field and a 4-byte length in explicit VR.
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

export class DicomHeaderError extends Error {
  constructor(code, detail) {
    super(`${code}: ${detail}`);
    this.code = code;
  }
}

// Character sets by DICOM defined term → TextDecoder label.
const CHARSETS = new Map([
  ['', 'latin1'], ['ISO_IR 6', 'latin1'], ['ISO 2022 IR 6', 'latin1'],
  ['ISO_IR 100', 'latin1'], ['ISO 2022 IR 100', 'latin1'],
  ['ISO_IR 192', 'utf-8'],
  ['ISO_IR 101', 'iso-8859-2'], ['ISO 2022 IR 101', 'iso-8859-2'],
  ['ISO_IR 109', 'iso-8859-3'], ['ISO 2022 IR 109', 'iso-8859-3'],
  ['ISO_IR 110', 'iso-8859-4'], ['ISO 2022 IR 110', 'iso-8859-4'],
  ['ISO_IR 144', 'iso-8859-5'], ['ISO 2022 IR 144', 'iso-8859-5'],
  ['ISO_IR 127', 'iso-8859-6'], ['ISO 2022 IR 127', 'iso-8859-6'],
  ['ISO_IR 126', 'iso-8859-7'], ['ISO 2022 IR 126', 'iso-8859-7'],
  ['ISO_IR 138', 'iso-8859-8'], ['ISO 2022 IR 138', 'iso-8859-8'],
  ['ISO_IR 148', 'iso-8859-9'], ['ISO 2022 IR 148', 'iso-8859-9'],
  ['ISO_IR 203', 'iso-8859-15'], ['ISO 2022 IR 203', 'iso-8859-15'],
  ['ISO_IR 166', 'windows-874'], ['ISO 2022 IR 166', 'windows-874'],
  ['ISO_IR 13', 'shift_jis'], ['ISO 2022 IR 13', 'shift_jis'],
  ['ISO 2022 IR 87', 'iso-2022-jp'], ['ISO 2022 IR 159', 'iso-2022-jp'],
  ['ISO 2022 IR 149', 'euc-kr'], ['ISO 2022 IR 58', 'gb18030'],
  ['GB18030', 'gb18030'], ['GBK', 'gbk'],
]);

// ISO 2022 escape sequences (PS3.3 C.12.1.1.2) → the decoder for the bytes that follow.
const ESCAPES = [
  [[0x28, 0x42], 'latin1'], // ESC ( B   ISO-IR 6 (ASCII)
  [[0x28, 0x4a], 'latin1'], // ESC ( J   ISO-IR 14 (JIS X 0201 romaji)
  [[0x29, 0x49], 'shift_jis'], // ESC ) I   ISO-IR 13 (JIS X 0201 katakana, in G1)
  [[0x24, 0x42], 'iso-2022-jp'], // ESC $ B   ISO-IR 87 (JIS X 0208)
  [[0x24, 0x29, 0x43], 'euc-kr'], // ESC $ ) C   ISO-IR 149 (KS X 1001)
  [[0x24, 0x29, 0x41], 'gb18030'], // ESC $ ) A   ISO-IR 58 (GB 2312)
  [[0x2d, 0x41], 'latin1'], // ESC - A   ISO-IR 100
  [[0x2d, 0x42], 'iso-8859-2'],
  [[0x2d, 0x43], 'iso-8859-3'],
  [[0x2d, 0x44], 'iso-8859-4'],
  [[0x2d, 0x4c], 'iso-8859-5'],
  [[0x2d, 0x47], 'iso-8859-6'],
  [[0x2d, 0x46], 'iso-8859-7'],
  [[0x2d, 0x48], 'iso-8859-8'],
  [[0x2d, 0x4d], 'iso-8859-9'],
  [[0x2d, 0x54], 'windows-874'],
];

const decoders = new Map();
function decoderFor(label) {
  if (label === 'latin1') return null;
  if (!decoders.has(label)) {
    try {
      decoders.set(label, new TextDecoder(label));
    } catch {
      decoders.set(label, null);
    }
  }
  return decoders.get(label);
}

function decodeWith(label, bytes) {
  const decoder = decoderFor(label);
  if (decoder === null) return { text: latin1(bytes), known: label === 'latin1' };
  // iso-2022-jp needs its escape to be in the two-byte set.
  const input = label === 'iso-2022-jp' ? Uint8Array.of(0x1b, 0x24, 0x42, ...bytes) : bytes;
  return { text: decoder.decode(input), known: true };
}

// Splits a value at ESC sequences and decodes each run with the set its escape names; the text
// before the first escape uses the set of the first value of Specific Character Set.
function decodeIso2022(bytes, initial) {
  let label = initial;
  let text = '';
  let known = true;
  let runStart = 0;
  const flush = (end) => {
    if (end > runStart) {
      const part = decodeWith(label, bytes.subarray(runStart, end));
      text += part.text;
      known = known && part.known;
    }
  };
  for (let i = 0; i < bytes.length; i += 1) {
    if (bytes[i] !== 0x1b) continue;
    flush(i);
    const match = ESCAPES.find(([sequence]) => sequence.every((byte, k) => bytes[i + 1 + k] === byte));
    let length = 1;
    if (match) {
      label = match[1];
      length += match[0].length;
    } else {
      // An escape we do not know: skip it (intermediate bytes 0x20-0x2F, then one final byte).
      while (i + length < bytes.length && bytes[i + length] >= 0x20 && bytes[i + length] <= 0x2f) length += 1;
      length += 1;
      label = 'latin1';
      known = false;
    }
    i += length - 1;
    runStart = i + 1;
  }
  flush(bytes.length);
  return { text, known };
}

// Returns { decode(bytes) → string, note } for a Specific Character Set value. note is
// 'charset-unsupported' when the browser cannot decode the set (the text is then read as latin1).
export function textDecoderFor(specificCharacterSet) {
  const terms = (specificCharacterSet || '').split('\\').map((term) => term.trim());
  if (terms.some((term) => term.startsWith('ISO 2022'))) {
    const initial = CHARSETS.get(terms[0]) || 'latin1';
    const result = { note: CHARSETS.has(terms[0]) ? null : 'charset-unsupported' };
    result.decode = (bytes) => {
      const { text, known } = decodeIso2022(bytes, initial);
      if (!known) result.note = 'charset-unsupported';
      return text;
    };
    return result;
  }
  const term = terms.find((value) => value !== '') || '';
  const label = CHARSETS.get(term);
  if (label === undefined || (label !== 'latin1' && decoderFor(label) === null)) {
    return { note: 'charset-unsupported', decode: latin1 };
  }
  return { note: null, decode: (bytes) => decodeWith(label, bytes).text };
}

function latin1(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 1) text += String.fromCharCode(bytes[i]);
  return text;
}

function trimValue(text) {
  return text.replace(/[\0 ]+$/, '').replace(/^ +/, '');
}

function isVR(a, b) {
  return a >= 0x41 && a <= 0x5a && b >= 0x41 && b <= 0x5a;
}

// Reads a file's header. `file` is a Blob; at most READ_LIMIT bytes are read.
export async function readDicomHeader(file) {
  const buffer = await file.slice(0, READ_LIMIT).arrayBuffer();
  return parseDicomHeader(new Uint8Array(buffer), file.size);
}

// bytes: the first bytes of the file (maybe all of it); fileSize: the whole file's size.
// Result: { isDicom, isDicomDir, preamble, transferSyntax, compressedHeader, fields, charsetNote,
//           stoppedAt, error } — error is a code when the header is damaged.
export function parseDicomHeader(bytes, fileSize = bytes.length) {
  const result = {
    isDicom: false,
    isDicomDir: false,
    preamble: false,
    transferSyntax: null,
    compressedHeader: false,
    fields: {},
    charsetNote: null,
    stoppedAt: null,
    error: null,
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reader = { bytes, view, fileSize, raw: new Map() };
  let offset;
  let syntax;
  if (bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d) {
    result.isDicom = true;
    result.preamble = true;
    offset = 132;
  } else {
    const start = sniffWithoutPreamble(bytes);
    if (!start) return result;
    result.isDicom = true;
    offset = 0;
    syntax = start;
  }
  try {
    if (offset === 132 || syntax === 'meta') {
      const meta = readMeta(reader, offset);
      offset = meta.offset;
      result.transferSyntax = meta.transferSyntax;
      if (meta.mediaStorageSOPClass === DICOMDIR_SOP_CLASS) result.isDicomDir = true;
      if (meta.mediaStorageSOPClass) result.fields.SOPClassUID = meta.mediaStorageSOPClass;
      if (meta.mediaStorageSOPInstance) result.fields.SOPInstanceUID = meta.mediaStorageSOPInstance;
      syntax = meta.transferSyntax ? syntaxFor(meta.transferSyntax) : guessSyntax(bytes, offset);
      // Some writers declare an explicit VR syntax and then write implicit VR; the first element says.
      if (syntax === 'explicit' && offset + 6 <= bytes.length && !isVR(bytes[offset + 4], bytes[offset + 5])) syntax = 'implicit';
      if (syntax === 'deflated') {
        result.compressedHeader = true;
        result.stoppedAt = 'compressed';
        return result;
      }
    } else {
      result.transferSyntax = syntax === 'implicit' ? IMPLICIT_LE : '1.2.840.10008.1.2.1';
    }
    result.stoppedAt = readDataset(reader, offset, syntax);
  } catch (error) {
    if (!(error instanceof DicomHeaderError)) throw error;
    result.error = error.code;
  }
  const charset = reader.raw.get('SpecificCharacterSet');
  const charsetText = charset ? trimValue(latin1(charset)) : '';
  const decoder = textDecoderFor(charsetText);
  for (const [name, value] of reader.raw) {
    const text = trimValue(TEXT_FIELDS.has(name) ? decoder.decode(value) : latin1(value));
    // Empty trailing component groups ("Wang^XiaoDong=王^小東=") carry nothing.
    result.fields[name] = name === 'PatientName' ? text.replace(/=+$/, '') : text;
  }
  result.charsetNote = decoder.note;
  if (result.fields.SOPClassUID === DICOMDIR_SOP_CLASS) result.isDicomDir = true;
  return result;
}

function syntaxFor(uid) {
  if (uid === IMPLICIT_LE) return 'implicit';
  if (uid === EXPLICIT_BE) return 'big';
  if (uid === DEFLATED_LE) return 'deflated';
  return 'explicit';
}

// A file meta group without a Transfer Syntax UID: look at the first dataset element.
function guessSyntax(bytes, offset) {
  return offset + 6 <= bytes.length && isVR(bytes[offset + 4], bytes[offset + 5]) ? 'explicit' : 'implicit';
}

// Discs often carry files without the 128-byte preamble that start straight with an element:
// group 0002 (meta, explicit VR LE) or group 0008 in implicit or explicit VR LE.
function sniffWithoutPreamble(bytes) {
  if (bytes.length < 8) return null;
  const group = bytes[0] | (bytes[1] << 8);
  const element = bytes[2] | (bytes[3] << 8);
  const explicit = isVR(bytes[4], bytes[5]);
  if (group === 0x0002 && explicit) return 'meta';
  if (group !== 0x0008) return null;
  // Plausible first elements of group 0008 are small-numbered (0000-0020).
  if (element > 0x0020) return null;
  if (explicit) return 'explicit';
  const length = bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24);
  if (length < 0 || length > 1024) return null;
  return 'implicit';
}

function need(reader, offset, count) {
  if (offset + count > reader.bytes.length) {
    if (offset + count > reader.fileSize) throw new DicomHeaderError('truncated', `element at ${offset} ends after the end of the file`);
    return false;
  }
  return true;
}

function readMeta(reader, start) {
  const { view, bytes } = reader;
  let offset = start;
  const meta = { transferSyntax: null, mediaStorageSOPClass: null, mediaStorageSOPInstance: null, offset };
  while (offset + 8 <= bytes.length && view.getUint16(offset, true) === 0x0002) {
    const element = view.getUint16(offset + 2, true);
    if (!isVR(bytes[offset + 4], bytes[offset + 5])) throw new DicomHeaderError('bad-meta', `file meta element without a VR at ${offset}`);
    const vr = String.fromCharCode(bytes[offset + 4], bytes[offset + 5]);
    let length;
    let valueStart;
    if (LONG_VRS.has(vr)) {
      if (!need(reader, offset, 12)) break;
      length = view.getUint32(offset + 8, true);
      valueStart = offset + 12;
    } else {
      length = view.getUint16(offset + 6, true);
      valueStart = offset + 8;
    }
    if (length === 0xffffffff) throw new DicomHeaderError('bad-meta', 'undefined length in the file meta group');
    if (!need(reader, valueStart, length)) throw new DicomHeaderError('read-limit', 'file meta group larger than the read limit');
    const value = bytes.subarray(valueStart, valueStart + length);
    const text = () => trimValue(latin1(value));
    if (element === 0x0002) meta.mediaStorageSOPClass = text();
    if (element === 0x0003) meta.mediaStorageSOPInstance = text();
    if (element === 0x0010) meta.transferSyntax = text();
    offset = valueStart + length;
  }
  meta.offset = offset;
  return meta;
}

// Reads one element header. Returns null when the read limit is reached (not an error: the file is
// longer than what was read).
function readElement(reader, offset, syntax) {
  const { view, bytes } = reader;
  const little = syntax !== 'big';
  if (!need(reader, offset, 8)) return null;
  const group = view.getUint16(offset, little);
  const element = view.getUint16(offset + 2, little);
  // Items and delimiters carry no VR in any transfer syntax.
  if (group === 0xfffe) {
    return { group, element, vr: null, length: view.getUint32(offset + 4, little), valueStart: offset + 8 };
  }
  if (syntax === 'implicit') {
    return { group, element, vr: null, length: view.getUint32(offset + 4, true), valueStart: offset + 8 };
  }
  if (!isVR(bytes[offset + 4], bytes[offset + 5])) {
    throw new DicomHeaderError('bad-vr', `no valid VR for (${hex(group)},${hex(element)}) at ${offset}`);
  }
  const vr = String.fromCharCode(bytes[offset + 4], bytes[offset + 5]);
  if (LONG_VRS.has(vr)) {
    if (!need(reader, offset, 12)) return null;
    return { group, element, vr, length: view.getUint32(offset + 8, little), valueStart: offset + 12 };
  }
  return { group, element, vr, length: view.getUint16(offset + 6, little), valueStart: offset + 8 };
}

function hex(n) {
  return n.toString(16).padStart(4, '0').toUpperCase();
}

// Top-level dataset: collects the wanted values. Returns why it stopped.
function readDataset(reader, start, syntax) {
  let offset = start;
  while (offset < reader.bytes.length) {
    const header = readElement(reader, offset, syntax);
    if (header === null) return 'read-limit';
    const { group, element, vr, length, valueStart } = header;
    if (group === 0x7fe0 && element === 0x0010) return 'pixel-data';
    if (group === 0xfffe) throw new DicomHeaderError('bad-structure', `item or delimiter outside a sequence at ${offset}`);
    if (length === 0xffffffff) {
      // Undefined length: a sequence (or UN/OB holding one); its contents are walked, not kept.
      const nested = vr === 'UN' ? 'implicit' : syntax;
      const end = skipUndefinedLength(reader, valueStart, nested, 1);
      if (end === null) return 'read-limit';
      offset = end;
      continue;
    }
    if (!need(reader, valueStart, length)) return 'read-limit';
    const tag = ((group << 16) | element) >>> 0;
    const name = WANTED.get(tag);
    if (name) reader.raw.set(name, reader.bytes.subarray(valueStart, valueStart + length));
    offset = valueStart + length;
  }
  return 'end';
}

// Walks items and delimiters of an undefined-length value starting at `offset`; returns the offset
// after its Sequence Delimitation Item, or null at the read limit.
function skipUndefinedLength(reader, start, syntax, depth) {
  if (depth > MAX_SEQUENCE_DEPTH) throw new DicomHeaderError('too-deep', `sequences nested deeper than ${MAX_SEQUENCE_DEPTH}`);
  let offset = start;
  for (;;) {
    const header = readElement(reader, offset, syntax);
    if (header === null) return null;
    const { group, element, length, valueStart } = header;
    if (group === 0xfffe && element === 0xe0dd) return valueStart; // sequence delimiter
    if (group === 0xfffe && element === 0xe000) {
      if (length === 0xffffffff) {
        const end = skipItemElements(reader, valueStart, syntax, depth + 1);
        if (end === null) return null;
        offset = end;
      } else {
        if (!need(reader, valueStart, length)) return null;
        offset = valueStart + length;
      }
      continue;
    }
    // Encapsulated data and malformed sequences: anything else here is a broken structure.
    throw new DicomHeaderError('bad-structure', `unexpected (${hex(group)},${hex(element)}) inside a sequence at ${offset}`);
  }
}

// Elements of an undefined-length item, up to its Item Delimitation Item.
function skipItemElements(reader, start, syntax, depth) {
  if (depth > MAX_SEQUENCE_DEPTH) throw new DicomHeaderError('too-deep', `sequences nested deeper than ${MAX_SEQUENCE_DEPTH}`);
  let offset = start;
  for (;;) {
    const header = readElement(reader, offset, syntax);
    if (header === null) return null;
    const { group, element, vr, length, valueStart } = header;
    if (group === 0xfffe && element === 0xe00d) return valueStart;
    if (group === 0xfffe) throw new DicomHeaderError('bad-structure', `unexpected (${hex(group)},${hex(element)}) inside an item at ${offset}`);
    if (length === 0xffffffff) {
      const end = skipUndefinedLength(reader, valueStart, vr === 'UN' ? 'implicit' : syntax, depth + 1);
      if (end === null) return null;
      offset = end;
      continue;
    }
    if (!need(reader, valueStart, length)) return null;
    offset = valueStart + length;
  }
}
