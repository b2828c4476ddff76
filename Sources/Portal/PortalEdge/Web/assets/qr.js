// QR code encoder for the authenticator enrolment: byte mode, error correction level M, versions
// 1-10 (up to 213 bytes — an otpauth URI is about 100), all eight masks scored, format and version
// information written. Drawn as SVG built from DOM nodes (no inline style: the page's CSP forbids it).

// Level M per version: [data codewords per block for each block..., EC codewords per block].
const BLOCKS_M = [
  null,
  { ec: 10, blocks: [16] },
  { ec: 16, blocks: [28] },
  { ec: 26, blocks: [44] },
  { ec: 18, blocks: [32, 32] },
  { ec: 24, blocks: [43, 43] },
  { ec: 16, blocks: [27, 27, 27, 27] },
  { ec: 18, blocks: [31, 31, 31, 31] },
  { ec: 22, blocks: [38, 38, 39, 39] },
  { ec: 22, blocks: [36, 36, 36, 37, 37] },
  { ec: 26, blocks: [43, 43, 43, 43, 44] },
];
const ALIGNMENT = [null, [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50]];
const EC_LEVEL_M_BITS = 0b00;

export class QrError extends Error {}

// GF(256) arithmetic with the QR polynomial x^8 + x^4 + x^3 + x^2 + 1.
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i += 1) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i += 1) EXP[i] = EXP[i - 255];
}
const gfMul = (a, b) => (a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]]);

function generator(degree) {
  // Coefficients, highest power first, of prod_{i<degree} (x - α^i).
  let poly = [1];
  for (let i = 0; i < degree; i += 1) {
    const next = new Array(poly.length + 1).fill(0);
    for (let j = 0; j < poly.length; j += 1) {
      next[j] ^= poly[j];
      next[j + 1] ^= gfMul(poly[j], EXP[i]);
    }
    poly = next;
  }
  return poly;
}

export function reedSolomon(data, degree) {
  const gen = generator(degree);
  const remainder = new Array(degree).fill(0);
  for (const byte of data) {
    const factor = byte ^ remainder.shift();
    remainder.push(0);
    for (let i = 0; i < degree; i += 1) remainder[i] ^= gfMul(gen[i + 1], factor);
  }
  return remainder;
}

function capacity(version) {
  return BLOCKS_M[version].blocks.reduce((sum, n) => sum + n, 0);
}

function chooseVersion(length) {
  for (let version = 1; version <= 10; version += 1) {
    const countBits = version <= 9 ? 8 : 16;
    if (4 + countBits + 8 * length <= capacity(version) * 8) return version;
  }
  throw new QrError(`${length} bytes do not fit a version 10 QR code at level M`);
}

function dataCodewords(bytes, version) {
  const total = capacity(version);
  const bits = [];
  const put = (value, count) => {
    for (let i = count - 1; i >= 0; i -= 1) bits.push((value >>> i) & 1);
  };
  put(0b0100, 4);
  put(bytes.length, version <= 9 ? 8 : 16);
  for (const byte of bytes) put(byte, 8);
  put(0, Math.min(4, total * 8 - bits.length));
  while (bits.length % 8 !== 0) bits.push(0);
  const words = [];
  for (let i = 0; i < bits.length; i += 8) words.push(bits.slice(i, i + 8).reduce((a, b) => (a << 1) | b, 0));
  for (let pad = 0xec; words.length < total; pad ^= 0xec ^ 0x11) words.push(pad);
  return words;
}

function interleave(words, version) {
  const { ec, blocks } = BLOCKS_M[version];
  const dataBlocks = [];
  let at = 0;
  for (const size of blocks) {
    dataBlocks.push(words.slice(at, at + size));
    at += size;
  }
  const ecBlocks = dataBlocks.map((block) => reedSolomon(block, ec));
  const out = [];
  const longest = Math.max(...blocks);
  for (let i = 0; i < longest; i += 1) for (const block of dataBlocks) if (i < block.length) out.push(block[i]);
  for (let i = 0; i < ec; i += 1) for (const block of ecBlocks) out.push(block[i]);
  return out;
}

function bchFormat(mask) {
  const data = (EC_LEVEL_M_BITS << 3) | mask;
  let rem = data;
  for (let i = 0; i < 10; i += 1) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
  return ((data << 10) | (rem & 0x3ff)) ^ 0x5412;
}

function bchVersion(version) {
  let rem = version;
  for (let i = 0; i < 12; i += 1) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
  return (version << 12) | (rem & 0xfff);
}

const MASKS = [
  (r, c) => (r + c) % 2 === 0,
  (r) => r % 2 === 0,
  (r, c) => c % 3 === 0,
  (r, c) => (r + c) % 3 === 0,
  (r, c) => (Math.floor(r / 2) + Math.floor(c / 3)) % 2 === 0,
  (r, c) => ((r * c) % 2) + ((r * c) % 3) === 0,
  (r, c) => (((r * c) % 2) + ((r * c) % 3)) % 2 === 0,
  (r, c) => (((r + c) % 2) + ((r * c) % 3)) % 2 === 0,
];

class Matrix {
  constructor(version) {
    this.version = version;
    this.size = 17 + 4 * version;
    this.dark = Array.from({ length: this.size }, () => new Array(this.size).fill(false));
    this.reserved = Array.from({ length: this.size }, () => new Array(this.size).fill(false));
  }

  set(row, col, dark) {
    this.dark[row][col] = dark;
    this.reserved[row][col] = true;
  }

  drawFunctionPatterns() {
    const { size } = this;
    for (let i = 0; i < size; i += 1) {
      this.set(6, i, i % 2 === 0);
      this.set(i, 6, i % 2 === 0);
    }
    this.finder(3, 3);
    this.finder(3, size - 4);
    this.finder(size - 4, 3);
    const centres = ALIGNMENT[this.version];
    const last = centres.length - 1;
    centres.forEach((row, i) => centres.forEach((col, j) => {
      const nearFinder = (i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0);
      if (!nearFinder) this.alignment(row, col);
    }));
    this.drawFormat(0);
    this.drawVersion();
  }

  // Finder pattern centred on (row, col) with its one-module light separator.
  finder(row, col) {
    for (let dr = -4; dr <= 4; dr += 1) {
      for (let dc = -4; dc <= 4; dc += 1) {
        const r = row + dr;
        const c = col + dc;
        if (r < 0 || c < 0 || r >= this.size || c >= this.size) continue;
        const ring = Math.max(Math.abs(dr), Math.abs(dc));
        this.set(r, c, ring !== 2 && ring !== 4);
      }
    }
  }

  alignment(row, col) {
    for (let dr = -2; dr <= 2; dr += 1) {
      for (let dc = -2; dc <= 2; dc += 1) this.set(row + dr, col + dc, Math.max(Math.abs(dr), Math.abs(dc)) !== 1);
    }
  }

  drawFormat(mask) {
    const bits = bchFormat(mask);
    const bit = (i) => ((bits >>> i) & 1) === 1;
    const { size } = this;
    // First copy around the top-left finder.
    for (let i = 0; i <= 5; i += 1) this.set(i, 8, bit(i));
    this.set(7, 8, bit(6));
    this.set(8, 8, bit(7));
    this.set(8, 7, bit(8));
    for (let i = 9; i < 15; i += 1) this.set(8, 14 - i, bit(i));
    // Second copy split between the other two finders.
    for (let i = 0; i < 8; i += 1) this.set(8, size - 1 - i, bit(i));
    for (let i = 8; i < 15; i += 1) this.set(size - 15 + i, 8, bit(i));
    this.set(size - 8, 8, true); // the dark module
  }

  drawVersion() {
    if (this.version < 7) return;
    const bits = bchVersion(this.version);
    for (let i = 0; i < 18; i += 1) {
      const dark = ((bits >>> i) & 1) === 1;
      const a = this.size - 11 + (i % 3);
      const b = Math.floor(i / 3);
      this.set(b, a, dark);
      this.set(a, b, dark);
    }
  }

  placeData(codewords) {
    const { size } = this;
    let bitIndex = 0;
    const totalBits = codewords.length * 8;
    for (let right = size - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5; // skip the vertical timing pattern
      const upward = ((right + 1) & 2) === 0;
      for (let step = 0; step < size; step += 1) {
        const row = upward ? size - 1 - step : step;
        for (let j = 0; j < 2; j += 1) {
          const col = right - j;
          if (this.reserved[row][col]) continue;
          let dark = false;
          if (bitIndex < totalBits) dark = ((codewords[bitIndex >>> 3] >>> (7 - (bitIndex & 7))) & 1) === 1;
          this.dark[row][col] = dark;
          bitIndex += 1;
        }
      }
    }
  }

  applyMask(mask) {
    const rule = MASKS[mask];
    for (let r = 0; r < this.size; r += 1) {
      for (let c = 0; c < this.size; c += 1) if (!this.reserved[r][c] && rule(r, c)) this.dark[r][c] = !this.dark[r][c];
    }
  }

  penalty() {
    const { size, dark } = this;
    let score = 0;
    const line = (get) => {
      let runColour = null;
      let run = 0;
      const pattern = [];
      for (let i = 0; i < size; i += 1) {
        const value = get(i);
        if (value === runColour) run += 1;
        else {
          if (run >= 5) score += 3 + (run - 5);
          runColour = value;
          run = 1;
        }
        pattern.push(value ? 1 : 0);
      }
      if (run >= 5) score += 3 + (run - 5);
      const text = pattern.join('');
      for (const finderLike of ['10111010000', '00001011101']) {
        for (let at = text.indexOf(finderLike); at !== -1; at = text.indexOf(finderLike, at + 1)) score += 40;
      }
    };
    for (let r = 0; r < size; r += 1) line((c) => dark[r][c]);
    for (let c = 0; c < size; c += 1) line((r) => dark[r][c]);
    for (let r = 0; r < size - 1; r += 1) {
      for (let c = 0; c < size - 1; c += 1) {
        const v = dark[r][c];
        if (v === dark[r][c + 1] && v === dark[r + 1][c] && v === dark[r + 1][c + 1]) score += 3;
      }
    }
    let darkCount = 0;
    for (const row of dark) for (const v of row) if (v) darkCount += 1;
    const total = size * size;
    const k = Math.ceil(Math.abs(darkCount * 20 - total * 10) / total) - 1;
    score += Math.max(0, k) * 10;
    return score;
  }
}

// Returns { version, size, mask, modules: boolean[row][col] } for the UTF-8 bytes of `text`.
export function encodeQr(text, forcedMask = null) {
  const bytes = new TextEncoder().encode(text);
  const version = chooseVersion(bytes.length);
  const codewords = interleave(dataCodewords(bytes, version), version);
  let best = null;
  const masks = forcedMask === null ? [0, 1, 2, 3, 4, 5, 6, 7] : [forcedMask];
  for (const mask of masks) {
    const matrix = new Matrix(version);
    matrix.drawFunctionPatterns();
    matrix.placeData(codewords);
    matrix.applyMask(mask);
    matrix.drawFormat(mask);
    const score = matrix.penalty();
    if (best === null || score < best.score) best = { score, mask, matrix };
  }
  return { version, size: best.matrix.size, mask: best.mask, modules: best.matrix.dark };
}

// An <svg> with a 4-module quiet zone; dark modules as one path.
export function qrSvg(text, label) {
  const { size, modules } = encodeQr(text);
  const ns = 'http://www.w3.org/2000/svg';
  const full = size + 8;
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${full} ${full}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('class', 'qr');
  svg.setAttribute('shape-rendering', 'crispEdges');
  const background = document.createElementNS(ns, 'rect');
  background.setAttribute('width', String(full));
  background.setAttribute('height', String(full));
  background.setAttribute('fill', '#ffffff');
  svg.append(background);
  let d = '';
  for (let r = 0; r < size; r += 1) {
    for (let c = 0; c < size; c += 1) if (modules[r][c]) d += `M${c + 4} ${r + 4}h1v1h-1z`;
  }
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', d);
  path.setAttribute('fill', '#000000');
  svg.append(path);
  return svg;
}
