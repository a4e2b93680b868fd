import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { zipSync } from 'fflate';
import { BUNDLED_CHECKPOINT } from '../bundled';
import { encodeExample, feature } from '../data/example-proto';
import { crc32c } from '../data/tfrecord';
import { PickleWriter, tfrecordBytes, torchZipBytes, utf8 } from './encode';

/*
 * The inputs of issue 27, each a file (or folder) built here and the `rahf` command that used to abort,
 * hang or eat memory on it. `pnpm fuzz` runs each command in a child process and requires a one-line
 * error naming the file, exit code 1 or 2, under 5 s and 1 GB; reproducers.test.ts calls the same
 * library functions in-process.
 */

export interface Reproducer {
  name: string;
  /** Builds the input in `dir`; returns the CLI arguments and the path the error must name. */
  make(dir: string): Promise<{ args: string[]; names: string }>;
  /** Expected exit codes (default [1, 2]); 0 for inputs accepted with a raised limit. */
  exit?: number[];
  /** No time/memory bound (an input accepted on purpose with a larger limit). */
  unbounded?: boolean;
}

/** A grayscale PNG of w×h zero pixels, deflated as a stream (a 10000² bomb is ~100 KB, built in ~1 s). */
export async function zeroPng(w: number, h: number): Promise<Buffer> {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit grayscale
  const row = Buffer.alloc(w + 1);
  const z = zlib.createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  z.on('data', (d: Buffer) => parts.push(d));
  const done = new Promise((r) => z.on('end', r));
  for (let y = 0; y < h; y++) if (!z.write(row)) await new Promise((r) => z.once('drain', r));
  z.end();
  await done;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', Buffer.concat(parts)), chunk('IEND', Buffer.alloc(0))]);
}

/** The bundled checkpoint copied into `dir`, with `edit` applied to its config.json (and tokenizer.json). */
function tinyCheckpoint(dir: string, edit: (config: any, tokenizer: any) => void, opts: { dropConfig?: boolean } = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(BUNDLED_CHECKPOINT)) {
    if (f.endsWith('.json') || f.endsWith('.safetensors')) fs.copyFileSync(path.join(BUNDLED_CHECKPOINT, f), path.join(dir, f));
  }
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const tok = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
  edit(config, tok);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tok));
  if (opts.dropConfig) fs.rmSync(path.join(dir, 'config.json'));
}

async function redPng(dir: string): Promise<string> {
  const f = path.join(dir, 'red.png');
  fs.writeFileSync(f, await zeroPng(8, 8));
  return f;
}

function torchFile(dir: string, name: string, bytes: Uint8Array): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, bytes);
  return f;
}

/** A torch zip whose data.pkl is `pkl` (and storage 0 of 4 floats). */
function pickleZip(pkl: Uint8Array): Uint8Array {
  return zipSync({ 'archive/data.pkl': [pkl, { level: 0 }], 'archive/data/0': [new Uint8Array(16), { level: 0 }] });
}

/** `rahf eval` on a RichHF file, with an image (and a caption) for each of `uids`, so its records are decoded. */
async function evalArgs(dir: string, records: string, uids: string[]): Promise<string[]> {
  const imgs = path.join(dir, 'eval-images');
  fs.mkdirSync(imgs, { recursive: true });
  const png = await zeroPng(8, 8);
  for (const u of uids) {
    fs.writeFileSync(path.join(imgs, `${u}.png`), png);
    fs.writeFileSync(path.join(imgs, `${u}.txt`), 'a red square');
  }
  return ['eval', '--data', records, '--images', imgs];
}

const score = (file: string, extra: string[] = []) => ['score', file, '--prompt', 'a red square', ...extra];

export const REPRODUCERS: Reproducer[] = [
  {
    name: 'TFRecord of 16 bytes whose length (2^31−4) has a valid CRC',
    make: async (dir) => {
      const h = Buffer.alloc(16);
      h.writeBigUInt64LE(2n ** 31n - 4n);
      const c = crc32c(h.subarray(0, 8));
      h.writeUInt32LE((((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0, 8);
      const f = path.join(dir, 'tiny.tfrecord');
      fs.writeFileSync(f, h);
      return { args: await evalArgs(dir, f, []), names: f };
    },
  },
  {
    name: 'config.json with t5.num_decoder_layers 2e9',
    make: async (dir) => {
      const ck = path.join(dir, 'ckpt');
      tinyCheckpoint(ck, (c) => (c.t5.num_decoder_layers = 2e9));
      return { args: score(await redPng(dir), ['--checkpoint', ck]), names: ck };
    },
  },
  {
    name: 'config.json with image_std [0, 0, 0]',
    make: async (dir) => {
      const ck = path.join(dir, 'ckpt');
      tinyCheckpoint(ck, (c) => (c.image_std = [0, 0, 0]));
      return { args: score(await redPng(dir), ['--checkpoint', ck]), names: ck };
    },
  },
  {
    name: 'checkpoint folder without config.json',
    make: async (dir) => {
      const ck = path.join(dir, 'ckpt');
      tinyCheckpoint(ck, () => undefined, { dropConfig: true });
      return { args: score(await redPng(dir), ['--checkpoint', ck]), names: ck };
    },
  },
  {
    name: 'tokenizer.json with unk_id −1',
    make: async (dir) => {
      const ck = path.join(dir, 'ckpt');
      tinyCheckpoint(ck, (_c, t) => (t.model.unk_id = -1));
      return { args: score(await redPng(dir), ['--checkpoint', ck]), names: path.join(ck, 'tokenizer.json') };
    },
  },
  {
    name: 'a FIFO named *.png in a scored folder',
    make: async (dir) => {
      const imgs = path.join(dir, 'imgs');
      fs.mkdirSync(imgs);
      const fifo = path.join(imgs, 'pipe.png');
      await new Promise<void>((resolve, reject) => spawn('mkfifo', [fifo]).on('exit', (c) => (c === 0 ? resolve() : reject(new Error('mkfifo failed')))));
      return { args: score(imgs), names: fifo };
    },
  },
  {
    name: 'a symlink *.png to /dev/zero',
    make: async (dir) => {
      const f = path.join(dir, 'zero.png');
      fs.symlinkSync('/dev/zero', f);
      return { args: score(f), names: f };
    },
  },
  {
    name: 'a 10000² PNG bomb (refused by default)',
    make: async (dir) => {
      const f = path.join(dir, 'bomb.png');
      fs.writeFileSync(f, await zeroPng(10000, 10000));
      return { args: score(f), names: f };
    },
  },
  {
    name: 'the 10000² PNG with --max-image-pixels 100000000 (accepted)',
    exit: [0],
    unbounded: true,
    make: async (dir) => {
      const f = path.join(dir, 'bomb.png');
      fs.writeFileSync(f, await zeroPng(10000, 10000));
      return { args: ['--max-image-pixels', '100000000', ...score(f)], names: f };
    },
  },
  {
    name: 'RichHF TFRecord of four records with 16000² heatmaps',
    make: async (dir) => {
      const map = await zeroPng(16000, 16000);
      const rec = (i: number) =>
        encodeExample(new Map([
          ['filename', feature.text(`u${i}.png`)],
          ...['aesthetics_score', 'artifact_score', 'misalignment_score', 'overall_score'].map((k) => [k, feature.floats(0.5)] as const),
          ['artifact_map', feature.bytes(map)],
          ['misalignment_map', feature.bytes(map)],
          ['prompt_misalignment_label', feature.text('1 1')],
        ]));
      const f = path.join(dir, 'maps.tfrecord');
      fs.writeFileSync(f, tfrecordBytes([0, 1, 2, 3].map(rec)));
      return { args: await evalArgs(dir, f, ['u0', 'u1', 'u2', 'u3']), names: f };
    },
  },
  {
    name: 'RichHF record whose second map is not bytes (unhandled rejection)',
    make: async (dir) => {
      const ex = encodeExample(new Map([
        ['filename', feature.text('u.png')],
        ...['aesthetics_score', 'artifact_score', 'misalignment_score', 'overall_score'].map((k) => [k, feature.floats(0.5)] as const),
        ['artifact_map', feature.bytes(await zeroPng(4, 4))],
        ['misalignment_map', feature.floats(1)],
        ['prompt_misalignment_label', feature.text('1')],
      ]));
      const f = path.join(dir, 'bad.tfrecord');
      fs.writeFileSync(f, tfrecordBytes([ex]));
      return { args: await evalArgs(dir, f, ['u']), names: f };
    },
  },
  ...torchReproducers(),
  {
    name: 'rahf score --batch-size abc',
    make: async (dir) => ({ args: score(await redPng(dir), ['--batch-size', 'abc']), names: '--batch-size' }),
  },
  {
    name: 'rahf score --out naming an existing file',
    make: async (dir) => {
      const out = path.join(dir, 'out.txt');
      fs.writeFileSync(out, 'x');
      return { args: score(await redPng(dir), ['--out', out]), names: out };
    },
  },
];

function torchReproducers(): Reproducer[] {
  const t = (name: string, build: () => Uint8Array | Promise<Uint8Array>): Reproducer => ({
    name,
    make: async (dir) => {
      const f = torchFile(dir, 'model.pt', await build());
      return { args: score(await redPng(dir), ['--checkpoint', f]), names: f };
    },
  });
  const view = (size: number[], stride: number[], numel = 4, storage = '0') => ({ name: 'w', storage, storageClass: 'FloatStorage', storageNumel: numel, offset: 0, size, stride });
  return [
    t('torch: a stride-0 tensor of 2^28 elements over 4 (592 bytes, 1 GB expanded)', () => torchZipBytes([view([2 ** 28], [0])], { '0': new Uint8Array(16) })),
    t('torch: two tensors declaring 4 and 1000 elements for one storage', () =>
      torchZipBytes([view([4], [1]), { ...view([1000], [1], 1000), name: 'v' }], { '0': new Uint8Array(4000) })),
    t('torch: a "billion laughs" tuple key (30 levels)', () => {
      // memo 0, 1: 'a', 'a'; memo 2: t0 = ('a', 'a'); memo 2 + i: t_i = (t_{i-1}, t_{i-1}) — prints to 2^31 chars.
      const w = new PickleWriter().op('}').str('a').str('a').op(0x86).put().op('0');
      for (let i = 1; i <= 30; i++) w.op('h', 1 + i, 'h', 1 + i, 0x86).put().op('0');
      return pickleZip(w.op('h', 32, 'K', 1, 's').bytes());
    }),
    t('torch: a 200 KB LONG4', () => {
      const n = Buffer.alloc(4);
      n.writeInt32LE(200_000);
      return pickleZip(new PickleWriter().op('}').str('x').op(0x8b, n, Buffer.alloc(200_000, 0x55), 's').bytes());
    }),
    t('torch: lists nested 200 000 deep', () => {
      const depth = 200_000;
      return pickleZip(new PickleWriter().op('}').str('x').op(Buffer.alloc(depth, 0x5d), Buffer.alloc(depth - 1, 0x61), 's').bytes());
    }),
    t('torch: a deflate bomb (data.pkl of 300 MB in ~300 KB)', async () => {
      const z = zlib.createDeflateRaw({ level: 9 });
      const parts: Buffer[] = [];
      z.on('data', (d: Buffer) => parts.push(d));
      const done = new Promise((r) => z.on('end', r));
      const mb = Buffer.alloc(1 << 20);
      for (let i = 0; i < 300; i++) if (!z.write(mb)) await new Promise((r) => z.once('drain', r));
      z.end();
      await done;
      const comp = Buffer.concat(parts);
      const zip = Buffer.from(zipSync({ 'archive/data.pkl': [new Uint8Array(1), { level: 0 }] }));
      // Swap the stored 1-byte entry for the deflated stream: method 8, sizes 300 MB / comp, both headers.
      const nameLen = 'archive/data.pkl'.length;
      const local = Buffer.alloc(30);
      zip.copy(local, 0, 0, 30);
      local.writeUInt16LE(8, 8);
      local.writeUInt32LE(comp.length, 18);
      local.writeUInt32LE(300 << 20, 22);
      const cdStart = 30 + nameLen + 1;
      const cd = Buffer.from(zip.subarray(cdStart, cdStart + 46 + nameLen));
      cd.writeUInt16LE(8, 10);
      cd.writeUInt32LE(comp.length, 20);
      cd.writeUInt32LE(300 << 20, 24);
      const eocd = Buffer.from(zip.subarray(zip.length - 22));
      const body = Buffer.concat([local, Buffer.from('archive/data.pkl'), comp]);
      eocd.writeUInt32LE(cd.length, 12);
      eocd.writeUInt32LE(body.length, 16);
      return Buffer.concat([body, cd, eocd]);
    }),
    t('torch: a zip entry declaring 4 GiB (the zip64 marker, no zip64 field)', () => {
      const zip = Buffer.from(torchZipBytes([view([4], [1])], { '0': new Uint8Array(16) }));
      // Patch storage 0's central-directory sizes to 0xffffffff and append no zip64 field: sizes then
      // read as 4 GiB, which a stored entry of 16 bytes cannot hold.
      const name = Buffer.from('archive/data/0');
      let at = zip.lastIndexOf(name);
      at -= 46;
      zip.writeUInt32LE(0xffffffff, at + 20);
      zip.writeUInt32LE(0xffffffff, at + 24);
      return zip;
    }),
  ];
}

export interface ReproducerResult {
  name: string;
  exit: number | null;
  seconds: number;
  peakMb: number;
  message: string;
  ok: boolean;
  why: string;
}

/** Runs every reproducer through the built CLI; a table and the count of failures. */
export async function runReproducers(opts: { log?: (line: string) => void } = {}): Promise<{ results: ReproducerResult[]; table: string; failed: number }> {
  const cli = path.join(__dirname, '..', 'cli', 'main.js');
  const results: ReproducerResult[] = [];
  const hasTime = fs.existsSync('/usr/bin/time');
  for (const r of REPRODUCERS) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-repro-'));
    try {
      const { args, names } = await r.make(dir);
      const timeFile = path.join(dir, 'time.txt');
      const [cmd, cmdArgs] = hasTime ? ['/usr/bin/time', ['-o', timeFile, '-f', '%e %M', process.execPath, cli, ...args]] : [process.execPath, [cli, ...args]];
      const t0 = Date.now();
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(cmd, cmdArgs as string[], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        child.stderr.on('data', (d) => (err += d));
        const kill = setTimeout(() => child.kill('SIGKILL'), r.unbounded ? 120_000 : 20_000);
        child.on('exit', (c) => {
          clearTimeout(kill);
          resolve({ code: c, stderr: err });
        });
      });
      const [secs, kb] = hasTime && fs.existsSync(timeFile) ? fs.readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-2).map(Number) : [(Date.now() - t0) / 1000, 0];
      const lines = stderr.split('\n').filter((l) => l.trim() && !/^rahf: (engine|skipped)/.test(l) && !/^Command exited/.test(l));
      const message = lines.find((l) => l.includes(names)) ?? lines[0] ?? '';
      const why: string[] = [];
      if (!(r.exit ?? [1, 2]).includes(code ?? -1)) why.push(`exit ${code}`);
      if (!r.unbounded && secs > 5) why.push(`${secs} s`);
      if (!r.unbounded && kb > 1024 * 1024) why.push(`${Math.round(kb / 1024)} MB`);
      if (!r.exit?.includes(0)) {
        if (!lines.some((l) => l.includes(names))) why.push('no line names the file');
        if (lines.some((l) => /^\s+at /.test(l))) why.push('stack trace');
      }
      results.push({ name: r.name, exit: code, seconds: secs, peakMb: Math.round(kb / 1024), message: message.replace(dir, '…').slice(0, 160), ok: why.length === 0, why: why.join(', ') });
      opts.log?.(`reproducer ${why.length ? 'FAILED' : 'ok'}: ${r.name}${why.length ? ` (${why.join(', ')})` : ''}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const head = '| reproducer (issue 27) | exit | time | peak RSS | message |\n| --- | --- | --- | --- | --- |';
  const rows = results.map((x) => `| ${x.ok ? '' : '**FAILED** '}${x.name} | ${x.exit} | ${x.seconds.toFixed(2)} s | ${x.peakMb} MB | ${x.message.replace(/\|/g, '\\|')} |`);
  return { results, table: [head, ...rows].join('\n'), failed: results.filter((x) => !x.ok).length };
}
