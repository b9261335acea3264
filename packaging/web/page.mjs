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

window.wasmemu = { status: '', failed: false, exitStatus: null };
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
      case 'exit':
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
  });
}

boot().catch((e) => status(`Could not start: ${e.message}`, { error: true }));
