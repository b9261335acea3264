// The VM's thread: Pyodide runs wasmemu's engine here, in a Node.js worker_thread or a
// browser Worker, so the guest can run without starving the page's or the runner's event loop.
//
// Protocol (messages to the parent):
//   {type: 'progress', stage: 'load'|'download'|'start'|'boot', text}
//   {type: 'output', bytes}         the guest's console output (Uint8Array)
//   {type: 'log', text}             Python's stdout/stderr (the engine's own messages)
//   {type: 'cache', files, names}   the translation cache was saved (browser only): files
//                                   [[path, Uint8Array]] are new since the last message,
//                                   names every file the cache folder now holds
//   {type: 'exit', status, stats}   the engine returned; status 0 after a guest power-off;
//                                   stats: its --stats counters if statsFile was given
//   {type: 'error', text}           it could not start; text says why and what to do
// The parent sends one {type: 'start', ...} message (see start() below).

import { installFilePackage } from './file_package.mjs';
import { InputReader } from './input_ring.mjs';

const IS_NODE = typeof process === 'object' && typeof process.versions?.node === 'string';

async function parentPort() {
  if (IS_NODE) {
    const { parentPort: port } = await import('node:worker_threads');
    return {
      post: (m, transfer) => port.postMessage(m, transfer),
      once: (f) => port.once('message', f),
    };
  }
  return {
    post: (m, transfer) => self.postMessage(m, transfer),
    once: (f) => self.addEventListener('message', (e) => f(e.data), { once: true }),
  };
}

const port = await parentPort();
const progress = (stage, text) => port.post({ type: 'progress', stage, text });

const CACHE = '/cache';

/**
 * msg: {pyodide: URL of pyodide.mjs, packages: [{data: location of NAME.data, label}],
 *       argv: engine options, input: SharedArrayBuffer (input_ring.mjs),
 *       interactive: boolean, cacheDir: a host folder for the translation cache (Node only),
 *       cacheFiles: [[path, Uint8Array]] the page kept from earlier visits (browser only;
 *       absent: no cache), statsFile: where the engine writes its counters}
 */
async function start(msg) {
  progress('load', 'loading Python (Pyodide)');
  const { loadPyodide } = await import(msg.pyodide);
  const log = (text) => port.post({ type: 'log', text });
  const py = await loadPyodide({ stdout: log, stderr: log });
  for (const pkg of msg.packages) {
    progress('download', `loading ${pkg.label}`);
    await installFilePackage(py.FS, pkg.data);
  }
  const argv = [...msg.argv];
  let cacheSaved;
  let starting = 'starting the engine';
  if (IS_NODE && msg.cacheDir) {
    py.FS.mkdirTree(CACHE);
    py.FS.mount(py.FS.filesystems.NODEFS, { root: msg.cacheDir }, CACHE);
    argv.unshift('--tcache', `${CACHE}/tcache`);
  } else if (msg.cacheFiles) {
    // The folder lives in this Worker's memory; the page keeps a copy in IndexedDB.
    let bytes = 0;
    for (const [path, data] of msg.cacheFiles) {
      py.FS.mkdirTree(`${CACHE}/${path}`.replace(/\/[^/]*$/, ''));
      py.FS.writeFile(`${CACHE}/${path}`, data);
      bytes += data.byteLength;
    }
    if (bytes) starting += ` with ${(bytes / 1e6).toFixed(0)} MB of translations kept from before`;
    let known = new Set(msg.cacheFiles.map(([path]) => path));
    cacheSaved = () => {
      const names = listFiles(py.FS, CACHE);
      const files = names.filter((p) => !known.has(p))
        .map((p) => [p, py.FS.readFile(`${CACHE}/${p}`)]);
      known = new Set(names);
      port.post({ type: 'cache', files, names }, files.map(([, data]) => data.buffer));
    };
    argv.unshift('--tcache', `${CACHE}/tcache`);
  } else {
    argv.unshift('--tcache', 'off');
  }
  if (msg.statsFile) argv.unshift('--stats', msg.statsFile);
  progress('start', starting);
  py.runPython("import sys; sys.path.insert(0, '/wasmemu')");
  const entry = py.pyimport('engine.pyodide_main');
  const reader = new InputReader(msg.input);
  let booting = true;
  const bridge = {
    interactive: Boolean(msg.interactive),
    read: (ms) => reader.read(ms),
    cacheSaved,
    write: (bytes) => {
      if (booting) {
        booting = false;
        progress('boot', 'the guest is booting');
      }
      port.post({ type: 'output', bytes });
    },
  };
  const status = entry.main(py.toPy(argv), bridge);
  return { status, stats: msg.statsFile ? readStats(py.FS, msg.statsFile) : null };
}

/** Every regular file under `root`, as paths relative to it. */
function listFiles(fs, root, prefix = '') {
  const found = [];
  for (const name of fs.readdir(`${root}/${prefix}`)) {
    if (name === '.' || name === '..') continue;
    const path = prefix + name;
    const mode = fs.stat(`${root}/${path}`).mode;
    if (fs.isDir(mode)) found.push(...listFiles(fs, root, `${path}/`));
    else if (fs.isFile(mode)) found.push(path);
  }
  return found;
}

function readStats(fs, path) {
  try {
    return JSON.parse(fs.readFile(path, { encoding: 'utf8' }));
  } catch {
    return null; // the engine stopped before writing them
  }
}

port.once(async (msg) => {
  try {
    const { status, stats } = await start(msg);
    port.post({ type: 'exit', status, stats });
  } catch (e) {
    port.post({ type: 'error', text: describe(e) });
  }
});

function describe(e) {
  if (e?.name === 'FilePackageError') return e.message;
  if (e?.type) return `Python ${e.type}: ${String(e.message).trim().split('\n').pop()}`;
  return `${e?.name ?? 'Error'}: ${e?.message ?? e}`;
}
