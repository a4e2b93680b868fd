import * as fs from 'fs';
import * as path from 'path';
import type { FileMetaData } from 'hyparquet';
import { FileFormatError, UserError } from '../errors';
import { ParquetFile } from './parquet-file';
import { openRegular, readRegularFile, readRegularText } from '../io/files';
import { Limits, checkLimit, limitsWith } from '../io/limits';

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
    throw new UserError(`${folder}: cannot list image folder (${(e as Error).message})`);
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
    const caption = fs.existsSync(txt) ? readRegularText(txt, 'caption file').trim() : undefined;
    out.push({ uid, bytes: new Uint8Array(readRegularFile(file, 'an image', 'maxImageBytes')), caption, source: file });
  }
  return out;
}

/**
 * Wanted images of one Pick-a-Pic parquet file. Per row group: read the two uid columns; where a row
 * holds a wanted uid, read that row range of the matching jpg column and the captions. Memory holds
 * at most one row group's column chunks, never the file.
 */
export async function* imagesFromParquet(
  file: string,
  wanted: ReadonlySet<string>,
  opts: { limits?: Partial<Limits> } = {},
): AsyncGenerator<JoinedImage> {
  const limits = limitsWith(opts.limits);
  const pf = await ParquetFile.open(file);
  try {
    const metadata = pf.metadata;
    const size = openRegularSize(file);
    const columns = new Set(metadata.schema.map((s) => s.name));
    for (const c of ['image_0_uid', 'image_1_uid', 'jpg_0', 'jpg_1', 'caption']) {
      if (!columns.has(c)) throw new UserError(`${file}: missing column ${c}`);
    }
    checkRowGroups(file, metadata, size, limits);
    const found = new Set<string>();
    let groupStart = 0;
    for (const [g, rg] of metadata.row_groups.entries()) {
      const rowStart = groupStart;
      const rowEnd = rowStart + Number(rg.num_rows);
      groupStart = rowEnd;
      // hyparquet's own errors ("cannot copy from before start of buffer", RangeError…) name neither the
      // file nor the place: every read names both (parquet-file.ts runs it under a deadline).
      const groupBytes = rg.columns.reduce((n, c) => n + Number(c.meta_data?.total_uncompressed_size ?? 0), 0);
      const read = (cols: string[], start: number, end: number) =>
        pf.read(cols, start, end, groupBytes, `row group ${g} (rows ${start}-${end - 1}), columns ${cols.join(', ')}`);
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
        if (!r) throw new FileFormatError(file, `row ${rowStart + h.row}: missing from its row group (corrupt data)`);
        const jpg = r[PAIR[h.side].jpg];
        if (!(jpg instanceof Uint8Array)) {
          throw new UserError(`${file}: row ${rowStart + h.row}: ${PAIR[h.side].jpg} is not binary`);
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
    await pf.close();
  }
}

function openRegularSize(file: string): number {
  const { fd, size } = openRegular(file, 'a parquet file');
  fs.closeSync(fd);
  return size;
}

/**
 * The metadata's row counts and column chunk sizes against the file and the limits, before any page is
 * read: hyparquet allocates what they declare.
 */
function checkRowGroups(file: string, metadata: FileMetaData, size: number, limits: Readonly<Limits>): void {
  metadata.row_groups.forEach((rg, g) => {
    const rows = Number(rg.num_rows);
    if (!(Number.isSafeInteger(rows) && rows >= 0)) throw new FileFormatError(file, `row group ${g} declares ${rg.num_rows} rows`);
    for (const c of rg.columns) {
      const m = c.meta_data;
      if (!m) continue;
      const name = m.path_in_schema.join('.');
      const comp = Number(m.total_compressed_size);
      const raw = Number(m.total_uncompressed_size);
      if (!(comp >= 0 && comp <= size)) throw new FileFormatError(file, `row group ${g} column ${name} declares ${comp} compressed bytes in a ${size}-byte file`);
      checkLimit(`${file}: row group ${g} column ${name}`, 'the uncompressed size', raw, 'maxParquetChunkBytes', limits);
    }
  });
}

/** A string column's value; text stored without the UTF8 annotation arrives as bytes. */
function asText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.length).toString('utf8');
  return undefined;
}
