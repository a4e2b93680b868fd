import * as fs from 'fs';
import * as path from 'path';
import * as tar from 'tar-stream';
import { hyparquet } from './esm';
import { Journal } from './journal';
import { ImagefolderWriter } from './writers/imagefolder';

export interface VerifyReport {
  /** Prompts committed in the journal. */
  prompts: number;
  /** Samples per format (webdataset and imagefolder) and DPO rows, as read back from the files. */
  webdataset?: { shards: number; samples: number };
  imagefolder?: { samples: number };
  dpo?: { files: number; rows: number };
  /** What is wrong, one line each; empty when the folder is whole and agrees with its journal. */
  problems: string[];
}

/**
 * Reads a run's output folder back whole — every tar member, every imagefolder row and image, every parquet
 * row — and checks it against the journal: each committed prompt's accepted samples present exactly once in
 * each format, nothing that is not committed, no torn file. Used by the crash tests, and by `finetune verify`
 * before a dataset is shipped.
 */
export async function verifyOutput(out: string): Promise<VerifyReport> {
  const problems: string[] = [];
  const expected = new Map<string, number>(); // sample key → count expected (1)
  const expectedPairs = new Set<string>();
  let prompts = 0;
  const seen = new Set<string>();
  for await (const r of Journal.records(out)) {
    for (const p of r.prompts) {
      prompts++;
      if (seen.has(p.id)) problems.push(`journal: prompt ${JSON.stringify(p.id)} committed twice`);
      seen.add(p.id);
      const keyOf = (k: number) => `${p.key}_${k}`;
      for (const k of p.accepted) expected.set(keyOf(k), 1);
      if (p.pair) expectedPairs.add(p.id);
    }
  }
  const report: VerifyReport = { prompts, problems };
  const check = (format: string, keys: string[]) => {
    const counts = new Map<string, number>();
    for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
    for (const [k, c] of counts) {
      if (c > 1) problems.push(`${format}: sample ${k} appears ${c} times`);
      if (!expected.has(k)) problems.push(`${format}: sample ${k} is not in the journal`);
    }
    for (const k of expected.keys()) if (!counts.has(k)) problems.push(`${format}: committed sample ${k} is missing`);
  };

  const wds = path.join(out, 'webdataset');
  if (fs.existsSync(wds)) {
    const shards = fs.readdirSync(wds).filter((f) => f.endsWith('.tar')).sort();
    shards.forEach((f, i) => {
      if (f !== `${String(i).padStart(6, '0')}.tar`) problems.push(`webdataset: shard names are not contiguous from 000000 (${f} at position ${i})`);
    });
    const keys: string[] = [];
    for (const f of shards) {
      try {
        const members = await readTar(path.join(wds, f));
        const bySample = new Map<string, string[]>();
        for (const m of members) {
          const base = path.basename(m.name);
          const dot = base.indexOf('.');
          const key = base.slice(0, dot);
          bySample.set(key, [...(bySample.get(key) ?? []), base.slice(dot + 1)]);
          if (base.endsWith('.json')) JSON.parse(m.data.toString('utf8'));
        }
        for (const [key, exts] of bySample) {
          if (!exts.includes('txt') || !exts.includes('json') || !exts.some((e) => /^(png|jpg)$/.test(e))) problems.push(`webdataset/${f}: sample ${key} lacks a member (${exts.join(', ')})`);
          keys.push(key);
        }
      } catch (e) {
        problems.push(`webdataset/${f}: unreadable tar (${(e as Error).message})`);
      }
    }
    check('webdataset', keys);
    report.webdataset = { shards: shards.length, samples: keys.length };
  }

  const meta = path.join(out, ImagefolderWriter.METADATA);
  if (fs.existsSync(path.dirname(meta))) {
    const keys: string[] = [];
    const listed = new Set<string>();
    const text = fs.existsSync(meta) ? fs.readFileSync(meta, 'utf8') : '';
    if (text && !text.endsWith('\n')) problems.push('imagefolder: metadata.jsonl ends in a torn line');
    for (const line of text.split('\n').filter(Boolean)) {
      try {
        const row = JSON.parse(line) as { file_name: string; text: string };
        listed.add(row.file_name);
        keys.push(row.file_name.replace(/\.[^.]+$/, ''));
        if (!fs.existsSync(path.join(path.dirname(meta), row.file_name))) problems.push(`imagefolder: ${row.file_name} is listed but missing`);
      } catch {
        problems.push(`imagefolder: metadata.jsonl has an unreadable line`);
      }
    }
    for (const f of fs.readdirSync(path.dirname(meta))) {
      if (f !== 'metadata.jsonl' && !listed.has(f)) problems.push(`imagefolder: ${f} has no metadata row`);
    }
    check('imagefolder', keys);
    report.imagefolder = { samples: keys.length };
  }

  const dpo = path.join(out, 'dpo');
  if (fs.existsSync(dpo)) {
    const files = fs.readdirSync(dpo).filter((f) => f.endsWith('.parquet')).sort();
    const ids: string[] = [];
    for (const f of files) {
      try {
        for await (const r of parquetRows(path.join(dpo, f), ['prompt_id', 'jpg_0', 'jpg_1', 'label_0', 'label_1'])) {
          ids.push(String(r.prompt_id));
          if (!(r.jpg_0 instanceof Uint8Array) || !(r.jpg_1 instanceof Uint8Array)) problems.push(`dpo/${f}: a row lacks image bytes`);
          if (Number(r.label_0) + Number(r.label_1) !== 1) problems.push(`dpo/${f}: labels of ${r.prompt_id} do not sum to 1`);
        }
      } catch (e) {
        problems.push(`dpo/${f}: unreadable parquet (${(e as Error).message})`);
      }
    }
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const [id, c] of counts) {
      if (c > 1) problems.push(`dpo: pair of ${JSON.stringify(id)} appears ${c} times`);
      if (!expectedPairs.has(id)) problems.push(`dpo: pair of ${JSON.stringify(id)} is not in the journal`);
    }
    for (const id of expectedPairs) if (!counts.has(id)) problems.push(`dpo: committed pair of ${JSON.stringify(id)} is missing`);
    report.dpo = { files: files.length, rows: ids.length };
  }
  return report;
}

/** Members of a tar file (name and bytes); throws on a truncated or corrupt archive. */
export async function readTar(file: string): Promise<Array<{ name: string; data: Buffer }>> {
  const out: Array<{ name: string; data: Buffer }> = [];
  const ex = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        out.push({ name: header.name, data: Buffer.concat(chunks) });
        next();
      });
      stream.on('error', reject);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  const rs = fs.createReadStream(file);
  rs.on('error', (e) => ex.destroy(e));
  rs.pipe(ex as unknown as NodeJS.WritableStream);
  await done;
  // tar-stream accepts an archive that simply stops between members; a whole one ends in two zero blocks.
  const size = fs.statSync(file).size;
  const fd = fs.openSync(file, 'r');
  try {
    const tail = Buffer.alloc(1024);
    fs.readSync(fd, tail, 0, 1024, Math.max(0, size - 1024));
    if (size < 1024 || size % 512 !== 0 || tail.some((b) => b !== 0)) throw new Error('no end-of-archive marker (truncated)');
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/**
 * Rows of a parquet file (chosen columns), one row group in memory at a time: reads exactly the ranges
 * hyparquet asks for from the open file (synchronous slices: see @richhf/reward's parquet join for why).
 */
export async function* parquetRows(file: string, columns?: string[]): AsyncGenerator<Record<string, unknown>> {
  const hp = hyparquet();
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const buf = {
      byteLength: size,
      slice(start: number, end = size): ArrayBuffer {
        const b = new Uint8Array(Math.max(0, end - start));
        let got = 0;
        while (got < b.length) {
          const n = fs.readSync(fd, b, got, b.length - got, start + got);
          if (n === 0) throw new Error(`${file}: read past end at byte ${start + got}`);
          got += n;
        }
        return b.buffer;
      },
    };
    const metadata = await hp.parquetMetadataAsync(buf);
    let start = 0;
    for (const rg of metadata.row_groups) {
      const end = start + Number(rg.num_rows);
      const rows = await hp.parquetReadObjects({ file: buf, metadata, columns, rowStart: start, rowEnd: end, utf8: false });
      for (const r of rows) yield r as Record<string, unknown>;
      start = end;
    }
  } finally {
    fs.closeSync(fd);
  }
}
