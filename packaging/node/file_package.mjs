// Guest files from an Emscripten file package (NAME.data + NAME.js.metadata) into an
// Emscripten FS such as pyodide.FS, in Node.js and in browsers.
//
// The package is what wasmemu_images/file_packager.py (or Emscripten's own
// tools/file_packager.py --separate-metadata) writes. Emscripten's generated
// loader .js would do the same job, but it is tied to one package's directory
// layout, fetches the metadata with XMLHttpRequest (absent in Node) and checks
// nothing; this module reads any package, verifies the SHA-256 sums our packer
// adds, and reports damage as a FilePackageError naming the file.
//
//   import { installFilePackage } from './file_package.mjs';
//   await installFilePackage(pyodide.FS, 'images/default.data');
//
// Node reads local paths and file: URLs with node:fs; anything else is fetched.

export const METADATA_SUFFIX = '.js.metadata';

const REBUILD = 'rebuild it with `invoke images`';
const DAMAGED = `the package is damaged — ${REBUILD}`;
const HEX64 = /^[0-9a-f]{64}$/;
const IS_NODE = typeof process === 'object' && typeof process.versions?.node === 'string';

export class FilePackageError extends Error {
  constructor(message) {
    super(message);
    this.name = 'FilePackageError';
  }
}

/** 'pkg.data' -> 'pkg.js.metadata' (the name Emscripten's loader fetches), for paths and URLs. */
export function metadataLocationFor(dataLocation) {
  const swap = (p) => {
    const slash = p.lastIndexOf('/') + 1;
    const base = p.slice(slash);
    return p.slice(0, slash) + (base.endsWith('.data') ? base.slice(0, -5) : base) + METADATA_SUFFIX;
  };
  if (dataLocation instanceof URL || hasScheme(dataLocation)) {
    const url = new URL(dataLocation);
    url.pathname = swap(url.pathname);
    return url;
  }
  return swap(String(dataLocation));
}

/** Parse and validate metadata text; `mount` also confines every file below it. */
export function parseMetadata(text, { source = 'metadata', mount = null } = {}) {
  const bad = (what) => new FilePackageError(`${source}: ${what}; ${DAMAGED}`);
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw bad(`not valid JSON (${e.message})`);
  }
  if (mount !== null && mount !== '/' && pathProblem(mount, null)) {
    throw new FilePackageError(`mount ${JSON.stringify(mount)} ${pathProblem(mount, null)}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw bad('the metadata is not a JSON object');
  }
  const size = doc.remote_package_size;
  if (!isCount(size)) throw bad('`remote_package_size` is missing or not a non-negative integer');
  const uuid = doc.package_uuid ?? '';
  if (typeof uuid !== 'string') throw bad('`package_uuid` is not a string');
  const whole = doc.sha256 ?? null;
  if (whole !== null && !(typeof whole === 'string' && HEX64.test(whole))) {
    throw bad('`sha256` is not 64 lowercase hex digits');
  }
  if (!Array.isArray(doc.files)) throw bad('`files` is missing or not a list');
  const files = doc.files.map((raw, i) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw bad(`files[${i}] is not an object`);
    }
    const name = raw.filename;
    if (typeof name !== 'string') throw bad(`files[${i}] has no string \`filename\``);
    const problem = pathProblem(name, mount);
    if (problem) throw bad(`files[${i}] ${JSON.stringify(name)} ${problem}`);
    const { start, end } = raw;
    if (!isCount(start) || !isCount(end)) {
      throw bad(`${name}: \`start\`/\`end\` are not non-negative integers`);
    }
    if (!(start <= end && end <= size)) {
      throw bad(`${name}: bytes ${start}..${end} lie outside the ${size}-byte package or end before they start`);
    }
    const digest = raw.sha256 ?? null;
    if (digest !== null && !(typeof digest === 'string' && HEX64.test(digest))) {
      throw bad(`${name}: \`sha256\` is not 64 lowercase hex digits`);
    }
    return { filename: name, start, end, sha256: digest };
  });
  const treeProblem = checkTree(files.map((f) => f.filename));
  if (treeProblem) throw bad(treeProblem);
  // Each file becomes a subarray of one buffer: overlapping ranges would alias two files.
  const spans = files.filter((f) => f.end > f.start).sort((a, b) => a.start - b.start || a.end - b.end);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i].start < spans[i - 1].end) {
      throw bad(`${spans[i - 1].filename} and ${spans[i].filename} overlap in the .data`);
    }
  }
  return { files, remote_package_size: size, package_uuid: uuid, sha256: whole };
}

/**
 * Read and check a package. Returns {metadata, files: Map<absolute path, Uint8Array>}; the
 * arrays are views of one buffer. Options: metadataLocation (default: beside the .data),
 * metadata (already parsed), mount (confine paths), verify (SHA-256 sums; default true).
 */
export async function loadFilePackage(dataLocation, options = {}) {
  const { verify = true, mount = null } = options;
  let metadata = options.metadata ?? null;
  let metaName = 'its metadata';
  if (metadata === null) {
    const metaLocation = options.metadataLocation ?? metadataLocationFor(dataLocation);
    metaName = String(metaLocation);
    const text = new TextDecoder().decode(await readBytes(metaLocation));
    metadata = parseMetadata(text, { source: metaName, mount });
  }
  const dataName = String(dataLocation);
  const data = await readBytes(dataLocation);
  const size = metadata.remote_package_size;
  if (data.byteLength < size) {
    throw new FilePackageError(
      `${dataName}: truncated: ${data.byteLength} bytes, but ${metaName} expects ${size}; ${DAMAGED}`);
  }
  if (data.byteLength > size) {
    throw new FilePackageError(
      `${dataName}: ${data.byteLength} bytes, but ${metaName} expects ${size}: the .data and ` +
      `its metadata come from different builds — ${REBUILD}`);
  }
  const files = new Map();
  for (const f of metadata.files) files.set(f.filename, data.subarray(f.start, f.end));
  if (verify) {
    // Per file first, so the message names the damaged file.
    for (const f of metadata.files) {
      if (f.sha256 !== null && (await sha256Hex(files.get(f.filename))) !== f.sha256) {
        throw new FilePackageError(`${dataName}: checksum mismatch for ${f.filename}; ${DAMAGED}`);
      }
    }
    if (metadata.sha256 !== null && (await sha256Hex(data)) !== metadata.sha256) {
      throw new FilePackageError(
        `${dataName}: checksum mismatch for the package as a whole; ${DAMAGED}`);
    }
  }
  return { metadata, files };
}

/** Write files (Map or object: absolute path -> Uint8Array) into an Emscripten FS. */
export function installFiles(FS, files) {
  const entries = files instanceof Map ? [...files] : Object.entries(files);
  const problem = checkTree(entries.map(([path]) => path));
  if (problem) throw new FilePackageError(`installFiles: ${problem}`);
  const made = new Set(['/']);
  for (const [path, bytes] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    let parent = dirname(path);
    if (!made.has(parent)) {
      FS.mkdirTree(parent);
      for (; !made.has(parent); parent = dirname(parent)) made.add(parent);
    }
    // canOwn: MEMFS keeps the view instead of copying (disk images can be large).
    FS.writeFile(path, bytes, { canOwn: true });
  }
}

/** loadFilePackage + installFiles; returns the metadata. */
export async function installFilePackage(FS, dataLocation, options = {}) {
  const { metadata, files } = await loadFilePackage(dataLocation, options);
  installFiles(FS, files);
  return metadata;
}

// -- helpers ---------------------------------------------------------------------------------

function hasScheme(location) {
  return typeof location === 'string' && /^[a-z][a-z0-9+.-]*:/i.test(location) &&
    !/^[a-z]:[\\/]/i.test(location); // not a Windows drive letter
}

async function readBytes(location) {
  const url = location instanceof URL ? location : hasScheme(location) ? new URL(location) : null;
  if (IS_NODE && (url === null || url.protocol === 'file:')) {
    const { readFile } = await import('node:fs/promises');
    let buf;
    try {
      buf = await readFile(url ?? location);
    } catch (e) {
      throw new FilePackageError(`${location}: cannot read (${e.code ?? e.message}); ${REBUILD}`);
    }
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  let response;
  try {
    response = await fetch(url ?? location);
  } catch (e) {
    throw new FilePackageError(`${location}: cannot fetch (${e.message})`);
  }
  if (!response.ok) {
    throw new FilePackageError(`${location}: HTTP ${response.status} ${response.statusText}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

async function sha256Hex(bytes) {
  const subtle = globalThis.crypto?.subtle;
  if (subtle) {
    const digest = new Uint8Array(await subtle.digest('SHA-256', bytes));
    return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  }
  if (IS_NODE) {
    const { createHash } = await import('node:crypto');
    return createHash('sha256').update(bytes).digest('hex');
  }
  throw new FilePackageError(
    'cannot verify checksums: WebCrypto (crypto.subtle) exists only on pages served from ' +
    'https:// or localhost; serve the page from one, or pass {verify: false}');
}

function isCount(v) {
  return Number.isSafeInteger(v) && v >= 0;
}

function dirname(path) {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

function pathProblem(path, mount) {
  if (path.includes('\0')) return 'contains a NUL byte';
  if (!path.startsWith('/')) return 'is not an absolute path';
  if (path.slice(1).split('/').some((p) => p === '' || p === '.' || p === '..')) {
    return 'is not a normalized path (empty, `.` or `..` components)';
  }
  if (mount !== null && mount !== '/' && !path.startsWith(mount + '/')) {
    return `escapes the mount ${mount}`;
  }
  return null;
}

function checkTree(paths) {
  const names = new Set();
  for (const path of paths) {
    const problem = typeof path === 'string' ? pathProblem(path, null) : 'is not a string';
    if (problem) return `${JSON.stringify(path)} ${problem}`;
    if (names.has(path)) return `${path} appears twice`;
    names.add(path);
  }
  for (const path of names) {
    for (let parent = dirname(path); parent !== '/'; parent = dirname(parent)) {
      if (names.has(parent)) return `${parent} is both a file and the directory of ${path}`;
    }
  }
  return null;
}
