/**
 * A heatmap a person can read: the image (enlarged when small) with the colour overlay, and a side
 * strip with the title, a legend of the colour scale in map units, where the peak is, the prompt with
 * the flagged words marked, and the scores. The strip is SVG text rasterised and composited by sharp.
 */
import sharp from 'sharp';
import { type Heatmap, heatmapPeak, type OverlayOptions, overlayPng, overlayScale, type OverlayScale } from '../heatmap-image';
import type { RgbImage } from '../image';
import { promptWords } from '../rahf/keywords';
import { escapeXml, type Flagged, flaggedWordIndices } from './html';
import { colourScheme } from './vega';

export interface HeatmapFigureOptions extends OverlayOptions {
  image: RgbImage;
  map: Heatmap;
  /** Strip title, e.g. 'implausibility'. */
  title: string;
  prompt?: string;
  /** Words to mark in the prompt (see `Flagged`). */
  flagged?: Flagged;
  /** Shown as "name value" lines, e.g. the four RAHF scores. */
  scores?: Record<string, number>;
  /** The image's shorter side is enlarged by a whole factor to at least this (default 384). */
  minSize?: number;
}

const STRIP = 280;
const PAD = 14;
const FONT = 'DejaVu Sans Mono, monospace';
const SIZE = 13;
// Monospace glyph advance of DejaVu Sans Mono (0.602 em): exact text widths for wrapping and highlights.
const CHAR = SIZE * 0.602;
const LINE = SIZE + 7;

/** The whole factor that brings the shorter side to at least `min`. */
export function displayFactor(width: number, height: number, min = 384): number {
  return Math.max(1, Math.ceil(min / Math.max(1, Math.min(width, height))));
}

/** An RGB image (HWC in [0,1]) as 8-bit PNG, optionally enlarged (lanczos) to width × height. */
export async function rgbPng(image: RgbImage, width = image.width, height = image.height): Promise<Buffer> {
  const u8 = Buffer.alloc(image.data.length);
  for (let i = 0; i < u8.length; i++) u8[i] = Math.round(Math.min(1, Math.max(0, image.data[i])) * 255);
  let s = sharp(u8, { raw: { width: image.width, height: image.height, channels: 3 } });
  if (width !== image.width || height !== image.height) s = s.resize(width, height, { kernel: 'lanczos3', fit: 'fill' });
  return s.png().toBuffer();
}

async function rgbAt(image: RgbImage, width: number, height: number): Promise<Float32Array> {
  if (width === image.width && height === image.height) return image.data;
  const raw = await sharp(await rgbPng(image, width, height)).removeAlpha().raw().toBuffer();
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw[i] / 255;
  return out;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  return Math.abs(v) >= 0.1 ? v.toFixed(2) : v.toPrecision(2);
}

/** Greedy word wrap into lines of at most `cols` characters; each entry keeps the words' indices. */
function wrap(words: string[], cols: number): Array<Array<{ word: string; index: number }>> {
  const lines: Array<Array<{ word: string; index: number }>> = [[]];
  let len = 0;
  words.forEach((word, index) => {
    const cur = lines[lines.length - 1];
    const need = (cur.length > 0 ? 1 : 0) + word.length;
    if (cur.length > 0 && len + need > cols) {
      lines.push([{ word, index }]);
      len = word.length;
    } else {
      cur.push({ word, index });
      len += need;
    }
  });
  return lines;
}

/** The side strip as SVG, and its natural height. */
async function stripSvg(o: HeatmapFigureOptions, scale: OverlayScale, peakText: string[], height: number): Promise<{ svg: string; height: number }> {
  const parts: string[] = [];
  const text = (x: number, y: number, s: string, extra = '') =>
    parts.push(`<text x="${x}" y="${y}" font-family="${FONT}" font-size="${SIZE}" xml:space="preserve" ${extra}>${escapeXml(s)}</text>`);
  let y = PAD + 16;
  parts.push(`<text x="${PAD}" y="${y}" font-family="${FONT}" font-size="17" font-weight="bold">${escapeXml(o.title)}</text>`);

  // Legend: the colour bar over [0, vmax]; the part under the floor leaves the image untouched (grey).
  y += 14;
  const barW = STRIP - 2 * PAD;
  const interp = await colourScheme(scale.scheme);
  const floorW = barW * scale.floor;
  const stops = Array.from({ length: 11 }, (_, i) => `<stop offset="${i * 10}%" stop-color="${interp(i / 10)}"/>`).join('');
  parts.push(`<defs><linearGradient id="heat">${stops}</linearGradient></defs>`);
  parts.push(`<rect x="${PAD}" y="${y}" width="${floorW}" height="14" fill="#e6e6e6"/>`);
  parts.push(`<rect x="${PAD + floorW}" y="${y}" width="${barW - floorW}" height="14" fill="url(#heat)" fill-opacity="${scale.opacity}"/>`);
  parts.push(`<rect x="${PAD}" y="${y}" width="${barW}" height="14" fill="none" stroke="#666"/>`);
  y += 14 + LINE - 4;
  text(PAD, y, '0');
  text(PAD + barW / 2, y, fmt(scale.vmax / 2), 'text-anchor="middle"');
  text(PAD + barW, y, fmt(scale.vmax), 'text-anchor="end"');
  y += LINE;
  text(PAD, y, scale.vmax > 0 ? 'grey part: not drawn' : 'empty map: nothing drawn', 'fill="#555"');
  y += LINE + 4;
  for (const line of peakText) {
    text(PAD, y, line);
    y += LINE;
  }

  const cols = Math.floor(barW / CHAR);
  if (o.prompt !== undefined) {
    y += 6;
    text(PAD, y, 'prompt (flagged words marked):', 'fill="#555"');
    y += LINE;
    const words = promptWords(o.prompt);
    const marks = o.flagged ? flaggedWordIndices(o.prompt, o.flagged) : new Set<number>();
    for (const line of wrap(words, cols)) {
      let x = PAD;
      for (const { word, index } of line) {
        const w = word.length * CHAR;
        if (marks.has(index)) {
          parts.push(`<rect x="${x - 2}" y="${y - SIZE + 1}" width="${w + 4}" height="${SIZE + 4}" rx="3" fill="#ffb3a7"/>`);
          text(x, y, word, 'fill="#900" font-weight="bold"');
        } else {
          text(x, y, word);
        }
        x += w + CHAR;
      }
      y += LINE;
    }
    if (o.flagged) text(PAD, y, marks.size > 0 ? `${marks.size} word(s) flagged` : 'no word flagged', 'fill="#555"');
    y += LINE;
  }
  if (o.scores) {
    y += 6;
    for (const [name, v] of Object.entries(o.scores)) {
      text(PAD, y, `${name.padEnd(cols - 6)}${v.toFixed(2).padStart(6)}`);
      y += LINE;
    }
  }
  const h = Math.max(height, y + PAD);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${STRIP}" height="${h}"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>`;
  return { svg, height: h };
}

/** The figure as PNG: enlarged image with overlay on the left, legend and prompt strip on the right. */
export async function heatmapFigurePng(o: HeatmapFigureOptions): Promise<Buffer> {
  const { image, map } = o;
  const k = displayFactor(image.width, image.height, o.minSize ?? 384);
  const W = image.width * k;
  const H = image.height * k;
  const scale = overlayScale(map, o);
  const over = await overlayPng(await rgbAt(image, W, H), W, H, map, o);
  const peak = heatmapPeak(map, image.width, image.height);
  const peakText =
    peak.value > 0
      ? [`peak ${fmt(peak.value)} at (${peak.x}, ${peak.y})`, `${peak.region}; ${Math.round(peak.area * 100)}% of image`, `at ≥ half the peak`]
      : ['the map is zero everywhere'];
  const strip = await stripSvg(o, scale, peakText, H);
  return sharp({ create: { width: W + STRIP, height: strip.height, channels: 3, background: '#ffffff' } })
    .composite([
      { input: over, left: 0, top: 0 },
      { input: Buffer.from(strip.svg), left: W, top: 0 },
    ])
    .png()
    .toBuffer();
}
