// Pushes 1 MiB through a 4 KiB input ring into a worker_thread that reads it in pieces with
// short timeouts, then closes the ring; prints JSON: did every byte arrive in order, and did
// the reader see the end of input.
import { Worker } from 'node:worker_threads';
import { createInputRing, InputWriter } from '../../packaging/node/input_ring.mjs';

const TOTAL = 1 << 20;
const ring = createInputRing(4096);
const reader = `
  const { workerData, parentPort } = require('node:worker_threads');
  import(workerData.module).then(({ InputReader }) => {
    const r = new InputReader(workerData.ring);
    let n = 0, ordered = true, empties = 0;
    for (;;) {
      const got = r.read(50);
      if (got === undefined) break;
      if (!got.length) empties++;
      for (const b of got) { if (b !== (n & 0xff)) ordered = false; n++; }
    }
    parentPort.postMessage({ n, ordered, empties });
  });`;
const worker = new Worker(reader, {
  eval: true,
  workerData: { ring, module: new URL('../../packaging/node/input_ring.mjs', import.meta.url).href },
});
const writer = new InputWriter(ring);
let sent = 0;
while (sent < TOTAL) {
  const chunk = new Uint8Array(Math.min(10007, TOTAL - sent)).map((_, i) => (sent + i) & 0xff);
  writer.write(chunk);
  sent += chunk.length;
}
writer.close();
worker.on('message', (m) => {
  process.stdout.write(JSON.stringify({ ...m, total: TOTAL }));
  worker.terminate();
});
