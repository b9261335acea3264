#!/usr/bin/env node
// wasmemu's Node.js runner: boots the guest of a web bundle on the engine under Pyodide.
//
//   node packaging/node/run.mjs [--bundle DIR] [wasmemu run options...]
//
// The same console contract as the native `wasmemu run`: a raw terminal with QEMU's
// Ctrl-A keys when stdin is a terminal, plain pipes otherwise (input handed to the guest
// a line at a time as its shell waits), exit status 0 when the guest powers off.
// The VM runs in a worker_thread, so input keeps arriving while the guest runs.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import { createInputRing, InputWriter } from './input_ring.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const BUNDLE_FORMAT = 1;
const BUILD_HINT = 'build it with `python3 -m invoke run --node` (or pass --bundle DIR)';

class RunnerError extends Error {}

/** Mirrors wasmemu_images.cache.cache_root(). */
function cacheRoot() {
  if (process.env.WASMEMU_CACHE) return resolve(process.env.WASMEMU_CACHE);
  const xdg = process.env.XDG_CACHE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'wasmemu');
  return join(homedir(), '.cache', 'wasmemu');
}

function parseArgs(argv) {
  const options = { bundle: null, engine: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--bundle') {
      if (i + 1 >= argv.length) throw new RunnerError('option --bundle needs a folder');
      options.bundle = argv[++i];
    } else if (argv[i] === '--help' || argv[i] === '-h') {
      options.help = true;
    } else {
      options.engine.push(argv[i]);
    }
  }
  return options;
}

function readBundle(folder) {
  const path = join(folder, 'bundle.json');
  let doc;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    if (e.code === 'ENOENT') throw new RunnerError(`no wasmemu bundle in ${folder}; ${BUILD_HINT}`);
    throw new RunnerError(`${path} is unreadable (${e.code ?? e.message}); ${BUILD_HINT}`);
  }
  if (doc?.format !== BUNDLE_FORMAT || !Array.isArray(doc.packages) || !Array.isArray(doc.argv)) {
    throw new RunnerError(`${path} is not a bundle this runner understands; ${BUILD_HINT}`);
  }
  return doc;
}

/**
 * In an unpacked release, every file listed in SHA256SUMS (written by `invoke build`) must
 * be there and match before anything of it runs: a truncated download or a changed file
 * stops here with the file's name, not later as a puzzling failure inside Pyodide.
 */
function verifyRelease(root) {
  const sums = join(root, 'SHA256SUMS');
  if (!existsSync(sums)) return false;
  const again = 'download the release again and check it with `sha256sum -c SHA256SUMS`';
  const missing = [];
  for (const line of readFileSync(sums, 'utf8').split('\n')) {
    if (!line) continue;
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!match || match[2].split('/').includes('..')) {
      throw new RunnerError(`${sums} is damaged (line "${line.slice(0, 60)}"); ${again}`);
    }
    const file = join(root, match[2]);
    let bytes;
    try {
      bytes = readFileSync(file);
    } catch {
      missing.push(match[2]);
      continue;
    }
    if (createHash('sha256').update(bytes).digest('hex') !== match[1]) {
      throw new RunnerError(`checksum mismatch for ${match[2]} in ${root}; ${again}`);
    }
  }
  if (missing.length) {
    throw new RunnerError(
      `${missing.length} file(s) of the release are missing (${missing.slice(0, 3).join(', ')}` +
      `${missing.length > 3 ? ', ...' : ''}): it was not unpacked completely; ${again}`);
  }
  return true;
}

function pyodideModule() {
  try {
    return import.meta.resolve('pyodide');
  } catch {
    throw new RunnerError(
      `Pyodide is not installed next to ${HERE}; run \`npm ci\` there ` +
      '(`python3 -m invoke run --node` does it for you)');
  }
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.help) {
    process.stdout.write(
      'usage: node run.mjs [--bundle DIR] [wasmemu run options...]\n' +
      'Boots the guest of a wasmemu web bundle (default: ./bundle in a release, else the\n' +
      'one in the wasmemu cache)\n' +
      'on the engine under Pyodide. Engine options are those of `wasmemu run`,\n' +
      'e.g. --wasm wasm32, --tier interp, -append "console=ttyS0 quiet".\n');
    return;
  }
  // Next to an unpacked release's runner the bundle is its own; in the source tree, the
  // one `invoke run --node` keeps in the cache.
  const isRelease = verifyRelease(HERE);
  const folder = resolve(options.bundle ?? (isRelease ? join(HERE, 'bundle')
                                                      : join(cacheRoot(), 'web', 'default')));
  const bundle = readBundle(folder);
  const cacheDir = cacheRoot();
  mkdirSync(cacheDir, { recursive: true });
  const interactive = Boolean(process.stdin.isTTY);
  const input = createInputRing();
  const writer = new InputWriter(input);
  const worker = new Worker(new URL('./vm-worker.mjs', import.meta.url));
  const showProgress = Boolean(process.stderr.isTTY) && !process.env.WASMEMU_QUIET;

  const restoreTerminal = () => {
    if (interactive && process.stdin.isRaw) process.stdin.setRawMode(false);
  };
  const finish = (status) => {
    restoreTerminal();
    worker.terminate();
    process.stdin.destroy();
    process.stdout.write('', () => process.exit(status));
  };

  worker.on('message', (msg) => {
    switch (msg.type) {
      case 'output':
        process.stdout.write(msg.bytes);
        break;
      case 'log':
        process.stderr.write(`${msg.text}\n`);
        break;
      case 'progress':
        if (showProgress) process.stderr.write(`wasmemu: ${msg.text}\r\n`);
        break;
      case 'exit':
        finish(msg.status);
        break;
      case 'error':
        process.stderr.write(`\r\nwasmemu: ${msg.text}\n`);
        finish(1);
        break;
    }
  });
  worker.on('error', (e) => {
    process.stderr.write(`\r\nwasmemu: internal error in the VM thread: ${e?.stack ?? e}\n`);
    finish(70);
  });

  if (interactive) process.stdin.setRawMode(true);
  process.stdin.on('data', (chunk) => {
    writer.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
    if (writer.backlog > (1 << 20)) {
      process.stdin.pause();
      const resume = setInterval(() => {
        if (writer.backlog < (1 << 16)) {
          clearInterval(resume);
          process.stdin.resume();
        }
      }, 10);
    }
  });
  process.stdin.on('end', () => writer.close());

  const packages = bundle.packages.map((p) => {
    const data = join(folder, p.data);
    if (!existsSync(data)) throw new RunnerError(`${data} is missing; ${BUILD_HINT}`);
    return { data, label: p.label };
  });
  worker.postMessage({
    type: 'start',
    pyodide: pyodideModule(),
    packages,
    argv: [...bundle.argv, ...options.engine],
    input,
    interactive,
    cacheDir,
  });
}

try {
  main();
} catch (e) {
  if (!(e instanceof RunnerError)) throw e;
  process.stderr.write(`wasmemu: ${e.message}\n`);
  process.exit(1);
}
