// Runs a Python file inside Pyodide on this Node.js, with the project's source tree on
// sys.path (mounted from the host at /project) and a scratch folder at /scratch; what the
// Python code prints comes out on stdout. For tests of code that only runs under Pyodide.
//
//   node run_in_pyodide.mjs PROJECT_ROOT SCRATCH_DIR SCRIPT.py

import { createRequire } from 'node:module';

const [project, scratch, script] = process.argv.slice(2);
const require = createRequire(`${project}/packaging/node/package.json`);
const { loadPyodide } = await import(require.resolve('pyodide/pyodide.mjs'));
const py = await loadPyodide({
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
});
for (const [root, mount] of [[project, '/project'], [scratch, '/scratch']]) {
  py.FS.mkdirTree(mount);
  py.FS.mount(py.FS.filesystems.NODEFS, { root }, mount);
}
py.runPython("import sys; sys.path.insert(0, '/project')");
try {
  py.runPython(py.FS.readFile(`/scratch/${script}`, { encoding: 'utf8' }));
} catch (e) {
  process.stderr.write(String(e.message ?? e));
  process.exit(1);
}
