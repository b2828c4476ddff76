// Which files of a disc go to the hospital: DICOM images and DICOMDIR go; programs, autorun files
// and everything else stay on the patient's computer, each with the reason in plain words.
import { readDicomHeader } from './dicom-header.js';

const PROGRAM_EXTENSIONS = new Set([
  'exe', 'dll', 'msi', 'bat', 'cmd', 'com', 'scr', 'ps1', 'vbs', 'js', 'jar', 'app', 'dmg', 'sh', 'apk',
]);

export function baseName(path) {
  const parts = path.split('/');
  return parts[parts.length - 1];
}

export function reasonByName(path) {
  const name = baseName(path).toLowerCase();
  if (name === 'autorun.inf') return 'autorun';
  const dot = name.lastIndexOf('.');
  if (dot > 0 || (dot === 0 && name.length > 1)) {
    if (PROGRAM_EXTENSIONS.has(name.slice(dot + 1))) return 'program';
  }
  // A macOS application bundle shows up as a folder named *.app.
  if (path.toLowerCase().split('/').slice(0, -1).some((part) => part.endsWith('.app'))) return 'program';
  return null;
}

// Content signatures of programs. `bytes` are the first bytes of the file.
export function programSignature(bytes) {
  if (bytes.length >= 2 && bytes[0] === 0x4d && bytes[1] === 0x5a) return 'windows';
  if (bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) return 'elf';
  if (bytes.length >= 4) {
    const magic = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
    if ([0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe].includes(magic)) return 'mach-o';
  }
  if (bytes.length >= 2 && bytes[0] === 0x23 && bytes[1] === 0x21) return 'script';
  return null;
}

export function isZip(path, bytes) {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return true;
  return baseName(path).toLowerCase().endsWith('.zip');
}

// Returns { path, file, size, kind: 'image' | 'dicomdir' | 'zip' | 'left-out', reason?, header? }; a
// reason is a catalogue key under "leftout.".
// A DICOM file whose preamble is also a Windows program is an image here: the back end cleans it.
export async function classifyFile(file, path) {
  const entry = { path, file, size: file.size, kind: 'left-out', reason: null, header: null };
  const byName = reasonByName(path);
  if (byName) {
    entry.reason = byName;
    return entry;
  }
  if (file.size === 0) {
    entry.reason = 'empty';
    return entry;
  }
  const header = await readDicomHeader(file);
  if (header.isDicom) {
    entry.header = header;
    entry.kind = header.isDicomDir ? 'dicomdir' : 'image';
    return entry;
  }
  const start = new Uint8Array(await file.slice(0, 8).arrayBuffer());
  if (programSignature(start)) {
    entry.reason = 'program';
    return entry;
  }
  if (isZip(path, start)) {
    entry.kind = 'zip';
    return entry;
  }
  entry.reason = 'not-image';
  return entry;
}
