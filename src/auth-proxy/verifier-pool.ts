// Ed25519 verification on worker threads, batched per tick: the hub's main thread stays free for routing and handlers.
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { verifyBytes } from '../core/keys.js';
import type { IssuerKey } from './key-directory.js';

// Plain JavaScript run with `eval`, so the same code works from TypeScript sources (tests) and the build.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const keys = new Map();
function keyFor(b64) {
  let key = keys.get(b64);
  if (!key) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(b64, 'base64url')]), format: 'der', type: 'spki' });
    if (keys.size > 10000) keys.clear();
    keys.set(b64, key);
  }
  return key;
}
parentPort.on('message', ({ batch, keyIds, keyTable, inputs, offsets, sigs }) => {
  const results = new Uint8Array(sigs.length);
  for (let i = 0; i < sigs.length; i++) {
    const signature = Buffer.from(sigs[i], 'base64url');
    const input = inputs.subarray(offsets[i], offsets[i + 1]);
    try {
      results[i] = signature.length === 64 && verify(null, input, keyFor(keyTable[keyIds[i]]), signature) ? 1 : 0;
    } catch {
      results[i] = 0;
    }
  }
  parentPort.postMessage({ batch, results }, [results.buffer]);
});
`;

/** Messages closer together than this are a burst, and their signatures go to the workers. */
const QUIET_GAP_MS = 0.5;

interface Job {
  key: IssuerKey;
  input: Buffer;
  sig: string;
  resolve: (ok: boolean) => void;
}

interface Lane {
  worker: Worker;
  pending: Map<number, Job[]>;
}

/** A verifier: inline on this thread, or on a pool of worker threads. */
export interface Verifier {
  verify(key: IssuerKey, signingInput: Buffer, signature: string): boolean | Promise<boolean>;
  close(): Promise<void>;
}

export const inlineVerifier: Verifier = {
  verify: (key, input, signature) => verifyBytes(key.key, input, signature),
  close: () => Promise.resolve(),
};

export class VerifierPool implements Verifier {
  readonly #lanes: Lane[] = [];
  #queue: Job[] = [];
  #flushScheduled = false;
  #nextBatch = 1;
  #nextLane = 0;
  #closed = false;
  #inFlight = 0;
  #lastCallAt = 0;

  constructor(threads: number) {
    for (let i = 0; i < threads; i++) this.#lanes.push(this.#startLane());
  }

  verify(key: IssuerKey, signingInput: Buffer, signature: string): boolean | Promise<boolean> {
    // Under light load (nothing pending, and the last message a while ago) checking here is
    // faster than a trip to a worker and back; bursts go to the workers.
    const now = performance.now();
    const quiet = now - this.#lastCallAt > QUIET_GAP_MS;
    this.#lastCallAt = now;
    if (this.#closed || (quiet && this.#inFlight === 0 && this.#queue.length === 0)) {
      return verifyBytes(key.key, signingInput, signature);
    }
    this.#inFlight++;
    return new Promise((resolve) => {
      this.#queue.push({
        key,
        input: signingInput,
        sig: signature,
        resolve: (ok) => {
          this.#inFlight--;
          resolve(ok);
        },
      });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#flush();
    // Terminating runs each lane's exit handler, which settles whatever it still had here.
    await Promise.all(this.#lanes.map((lane) => lane.worker.terminate()));
  }

  #startLane(): Lane {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    const lane: Lane = { worker, pending: new Map() };
    worker.on('message', ({ batch, results }: { batch: number; results: Uint8Array }) => {
      const jobs = lane.pending.get(batch);
      lane.pending.delete(batch);
      jobs?.forEach((job, index) => job.resolve(results[index] === 1));
    });
    const replace = () => {
      // A dead worker must not strand messages: check its jobs here, and put a fresh worker in its place.
      for (const jobs of lane.pending.values()) for (const job of jobs) this.#verifyHere(job);
      lane.pending.clear();
      const index = this.#lanes.indexOf(lane);
      if (index >= 0 && !this.#closed) this.#lanes[index] = this.#startLane();
    };
    worker.once('error', replace);
    worker.once('exit', replace);
    return lane;
  }

  #verifyHere(job: Job): void {
    job.resolve(verifyBytes(job.key.key, job.input, job.sig));
  }

  #flush(): void {
    this.#flushScheduled = false;
    const jobs = this.#queue;
    if (jobs.length === 0) return;
    this.#queue = [];
    if (this.#closed) {
      for (const job of jobs) this.#verifyHere(job);
      return;
    }
    // Split the tick's jobs over the lanes, so every core gets a share.
    const share = Math.ceil(jobs.length / this.#lanes.length);
    for (let start = 0; start < jobs.length; start += share) {
      const lane = this.#lanes[this.#nextLane++ % this.#lanes.length]!;
      this.#post(lane, jobs.slice(start, start + share));
    }
  }

  #post(lane: Lane, jobs: Job[]): void {
    const batch = this.#nextBatch++;
    const keyTable: string[] = [];
    const keyIndex = new Map<string, number>();
    const keyIds = new Uint32Array(jobs.length);
    const offsets = new Uint32Array(jobs.length + 1);
    let total = 0;
    jobs.forEach((job, index) => {
      let id = keyIndex.get(job.key.publicKeyB64);
      if (id === undefined) {
        id = keyTable.push(job.key.publicKeyB64) - 1;
        keyIndex.set(job.key.publicKeyB64, id);
      }
      keyIds[index] = id;
      offsets[index] = total;
      total += job.input.length;
    });
    offsets[jobs.length] = total;
    const inputs = Buffer.concat(
      jobs.map((job) => job.input),
      total,
    );
    lane.pending.set(batch, jobs);
    lane.worker.postMessage({ batch, keyIds, keyTable, inputs, offsets, sigs: jobs.map((job) => job.sig) });
  }
}
