// The VM's thread: Pyodide runs wasmemu's engine here, in a Node.js worker_thread or a
// browser Worker, so the guest can run without starving the page's or the runner's event loop.
//
// Protocol (messages to the parent):
//   {type: 'progress', stage: 'load'|'download'|'start'|'boot', text}
//   {type: 'output', bytes}         the guest's console output (Uint8Array)
//   {type: 'log', text}             Python's stdout/stderr (the engine's own messages)
//   {type: 'exit', status}          the engine returned; status 0 after a guest power-off
//   {type: 'error', text}           it could not start; text says why and what to do
// The parent sends one {type: 'start', ...} message (see start() below).

import { installFilePackage } from './file_package.mjs';
import { InputReader } from './input_ring.mjs';

const IS_NODE = typeof process === 'object' && typeof process.versions?.node === 'string';

async function parentPort() {
  if (IS_NODE) {
    const { parentPort: port } = await import('node:worker_threads');
    return { post: (m) => port.postMessage(m), once: (f) => port.once('message', f) };
  }
  return {
    post: (m) => self.postMessage(m),
    once: (f) => self.addEventListener('message', (e) => f(e.data), { once: true }),
  };
}

const port = await parentPort();
const progress = (stage, text) => port.post({ type: 'progress', stage, text });

/**
 * msg: {pyodide: URL of pyodide.mjs, packages: [{data: location of NAME.data, label}],
 *       argv: engine options, input: SharedArrayBuffer (input_ring.mjs),
 *       interactive: boolean, cacheDir: a host folder for the translation cache (Node only)}
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
  if (IS_NODE && msg.cacheDir) {
    py.FS.mkdirTree('/cache');
    py.FS.mount(py.FS.filesystems.NODEFS, { root: msg.cacheDir }, '/cache');
    argv.unshift('--tcache', '/cache/tcache');
  } else {
    argv.unshift('--tcache', 'off');
  }
  progress('start', 'starting the engine');
  py.runPython("import sys; sys.path.insert(0, '/wasmemu')");
  const entry = py.pyimport('engine.pyodide_main');
  const reader = new InputReader(msg.input);
  let booting = true;
  const bridge = {
    interactive: Boolean(msg.interactive),
    read: (ms) => reader.read(ms),
    write: (bytes) => {
      if (booting) {
        booting = false;
        progress('boot', 'the guest is booting');
      }
      port.post({ type: 'output', bytes });
    },
  };
  return entry.main(py.toPy(argv), bridge);
}

port.once(async (msg) => {
  try {
    const status = await start(msg);
    port.post({ type: 'exit', status });
  } catch (e) {
    port.post({ type: 'error', text: describe(e) });
  }
});

function describe(e) {
  if (e?.name === 'FilePackageError') return e.message;
  if (e?.type) return `Python ${e.type}: ${String(e.message).trim().split('\n').pop()}`;
  return `${e?.name ?? 'Error'}: ${e?.message ?? e}`;
}
