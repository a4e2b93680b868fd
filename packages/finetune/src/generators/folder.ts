import * as fs from 'fs';
import * as path from 'path';
import { Candidate, GenerateRequest, Generator, GeneratorError } from '../generator';

const IMAGE = /^(\d+)\.(png|jpe?g|webp|gif|avif|tiff?)$/i;

/**
 * Pre-generated candidates: `DIR/<prompt id>/<k>.<ext>` (any type sharp reads), k = 0, 1, … A prompt's folder
 * is its id when the id is a plain single path component, else its safe key (so `../../x` is looked up as
 * `DIR/x-…`, never outside DIR). An optional `<k>.json` beside an image gives its `seed` and settings.
 * The first `n` images by k are the candidates.
 */
export class FolderGenerator implements Generator {
  readonly kind = 'folder';
  readonly describe: Record<string, unknown>;
  private readonly root: string;

  constructor(dir: string) {
    this.root = path.resolve(dir);
    let st: fs.Stats;
    try {
      st = fs.statSync(this.root);
    } catch {
      throw new GeneratorError(`--generator folder:${dir}: no such folder`);
    }
    if (!st.isDirectory()) throw new GeneratorError(`--generator folder:${dir}: not a folder`);
    this.describe = { kind: this.kind, dir: this.root };
  }

  /** The prompt's folder, always inside the root. */
  folderOf(req: Pick<GenerateRequest, 'promptId' | 'promptKey'>): string {
    const id = req.promptId;
    const plainComponent = id !== '.' && id !== '..' && !/[\\/\u0000]/.test(id) && id.trim() === id && id.length > 0;
    const byId = plainComponent ? path.join(this.root, id) : undefined;
    const dir = byId && fs.existsSync(byId) ? byId : path.join(this.root, req.promptKey);
    const rel = path.relative(this.root, dir);
    if (rel.startsWith('..') || path.isAbsolute(rel)) throw new GeneratorError(`folder generator: prompt ${JSON.stringify(id)} resolves outside ${this.root}`);
    return dir;
  }

  async generate(req: GenerateRequest): Promise<Candidate[]> {
    const dir = this.folderOf(req);
    let names: string[];
    try {
      names = await fs.promises.readdir(dir);
    } catch {
      throw new GeneratorError(`folder generator: no folder ${dir} for prompt ${JSON.stringify(req.promptId)}`);
    }
    const files = names
      .map((f) => ({ f, m: IMAGE.exec(f) }))
      .filter((x) => x.m)
      .map((x) => ({ file: x.f, k: Number(x.m![1]) }))
      .sort((a, b) => a.k - b.k || a.file.localeCompare(b.file));
    const seen = new Set<number>();
    const picked = files.filter((x) => !seen.has(x.k) && seen.add(x.k)).slice(0, req.n);
    if (picked.length === 0) throw new GeneratorError(`folder generator: no <k>.png/.jpg/.webp images in ${dir} for prompt ${JSON.stringify(req.promptId)}`);
    return Promise.all(
      picked.map(async ({ file, k }, index): Promise<Candidate> => {
        const full = path.join(dir, file);
        const bytes = new Uint8Array(await fs.promises.readFile(full));
        if (bytes.length === 0) throw new GeneratorError(`${full}: empty file, not an image`);
        const side = await readSidecar(path.join(dir, `${k}.json`));
        const { seed, ...settings } = side;
        return {
          index,
          seed: typeof seed === 'number' && Number.isFinite(seed) ? seed : null,
          bytes,
          settings: { generator: 'folder', file: path.relative(this.root, full), ...settings },
          source: full,
        };
      }),
    );
  }

  async close(): Promise<void> {}
}

async function readSidecar(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch {
    return {};
  }
  try {
    const v = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* fall through */
  }
  throw new GeneratorError(`${file}: not a JSON object (the sidecar of a candidate image)`);
}
