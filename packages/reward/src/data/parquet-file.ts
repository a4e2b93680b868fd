import * as path from 'path';
import { Worker } from 'worker_threads';
import type { FileMetaData } from 'hyparquet';
import { FileFormatError } from '../errors';
import { openRegular } from '../io/files';
import * as fs from 'fs';

/*
 * A parquet file read by hyparquet in a worker thread, under a deadline and a heap limit.
 *
 * hyparquet trusts the file: a corrupt page's RLE run of 2^31 values loops and grows an array for
 * minutes, a page header's num_values sizes arrays, and these loops are synchronous — no check from the
 * outside can stop them, and checking every page's encoding ourselves would mean rewriting its decoder.
 * So decoding runs in a worker that is terminated (which interrupts even a tight JS loop) when a read
 * outlives its deadline or its heap outgrows the limit, and the caller gets a one-line error naming the
 * file. The worker is plain JavaScript (eval'd), so it runs the same under ts-jest and from dist.
 */

const WORKER_SOURCE = `
const { parentPort, workerData } = require('worker_threads');
const fs = require('fs');
const hp = require(workerData.hyparquet);
let fd, size, metadata;
const file = {
  get byteLength() { return size; },
  slice(start, end = size) {
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && end <= size)) {
      throw new Error('corrupt metadata (a read of bytes ' + start + '-' + end + ' lies outside the ' + size + '-byte file)');
    }
    const out = new Uint8Array(Math.max(0, end - start));
    let got = 0;
    while (got < out.length) {
      const n = fs.readSync(fd, out, got, out.length - got, start + got);
      if (n === 0) throw new Error('read past end of file at byte ' + (start + got));
      got += n;
    }
    return out.buffer;
  },
};
parentPort.on('message', async (m) => {
  try {
    if (m.op === 'open') {
      if (fd !== undefined) fs.closeSync(fd);
      fd = fs.openSync(m.file, 'r');
      size = fs.fstatSync(fd).size;
      metadata = await hp.parquetMetadataAsync(file);
      parentPort.postMessage({ id: m.id, ok: true, value: metadata });
    } else if (m.op === 'close') {
      if (fd !== undefined) fs.closeSync(fd);
      fd = undefined;
      parentPort.postMessage({ id: m.id, ok: true });
    } else {
      const rows = await hp.parquetReadObjects({ file, metadata, columns: m.columns, rowStart: m.rowStart, rowEnd: m.rowEnd, utf8: false });
      parentPort.postMessage({ id: m.id, ok: true, value: rows });
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, ok: false, error: String((e && e.message) || e).split('\\n')[0].slice(0, 200) });
  }
});
`;

/** One decoder kept between files (starting one costs ~0.1 s); a stopped one is replaced. */
let idleWorker: Worker | undefined;

function takeWorker(): Worker {
  const w = idleWorker ?? new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { hyparquet: require.resolve('hyparquet') },
    // Decoded strings and arrays live on this heap (image bytes are outside it): 512 MB holds a Pick-a-Pic
    // row group's uids and captions many times over, and stops a runaway RLE run well before 1 GB.
    resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
  });
  idleWorker = undefined;
  w.unref();
  return w;
}

/** Base deadline of one read, plus time per byte it covers (hyparquet decodes ≥ 100 MB/s here). */
const BASE_DEADLINE_MS = 1500;
const BYTES_PER_MS = 20_000;
const WORKER_HEAP_MB = 512;

export class ParquetFile {
  private nextId = 0;
  private closed = false;
  private failed = false;

  private constructor(
    readonly file: string,
    private readonly worker: Worker,
    readonly metadata: FileMetaData,
  ) {}

  /** Opens `file` (a regular file only) and reads its footer in the worker. */
  static async open(file: string): Promise<ParquetFile> {
    const { fd, size } = openRegular(file, 'a parquet file');
    fs.closeSync(fd);
    const pf = new ParquetFile(file, takeWorker(), undefined as unknown as FileMetaData);
    try {
      const metadata = (await pf.call({ op: 'open', file: path.resolve(file) }, size, 'not a parquet file')) as FileMetaData;
      return Object.assign(pf, { metadata });
    } catch (e) {
      await pf.close();
      throw e;
    }
  }

  /** Rows `[rowStart, rowEnd)` of `columns` as objects; `bytes` (what the read covers) sets its deadline. */
  async read(columns: string[], rowStart: number, rowEnd: number, bytes: number, where: string): Promise<Record<string, unknown>[]> {
    return (await this.call({ op: 'read', columns, rowStart, rowEnd }, bytes, `${where}: corrupt data`)) as Record<string, unknown>[];
  }

  private call(msg: Record<string, unknown>, bytes: number, what: string, closing = false): Promise<unknown> {
    if (this.closed && !closing) return Promise.reject(new FileFormatError(this.file, `${what} (the reader was stopped after an earlier failure)`));
    const id = this.nextId++;
    const deadline = BASE_DEADLINE_MS + bytes / BYTES_PER_MS;
    return new Promise((resolve, reject) => {
      const fail = (problem: string) => {
        cleanup();
        this.failed = true;
        void this.close();
        reject(new FileFormatError(this.file, `${what} (${problem})`));
      };
      const onMessage = (m: { id: number; ok: boolean; value?: unknown; error?: string }) => {
        if (m.id !== id) return;
        cleanup();
        if (m.ok) resolve(m.value);
        else reject(new FileFormatError(this.file, `${what} (${m.error})`));
      };
      const onError = (e: Error) => fail((e as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'decoding ran out of its memory limit' : e.message.split('\n')[0]);
      const onExit = () => fail('the decoder stopped');
      const timer = setTimeout(() => fail(`decoding took over ${Math.round(deadline / 1000)} s`), deadline);
      const cleanup = () => {
        clearTimeout(timer);
        this.worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      };
      this.worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      this.worker.ref();
      this.worker.postMessage({ ...msg, id });
    }).finally(() => this.worker.unref());
  }

  /** Releases the file; a healthy worker is kept for the next one, a stopped one is not. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.failed) {
      await this.worker.terminate();
      return;
    }
    try {
      await this.call({ op: 'close' }, 0, 'close', true);
      if (!idleWorker) idleWorker = this.worker;
      else await this.worker.terminate();
    } catch {
      await this.worker.terminate();
    }
  }
}
