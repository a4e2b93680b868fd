/**
 * Small HTML fragments for notebooks (tslab's `display.html`) and reports: tables, a prompt with its
 * flagged words marked, images side by side. Strings only, so they work in any front end.
 */
import { UserError } from '../errors';
import { promptWords, sequenceToLabels } from '../rahf/keywords';

/** Escape text for HTML and SVG content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

export interface TableOptions {
  /** Digits after the decimal point for numbers (default 3). */
  digits?: number;
  /** Column order (default: keys of the first row, then new keys as they appear). */
  columns?: string[];
  caption?: string;
}

function cell(v: unknown, digits: number): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(digits);
  if (v === undefined || v === null) return '';
  return String(v);
}

/** An HTML table of rows (objects); numbers right-aligned and rounded. */
export function htmlTable(rows: Array<Record<string, unknown>>, opts: TableOptions = {}): string {
  if (rows.length === 0) throw new UserError('htmlTable: no rows');
  const digits = opts.digits ?? 3;
  const columns = opts.columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const th = columns.map((c) => `<th>${escapeXml(c)}</th>`).join('');
  const body = rows
    .map((r) => `<tr>${columns.map((c) => `<td style="text-align:${typeof r[c] === 'number' ? 'right' : 'left'}">${escapeXml(cell(r[c], digits))}</td>`).join('')}</tr>`)
    .join('\n');
  const caption = opts.caption ? `<caption>${escapeXml(opts.caption)}</caption>` : '';
  return `<table>${caption}<thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/**
 * Which words are flagged: the words themselves (e.g. the CLI's `misaligned` list; every occurrence is
 * marked, ignoring case and surrounding punctuation), or the keyword decoder's output sequence
 * (`RichFeedback.keywordSequence`, "a yellow_0 cat"), matched to the prompt word by word.
 */
export type Flagged = ReadonlyArray<string> | { sequence: string };

/** What to mark for a model's feedback: its decoder sequence when it has one, else its misaligned words. */
export function flaggedOf(feedback: { keywordSequence?: string; misaligned?: string[] }): Flagged {
  return feedback.keywordSequence !== undefined ? { sequence: feedback.keywordSequence } : (feedback.misaligned ?? []);
}

/** Indices into `promptWords(prompt)` of the flagged words. */
export function flaggedWordIndices(prompt: string, flagged: Flagged): Set<number> {
  const words = promptWords(prompt);
  const out = new Set<number>();
  if ('sequence' in flagged) {
    sequenceToLabels(prompt, flagged.sequence).forEach((l, i) => l === 0 && out.add(i));
    return out;
  }
  const norm = (w: string) => w.toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');
  const want = new Set(flagged.map(norm).filter((w) => w.length > 0));
  words.forEach((w, i) => want.has(norm(w)) && out.add(i));
  return out;
}

/** The prompt as HTML with the flagged (misaligned) words highlighted. */
export function promptHtml(prompt: string, flagged: Flagged): string {
  const marks = flaggedWordIndices(prompt, flagged);
  const html = promptWords(prompt)
    .map((w, i) => (marks.has(i) ? `<mark style="background:#ffb3a7;color:#900;font-weight:bold" title="flagged as misaligned">${escapeXml(w)}</mark>` : escapeXml(w)))
    .join(' ');
  return `<p style="font-size:1.1em">${html}</p>`;
}

export interface GalleryItem {
  png: Uint8Array;
  caption?: string;
}

/** PNGs side by side (wrapping), each with an optional caption underneath. */
export function galleryHtml(items: GalleryItem[], opts: { width?: number } = {}): string {
  const style = opts.width ? ` style="width:${opts.width}px"` : '';
  const figs = items.map(({ png, caption }) => {
    const src = `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
    const cap = caption ? `<figcaption style="font-size:0.9em">${escapeXml(caption)}</figcaption>` : '';
    return `<figure style="margin:4px;display:inline-block;vertical-align:top"><img src="${src}"${style}/>${cap}</figure>`;
  });
  return `<div>${figs.join('')}</div>`;
}
