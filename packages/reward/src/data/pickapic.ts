import * as fs from 'fs';
import * as path from 'path';
import type { AsyncBuffer, FileMetaData } from 'hyparquet';

/**
 * The images (and prompts) behind RichHF-18K live in Pick-a-Pic v1: each parquet row is a pair of
 * generated images (image_0_uid/jpg_0, image_1_uid/jpg_1) for one `caption`. RichHF's `filename`
 * stem is the image uid.
 */
export interface JoinedImage {
  uid: string;
  /** Encoded image as stored (JPEG in Pick-a-Pic). */
  bytes: Uint8Array;
  /** The prompt; from the parquet row, or a `<uid>.txt` beside a folder image; undefined if none. */
  caption?: string;
  /** Where it came from: `<parquet>#row<N>` or the image path. */
  source: string;
}

export interface ImageSource {
  /** Pick-a-Pic-shaped parquet files, read row group by row group. */
  parquet?: string[];
  /** A folder of `<uid>.<ext>` images (jpg, jpeg, png, webp), optionally with `<uid>.txt` captions. */
  folder?: string;
}

export interface JoinResult {
  images: Map<string, JoinedImage>;
  /** Wanted uids found in no source (sorted). */
  missing: string[];
}

const IMAGE_EXTS = ['.jpg', '.jpeg', '.png', '.webp'];
const PAIR = [
  { uid: 'image_0_uid', jpg: 'jpg_0' },
  { uid: 'image_1_uid', jpg: 'jpg_1' },
] as const;

/**
 * Finds the images of `uids`: first in the folder, then in the parquet files in order. A uid found
 * twice keeps its first occurrence. Missing uids are returned, not thrown.
 */
export async function joinImages(uids: ReadonlySet<string>, source: ImageSource): Promise<JoinResult> {
  const images = new Map<string, JoinedImage>();
  const wanted = new Set(uids);
  if (source.folder) {
    for (const img of imagesFromFolder(source.folder, wanted)) {
      images.set(img.uid, img);
      wanted.delete(img.uid);
    }
  }
  for (const file of source.parquet ?? []) {
    if (wanted.size === 0) break;
    for await (const img of imagesFromParquet(file, wanted)) {
      images.set(img.uid, img);
      wanted.delete(img.uid);
    }
  }
  return { images, missing: [...wanted].sort() };
}

function imagesFromFolder(folder: string, wanted: ReadonlySet<string>): JoinedImage[] {
  let names: string[];
  try {
    names = fs.readdirSync(folder).sort();
  } catch (e) {
    throw new Error(`${folder}: cannot list image folder (${(e as Error).message})`);
  }
  const out: JoinedImage[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    const ext = path.extname(name).toLowerCase();
    const uid = name.slice(0, name.length - ext.length);
    if (!IMAGE_EXTS.includes(ext) || !wanted.has(uid) || seen.has(uid)) continue;
    seen.add(uid);
    const file = path.join(folder, name);
    const txt = path.join(folder, `${uid}.txt`);
    const caption = fs.existsSync(txt) ? fs.readFileSync(txt, 'utf8').trim() : undefined;
    out.push({ uid, bytes: new Uint8Array(fs.readFileSync(file)), caption, source: file });
  }
  return out;
}

/**
 * Wanted images of one Pick-a-Pic parquet file. Per row group: read the two uid columns; where a row
 * holds a wanted uid, read that row range of the matching jpg column and the captions. Memory holds
 * at most one row group's column chunks, never the file.
 */
export async function* imagesFromParquet(file: string, wanted: ReadonlySet<string>): AsyncGenerator<JoinedImage> {
  const hp = loadHyparquet();
  const fd = fs.openSync(file, 'r');
  try {
    const buf = fileAsyncBuffer(fd, file);
    let metadata: FileMetaData;
    try {
      metadata = await hp.parquetMetadataAsync(buf);
    } catch (e) {
      throw new Error(`${file}: not a parquet file (${(e as Error).message})`);
    }
    const columns = new Set(metadata.schema.map((s) => s.name));
    for (const c of ['image_0_uid', 'image_1_uid', 'jpg_0', 'jpg_1', 'caption']) {
      if (!columns.has(c)) throw new Error(`${file}: missing column ${c}`);
    }
    const found = new Set<string>();
    let groupStart = 0;
    for (const rg of metadata.row_groups) {
      const rowStart = groupStart;
      const rowEnd = rowStart + Number(rg.num_rows);
      groupStart = rowEnd;
      const read = async (cols: string[], start: number, end: number) =>
        // utf8: false keeps unannotated BYTE_ARRAY (the jpg columns) binary; STRING columns stay text.
        hp.parquetReadObjects({ file: buf, metadata, columns: cols, rowStart: start, rowEnd: end, utf8: false });
      const idRows = await read(['image_0_uid', 'image_1_uid'], rowStart, rowEnd);
      // Rows (relative to rowStart) per pair side holding a wanted, not yet found uid.
      const hits: Array<{ row: number; side: 0 | 1; uid: string }> = [];
      idRows.forEach((r, row) => {
        PAIR.forEach((p, side) => {
          const uid = asText(r[p.uid]);
          if (uid !== undefined && wanted.has(uid) && !found.has(uid)) {
            found.add(uid);
            hits.push({ row, side: side as 0 | 1, uid });
          }
        });
      });
      if (hits.length === 0) continue;
      const first = hits.reduce((m, h) => Math.min(m, h.row), Infinity);
      const last = hits.reduce((m, h) => Math.max(m, h.row), -1);
      const sides = [...new Set(hits.map((h) => h.side))].sort();
      const cols = ['caption', ...sides.map((s) => PAIR[s].jpg)];
      const rows = await read(cols, rowStart + first, rowStart + last + 1);
      for (const h of hits) {
        const r = rows[h.row - first];
        const jpg = r[PAIR[h.side].jpg];
        if (!(jpg instanceof Uint8Array)) {
          throw new Error(`${file}: row ${rowStart + h.row}: ${PAIR[h.side].jpg} is not binary`);
        }
        yield {
          uid: h.uid,
          // Copy: the value may view a whole decompressed page.
          bytes: jpg.slice(),
          caption: asText(r.caption),
          source: `${file}#row${rowStart + h.row}`,
        };
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** A string column's value; text stored without the UTF8 annotation arrives as bytes. */
function asText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.length).toString('utf8');
  return undefined;
}

/**
 * hyparquet's AsyncBuffer over an open file: positioned reads of exactly the requested range.
 * Synchronous on purpose: hyparquet tests `instanceof Promise`, which fails for promises from another
 * realm (Jest's sandbox, where hyparquet is loaded by Node itself, see loadHyparquet); an ArrayBuffer
 * returned directly works everywhere, and each read is one column chunk or footer.
 */
function fileAsyncBuffer(fd: number, file: string): AsyncBuffer {
  const size = fs.fstatSync(fd).size;
  return {
    byteLength: size,
    slice(start: number, end = size): ArrayBuffer {
      const out = new Uint8Array(Math.max(0, end - start));
      let got = 0;
      while (got < out.length) {
        const n = fs.readSync(fd, out, got, out.length - got, start + got);
        if (n === 0) throw new Error(`${file}: read past end of file at byte ${start + got}`);
        got += n;
      }
      return out.buffer;
    },
  };
}

type Hyparquet = typeof import('hyparquet');
let hyparquetModule: Hyparquet | undefined;

/**
 * hyparquet is ESM-only. Node ≥ 20.19 loads it with a plain require(); Jest's module loader cannot
 * (it parses node_modules as CommonJS), so there we fall back to Node's own loader.
 */
function loadHyparquet(): Hyparquet {
  if (hyparquetModule) return hyparquetModule;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    hyparquetModule = require('hyparquet') as Hyparquet;
  } catch (e) {
    const getBuiltin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
    if (typeof getBuiltin !== 'function') {
      throw new Error(`cannot load hyparquet (ESM-only; needs Node >= 20.19): ${(e as Error).message}`);
    }
    const nodeModule = getBuiltin('module') as typeof import('module');
    hyparquetModule = nodeModule.createRequire(__filename)('hyparquet') as Hyparquet;
  }
  return hyparquetModule;
}
