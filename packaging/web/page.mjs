// The browser page: xterm.js in front, the VM (Pyodide + wasmemu's engine) in a Worker.
// Keys go to the Worker through a SharedArrayBuffer ring (input_ring.mjs), which exists only
// on cross-origin isolated pages: `invoke serve` sends the COOP/COEP headers for that.

import { Terminal } from '/xterm/lib/xterm.mjs';
import { createInputRing, InputWriter } from '/node/input_ring.mjs';

const statusLine = document.getElementById('status');
const STAGES = { load: 'Loading Python', download: 'Downloading', start: 'Starting', boot: 'Booting' };

function status(text, { error = false } = {}) {
  statusLine.textContent = text;
  statusLine.classList.toggle('error', error);
  window.wasmemu.status = text;
  window.wasmemu.failed ||= error;
}

// cache: what the translation cache held at start (bytes) and how often it was saved since.
window.wasmemu = {
  status: '', failed: false, exitStatus: null, stats: null,
  cache: { restoredBytes: 0, saves: 0, savedBytes: 0, error: null },
};
const term = new Terminal({ rows: 40, cols: 120, scrollback: 5000, fontSize: 14 });
term.open(document.getElementById('terminal'));
window.wasmemu.terminal = term; // for tests and the curious: the screen's text

async function boot() {
  if (!globalThis.crossOriginIsolated || typeof SharedArrayBuffer !== 'function') {
    status('This page is not cross-origin isolated, so the emulator cannot receive keys ' +
      '(SharedArrayBuffer is unavailable). Serve it with `python3 -m invoke serve`, which ' +
      'sends the Cross-Origin-Opener-Policy and Cross-Origin-Embedder-Policy headers.',
    { error: true });
    return;
  }
  if (typeof WebAssembly !== 'object') {
    status('This browser has no WebAssembly; wasmemu needs it.', { error: true });
    return;
  }
  status('Downloading the bundle description');
  const base = new URL('/bundle/', location.href);
  let bundle;
  try {
    const response = await fetch(new URL('bundle.json', base));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    bundle = await response.json();
  } catch (e) {
    status(`No wasmemu bundle is served at ${base.pathname} (${e.message}); ` +
      'start the page with `python3 -m invoke serve`, which builds it.', { error: true });
    return;
  }
  const store = await TranslationStore.open();
  const cacheFiles = store ? await store.load() : null;
  window.wasmemu.cache.restoredBytes = totalBytes(cacheFiles ?? []);
  const params = new URLSearchParams(location.search);
  const extra = params.getAll('arg');
  const input = createInputRing();
  const writer = new InputWriter(input);
  const worker = new Worker('/node/vm-worker.mjs', { type: 'module' });
  const encoder = new TextEncoder();
  term.onData((text) => writer.write(encoder.encode(text)));
  worker.onmessage = ({ data: msg }) => {
    switch (msg.type) {
      case 'progress':
        status(`${STAGES[msg.stage] ?? msg.stage}: ${msg.text}`);
        if (msg.stage === 'boot') term.focus();
        break;
      case 'output':
        term.write(msg.bytes);
        break;
      case 'log':
        term.write(msg.text.replace(/\n/g, '\r\n') + '\r\n');
        break;
      case 'cache':
        store.save(msg.files, msg.names).then(() => {
          window.wasmemu.cache.saves += 1;
          window.wasmemu.cache.savedBytes += totalBytes(msg.files);
        }, (e) => {
          window.wasmemu.cache.error = e.message;
          console.warn(`wasmemu: the translation cache could not be kept: ${e.message}`);
        });
        break;
      case 'exit':
        window.wasmemu.stats = msg.stats;
        window.wasmemu.exitStatus = msg.status;
        status(msg.status === 0 ? 'The guest powered off.'
          : `The emulator stopped with status ${msg.status}.`, { error: msg.status !== 0 });
        worker.terminate();
        break;
      case 'error':
        status(msg.text, { error: true });
        worker.terminate();
        break;
    }
  };
  worker.onerror = (e) => status(`The VM thread failed: ${e.message}`, { error: true });
  worker.postMessage({
    type: 'start',
    pyodide: new URL('/pyodide/pyodide.mjs', location.href).href,
    packages: bundle.packages.map((p) => ({ data: new URL(p.data, base).href, label: p.label })),
    argv: [...bundle.argv, ...extra],
    input,
    interactive: true,
    cacheFiles,
    statsFile: '/tmp/wasmemu-stats.json',
  }, (cacheFiles ?? []).map(([, data]) => data.buffer));
}

/** The size of files given as [path, Uint8Array]. */
function totalBytes(files) {
  return files.reduce((sum, [, data]) => sum + data.byteLength, 0);
}

/**
 * The translation cache's folder, kept in IndexedDB between visits: the Worker's file
 * system lives in memory, so without this every visit would be a first boot. One record
 * per file, keyed by its path in the folder. A browser without IndexedDB (or one that
 * refuses it, as some private modes do) boots without a cache.
 */
class TranslationStore {
  static NAME = 'wasmemu-translation-cache';
  static FILES = 'files';

  constructor(db) {
    this.db = db;
  }

  static open() {
    return new Promise((resolve) => {
      let request;
      try {
        request = indexedDB.open(TranslationStore.NAME, 1);
      } catch (e) {
        console.warn(`wasmemu: no IndexedDB, so no translation cache: ${e.message}`);
        resolve(null);
        return;
      }
      request.onupgradeneeded = () => request.result.createObjectStore(TranslationStore.FILES);
      request.onsuccess = () => resolve(new TranslationStore(request.result));
      request.onerror = () => {
        console.warn(`wasmemu: no translation cache: ${request.error?.message}`);
        resolve(null);
      };
    });
  }

  /** Every kept file as [path, Uint8Array]. */
  load() {
    return new Promise((resolve) => {
      const files = [];
      const tx = this.db.transaction(TranslationStore.FILES, 'readonly');
      const cursor = tx.objectStore(TranslationStore.FILES).openCursor();
      cursor.onsuccess = () => {
        const at = cursor.result;
        if (!at) return;
        files.push([at.key, at.value]);
        at.continue();
      };
      tx.oncomplete = () => resolve(files);
      tx.onerror = () => {
        console.warn(`wasmemu: the translation cache could not be read: ${tx.error?.message}`);
        resolve([]); // boot without it; the next save starts it afresh
      };
    });
  }

  /** Add `files` ([path, Uint8Array]) and forget every file not in `names`. */
  save(files, names) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(TranslationStore.FILES, 'readwrite');
      const table = tx.objectStore(TranslationStore.FILES);
      for (const [path, data] of files) table.put(data, path);
      const keep = new Set(names);
      const keys = table.getAllKeys();
      keys.onsuccess = () => keys.result.filter((k) => !keep.has(k)).forEach((k) => table.delete(k));
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB refused the write'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB aborted the write'));
    });
  }
}

boot().catch((e) => status(`Could not start: ${e.message}`, { error: true }));
