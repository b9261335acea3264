// Console input from the main thread (terminal, pipe or xterm.js) to the VM's Worker.
//
// The Worker runs the guest without returning to its event loop, so it cannot
// receive messages; it reads a single-producer, single-consumer ring in a
// SharedArrayBuffer instead, and sleeps in Atomics.wait while the guest idles.
// Counters only grow (mod 2^32); their difference is the number of unread bytes.

const WRITTEN = 0; // bytes ever written (the producer's counter)
const READ = 1; // bytes ever read (the consumer's counter)
const CLOSED = 2; // 1 once input has ended
const HEADER_BYTES = 16;

export const RING_BYTES = 1 << 16;

export function createInputRing(capacity = RING_BYTES) {
  return new SharedArrayBuffer(HEADER_BYTES + capacity);
}

function views(buffer) {
  return { ctrl: new Int32Array(buffer, 0, 4), data: new Uint8Array(buffer, HEADER_BYTES) };
}

/** The main thread's end: queues what does not fit yet and retries as the VM drains it. */
export class InputWriter {
  constructor(buffer) {
    Object.assign(this, views(buffer));
    this.pending = [];
    this.timer = null;
  }

  /** Bytes not yet in the ring (a producer may pause its source when this grows). */
  get backlog() {
    return this.pending.reduce((n, chunk) => n + chunk.length, 0);
  }

  write(bytes) {
    if (bytes.length) this.pending.push(bytes);
    this.pump();
  }

  close() {
    this.closing = true;
    this.pump();
  }

  pump() {
    const { ctrl, data } = this;
    const size = data.length;
    while (this.pending.length) {
      const written = Atomics.load(ctrl, WRITTEN);
      const free = size - ((written - Atomics.load(ctrl, READ)) >>> 0);
      if (!free) break;
      const chunk = this.pending[0];
      const n = Math.min(free, chunk.length);
      for (let i = 0; i < n; i++) data[(written + i) >>> 0 & (size - 1)] = chunk[i];
      Atomics.store(ctrl, WRITTEN, (written + n) | 0);
      if (n === chunk.length) this.pending.shift();
      else this.pending[0] = chunk.subarray(n);
    }
    if (!this.pending.length && this.closing) Atomics.store(ctrl, CLOSED, 1);
    Atomics.notify(ctrl, WRITTEN);
    if ((this.pending.length || this.closing) && !this.timer && !Atomics.load(ctrl, CLOSED)) {
      this.timer = setTimeout(() => { this.timer = null; this.pump(); }, 5);
    }
  }
}

/** The Worker's end. read(ms) -> Uint8Array (maybe empty), or undefined once input ended. */
export class InputReader {
  constructor(buffer) {
    Object.assign(this, views(buffer));
  }

  read(timeoutMs) {
    const { ctrl, data } = this;
    const read = Atomics.load(ctrl, READ);
    let written = Atomics.load(ctrl, WRITTEN);
    if (written === read) {
      if (Atomics.load(ctrl, CLOSED)) return undefined;
      if (timeoutMs > 0) Atomics.wait(ctrl, WRITTEN, written, timeoutMs);
      written = Atomics.load(ctrl, WRITTEN);
    }
    const n = (written - read) >>> 0;
    const out = new Uint8Array(n);
    const size = data.length;
    for (let i = 0; i < n; i++) out[i] = data[(read + i) >>> 0 & (size - 1)];
    Atomics.store(ctrl, READ, (read + n) | 0);
    return out;
  }
}
