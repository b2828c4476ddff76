// Files from a picker, a folder picker or drag and drop, as [{ path, file }]. Dropped folders are
// walked with the File System Entry API, bounded in depth and count.

export const MAX_DEPTH = 32;
export const MAX_ENTRIES = 20000;

export function fromInput(fileList) {
  return Array.from(fileList, (file) => ({ path: file.webkitRelativePath || file.name, file }));
}

// Must be called synchronously inside the drop handler: the items are gone once it returns.
export function entriesFromDrop(dataTransfer) {
  const entries = [];
  const loose = [];
  for (const item of Array.from(dataTransfer.items || [])) {
    if (item.kind !== 'file') continue;
    const entry = typeof item.webkitGetAsEntry === 'function' ? item.webkitGetAsEntry() : null;
    if (entry) entries.push(entry);
    else {
      const file = item.getAsFile();
      if (file) loose.push({ path: file.name, file });
    }
  }
  return { entries, loose };
}

const fileOf = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));
const readBatch = (reader) => new Promise((resolve, reject) => reader.readEntries(resolve, reject));

// Returns { files: [{ path, file }], truncated } where truncated says a bound was hit.
export async function walkEntries(entries, limits = { maxDepth: MAX_DEPTH, maxEntries: MAX_ENTRIES }) {
  const files = [];
  let seen = 0;
  let truncated = false;
  const visit = async (entry, depth) => {
    if (seen >= limits.maxEntries) {
      truncated = true;
      return;
    }
    seen += 1;
    if (entry.isFile) {
      try {
        files.push({ path: entry.fullPath.replace(/^\/+/, ''), file: await fileOf(entry) });
      } catch {
        // A file the browser cannot open (removed, permissions) is simply not there.
      }
      return;
    }
    if (!entry.isDirectory) return;
    if (depth >= limits.maxDepth) {
      truncated = true;
      return;
    }
    const reader = entry.createReader();
    // readEntries answers in batches (about 100) until it returns none.
    for (;;) {
      let batch;
      try {
        batch = await readBatch(reader);
      } catch {
        return;
      }
      if (batch.length === 0) return;
      for (const child of batch) {
        await visit(child, depth + 1);
        if (seen >= limits.maxEntries) {
          truncated = true;
          return;
        }
      }
    }
  };
  for (const entry of entries) await visit(entry, 0);
  return { files, truncated };
}
