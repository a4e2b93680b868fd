"use strict";
var __create = Object.create;
var __defProp = Object.defineProperty;
var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __getProtoOf = Object.getPrototypeOf;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __copyProps = (to, from, except, desc) => {
  if (from && typeof from === "object" || typeof from === "function") {
    for (let key of __getOwnPropNames(from))
      if (!__hasOwnProp.call(to, key) && key !== except)
        __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
  }
  return to;
};
var __toESM = (mod, isNodeMode, target) => (target = mod != null ? __create(__getProtoOf(mod)) : {}, __copyProps(
  // If the importer is in node compatibility mode or this is not an ESM
  // file that has been converted to a CommonJS file using a Babel-
  // compatible transform (i.e. "__esModule" has not been set), then set
  // "default" to the CommonJS "module.exports" for node compatibility.
  isNodeMode || !mod || !mod.__esModule ? __defProp(target, "default", { value: mod, enumerable: true }) : target,
  mod
));

// src/backend.ts
var tf2 = __toESM(require("@tensorflow/tfjs"));

// src/backend-webgpu.ts
var fs = __toESM(require("fs"));
var path = __toESM(require("path"));
var tf = __toESM(require("@tensorflow/tfjs"));
var NO_ADAPTER_MESSAGE = "backend webgpu: no WebGPU adapter found (needs a GPU with Vulkan drivers and the optional 'webgpu' package)";
var lastFailure;
var adapterDescription;
function webgpuFailure() {
  return lastFailure ?? NO_ADAPTER_MESSAGE;
}
function dawnOptionsFromEnv() {
  return (process.env.RAHF_DAWN_OPTIONS ?? "").split(/\s+/).filter(Boolean);
}
function vulkanLoaderPresent() {
  if (process.platform !== "linux") return true;
  const name = "libvulkan.so.1";
  for (const dir of (process.env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean)) {
    if (fs.existsSync(path.join(dir, name))) return true;
  }
  try {
    return fs.readFileSync("/etc/ld.so.cache").includes(name);
  } catch {
    return false;
  }
}
function loadDawn() {
  try {
    const mod = require("webgpu");
    const dawn = typeof mod.create === "function" ? mod : mod.default;
    if (dawn && typeof dawn.create === "function") return dawn;
  } catch {
  }
  try {
    const root2 = path.dirname(require.resolve("webgpu/package.json"));
    const arch = process.platform === "darwin" ? "universal" : process.arch;
    const dawn = require(path.join(root2, "dist", `${process.platform}-${arch}`, "dawn.node"));
    return typeof dawn.create === "function" ? dawn : void 0;
  } catch {
    return void 0;
  }
}
function installNavigatorGpu(gpu) {
  const g = globalThis;
  if (g.navigator && typeof g.navigator === "object") {
    if (g.navigator.gpu === gpu) return;
    Object.defineProperty(g.navigator, "gpu", { value: gpu, configurable: true, writable: true });
  } else {
    Object.defineProperty(globalThis, "navigator", { value: { gpu }, configurable: true, writable: true });
  }
}
function describe(adapter) {
  const i = adapter.info;
  if (!i) return void 0;
  const parts = [i.vendor, i.architecture, i.device, i.description].filter((s) => s && String(s).length > 0);
  return parts.length ? parts.join(" / ") : void 0;
}
async function tryWebGPU(dawnOptions = dawnOptionsFromEnv()) {
  lastFailure = void 0;
  try {
    const explicitBackend = dawnOptions.some((o) => o.startsWith("backend="));
    const dawn = explicitBackend || vulkanLoaderPresent() ? loadDawn() : void 0;
    if (!dawn) {
      lastFailure = NO_ADAPTER_MESSAGE;
      return false;
    }
    for (const [k, v] of Object.entries(dawn.globals)) {
      if (!(k in globalThis)) globalThis[k] = v;
    }
    const gpu = dawn.create(dawnOptions);
    const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    if (!adapter) {
      lastFailure = NO_ADAPTER_MESSAGE;
      return false;
    }
    adapterDescription = describe(adapter);
    installNavigatorGpu(gpu);
    require("@tensorflow/tfjs-backend-webgpu");
    if (!tf.findBackendFactory("webgpu")) {
      lastFailure = "backend webgpu: @tensorflow/tfjs-backend-webgpu was loaded before navigator.gpu existed";
      return false;
    }
    lastFailure = `backend webgpu: adapter ${adapterDescription ?? "(unnamed)"} found but tfjs could not create a device`;
    return true;
  } catch (e) {
    lastFailure = `backend webgpu: ${e.message.split("\n")[0]}`;
    return false;
  }
}

// src/backend.ts
var chosen;
var logged = false;
function tryRequire(id) {
  try {
    require(id);
    return true;
  } catch {
    return false;
  }
}
async function activate(name) {
  switch (name) {
    case "tensorflow":
      if (!tryRequire("@tensorflow/tfjs-node-gpu") && !tryRequire("@tensorflow/tfjs-node")) return false;
      break;
    case "wasm":
      if (!tryRequire("@tensorflow/tfjs-backend-wasm")) return false;
      break;
    case "webgpu":
      if (!await tryWebGPU()) return false;
      break;
    case "cpu":
      break;
  }
  try {
    return await tf2.setBackend(name);
  } catch {
    return false;
  }
}
async function initBackend(name, opts = {}) {
  const wanted = (name ?? process.env.RAHF_BACKEND ?? "").trim() || void 0;
  if (chosen && (!wanted || wanted === chosen)) return chosen;
  const order = wanted ? [wanted] : ["tensorflow", "webgpu", "wasm", "cpu"];
  for (const b of order) {
    if (!["tensorflow", "webgpu", "wasm", "cpu"].includes(b)) {
      throw new Error(`unknown backend "${b}" (expected tensorflow, webgpu, wasm or cpu)`);
    }
    if (await activate(b)) {
      chosen = b;
      await tf2.ready();
      if (!logged && !opts.quiet && !process.env.JEST_WORKER_ID) {
        process.stderr.write(`rahf: tfjs backend ${b}
`);
      }
      logged = true;
      return b;
    }
    if (wanted) throw new Error(b === "webgpu" ? webgpuFailure() : `backend "${b}" is not available on this machine`);
  }
  throw new Error("no tfjs backend could be initialised");
}

// src/bench/onnx.ts
var fs14 = __toESM(require("fs"));
var os3 = __toESM(require("os"));
var path13 = __toESM(require("path"));
var ort2 = __toESM(require("onnxruntime-node"));

// src/rahf/model.ts
var fs10 = __toESM(require("fs"));
var path9 = __toESM(require("path"));
var tf12 = __toESM(require("@tensorflow/tfjs"));

// src/image.ts
var fs2 = __toESM(require("fs"));
var tf3 = __toESM(require("@tensorflow/tfjs"));
var import_sharp = __toESM(require("sharp"));
var IMAGENET_STANDARD_MEAN = [0.5, 0.5, 0.5];
var IMAGENET_STANDARD_STD = [0.5, 0.5, 0.5];
var SHARP_INPUT = { failOn: "truncated", ignoreIcc: true, autoOrient: false };
function oneLine(e) {
  const lines = String(e?.message ?? e).split("\n").map((l) => l.trim().replace(/:$/, "")).filter((l) => l.length > 0);
  const text = [...new Set(lines)].join("; ");
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}
function mulDiv255(a, b) {
  const t = a * b + 128;
  return (t >> 8) + t >> 8;
}
async function loadImage(src, label) {
  const name = label ?? (typeof src === "string" ? src : "<buffer>");
  let buf;
  if (typeof src === "string") {
    try {
      buf = await fs2.promises.readFile(src);
    } catch (e) {
      const code = e.code;
      if (code === "ENOENT") throw new Error(`${name}: no such file`);
      if (code === "EISDIR") throw new Error(`${name}: is a directory, not an image`);
      throw new Error(`${name}: cannot read (${code ?? oneLine(e)})`);
    }
  } else {
    buf = src;
  }
  if (buf.length === 0) throw new Error(`${name}: empty file (0 bytes), not an image`);
  let meta;
  try {
    meta = await (0, import_sharp.default)(buf, SHARP_INPUT).metadata();
  } catch (e) {
    const msg = oneLine(e);
    if (/unsupported image format|bad seek|not a known/i.test(msg)) throw new Error(`${name}: not an image (${msg})`);
    throw new Error(`${name}: truncated or corrupt image (${msg})`);
  }
  const { width, height } = meta;
  if (!width || !height) throw new Error(`${name}: zero-size image (${width ?? 0}x${height ?? 0})`);
  let raw;
  try {
    const pipe = (0, import_sharp.default)(buf, SHARP_INPUT);
    raw = meta.space === "cmyk" ? await pipe.toColourspace("cmyk").raw().toBuffer({ resolveWithObject: true }) : await pipe.removeAlpha().toColourspace("srgb").raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new Error(`${name}: truncated or corrupt image (${oneLine(e)})`);
  }
  const { data, info } = raw;
  const n = info.width * info.height;
  const out = new Float32Array(n * 3);
  if (meta.space === "cmyk") {
    if (info.channels < 4) throw new Error(`${name}: truncated or corrupt image (CMYK decoded to ${info.channels} channels)`);
    const ch = info.channels;
    for (let i = 0; i < n; i++) {
      const k = 255 - data[i * ch + 3];
      for (let c = 0; c < 3; c++) out[i * 3 + c] = (k - mulDiv255(data[i * ch + c], k)) / 255;
    }
  } else {
    if (info.channels !== 3) throw new Error(`${name}: truncated or corrupt image (decoded to ${info.channels} channels)`);
    for (let i = 0; i < n * 3; i++) out[i] = data[i] / 255;
  }
  return { data: out, width: info.width, height: info.height, file: typeof src === "string" ? src : label };
}
async function asImage(img) {
  return typeof img === "string" || Buffer.isBuffer(img) ? loadImage(img) : img;
}
function sinc(x) {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}
var KERNELS = {
  box: { support: 0.5, fn: (x) => x > -0.5 && x <= 0.5 ? 1 : 0 },
  bilinear: {
    support: 1,
    fn: (x) => {
      const a = Math.abs(x);
      return a < 1 ? 1 - a : 0;
    }
  },
  bicubic: {
    support: 2,
    fn: (x) => {
      const A = -0.5;
      const a = Math.abs(x);
      if (a < 1) return ((A + 2) * a - (A + 3)) * a * a + 1;
      if (a < 2) return (((a - 5) * a + 8) * a - 4) * A;
      return 0;
    }
  },
  lanczos: { support: 3, fn: (x) => x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0 }
};
var PIL_PRECISION_BITS = 32 - 8 - 2;
function coefficients(inSize, outSize, kernel, backend) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = kernel.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const w = new Float64Array(outSize * ksize);
  let wMax = 0;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const count = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum4 = 0;
    for (let x = 0; x < count; x++) {
      const v = kernel.fn((x + xmin - center + 0.5) / filterScale);
      w[xx * ksize + x] = v;
      sum4 += v;
    }
    for (let x = 0; x < count; x++) {
      if (sum4 !== 0) w[xx * ksize + x] /= sum4;
      wMax = Math.max(wMax, w[xx * ksize + x]);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = count;
  }
  let bits = PIL_PRECISION_BITS;
  if (backend === "torchvision") {
    for (bits = 0; bits < 22; bits++) if (Math.trunc(0.5 + wMax * 2 ** (bits + 1)) >= 1 << 15) break;
  }
  const one = 2 ** bits;
  const k = new Int32Array(outSize * ksize);
  for (let i = 0; i < w.length; i++) k[i] = Math.trunc(w[i] < 0 ? -0.5 + w[i] * one : 0.5 + w[i] * one);
  return { bits, ksize, bounds, k };
}
function pass(src, w, h, outLen, horizontal, kernel, backend) {
  const { bits, ksize, bounds, k } = coefficients(horizontal ? w : h, outLen, kernel, backend);
  const ow = horizontal ? outLen : w;
  const oh = horizontal ? h : outLen;
  const out = new Uint8Array(ow * oh * 3);
  const half = 2 ** (bits - 1);
  const step = horizontal ? 3 : w * 3;
  const clip8 = (acc) => {
    const v = acc >> bits;
    return v < 0 ? 0 : v > 255 ? 255 : v;
  };
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const o = horizontal ? x : y;
      const min = bounds[o * 2];
      const count = bounds[o * 2 + 1];
      const kb = o * ksize;
      let r = half;
      let g = half;
      let b = half;
      let p = horizontal ? (y * w + min) * 3 : (min * w + x) * 3;
      for (let t = 0; t < count; t++, p += step) {
        const c = k[kb + t];
        r += src[p] * c;
        g += src[p + 1] * c;
        b += src[p + 2] * c;
      }
      const q = (y * ow + x) * 3;
      out[q] = clip8(r);
      out[q + 1] = clip8(g);
      out[q + 2] = clip8(b);
    }
  }
  return out;
}
function toU8(img) {
  const u8 = new Uint8Array(img.data.length);
  for (let i = 0; i < u8.length; i++) {
    const v = img.data[i] * 255 + 0.5;
    u8[i] = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
  }
  return u8;
}
function fromU8(u8, width, height, file) {
  const data = new Float32Array(u8.length);
  for (let i = 0; i < u8.length; i++) data[i] = u8[i] / 255;
  return { data, width, height, file };
}
function resizeImage(img, width, height, filter2 = "bilinear", backend = "torchvision") {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new Error(`resize: invalid target size ${width}x${height}`);
  }
  const kernel = KERNELS[filter2];
  let u8 = toU8(img);
  let w = img.width;
  if (width !== img.width) {
    u8 = pass(u8, img.width, img.height, width, true, kernel, backend);
    w = width;
  }
  if (height !== img.height) u8 = pass(u8, w, img.height, height, false, kernel, backend);
  return fromU8(u8, width, height, img.file);
}
function normalizeInto(img, mean3, std) {
  if (mean3.length !== 3 || std.length !== 3) throw new Error(`mean/std need 3 values, got ${mean3.length}/${std.length}`);
  const out = new Float32Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = (img.data[i] - mean3[i % 3]) / std[i % 3];
  return out;
}
async function resizeForViT(img, size, opts = {}) {
  const [h, w] = typeof size === "number" ? [size, size] : size;
  const resized = resizeImage(await asImage(img), w, h, opts.resample ?? "bilinear", opts.backend);
  return normalizeInto(resized, opts.mean ?? IMAGENET_STANDARD_MEAN, opts.std ?? IMAGENET_STANDARD_STD);
}

// src/io/hub.ts
var fs3 = __toESM(require("fs"));
var os = __toESM(require("os"));
var path2 = __toESM(require("path"));
var COMMIT = /^[0-9a-f]{40}$/;
var REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;
function hubCacheDir() {
  const env2 = process.env;
  if (env2.HF_HUB_CACHE) return env2.HF_HUB_CACHE;
  if (env2.HF_HOME) return path2.join(env2.HF_HOME, "hub");
  return path2.join(env2.XDG_CACHE_HOME || path2.join(os.homedir(), ".cache"), "huggingface", "hub");
}
function isOfflineEnv() {
  return ["1", "true", "yes", "on"].includes((process.env.HF_HUB_OFFLINE ?? "").trim().toLowerCase());
}
function parseModelRef(ref) {
  const at = ref.indexOf("@");
  const repo = at < 0 ? ref : ref.slice(0, at);
  const revision = at < 0 ? void 0 : ref.slice(at + 1);
  if (!REPO_ID.test(repo) || repo.includes("..") || revision === "") return void 0;
  return { repo, revision };
}
async function resolveModel(ref, opts = {}) {
  if (fs3.existsSync(ref)) {
    if (fs3.statSync(ref).isDirectory()) return ref;
    throw new Error(`${ref}: is a file; expected a model directory or a Hugging Face repo id (owner/name[@revision])`);
  }
  const parsed = parseModelRef(ref);
  if (!parsed) throw new Error(`${ref}: no such directory, and not a Hugging Face repo id (owner/name[@revision])`);
  if (parsed.revision && opts.revision && parsed.revision !== opts.revision) {
    throw new Error(`${ref}: revision '${parsed.revision}' conflicts with the revision option '${opts.revision}'`);
  }
  const repo = parsed.repo;
  const revision = parsed.revision ?? opts.revision ?? "main";
  checkRevision(repo, revision);
  const cacheDir = opts.cacheDir ?? hubCacheDir();
  const files = opts.files ?? [];
  const where3 = `${repo}@${revision}`;
  const cached = cachedSnapshot(cacheDir, repo, revision, files);
  if (opts.offline || isOfflineEnv()) {
    if (cached.dir) return cached.dir;
    throw new Error(`${where3}: ${cached.missing} in the Hugging Face cache ${cacheDir} (offline mode: HF_HUB_OFFLINE or offline option)`);
  }
  if (cached.dir && COMMIT.test(revision)) return cached.dir;
  try {
    return await download(repo, revision, cacheDir, files, opts);
  } catch (e) {
    if (cached.dir) return cached.dir;
    const msg = String(e?.message ?? e).split("\n")[0];
    throw new Error(`${where3}: download failed (${msg}) and ${cached.missing} in the Hugging Face cache ${cacheDir}`);
  }
}
function checkRevision(repo, revision) {
  const parts = revision.split("/");
  if (path2.isAbsolute(revision) || parts.some((p) => p === "" || p === "." || p === "..")) {
    throw new Error(`${repo}@${revision}: invalid revision`);
  }
}
function repoFolder(cacheDir, repo) {
  return path2.join(cacheDir, `models--${repo.replace(/\//g, "--")}`);
}
function cachedSnapshot(cacheDir, repo, revision, files = []) {
  const folder = repoFolder(cacheDir, repo);
  let commit = revision;
  if (!COMMIT.test(revision)) {
    const refFile = path2.join(folder, "refs", revision);
    if (!fs3.existsSync(refFile)) return { missing: "not found" };
    commit = fs3.readFileSync(refFile, "utf8").trim();
    if (!COMMIT.test(commit)) return { missing: `refs/${revision} holds no commit hash` };
  }
  const dir = path2.join(folder, "snapshots", commit);
  if (!fs3.existsSync(dir) || !fs3.statSync(dir).isDirectory()) return { missing: `snapshot ${commit} not found` };
  for (const f of files) {
    if (!fs3.existsSync(path2.join(dir, f))) return { missing: `${f} not found (snapshot ${commit})` };
  }
  return { dir, missing: "" };
}
async function loadHubLibrary() {
  return import("@huggingface/hub");
}
async function download(repo, revision, cacheDir, files, opts) {
  const hub = await loadHubLibrary();
  const common2 = {
    fetch: boundedFetch(opts.fetch ?? fetch, opts.timeoutMs ?? 3e4),
    accessToken: process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN || void 0
  };
  if (files.length === 0) {
    return hub.snapshotDownload({ ...common2, repo: { type: "model", name: repo }, revision, cacheDir });
  }
  const info = await hub.modelInfo({ ...common2, name: repo, revision, additionalFields: ["sha"] });
  const commit = info.sha;
  if (!COMMIT.test(commit)) throw new Error(`Hub returned no commit for ${repo}@${revision}`);
  const folder = repoFolder(cacheDir, repo);
  if (revision !== commit) {
    const refFile = path2.join(folder, "refs", revision);
    fs3.mkdirSync(path2.dirname(refFile), { recursive: true });
    fs3.writeFileSync(refFile, commit);
  }
  for (const f of files) {
    await hub.downloadFileToCacheDir({ ...common2, repo: { type: "model", name: repo }, path: f, revision: commit, cacheDir });
  }
  return path2.join(folder, "snapshots", commit);
}
function boundedFetch(base, ms) {
  return async (input, init) => {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(new Error(`no response from the Hub within ${ms} ms`)), ms);
    const signal = init?.signal ? AbortSignal.any([init.signal, ctrl.signal]) : ctrl.signal;
    try {
      return await base(input, { ...init, signal });
    } finally {
      clearTimeout(timer);
    }
  };
}

// src/io/safetensors.ts
var fs4 = __toESM(require("fs"));
var path3 = __toESM(require("path"));

// src/io/tensors.ts
function numel(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

// src/io/safetensors.ts
var ITEMSIZE = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1
};
var HOST_DTYPE = {
  F64: "float32",
  F32: "float32",
  F16: "float32",
  BF16: "float32",
  I64: "int32",
  I32: "int32",
  I16: "int32",
  I8: "int32",
  U8: "int32",
  BOOL: "bool"
};
var UNSUPPORTED = /* @__PURE__ */ new Set(["U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"]);
var MAX_HEADER_BYTES = 1e8;
function parseSafetensorsHeader(headerBytes, total, label) {
  const bad = (msg) => new Error(`${label}: safetensors header ${msg}`);
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch {
    throw bad("is not valid UTF-8");
  }
  let json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw bad(`is not valid JSON (${e.message})`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw bad("is not a JSON object");
  const dataStart = 8 + headerBytes.length;
  const dataLen = total - dataStart;
  const metadata = {};
  const entries = [];
  for (const [name, info] of Object.entries(json)) {
    if (name === "__metadata__") {
      if (info === null || typeof info !== "object" || Array.isArray(info)) throw bad("__metadata__ is not an object");
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== "string") throw bad(`__metadata__ value for '${k}' is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (info === null || typeof info !== "object" || Array.isArray(info)) throw bad(`entry for tensor '${name}' is not an object`);
    const { dtype, shape, data_offsets: offsets } = info;
    if (typeof dtype !== "string") throw bad(`tensor '${name}' has no dtype`);
    if (!(dtype in ITEMSIZE)) {
      if (UNSUPPORTED.has(dtype)) throw bad(`tensor '${name}' has dtype ${dtype}, which is not supported (F64/F32/F16/BF16/I64/I32/I16/I8/U8/BOOL are)`);
      throw bad(`tensor '${name}' has unknown dtype '${dtype}'`);
    }
    if (!Array.isArray(shape) || !shape.every((d2) => Number.isSafeInteger(d2) && d2 >= 0)) {
      throw bad(`tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw bad(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [start, end] = offsets;
    if (end < start) throw bad(`tensor '${name}' has data_offsets [${start}, ${end}] with end before start`);
    const d = dtype;
    const expected = numel(shape) * ITEMSIZE[d];
    if (!Number.isSafeInteger(expected) || expected !== end - start) {
      throw bad(`tensor '${name}' shape [${shape}] \xD7 ${ITEMSIZE[d]} bytes (${d}) = ${expected} bytes but data_offsets span ${end - start}`);
    }
    if (end > dataLen) {
      throw bad(`tensor '${name}' data_offsets [${start}, ${end}] lie outside the data section (${dataLen} bytes)`);
    }
    entries.push({ name, dtype: d, shape, start, end });
  }
  const sorted = [...entries].sort((a, b) => a.start - b.start || a.end - b.end);
  let pos = 0;
  let prev;
  for (const e of sorted) {
    if (e.start < pos && prev) {
      throw bad(`tensors '${prev.name}' [${prev.start}, ${prev.end}] and '${e.name}' [${e.start}, ${e.end}] overlap`);
    }
    if (e.start > pos) throw bad(`leaves bytes [${pos}, ${e.start}) of the data section not covered by any tensor`);
    pos = e.end;
    prev = e;
  }
  if (pos !== dataLen) throw bad(`leaves bytes [${pos}, ${dataLen}) of the data section not covered by any tensor`);
  return { entries, metadata, dataStart };
}
function readHeaderFd(fd, file) {
  const size = fs4.fstatSync(fd).size;
  const bad = (msg) => new Error(`${file}: safetensors header ${msg}`);
  if (size < 8) throw bad(`missing: the file has only ${size} bytes (at least 8 needed)`);
  const lenBuf = Buffer.alloc(8);
  readFully(fd, lenBuf, 0, file);
  const n = lenBuf.readBigUInt64LE(0);
  if (n > BigInt(MAX_HEADER_BYTES)) throw bad(`length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const len = Number(n);
  if (8 + len > size) throw bad(`length ${len} runs past the end of the file (${size} bytes)`);
  const header = Buffer.alloc(len);
  readFully(fd, header, 8, file);
  return parseSafetensorsHeader(header, size, file);
}
function readFully(fd, target, position, file) {
  const CHUNK = 1 << 30;
  let done = 0;
  while (done < target.length) {
    const n = fs4.readSync(fd, target, done, Math.min(CHUNK, target.length - done), position + done);
    if (n <= 0) throw new Error(`${file}: unexpected end of file at byte ${position + done}`);
    done += n;
  }
}
function readSafetensors(file, opts = {}) {
  const fd = fs4.openSync(file, "r");
  try {
    const header = readHeaderFd(fd, file);
    const out = /* @__PURE__ */ new Map();
    for (const e of header.entries) {
      if (opts.filter && !opts.filter(e.name)) continue;
      const raw = new Uint8Array(new ArrayBuffer(e.end - e.start));
      readFully(fd, raw, header.dataStart + e.start, file);
      out.set(e.name, { ...decodeRaw(raw, e.dtype, `${file}: tensor '${e.name}'`), shape: e.shape });
    }
    return out;
  } finally {
    fs4.closeSync(fd);
  }
}
var halfTable;
function halfToFloatTable() {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 32768 ? -1 : 1;
    const exp2 = h >> 10 & 31;
    const frac = h & 1023;
    if (exp2 === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp2 === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp2 - 15);
  }
  halfTable = t;
  return t;
}
function view(raw, size, make) {
  const src = raw.byteOffset % size === 0 ? raw : new Uint8Array(raw);
  return make(src.buffer, src.byteOffset, src.length / size);
}
function decodeRaw(raw, dtype, what) {
  const size = ITEMSIZE[dtype];
  if (raw.length % size !== 0) throw new Error(`${what}: ${raw.length} bytes is not a whole number of ${dtype} elements`);
  const n = raw.length / size;
  const host = HOST_DTYPE[dtype];
  switch (dtype) {
    case "F32":
      return { dtype: host, data: view(raw, 4, (b, o, k) => new Float32Array(b, o, k)) };
    case "I32":
      return { dtype: host, data: view(raw, 4, (b, o, k) => new Int32Array(b, o, k)) };
    case "F64":
      return { dtype: host, data: new Float32Array(view(raw, 8, (b, o, k) => new Float64Array(b, o, k))) };
    case "F16": {
      const u16 = view(raw, 2, (b, o, k) => new Uint16Array(b, o, k));
      const table = halfToFloatTable();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[u16[i]];
      return { dtype: host, data: out };
    }
    case "BF16": {
      const u16 = view(raw, 2, (b, o, k) => new Uint16Array(b, o, k));
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = u16[i] << 16;
      return { dtype: host, data: out };
    }
    case "I64": {
      const words = view(raw, 4, (b, o, k) => new Int32Array(b, o, k));
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const lo = words[2 * i];
        const hi = words[2 * i + 1];
        if (hi !== lo >> 31) {
          const v = BigInt(hi) << 32n | BigInt(lo >>> 0);
          throw new Error(`${what}: I64 value ${v} at index ${i} does not fit in int32`);
        }
        out[i] = lo;
      }
      return { dtype: host, data: out };
    }
    case "I16":
      return { dtype: host, data: new Int32Array(view(raw, 2, (b, o, k) => new Int16Array(b, o, k))) };
    case "I8":
      return { dtype: host, data: new Int32Array(new Int8Array(raw.buffer, raw.byteOffset, n)) };
    case "U8":
      return { dtype: host, data: new Int32Array(raw) };
    case "BOOL":
      return { dtype: host, data: raw.every((v) => v <= 1) ? raw : Uint8Array.from(raw, (v) => v ? 1 : 0) };
  }
}
var WRITE_DTYPE = {
  float32: { st: "F32", ctor: Float32Array },
  int32: { st: "I32", ctor: Int32Array },
  bool: { st: "BOOL", ctor: Uint8Array }
};
function writeSafetensors(file, tensors, metadata) {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const items = list.map(([name, t]) => {
    const w = WRITE_DTYPE[t.dtype];
    if (!w) throw new Error(`${file}: cannot write tensor '${name}' of dtype ${String(t.dtype)} (float32, int32 and bool only)`);
    if (name === "__metadata__" || name === "") throw new Error(`${file}: invalid tensor name '${name}'`);
    if (!(t.data instanceof w.ctor)) throw new Error(`${file}: tensor '${name}' is ${t.dtype} but its data is a ${t.data.constructor.name}`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`${file}: tensor '${name}' has an invalid shape [${t.shape}]`);
    if (t.data.length !== numel(t.shape)) {
      throw new Error(`${file}: tensor '${name}' has ${t.data.length} elements but shape [${t.shape}] needs ${numel(t.shape)}`);
    }
    return { name, t, st: w.st };
  });
  items.sort((a, b) => ITEMSIZE[b.st] - ITEMSIZE[a.st] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header = {};
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new Error(`${file}: metadata value for '${k}' is not a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const { name, t, st } of items) {
    const bytes = t.data.byteLength;
    header[name] = { dtype: st, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), "utf8");
  const pad2 = (8 - json.length % 8) % 8;
  if (pad2) json = Buffer.concat([json, Buffer.alloc(pad2, 32)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs4.openSync(tmp, "w");
  try {
    writeAll(fd, len);
    writeAll(fd, json);
    for (const { t, st } of items) {
      let bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      if (st === "BOOL" && !bytes.every((v) => v <= 1)) bytes = Uint8Array.from(bytes, (v) => v ? 1 : 0);
      writeAll(fd, bytes);
    }
    fs4.fsyncSync(fd);
    fs4.closeSync(fd);
  } catch (e) {
    fs4.closeSync(fd);
    fs4.rmSync(tmp, { force: true });
    throw e;
  }
  try {
    fs4.renameSync(tmp, file);
  } catch (e) {
    fs4.rmSync(tmp, { force: true });
    throw e;
  }
}
function writeAll(fd, bytes) {
  let done = 0;
  while (done < bytes.length) done += fs4.writeSync(fd, bytes, done, Math.min(1 << 30, bytes.length - done));
}
function readShardedSafetensors(indexFile) {
  const weightMap = readWeightMap(indexFile);
  const out = /* @__PURE__ */ new Map();
  const dir = path3.dirname(indexFile);
  for (const [shard, names] of groupByShard(indexFile, weightMap)) {
    const shardPath = path3.join(dir, shard);
    if (!fs4.existsSync(shardPath)) {
      throw new Error(`${indexFile}: shard '${shard}' (holding '${names[0]}') not found at ${shardPath}`);
    }
    const tensors = readSafetensors(shardPath);
    for (const name of names) {
      if (!tensors.has(name)) throw new Error(`${indexFile}: tensor '${name}' is mapped to shard '${shard}' but is not in it`);
    }
    for (const [name, t] of tensors) {
      if (out.has(name)) throw new Error(`${indexFile}: tensor '${name}' appears in more than one shard (again in '${shard}')`);
      out.set(name, t);
    }
  }
  return out;
}
function readWeightMap(indexFile) {
  let json;
  try {
    json = JSON.parse(fs4.readFileSync(indexFile, "utf8"));
  } catch (e) {
    throw new Error(`${indexFile}: cannot read shard index (${e.message.split("\n")[0]})`);
  }
  const wm = json?.weight_map;
  if (wm === null || typeof wm !== "object" || Array.isArray(wm)) throw new Error(`${indexFile}: shard index has no weight_map object`);
  for (const [k, v] of Object.entries(wm)) {
    if (typeof v !== "string") throw new Error(`${indexFile}: weight_map entry for '${k}' is not a file name`);
  }
  return wm;
}
function groupByShard(indexFile, weightMap) {
  const byShard = /* @__PURE__ */ new Map();
  for (const [name, shard] of Object.entries(weightMap)) {
    const norm5 = path3.normalize(shard);
    if (path3.isAbsolute(norm5) || norm5.split(path3.sep).includes("..")) {
      throw new Error(`${indexFile}: shard path '${shard}' points outside the checkpoint directory`);
    }
    const list = byShard.get(shard);
    if (list) list.push(name);
    else byShard.set(shard, [name]);
  }
  if (byShard.size === 0) throw new Error(`${indexFile}: weight_map is empty`);
  return byShard;
}

// src/io/weights.ts
var fs6 = __toESM(require("fs"));
var path4 = __toESM(require("path"));

// src/io/torch-pickle.ts
var fs5 = __toESM(require("fs"));
var zlib = __toESM(require("zlib"));
var import_fflate = require("fflate");
var STORAGE_DTYPE = {
  FloatStorage: "F32",
  DoubleStorage: "F64",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL"
};
var ALLOWED_CALLABLES = /* @__PURE__ */ new Set([
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_parameter",
  "torch._utils._rebuild_parameter_with_state",
  "torch.device"
]);
var PyGlobal = class {
  constructor(module2, name) {
    this.module = module2;
    this.name = name;
  }
  module;
  name;
  get qualname() {
    return `${this.module}.${this.name}`;
  }
};
var PyDict = class {
  items = /* @__PURE__ */ new Map();
};
var StorageRef = class {
  constructor(key, dtype, numel2) {
    this.key = key;
    this.dtype = dtype;
    this.numel = numel2;
  }
  key;
  dtype;
  numel;
};
var TensorRef = class {
  constructor(storage, offset, size, stride) {
    this.storage = storage;
    this.offset = offset;
    this.size = size;
    this.stride = stride;
  }
  storage;
  offset;
  size;
  stride;
};
var Unpickler = class {
  constructor(buf, label) {
    this.buf = buf;
    this.label = label;
  }
  buf;
  label;
  pos = 0;
  stack = [];
  marks = [];
  memo = /* @__PURE__ */ new Map();
  utf8 = new TextDecoder("utf-8");
  fail(msg) {
    throw new Error(`${this.label}: ${msg}`);
  }
  failer = (msg) => this.fail(msg);
  index(t) {
    const v = parseIntText(t, this.failer);
    if (typeof v !== "number" || v < 0) this.fail(`invalid memo index '${t}'`);
    return v;
  }
  take(n) {
    if (n < 0 || this.pos + n > this.buf.length) this.fail(`truncated pickle (wanted ${n} bytes at ${this.pos})`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u8() {
    return this.take(1)[0];
  }
  u16() {
    const b = this.take(2);
    return b[0] | b[1] << 8;
  }
  i32() {
    const b = this.take(4);
    return b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24;
  }
  u32() {
    return this.i32() >>> 0;
  }
  u64() {
    const b = this.take(8);
    const v = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`length ${v} too large`);
    return Number(v);
  }
  line() {
    const end = this.buf.indexOf(10, this.pos);
    if (end < 0) this.fail("truncated pickle (missing newline)");
    const s = Buffer.from(this.buf.subarray(this.pos, end)).toString("latin1");
    this.pos = end + 1;
    return s;
  }
  str(n) {
    return this.utf8.decode(this.take(n));
  }
  pop() {
    if (this.stack.length === 0 || this.marks.length && this.stack.length <= this.marks[this.marks.length - 1]) {
      this.fail("malformed pickle (stack underflow)");
    }
    return this.stack.pop();
  }
  top() {
    if (this.stack.length === 0) this.fail("malformed pickle (empty stack)");
    return this.stack[this.stack.length - 1];
  }
  popMark() {
    const m = this.marks.pop();
    if (m === void 0) this.fail("malformed pickle (no MARK)");
    return this.stack.splice(m);
  }
  get(i) {
    if (!this.memo.has(i)) this.fail(`malformed pickle (memo ${i} unset)`);
    return this.memo.get(i);
  }
  global(module2, name) {
    const q = `${module2}.${name}`;
    if (module2 === "torch" && name.endsWith("Storage")) {
      if (name in STORAGE_DTYPE) return new PyGlobal(module2, name);
      this.fail(`unsupported tensor storage type '${q}'`);
    }
    if (!ALLOWED_CALLABLES.has(q)) this.fail(`refusing to unpickle global '${q}' (only tensors are allowed)`);
    return new PyGlobal(module2, name);
  }
  setItems(dict, kv) {
    if (!(dict instanceof PyDict)) this.fail("malformed pickle (SETITEM on a non-dict)");
    if (kv.length % 2) this.fail("malformed pickle (odd SETITEMS)");
    for (let i = 0; i < kv.length; i += 2) dict.items.set(dictKey(kv[i]), kv[i + 1]);
  }
  /** The only "calls" a pickle can make: each allowed global rebuilds data, nothing else runs. */
  call(fn, args) {
    if (!(fn instanceof PyGlobal)) this.fail("malformed pickle (REDUCE on a non-callable)");
    if (!Array.isArray(args)) this.fail(`malformed pickle (arguments of ${fn.qualname} are not a tuple)`);
    switch (fn.qualname) {
      case "collections.OrderedDict": {
        const d = new PyDict();
        if (args.length && Array.isArray(args[0])) {
          for (const kv of args[0]) {
            if (!Array.isArray(kv) || kv.length !== 2) this.fail("malformed OrderedDict arguments");
            d.items.set(dictKey(kv[0]), kv[1]);
          }
        }
        return d;
      }
      case "torch._utils._rebuild_tensor":
      case "torch._utils._rebuild_tensor_v2": {
        const [storage, offset, size, stride] = args;
        if (!(storage instanceof StorageRef)) this.fail(`${fn.name} without a storage`);
        if (!isIntTuple(size) || !isIntTuple(stride) || size.length !== stride.length || typeof offset !== "number") {
          this.fail(`${fn.name} with invalid size/stride/offset`);
        }
        return new TensorRef(storage, offset, size, stride);
      }
      case "torch._utils._rebuild_parameter":
      case "torch._utils._rebuild_parameter_with_state":
        if (!(args[0] instanceof TensorRef)) this.fail(`${fn.name} without a tensor`);
        return args[0];
      case "torch.device":
        return args.filter((a) => a !== null).join(":");
      default:
        this.fail(`refusing to call '${fn.qualname}' (only tensors are allowed)`);
    }
  }
  persistentLoad(pid) {
    if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 5) this.fail("unsupported persistent id in pickle");
    const [, type, key, , n] = pid;
    if (!(type instanceof PyGlobal) || !(type.name in STORAGE_DTYPE)) this.fail("persistent id without a storage type");
    if (typeof key !== "string" || !/^[A-Za-z0-9_]+$/.test(key)) this.fail(`invalid storage key ${JSON.stringify(key)}`);
    if (!Number.isSafeInteger(n) || n < 0) this.fail(`invalid storage size for key ${key}`);
    return new StorageRef(key, STORAGE_DTYPE[type.name], n);
  }
  load() {
    const s = this.stack;
    for (; ; ) {
      const op = this.u8();
      switch (op) {
        case 128:
          if (this.u8() > 5) this.fail("unsupported pickle protocol");
          break;
        case 149:
          this.take(8);
          break;
        case 46:
          if (s.length !== 1) this.fail("malformed pickle (stack not empty at STOP)");
          return s[0];
        case 40:
          this.marks.push(s.length);
          break;
        case 48:
          if (this.marks.length && this.marks[this.marks.length - 1] === s.length) this.marks.pop();
          else this.pop();
          break;
        case 49:
          this.popMark();
          break;
        case 50:
          s.push(this.top());
          break;
        case 78:
          s.push(null);
          break;
        case 136:
          s.push(true);
          break;
        case 137:
          s.push(false);
          break;
        case 74:
          s.push(this.i32());
          break;
        case 75:
          s.push(this.u8());
          break;
        case 77:
          s.push(this.u16());
          break;
        case 73: {
          const t = this.line();
          s.push(t === "01" ? true : t === "00" ? false : parseIntText(t, this.failer));
          break;
        }
        case 76:
          s.push(parseIntText(this.line().replace(/L$/, ""), this.failer));
          break;
        case 138:
          s.push(longFromBytes(this.take(this.u8())));
          break;
        case 139: {
          const n = this.i32();
          if (n < 0) this.fail("negative LONG4 length");
          s.push(longFromBytes(this.take(n)));
          break;
        }
        case 71: {
          const b = this.take(8);
          s.push(new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, false));
          break;
        }
        case 70:
          s.push(parseFloat(this.line()));
          break;
        case 88:
          s.push(this.str(this.u32()));
          break;
        case 140:
          s.push(this.str(this.u8()));
          break;
        case 141:
          s.push(this.str(this.u64()));
          break;
        case 86:
          s.push(this.line());
          break;
        case 85:
          s.push(Buffer.from(this.take(this.u8())).toString("latin1"));
          break;
        case 84: {
          const n = this.i32();
          if (n < 0) this.fail("negative BINSTRING length");
          s.push(Buffer.from(this.take(n)).toString("latin1"));
          break;
        }
        case 67:
          s.push(Uint8Array.from(this.take(this.u8())));
          break;
        case 66:
          s.push(Uint8Array.from(this.take(this.u32())));
          break;
        case 142:
        // BINBYTES8
        case 150:
          s.push(Uint8Array.from(this.take(this.u64())));
          break;
        case 41:
        // EMPTY_TUPLE
        case 93:
          s.push([]);
          break;
        case 133:
          s.push([this.pop()]);
          break;
        case 134: {
          const b = this.pop();
          s.push([this.pop(), b]);
          break;
        }
        case 135: {
          const c = this.pop();
          const b = this.pop();
          s.push([this.pop(), b, c]);
          break;
        }
        case 116:
        // TUPLE
        case 108:
          s.push(this.popMark());
          break;
        case 97: {
          const v = this.pop();
          const list = this.top();
          if (!Array.isArray(list)) this.fail("malformed pickle (APPEND to a non-list)");
          list.push(v);
          break;
        }
        case 101: {
          const items = this.popMark();
          const list = this.top();
          if (!Array.isArray(list)) this.fail("malformed pickle (APPENDS to a non-list)");
          for (const v of items) list.push(v);
          break;
        }
        case 125:
          s.push(new PyDict());
          break;
        case 100: {
          const d = new PyDict();
          this.setItems(d, this.popMark());
          s.push(d);
          break;
        }
        case 115: {
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.top(), [k, v]);
          break;
        }
        case 117: {
          const kv = this.popMark();
          this.setItems(this.top(), kv);
          break;
        }
        case 143:
          s.push([]);
          break;
        case 144: {
          const items = this.popMark();
          const set = this.top();
          if (!Array.isArray(set)) this.fail("malformed pickle (ADDITEMS to a non-set)");
          set.push(...items);
          break;
        }
        case 145:
          s.push(this.popMark());
          break;
        case 99: {
          const module2 = this.line();
          const name = this.line();
          s.push(this.global(module2, name));
          break;
        }
        case 147: {
          const name = this.pop();
          const module2 = this.pop();
          if (typeof module2 !== "string" || typeof name !== "string") this.fail("malformed pickle (STACK_GLOBAL)");
          s.push(this.global(module2, name));
          break;
        }
        case 82: {
          const args = this.pop();
          const fn = this.pop();
          s.push(this.call(fn, args));
          break;
        }
        case 129: {
          this.pop();
          const cls = this.pop();
          if (!(cls instanceof PyGlobal) || cls.qualname !== "collections.OrderedDict") {
            this.fail(`refusing to instantiate ${cls instanceof PyGlobal ? `'${cls.qualname}'` : "an object"} (only tensors are allowed)`);
          }
          s.push(new PyDict());
          break;
        }
        case 98: {
          this.pop();
          const obj = this.top();
          if (!(obj instanceof PyDict) && !(obj instanceof TensorRef)) this.fail("refusing BUILD on an object that is not a dict or tensor");
          break;
        }
        case 81:
          s.push(this.persistentLoad(this.pop()));
          break;
        case 80:
          this.fail("unsupported text persistent id (PERSID)");
          break;
        case 113:
          this.memo.set(this.u8(), this.top());
          break;
        case 114:
          this.memo.set(this.u32(), this.top());
          break;
        case 112:
          this.memo.set(this.index(this.line()), this.top());
          break;
        case 148:
          this.memo.set(this.memo.size, this.top());
          break;
        case 104:
          s.push(this.get(this.u8()));
          break;
        case 106:
          s.push(this.get(this.u32()));
          break;
        case 103:
          s.push(this.get(this.index(this.line())));
          break;
        case 105:
        // INST
        case 111:
        // OBJ
        case 146:
          this.fail(`refusing to instantiate objects (opcode ${opName(op)}; only tensors are allowed)`);
          break;
        case 130:
        // EXT1
        case 131:
        // EXT2
        case 132:
          this.fail("refusing extension-registry globals (EXT opcodes; only tensors are allowed)");
          break;
        default:
          this.fail(`unsupported pickle opcode ${opName(op)} at byte ${this.pos - 1}`);
      }
    }
  }
};
function opName(op) {
  return `0x${op.toString(16).padStart(2, "0")}`;
}
function parseIntText(t, fail) {
  if (!/^[+-]?\d+$/.test(t)) fail(`invalid integer '${t}' in pickle`);
  const v = BigInt(t);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
function longFromBytes(b) {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = v << 8n | BigInt(b[i]);
  if (b[b.length - 1] & 128) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
function dictKey(k) {
  return Array.isArray(k) ? `(${k.map(String).join(", ")})` : k;
}
function isIntTuple(x) {
  return Array.isArray(x) && x.every((v) => Number.isSafeInteger(v) && v >= 0);
}
var ZipReader = class {
  constructor(fd, file) {
    this.fd = fd;
    this.file = file;
    this.size = fs5.fstatSync(fd).size;
    this.readCentralDirectory();
  }
  fd;
  file;
  entries = /* @__PURE__ */ new Map();
  size;
  bytes(pos, n) {
    if (pos < 0 || pos + n > this.size) throw new Error(`${this.file}: corrupt zip archive (read past end of file)`);
    const b = Buffer.alloc(n);
    readFully(this.fd, b, pos, this.file);
    return b;
  }
  readCentralDirectory() {
    const tailLen = Math.min(this.size, 22 + 65535);
    const tail = this.bytes(this.size - tailLen, tailLen);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 101010256) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new Error(`${this.file}: corrupt zip archive (no end of central directory)`);
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    if (count === 65535 || cdSize === 4294967295 || cdOffset === 4294967295) {
      const locPos = this.size - tailLen + eocd - 20;
      const loc = this.bytes(locPos, 20);
      if (loc.readUInt32LE(0) !== 117853008) throw new Error(`${this.file}: corrupt zip64 archive (no locator)`);
      const rec = this.bytes(Number(loc.readBigUInt64LE(8)), 56);
      if (rec.readUInt32LE(0) !== 101075792) throw new Error(`${this.file}: corrupt zip64 archive (no end record)`);
      count = Number(rec.readBigUInt64LE(32));
      cdSize = Number(rec.readBigUInt64LE(40));
      cdOffset = Number(rec.readBigUInt64LE(48));
    }
    const cd = this.bytes(cdOffset, cdSize);
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== 33639248) throw new Error(`${this.file}: corrupt zip central directory`);
      const method = cd.readUInt16LE(p + 10);
      const crc = cd.readUInt32LE(p + 16);
      let csize = cd.readUInt32LE(p + 20);
      let usize = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let localOffset = cd.readUInt32LE(p + 42);
      const name = cd.toString("utf8", p + 46, p + 46 + nameLen);
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = cd.readUInt16LE(e);
        const len = cd.readUInt16LE(e + 2);
        if (id === 1) {
          let q = e + 4;
          const next = () => {
            const v = Number(cd.readBigUInt64LE(q));
            q += 8;
            return v;
          };
          if (usize === 4294967295) usize = next();
          if (csize === 4294967295) csize = next();
          if (localOffset === 4294967295) localOffset = next();
        }
        e += 4 + len;
      }
      this.entries.set(name, { method, crc, csize, usize, localOffset });
      p = eEnd + commentLen;
    }
  }
  /** Entry contents in a fresh (hence aligned) buffer, CRC-checked like torch's reader does. */
  read(name) {
    const out = this.readRaw(name);
    if (typeof zlib.crc32 === "function" && zlib.crc32(out) >>> 0 !== this.entries.get(name).crc) {
      throw new Error(`${this.file}: zip entry '${name}' is corrupt (CRC mismatch)`);
    }
    return out;
  }
  readRaw(name) {
    const ent = this.entries.get(name);
    if (!ent) throw new Error(`${this.file}: zip entry '${name}' is missing`);
    const lh = this.bytes(ent.localOffset, 30);
    if (lh.readUInt32LE(0) !== 67324752) throw new Error(`${this.file}: corrupt zip entry '${name}'`);
    const dataPos = ent.localOffset + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
    if (dataPos + ent.csize > this.size) throw new Error(`${this.file}: zip entry '${name}' runs past the end of the file`);
    if (ent.method === 0) {
      const out = new Uint8Array(new ArrayBuffer(ent.usize));
      readFully(this.fd, out, dataPos, this.file);
      return out;
    }
    if (ent.method === 8) {
      const comp = new Uint8Array(ent.csize);
      readFully(this.fd, comp, dataPos, this.file);
      const out = (0, import_fflate.inflateSync)(comp, { out: new Uint8Array(new ArrayBuffer(ent.usize)) });
      if (out.length !== ent.usize) throw new Error(`${this.file}: zip entry '${name}' inflated to ${out.length} bytes, expected ${ent.usize}`);
      return out;
    }
    throw new Error(`${this.file}: zip entry '${name}' uses unsupported compression method ${ent.method}`);
  }
};
var WRAPPER_KEYS = ["state_dict", "model_state_dict", "model", "module"];
function readTorchCheckpoint(file) {
  const fd = fs5.openSync(file, "r");
  try {
    const head = Buffer.alloc(Math.min(512, fs5.fstatSync(fd).size));
    readFully(fd, head, 0, file);
    if (head.length < 4 || head.readUInt32LE(0) !== 67324752) {
      if (head[0] === 128) {
        throw new Error(
          `${file}: legacy torch.save format (pre-1.6, not a zip archive) is not supported; re-save it with torch>=1.6 or convert it to safetensors`
        );
      }
      if (head.length >= 262 && head.toString("latin1", 257, 262) === "ustar") {
        throw new Error(`${file}: legacy tar-format torch checkpoint is not supported; re-save it with torch>=1.6 or convert it to safetensors`);
      }
      throw new Error(`${file}: not a torch zip checkpoint`);
    }
    const zip = new ZipReader(fd, file);
    const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (pkls.length !== 1) {
      throw new Error(`${file}: expected one '<archive>/data.pkl' in the torch zip, found ${pkls.length}`);
    }
    const prefix = pkls[0].slice(0, -"data.pkl".length);
    if (zip.entries.has(`${prefix}constants.pkl`)) {
      throw new Error(`${file}: TorchScript archives are not supported; save the weights with torch.save(model.state_dict())`);
    }
    let bigEndian = false;
    if (zip.entries.has(`${prefix}byteorder`)) {
      const order = Buffer.from(zip.read(`${prefix}byteorder`)).toString("latin1").trim();
      if (order !== "little" && order !== "big") throw new Error(`${file}: unknown byteorder '${order}'`);
      bigEndian = order === "big";
    }
    const root2 = new Unpickler(zip.read(pkls[0]), file).load();
    const refs = selectTensors(root2, file);
    if (refs.size === 0) throw new Error(`${file}: no tensors found in the checkpoint`);
    const storages = /* @__PURE__ */ new Map();
    const out = /* @__PURE__ */ new Map();
    for (const [name, ref] of refs) {
      const st = ref.storage;
      let s = storages.get(st.key);
      if (!s) {
        const entry = `${prefix}data/${st.key}`;
        const raw = zip.read(entry);
        const need = st.numel * ITEMSIZE[st.dtype];
        if (raw.length < need) throw new Error(`${file}: storage ${st.key} has ${raw.length} bytes, expected ${need}`);
        const bytes = raw.subarray(0, need);
        if (bigEndian) byteswap(bytes, ITEMSIZE[st.dtype]);
        s = decodeRaw(bytes, st.dtype, `${file}: storage ${st.key}`);
        storages.set(st.key, s);
      }
      out.set(name, { dtype: s.dtype, shape: ref.size, data: viewTensor(s.data, ref, st, `${file}: tensor '${name}'`) });
    }
    return out;
  } finally {
    fs5.closeSync(fd);
  }
}
function selectTensors(root2, file) {
  let target = root2;
  if (root2 instanceof PyDict && ![...root2.items.values()].every((v) => v instanceof TensorRef)) {
    for (const k of WRAPPER_KEYS) {
      const v = root2.items.get(k);
      if (v instanceof PyDict && hasTensor(v, /* @__PURE__ */ new Set())) {
        target = v;
        break;
      }
    }
  }
  const out = /* @__PURE__ */ new Map();
  const seen = /* @__PURE__ */ new Set();
  const walk = (v, name) => {
    if (v instanceof TensorRef) {
      if (out.has(name)) throw new Error(`${file}: two tensors flatten to the same name '${name}'`);
      out.set(name, v);
      return;
    }
    if (seen.has(v)) return;
    const join13 = (k) => name ? `${name}.${String(k)}` : String(k);
    if (v instanceof PyDict) {
      seen.add(v);
      for (const [k, x] of v.items) walk(x, join13(k));
    } else if (Array.isArray(v)) {
      seen.add(v);
      v.forEach((x, i) => walk(x, join13(i)));
    }
  };
  walk(target, "");
  return out;
}
function hasTensor(v, seen) {
  if (v instanceof TensorRef) return true;
  if (seen.has(v)) return false;
  if (v instanceof PyDict) {
    seen.add(v);
    for (const x of v.items.values()) if (hasTensor(x, seen)) return true;
  } else if (Array.isArray(v)) {
    seen.add(v);
    return v.some((x) => hasTensor(x, seen));
  }
  return false;
}
function byteswap(b, size) {
  if (size === 1) return;
  for (let i = 0; i < b.length; i += size) {
    for (let a = i, z = i + size - 1; a < z; a++, z--) {
      const t = b[a];
      b[a] = b[z];
      b[z] = t;
    }
  }
}
function viewTensor(data, ref, st, what) {
  const { size, stride, offset } = ref;
  const n = numel(size);
  if (n === 0) return data.slice(0, 0);
  let last = offset;
  for (let d = 0; d < size.length; d++) last += (size[d] - 1) * stride[d];
  if (!Number.isSafeInteger(offset) || offset < 0 || last >= st.numel) {
    throw new Error(`${what}: size [${size}] stride [${stride}] offset ${offset} reaches past its storage (${st.numel} elements)`);
  }
  let contiguous = true;
  for (let d = size.length - 1, expect2 = 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expect2) contiguous = false;
    expect2 *= size[d];
  }
  if (contiguous) return data.subarray(offset, offset + n);
  const out = new data.constructor(n);
  const rank = size.length;
  const idx = new Array(rank).fill(0);
  let src = offset;
  for (let i = 0; i < n; i++) {
    out[i] = data[src];
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      src += stride[d];
      if (idx[d] < size[d]) break;
      src -= stride[d] * size[d];
      idx[d] = 0;
    }
  }
  return out;
}

// src/io/weights.ts
var TORCH_EXT = [".pt", ".pth", ".bin", ".ckpt"];
function loadWeights(dir) {
  if (!fs6.existsSync(dir)) throw new Error(`${dir}: no such file or directory`);
  if (!fs6.statSync(dir).isDirectory()) return loadWeightsFile(dir);
  for (const name of ["model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json"]) {
    const f = path4.join(dir, name);
    if (fs6.existsSync(f)) return loadWeightsFile(f);
  }
  const torch = fs6.readdirSync(dir).filter((f) => f.endsWith(".pt") || f.endsWith(".pth")).sort();
  if (torch.length > 1) throw new Error(`${dir}: several torch checkpoints (${torch.join(", ")}); pass one file`);
  if (torch.length === 1) return loadWeightsFile(path4.join(dir, torch[0]));
  throw new Error(`${dir}: no model weights found (expected model.safetensors, model.safetensors.index.json or a torch .pt/.bin)`);
}
function loadWeightsFile(file) {
  const base = path4.basename(file);
  if (base.endsWith(".safetensors")) return readSafetensors(file);
  if (base.endsWith(".safetensors.index.json")) return readShardedSafetensors(file);
  if (base.endsWith(".bin.index.json") || base.endsWith(".pt.index.json")) return readShardedTorch(file);
  if (TORCH_EXT.some((e) => base.endsWith(e))) return readTorchCheckpoint(file);
  throw new Error(`${file}: unknown weights file type (expected .safetensors, .safetensors.index.json, .pt, .pth, .bin or .ckpt)`);
}
function readShardedTorch(indexFile) {
  const out = /* @__PURE__ */ new Map();
  for (const [shard, names] of groupByShard(indexFile, readWeightMap(indexFile))) {
    const shardPath = path4.join(path4.dirname(indexFile), shard);
    if (!fs6.existsSync(shardPath)) throw new Error(`${indexFile}: shard '${shard}' (holding '${names[0]}') not found at ${shardPath}`);
    const tensors = readTorchCheckpoint(shardPath);
    for (const name of names) {
      if (!tensors.has(name)) throw new Error(`${indexFile}: tensor '${name}' is mapped to shard '${shard}' but is not in it`);
    }
    for (const [name, t] of tensors) {
      if (out.has(name)) throw new Error(`${indexFile}: tensor '${name}' appears in more than one shard (again in '${shard}')`);
      out.set(name, t);
    }
  }
  return out;
}

// src/models/hf-config.ts
var fs7 = __toESM(require("fs"));
var path5 = __toESM(require("path"));
function readJsonConfig(dirOrFile, name = "config.json") {
  const file = dirOrFile.endsWith(".json") ? dirOrFile : path5.join(dirOrFile, name);
  let text;
  try {
    text = fs7.readFileSync(file, "utf8");
  } catch (e) {
    const code = e.code;
    throw new Error(`${file}: cannot read (${code === "ENOENT" ? "file not found" : e.message})`);
  }
  let json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${e.message.split("\n")[0]})`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new Error(`${file}: expected a JSON object at the top level`);
  }
  return json;
}
function field(json, key, fallback, where3 = "config") {
  const v = json?.[key];
  if (v === void 0 || v === null) return fallback;
  if (typeof v !== typeof fallback) {
    throw new Error(`${where3}.${key}: expected a ${typeof fallback}, got ${JSON.stringify(v)}`);
  }
  if (typeof v === "number" && !Number.isFinite(v)) throw new Error(`${where3}.${key}: not a finite number`);
  return v;
}
function intField(json, key, fallback, where3 = "config") {
  const v = field(json, key, fallback, where3);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${where3}.${key}: expected a positive integer, got ${v}`);
  return v;
}
function expectModelType(json, types, where3 = "config") {
  const t = json?.model_type;
  if (t !== void 0 && !types.includes(t)) {
    throw new Error(`${where3}: model_type "${t}" is not ${types.map((x) => `"${x}"`).join(" or ")}`);
  }
}
function withFile(file, fn) {
  try {
    return fn();
  } catch (e) {
    const msg = e.message;
    throw new Error(msg.startsWith(file) ? msg : `${file}: ${msg}`);
  }
}

// src/models/t5.ts
var tf6 = __toESM(require("@tensorflow/tfjs"));

// src/nn/params.ts
var tf4 = __toESM(require("@tensorflow/tfjs"));
var Params = class _Params {
  constructor(tensors, prefix = "", used) {
    this.tensors = tensors;
    this.prefix = prefix;
    this.used = used ?? /* @__PURE__ */ new Set();
  }
  tensors;
  prefix;
  used;
  static fromHost(map, opts = {}) {
    const out = /* @__PURE__ */ new Map();
    for (const [k0, t] of map) {
      const k = opts.rename ? opts.rename(k0) : k0;
      if (k === void 0) continue;
      const tensor4 = tf4.tensor(t.data, t.shape, t.dtype === "bool" ? "bool" : t.dtype);
      out.set(k, tf4.variable(tensor4, opts.trainable ?? false, void 0, t.dtype === "bool" ? "bool" : t.dtype));
      tensor4.dispose();
    }
    return new _Params(out);
  }
  scope(prefix) {
    return new _Params(this.tensors, this.prefix + prefix, this.used);
  }
  has(name) {
    return this.tensors.has(this.prefix + name);
  }
  get(name) {
    const full = this.prefix + name;
    const t = this.tensors.get(full);
    if (!t) throw new Error(`missing parameter "${full}"`);
    this.used.add(full);
    return t;
  }
  /** `get` when present, otherwise undefined (optional biases). */
  maybe(name) {
    return this.has(name) ? this.get(name) : void 0;
  }
  set(name, value, trainable = false) {
    const full = this.prefix + name;
    this.tensors.get(full)?.dispose();
    this.tensors.set(full, tf4.variable(value, trainable));
  }
  unused() {
    return [...this.tensors.keys()].filter((k) => k.startsWith(this.prefix) && !this.used.has(k));
  }
  variables() {
    return [...this.tensors.entries()].filter(([k]) => k.startsWith(this.prefix)).map(([, v]) => v);
  }
  dispose() {
    for (const v of this.tensors.values()) v.dispose();
    this.tensors.clear();
  }
};

// src/nn/layers.ts
var tf5 = __toESM(require("@tensorflow/tfjs"));
var matMulWeightT = tf5.customGrad((x, w, save) => {
  save([x, w]);
  return {
    value: tf5.matMul(x, tf5.transpose(w)),
    gradFunc: (dy, saved) => {
      const [xs, ws] = saved;
      const g = dy;
      return [tf5.matMul(g, ws), tf5.matMul(tf5.transpose(g), xs)];
    }
  };
});
function linear(x, p, name, bias = true) {
  const w = p.get(`${name}.weight`);
  const inDim = x.shape[x.shape.length - 1];
  const lead = x.shape.slice(0, -1);
  let y = matMulWeightT(x.reshape([-1, inDim]), w);
  const b = bias ? p.maybe(`${name}.bias`) : void 0;
  if (b) y = tf5.add(y, b);
  return y.reshape([...lead, w.shape[0]]);
}
function layerNorm(x, p, name, eps) {
  const axis = x.rank - 1;
  const mean3 = tf5.mean(x, axis, true);
  const xc = tf5.sub(x, mean3);
  const variance = tf5.mean(tf5.square(xc), axis, true);
  const y = tf5.mul(xc, tf5.rsqrt(tf5.add(variance, eps)));
  return tf5.add(tf5.mul(y, p.get(`${name}.weight`)), p.get(`${name}.bias`));
}
function rmsNorm(x, weight2, eps, axis = x.rank - 1) {
  const variance = tf5.mean(tf5.square(x), axis, true);
  return tf5.mul(tf5.mul(x, tf5.rsqrt(tf5.add(variance, eps))), weight2);
}
var SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
function gelu(x) {
  return tf5.mul(tf5.mul(x, 0.5), tf5.add(1, tf5.erf(tf5.mul(x, Math.SQRT1_2))));
}
function geluNew(x) {
  const inner = tf5.mul(tf5.add(x, tf5.mul(tf5.pow(x, 3), 0.044715)), SQRT_2_OVER_PI);
  return tf5.mul(tf5.mul(x, 0.5), tf5.add(1, tf5.tanh(inner)));
}
function quickGelu(x) {
  return tf5.mul(x, tf5.sigmoid(tf5.mul(x, 1.702)));
}
function activation(name) {
  switch (name) {
    case "gelu":
      return gelu;
    case "gelu_new":
    case "gelu_pytorch_tanh":
    case "gelu_fast":
      return geluNew;
    case "quick_gelu":
      return quickGelu;
    case "relu":
      return tf5.relu;
    default:
      throw new Error(`unsupported activation "${name}"`);
  }
}
function splitHeads(x, heads) {
  const [b, l, d] = x.shape;
  return x.reshape([b, l, heads, d / heads]).transpose([0, 2, 1, 3]);
}
function mergeHeads(x) {
  const [b, h, l, dh] = x.shape;
  return x.transpose([0, 2, 1, 3]).reshape([b, l, h * dh]);
}
function attention(q, k, v, scale, bias) {
  let s = tf5.matMul(q, k, false, true);
  if (scale !== 1) s = tf5.mul(s, scale);
  if (bias) s = tf5.add(s, bias);
  return tf5.matMul(tf5.softmax(s), v);
}
function additiveMask(mask) {
  const [b, l] = mask.shape;
  return tf5.mul(tf5.sub(1, tf5.cast(mask, "float32")), -34028234663852886e22 / 2).reshape([b, 1, 1, l]);
}

// src/models/t5.ts
function intOrFirst(json, key, fallback) {
  const v = json?.[key];
  if (Array.isArray(v)) {
    if (v.length === 0 || !Number.isInteger(v[0])) throw new Error(`config.${key}: expected an integer or a list of integers`);
    return v[0];
  }
  const n = field(json, key, fallback);
  if (!Number.isInteger(n) || n < 0) throw new Error(`config.${key}: expected a non-negative integer, got ${n}`);
  return n;
}
function t5ConfigFromHF(json) {
  expectModelType(json, ["t5", "mt5"]);
  const numLayers = intField(json, "num_layers", 6);
  const ffp = field(json, "feed_forward_proj", "relu");
  const parts = ffp.split("-");
  if (parts.length > 2 || parts.length === 2 && parts[0] !== "gated") {
    throw new Error(`config.feed_forward_proj: "${ffp}" is not "<act>" or "gated-<act>"`);
  }
  const isGated = parts.length === 2;
  const act = ffp === "gated-gelu" ? "gelu_new" : parts[parts.length - 1];
  activation(act);
  const tie = field(json, "tie_word_embeddings", true);
  const pad2 = intOrFirst(json, "pad_token_id", 0);
  return {
    vocab_size: intField(json, "vocab_size", 32128),
    d_model: intField(json, "d_model", 512),
    d_kv: intField(json, "d_kv", 64),
    d_ff: intField(json, "d_ff", 2048),
    num_layers: numLayers,
    num_decoder_layers: intField(json, "num_decoder_layers", numLayers),
    num_heads: intField(json, "num_heads", 8),
    relative_attention_num_buckets: intField(json, "relative_attention_num_buckets", 32),
    relative_attention_max_distance: intField(json, "relative_attention_max_distance", 128),
    layer_norm_epsilon: field(json, "layer_norm_epsilon", 1e-6),
    feed_forward_proj: ffp,
    dense_act_fn: act,
    is_gated_act: isGated,
    tie_word_embeddings: tie,
    scale_decoder_outputs: field(json, "scale_decoder_outputs", tie),
    decoder_start_token_id: intOrFirst(json, "decoder_start_token_id", pad2),
    eos_token_id: intOrFirst(json, "eos_token_id", 1),
    pad_token_id: pad2
  };
}
function relativePositionBucket(rel, bidirectional, numBuckets, maxDistance) {
  let nb = numBuckets;
  let bucket = 0;
  let n;
  if (bidirectional) {
    nb = Math.floor(nb / 2);
    if (rel > 0) bucket += nb;
    n = Math.abs(rel);
  } else {
    n = -Math.min(rel, 0);
  }
  const maxExact = Math.floor(nb / 2);
  if (n < maxExact) return bucket + n;
  const f = Math.fround;
  const ratio = f(f(Math.log(f(n / maxExact))) / f(Math.log(maxDistance / maxExact)));
  const large = maxExact + Math.trunc(f(ratio * (nb - maxExact)));
  return bucket + Math.min(large, nb - 1);
}
function relativePositionBias(table, lq, lk, bidirectional, maxDistance, qStart = 0) {
  return tf6.tidy(() => {
    const [nb, h] = table.shape;
    const n = lq + lk - 1;
    const oneHot2 = new Float32Array(n * nb);
    const d0 = -(qStart + lq - 1);
    for (let r = 0; r < n; r++) oneHot2[r * nb + relativePositionBucket(d0 + r, bidirectional, nb, maxDistance)] = 1;
    const byDistance = tf6.matMul(tf6.tensor2d(oneHot2, [n, nb]), table).transpose();
    if (lq === 1) return byDistance.reshape([1, h, 1, lk]);
    const tiled = tf6.broadcastTo(byDistance.reshape([h, 1, n]), [h, lq + 1, n]).reshape([h, (lq + 1) * n]);
    const skew = tf6.slice(tiled, [0, lq - 1], [h, lq * (n - 1)]).reshape([h, lq, n - 1]);
    return tf6.slice(skew, [0, 0, 0], [h, lq, lk]).reshape([1, h, lq, lk]);
  });
}
function embeddingLookup(table, ids) {
  const lookup = tf6.customGrad((...args) => {
    const [t, idx, save] = args;
    save([idx]);
    return {
      value: tf6.gather(t, idx),
      gradFunc: (dy, saved) => [
        tf6.scatterND(saved[0].reshape([-1, 1]), dy, t.shape),
        tf6.zerosLike(saved[0])
        // ids are integer constants; never on a gradient path
      ]
    };
  });
  return tf6.tidy(() => tf6.reshape(lookup(table, ids.reshape([-1]).toInt()), [...ids.shape, table.shape[1]]));
}
function causalMask(l) {
  const m = new Float32Array(l * l);
  for (let i = 0; i < l; i++) for (let j = i + 1; j < l; j++) m[i * l + j] = -34028234663852886e22 / 2;
  return tf6.tensor4d(m, [1, 1, l, l]);
}
function t5ParamShapes(c) {
  const d = c.d_model;
  const inner = c.num_heads * c.d_kv;
  const out = [["shared.weight", [c.vocab_size, d]]];
  const attn = (prefix, withBias) => {
    out.push([`${prefix}.q.weight`, [inner, d]], [`${prefix}.k.weight`, [inner, d]]);
    out.push([`${prefix}.v.weight`, [inner, d]], [`${prefix}.o.weight`, [d, inner]]);
    if (withBias) out.push([`${prefix}.relative_attention_bias.weight`, [c.relative_attention_num_buckets, c.num_heads]]);
  };
  const ffn = (prefix) => {
    if (c.is_gated_act) out.push([`${prefix}.DenseReluDense.wi_0.weight`, [c.d_ff, d]], [`${prefix}.DenseReluDense.wi_1.weight`, [c.d_ff, d]]);
    else out.push([`${prefix}.DenseReluDense.wi.weight`, [c.d_ff, d]]);
    out.push([`${prefix}.DenseReluDense.wo.weight`, [d, c.d_ff]], [`${prefix}.layer_norm.weight`, [d]]);
  };
  for (let i = 0; i < c.num_layers; i++) {
    const b = `encoder.block.${i}.layer`;
    attn(`${b}.0.SelfAttention`, i === 0);
    out.push([`${b}.0.layer_norm.weight`, [d]]);
    ffn(`${b}.1`);
  }
  out.push(["encoder.final_layer_norm.weight", [d]]);
  for (let i = 0; i < c.num_decoder_layers; i++) {
    const b = `decoder.block.${i}.layer`;
    attn(`${b}.0.SelfAttention`, i === 0);
    out.push([`${b}.0.layer_norm.weight`, [d]]);
    attn(`${b}.1.EncDecAttention`, false);
    out.push([`${b}.1.layer_norm.weight`, [d]]);
    ffn(`${b}.2`);
  }
  out.push(["decoder.final_layer_norm.weight", [d]]);
  if (!c.tie_word_embeddings) out.push(["lm_head.weight", [c.vocab_size, d]]);
  return out;
}
var T5Model = class {
  constructor(config, params) {
    this.config = config;
    this.params = params;
    this.act = activation(config.dense_act_fn);
    const missing = [];
    for (const [name, shape] of t5ParamShapes(config)) {
      if (!params.has(name)) {
        missing.push(name);
        continue;
      }
      const t = params.get(name);
      if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
        throw new Error(`T5: parameter "${name}" has shape [${t.shape}], expected [${shape}]`);
      }
    }
    if (missing.length > 0) {
      const more = missing.length > 1 ? ` (and ${missing.length - 1} more)` : "";
      throw new Error(`T5: missing parameter "${missing[0]}"${more}`);
    }
  }
  config;
  params;
  act;
  /** Token embeddings [B, L, D] from the shared table. */
  embed(ids) {
    return embeddingLookup(this.params.get("shared.weight"), ids);
  }
  /** Encoder last_hidden_state [B, L, D] from ids or embeddings; no mask means every position is attended. */
  encode(opts) {
    if (opts.inputIds === void 0 === (opts.inputsEmbeds === void 0)) {
      throw new Error("T5.encode: pass exactly one of inputIds and inputsEmbeds");
    }
    return tf6.tidy(() => {
      const c = this.config;
      let x = opts.inputsEmbeds ?? this.embed(opts.inputIds);
      const l = x.shape[1];
      const p = this.params.scope("encoder.");
      let bias = this.positionBias(p, l, l, true);
      if (opts.attentionMask) bias = tf6.add(bias, additiveMask(opts.attentionMask));
      for (let i = 0; i < c.num_layers; i++) {
        const b = p.scope(`block.${i}.layer.`);
        const h = this.norm(x, b, "0.layer_norm");
        x = tf6.add(x, this.attend(h, this.kv(b.scope("0.SelfAttention."), h), b.scope("0.SelfAttention."), bias));
        x = tf6.add(x, this.ffn(this.norm(x, b, "1.layer_norm"), b.scope("1.DenseReluDense.")));
      }
      return this.norm(x, p, "final_layer_norm");
    });
  }
  /** Teacher-forced decoder: logits [B, Ld, V]. `encoderMask` masks padded encoder positions. */
  decode(decoderInputIds, encoderHidden, encoderMask) {
    return tf6.tidy(() => this.lmHead(this.decodeHidden(decoderInputIds, encoderHidden, encoderMask)));
  }
  /** Decoder final hidden states [B, Ld, D] (after the final norm, before output scaling and head). */
  decodeHidden(decoderInputIds, encoderHidden, encoderMask) {
    return tf6.tidy(() => {
      const c = this.config;
      const p = this.params.scope("decoder.");
      let x = this.embed(decoderInputIds);
      const l = x.shape[1];
      const selfBias = tf6.add(this.positionBias(p, l, l, false), causalMask(l));
      const crossBias = encoderMask ? additiveMask(encoderMask) : void 0;
      for (let i = 0; i < c.num_decoder_layers; i++) {
        const b = p.scope(`block.${i}.layer.`);
        const h = this.norm(x, b, "0.layer_norm");
        x = tf6.add(x, this.attend(h, this.kv(b.scope("0.SelfAttention."), h), b.scope("0.SelfAttention."), selfBias));
        const h2 = this.norm(x, b, "1.layer_norm");
        x = tf6.add(x, this.attend(h2, this.kv(b.scope("1.EncDecAttention."), encoderHidden), b.scope("1.EncDecAttention."), crossBias));
        x = tf6.add(x, this.ffn(this.norm(x, b, "2.layer_norm"), b.scope("2.DenseReluDense.")));
      }
      return this.norm(x, p, "final_layer_norm");
    });
  }
  /** Decoder hidden [.., D] → logits [.., V]: optional d_model^-0.5 scaling, then the tied or separate head. */
  lmHead(hidden) {
    return tf6.tidy(() => {
      const c = this.config;
      const h = c.scale_decoder_outputs ? tf6.mul(hidden, c.d_model ** -0.5) : hidden;
      return linear(h, this.params, c.tie_word_embeddings ? "shared" : "lm_head", false);
    });
  }
  /**
   * Greedy decoding like HF `generate` (num_beams 1, do_sample false): rows start with
   * decoder_start_token_id; a row that emitted eos is padded with pad_token_id; decoding stops after
   * maxNewTokens or as soon as every row has finished, so the result has 1 + (steps taken) columns.
   * Each step feeds only the newest token: self-attention keys/values are cached per layer and the
   * cross-attention keys/values are computed once from `encoderHidden`.
   */
  async generate(encoderHidden, encoderMask, opts) {
    const c = this.config;
    const [batch] = encoderHidden.shape;
    const rows = Array.from({ length: batch }, () => [c.decoder_start_token_id]);
    const done = new Array(batch).fill(false);
    const p = this.params.scope("decoder.");
    const layers = Array.from({ length: c.num_decoder_layers }, (_, i) => p.scope(`block.${i}.layer.`));
    const cross = tf6.tidy(() => layers.map((b) => this.kv(b.scope("1.EncDecAttention."), encoderHidden)));
    const crossBias = encoderMask ? tf6.tidy(() => additiveMask(encoderMask)) : void 0;
    let cache = [];
    try {
      for (let step = 0; step < opts.maxNewTokens; step++) {
        const last = tf6.tensor2d(rows.map((r) => r[r.length - 1]), [batch, 1], "int32");
        const [logits, next] = tf6.tidy(() => {
          let x = this.embed(last);
          const selfBias = this.positionBias(p, 1, step + 1, false, step);
          const nextCache = [];
          for (let i = 0; i < layers.length; i++) {
            const b = layers[i];
            const h = this.norm(x, b, "0.layer_norm");
            const fresh = this.kv(b.scope("0.SelfAttention."), h);
            const kv = step === 0 ? fresh : { k: tf6.concat([cache[i].k, fresh.k], 2), v: tf6.concat([cache[i].v, fresh.v], 2) };
            nextCache.push(kv);
            x = tf6.add(x, this.attend(h, kv, b.scope("0.SelfAttention."), selfBias));
            const h2 = this.norm(x, b, "1.layer_norm");
            x = tf6.add(x, this.attend(h2, cross[i], b.scope("1.EncDecAttention."), crossBias));
            x = tf6.add(x, this.ffn(this.norm(x, b, "2.layer_norm"), b.scope("2.DenseReluDense.")));
          }
          const out = this.lmHead(this.norm(x, p, "final_layer_norm")).reshape([batch, -1]);
          return [out, nextCache];
        });
        last.dispose();
        for (const kv of cache) tf6.dispose([kv.k, kv.v]);
        cache = next;
        const v = c.vocab_size;
        const data = await logits.data();
        logits.dispose();
        for (let r = 0; r < batch; r++) {
          let tok = c.pad_token_id;
          if (!done[r]) {
            let best = 0;
            for (let j = 1; j < v; j++) if (data[r * v + j] > data[r * v + best]) best = j;
            tok = best;
            if (tok === c.eos_token_id) done[r] = true;
          }
          rows[r].push(tok);
        }
        if (done.every(Boolean)) break;
      }
    } finally {
      for (const kv of [...cache, ...cross]) tf6.dispose([kv.k, kv.v]);
      crossBias?.dispose();
    }
    return rows;
  }
  /**
   * HF T5 loss: mean token cross-entropy over positions whose label is not `ignoreIndex` (-100).
   * Like torch's CrossEntropyLoss, a batch with no counted position gives NaN. Differentiable
   * w.r.t. logits without gather (one-hot product).
   */
  sequenceLoss(logits, labels, ignoreIndex = -100) {
    return tf6.tidy(() => {
      const v = logits.shape[2];
      const lab = labels.reshape([-1]).toInt();
      const valid = tf6.notEqual(lab, ignoreIndex);
      const safe = tf6.where(valid, lab, tf6.zerosLike(lab));
      const logp = tf6.logSoftmax(logits.reshape([-1, v]));
      const nll = tf6.neg(tf6.sum(tf6.mul(logp, tf6.oneHot(safe, v)), 1));
      const w = tf6.cast(valid, "float32");
      return tf6.div(tf6.sum(tf6.mul(nll, w)), tf6.sum(w));
    });
  }
  /** HF `_shift_right`: decoder inputs = [decoder_start, labels[:, :-1]] with -100 replaced by pad. */
  shiftRight(labels) {
    return tf6.tidy(() => {
      const [b, l] = labels.shape;
      const lab = labels.toInt();
      const start = tf6.fill([b, 1], this.config.decoder_start_token_id, "int32");
      const shifted = l > 1 ? tf6.concat([start, tf6.slice(lab, [0, 0], [b, l - 1])], 1) : start;
      return tf6.where(tf6.equal(shifted, -100), tf6.fill([b, l], this.config.pad_token_id, "int32"), shifted);
    });
  }
  dispose() {
    this.params.dispose();
  }
  // Stack-level relative bias from layer 0's table (shared by every layer of the stack).
  positionBias(stack, lq, lk, bidirectional, qStart = 0) {
    const table = stack.get("block.0.layer.0.SelfAttention.relative_attention_bias.weight");
    return relativePositionBias(table, lq, lk, bidirectional, this.config.relative_attention_max_distance, qStart);
  }
  norm(x, p, name) {
    return rmsNorm(x, p.get(`${name}.weight`), this.config.layer_norm_epsilon);
  }
  kv(p, source) {
    const h = this.config.num_heads;
    return { k: splitHeads(linear(source, p, "k", false), h), v: splitHeads(linear(source, p, "v", false), h) };
  }
  // T5 attention: no 1/sqrt(d) scaling (folded into the initialisation of q).
  attend(x, kv, p, bias) {
    const q = splitHeads(linear(x, p, "q", false), this.config.num_heads);
    return linear(mergeHeads(attention(q, kv.k, kv.v, 1, bias)), p, "o", false);
  }
  ffn(x, p) {
    const h = this.config.is_gated_act ? tf6.mul(this.act(linear(x, p, "wi_0", false)), linear(x, p, "wi_1", false)) : this.act(linear(x, p, "wi", false));
    return linear(h, p, "wo", false);
  }
};

// src/models/vit.ts
var tf7 = __toESM(require("@tensorflow/tfjs"));
function vitConfigFromHF(json) {
  expectModelType(json, ["vit"]);
  const c = {
    hidden_size: intField(json, "hidden_size", 768),
    num_hidden_layers: intField(json, "num_hidden_layers", 12),
    num_attention_heads: intField(json, "num_attention_heads", 12),
    intermediate_size: intField(json, "intermediate_size", 3072),
    hidden_act: field(json, "hidden_act", "gelu"),
    layer_norm_eps: field(json, "layer_norm_eps", 1e-12),
    image_size: sizeField(json, "image_size", 224),
    patch_size: sizeField(json, "patch_size", 16),
    num_channels: intField(json, "num_channels", 3),
    qkv_bias: field(json, "qkv_bias", true)
  };
  activation(c.hidden_act);
  if (c.hidden_size % c.num_attention_heads !== 0) {
    throw new Error(`config: hidden_size ${c.hidden_size} is not a multiple of num_attention_heads ${c.num_attention_heads}`);
  }
  return c;
}
function sizeField(json, key, fallback, where3 = "config") {
  const v = json?.[key];
  if (Array.isArray(v)) {
    if (v.length !== 2 || v[0] !== v[1]) throw new Error(`${where3}.${key}: only square sizes are supported, got ${JSON.stringify(v)}`);
    return intField({ [key]: v[0] }, key, fallback, where3);
  }
  return intField(json, key, fallback, where3);
}
var VIT_BLOCK = {
  ln1: "layernorm_before",
  q: "attention.attention.query",
  k: "attention.attention.key",
  v: "attention.attention.value",
  o: "attention.output.dense",
  ln2: "layernorm_after",
  fc1: "intermediate.dense",
  fc2: "output.dense"
};
function dense(x, p, name, bias) {
  const y = linear(x, p, name, false);
  return bias ? tf7.add(y, p.get(`${name}.bias`)) : y;
}
function preLNBlock(x, p, n, o, bias) {
  const d = x.shape[2];
  const h = layerNorm(x, p, n.ln1, o.eps);
  const q = splitHeads(dense(h, p, n.q, o.qkvBias), o.heads);
  const k = splitHeads(dense(h, p, n.k, o.qkvBias), o.heads);
  const v = splitHeads(dense(h, p, n.v, o.qkvBias), o.heads);
  const a = mergeHeads(attention(q, k, v, 1 / Math.sqrt(d / o.heads), bias));
  const x1 = tf7.add(x, dense(a, p, n.o, true));
  const m = dense(o.act(dense(layerNorm(x1, p, n.ln2, o.eps), p, n.fc1, true)), p, n.fc2, true);
  return tf7.add(x1, m);
}
function preLNBlockShapes(prefix, n, d, inner, qkvBias) {
  const out = [];
  for (const lin of [n.q, n.k, n.v]) {
    out.push([`${prefix}${lin}.weight`, [d, d]]);
    if (qkvBias) out.push([`${prefix}${lin}.bias`, [d]]);
  }
  out.push([`${prefix}${n.o}.weight`, [d, d]], [`${prefix}${n.o}.bias`, [d]]);
  for (const ln of [n.ln1, n.ln2]) out.push([`${prefix}${ln}.weight`, [d]], [`${prefix}${ln}.bias`, [d]]);
  out.push([`${prefix}${n.fc1}.weight`, [inner, d]], [`${prefix}${n.fc1}.bias`, [inner]]);
  out.push([`${prefix}${n.fc2}.weight`, [d, inner]], [`${prefix}${n.fc2}.bias`, [d]]);
  return out;
}
function checkParamShapes(p, expected) {
  for (const [name, shape] of expected) {
    const t = p.get(name);
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new Error(`parameter "${name}" has shape [${t.shape}], expected [${shape}]`);
    }
  }
}
function patchEmbed(pixels, weight2, bias) {
  const [b, h, w, c] = pixels.shape;
  const [d, wc, p] = weight2.shape;
  if (wc !== c) throw new Error(`patch embedding expects ${wc} channels, pixels have ${c} (pixels must be NHWC)`);
  const gh = Math.floor(h / p);
  const gw = Math.floor(w / p);
  if (gh === 0 || gw === 0) throw new Error(`image ${h}x${w} is smaller than one ${p}x${p} patch`);
  let x = pixels;
  if (gh * p !== h || gw * p !== w) x = tf7.slice(x, [0, 0, 0, 0], [b, gh * p, gw * p, c]);
  const patches = x.reshape([b * gh, p, gw, p * c]).transpose([0, 2, 1, 3]).reshape([b * gh * gw, p * p * c]);
  const wm = weight2.transpose([0, 2, 3, 1]).reshape([d, p * p * c]);
  let y = matMulWeightT(patches, wm);
  if (bias) y = tf7.add(y, bias);
  return { tokens: y.reshape([b, gh * gw, d]), grid: [gh, gw] };
}
var CUBIC_A = -0.75;
function cubic1(x) {
  return ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1;
}
function cubic2(x) {
  return ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A;
}
function bicubicMatrix(inSize, outSize) {
  const m = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const src = scale * (i + 0.5) - 0.5;
    const x0 = Math.floor(src);
    const t = src - x0;
    const w = [cubic2(t + 1), cubic1(t), cubic1(1 - t), cubic2(2 - t)];
    for (let k = 0; k < 4; k++) {
      const idx = Math.min(Math.max(x0 - 1 + k, 0), inSize - 1);
      m[i * inSize + idx] += w[k];
    }
  }
  return m;
}
function interpolatePosGrid(pos, from, to) {
  const [gh, gw] = from;
  const [nh, nw] = to;
  if (pos.shape[0] !== gh * gw) throw new Error(`position grid has ${pos.shape[0]} rows, expected ${gh}x${gw}`);
  if (gh === nh && gw === nw) return pos;
  const my = bicubicMatrix(gh, nh);
  const mx = bicubicMatrix(gw, nw);
  const k = new Float32Array(nh * nw * gh * gw);
  for (let i = 0; i < nh; i++)
    for (let j = 0; j < nw; j++) {
      const row = (i * nw + j) * gh * gw;
      for (let a = 0; a < gh; a++) {
        const wy = my[i * gh + a];
        if (wy === 0) continue;
        for (let b = 0; b < gw; b++) k[row + a * gw + b] = wy * mx[j * gw + b];
      }
    }
  return tf7.tidy(() => tf7.matMul(tf7.tensor2d(k, [nh * nw, gh * gw]), pos));
}
function positionEmbeddingsFor(pos, grid) {
  const n0 = pos.shape[0] - 1;
  const g0 = Math.round(Math.sqrt(n0));
  if (g0 * g0 !== n0) throw new Error(`position embeddings hold ${n0} patches, not a square grid`);
  if (grid[0] === g0 && grid[1] === g0) return pos;
  const [cls, patches] = tf7.split(pos, [1, n0], 0);
  return tf7.concat([cls, interpolatePosGrid(patches, [g0, g0], grid)], 0);
}
var ViTModel = class {
  constructor(config, params) {
    this.config = config;
    this.params = params;
    this.act = activation(config.hidden_act);
    checkParamShapes(params, vitParamShapes(config));
  }
  config;
  params;
  act;
  /** Patch + CLS + position embeddings: [B, 1+N, D]. */
  embeddings(pixels) {
    return tf7.tidy(() => {
      const p = this.params.scope("embeddings.");
      const { tokens, grid } = patchEmbed(
        pixels,
        p.get("patch_embeddings.projection.weight"),
        p.get("patch_embeddings.projection.bias")
      );
      const b = pixels.shape[0];
      const d = this.config.hidden_size;
      const cls = tf7.tile(p.get("cls_token"), [b, 1, 1]);
      const pos = positionEmbeddingsFor(p.get("position_embeddings").reshape([-1, d]), grid);
      return tf7.add(tf7.concat([cls, tokens], 1), pos);
    });
  }
  /** last_hidden_state [B, 1+N, D]. */
  forward(pixels) {
    return tf7.tidy(() => {
      let x = this.embeddings(pixels);
      const opts = {
        heads: this.config.num_attention_heads,
        eps: this.config.layer_norm_eps,
        act: this.act,
        qkvBias: this.config.qkv_bias
      };
      for (let i = 0; i < this.config.num_hidden_layers; i++) {
        x = preLNBlock(x, this.params.scope(`encoder.layer.${i}.`), VIT_BLOCK, opts);
      }
      return layerNorm(x, this.params, "layernorm", this.config.layer_norm_eps);
    });
  }
};
function vitParamShapes(c) {
  const d = c.hidden_size;
  const n = (c.image_size / c.patch_size) ** 2;
  if (!Number.isInteger(n)) throw new Error(`config: image_size ${c.image_size} is not a multiple of patch_size ${c.patch_size}`);
  const out = [
    ["embeddings.cls_token", [1, 1, d]],
    ["embeddings.position_embeddings", [1, n + 1, d]],
    ["embeddings.patch_embeddings.projection.weight", [d, c.num_channels, c.patch_size, c.patch_size]],
    ["embeddings.patch_embeddings.projection.bias", [d]]
  ];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    out.push(...preLNBlockShapes(`encoder.layer.${i}.`, VIT_BLOCK, d, c.intermediate_size, c.qkv_bias));
  }
  out.push(["layernorm.weight", [d]], ["layernorm.bias", [d]]);
  return out;
}

// src/tokenizer.ts
var fs8 = __toESM(require("fs"));
var path6 = __toESM(require("path"));
var import_tokenizers = require("@huggingface/tokenizers");
function readJson(file, what) {
  let text;
  try {
    text = fs8.readFileSync(file, "utf8");
  } catch (e) {
    const code = e.code;
    throw new Error(code === "ENOENT" ? `${file}: no such file` : `${file}: cannot read ${what} (${code ?? e})`);
  }
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not a JSON ${what} (${e.message.split("\n")[0]})`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`${file}: not a ${what} (top level is not a JSON object)`);
  }
  return value;
}
function tokenName(v) {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof v.content === "string") return v.content;
  return void 0;
}
var Tokenizer = class _Tokenizer {
  constructor(hf, file, json, config) {
    this.hf = hf;
    this.file = file;
    const id = (name) => name === void 0 ? void 0 : hf.token_to_id(name);
    const padding = json.padding;
    this.eosId = id(tokenName(config.eos_token)) ?? id("</s>") ?? id("<|endoftext|>");
    this.padId = (typeof padding?.pad_id === "number" ? padding.pad_id : void 0) ?? id(tokenName(config.pad_token)) ?? id("<pad>") ?? this.eosId ?? 0;
    [this.prefix, this.suffix] = this.templateSpecials();
  }
  hf;
  file;
  padId;
  eosId;
  /** Ids the template adds before / after a single sequence (T5: [] / [</s>]; CLIP: [bos] / [eos]). */
  prefix;
  suffix;
  /** Load a `tokenizer.json` (and its sibling `tokenizer_config.json`, if any). */
  static fromFile(file) {
    const json = readJson(file, "tokenizer.json");
    const model = json.model;
    if (!model || typeof model !== "object" || !model.vocab) {
      throw new Error(`${file}: not a tokenizer.json (no "model" with a vocabulary)`);
    }
    const cfgFile = path6.join(path6.dirname(file), "tokenizer_config.json");
    const config = fs8.existsSync(cfgFile) ? readJson(cfgFile, "tokenizer_config.json") : {};
    const libConfig = { ...config, clean_up_tokenization_spaces: config.clean_up_tokenization_spaces ?? false };
    let hf;
    try {
      hf = new import_tokenizers.Tokenizer(json, libConfig);
    } catch (e) {
      throw new Error(`${file}: unsupported or malformed tokenizer (${String(e.message ?? e).split("\n")[0]})`);
    }
    return new _Tokenizer(hf, file, json, config);
  }
  /**
   * Load `dir/tokenizer.json`. A directory with only a SentencePiece `spiece.model` is refused: running
   * it faithfully needs its protobuf, the precompiled normaliser char-map and the slow tokenizer's
   * quirks; `transformers` converts it to tokenizer.json (`save_pretrained` of the fast tokenizer), and
   * every hub T5 repo already ships one.
   */
  static fromDir(dir) {
    const file = path6.join(dir, "tokenizer.json");
    if (!fs8.existsSync(file)) {
      const hint = fs8.existsSync(path6.join(dir, "spiece.model")) ? " (only spiece.model found: SentencePiece models are not supported, convert with transformers AutoTokenizer.from_pretrained(dir).save_pretrained(dir) to get tokenizer.json)" : "";
      throw new Error(`${file}: no such file${hint}`);
    }
    return _Tokenizer.fromFile(file);
  }
  /** Vocabulary size including added tokens. */
  get vocabSize() {
    return this.hf.get_vocab(true).size;
  }
  tokenToId(token) {
    return this.hf.token_to_id(token);
  }
  /** Token strings of `text`, special tokens included (as HF `Encoding.tokens`). */
  tokens(text) {
    return this.hf.encode(text).tokens;
  }
  /** Ids of `text` with the post-processor's special tokens (T5: trailing `</s>`). */
  encode(text) {
    return this.hf.encode(text).ids.map(Number);
  }
  /**
   * Encode, truncate and pad a batch. Truncation works like HF `truncation=True`: the room for the
   * template's special tokens is reserved, the text ids are cut, then the specials are re-added — for T5
   * a row of exactly `maxLength` ids ending with `</s>`. Padding is on the right with `padId`, mask 0.
   */
  encodeBatch(texts, opts = {}) {
    const { maxLength, padTo = "longest" } = opts;
    const nSpecial = this.prefix.length + this.suffix.length;
    if (maxLength !== void 0 && !(Number.isInteger(maxLength) && maxLength > nSpecial)) {
      throw new Error(`maxLength ${maxLength} leaves no room for text (the template adds ${nSpecial} special tokens)`);
    }
    const rows = texts.map((t) => {
      const ids = this.encode(t);
      if (maxLength === void 0 || ids.length <= maxLength) return ids;
      const body = this.hf.encode(t, { add_special_tokens: false }).ids.map(Number);
      return [...this.prefix, ...body.slice(0, maxLength - nSpecial), ...this.suffix];
    });
    const longest = rows.reduce((m, r) => Math.max(m, r.length), 0);
    const width = padTo === "longest" ? longest : padTo;
    if (!Number.isInteger(width) || width < longest) {
      throw new Error(`padTo ${padTo} is shorter than the longest row (${longest} ids); set maxLength to truncate`);
    }
    return {
      ids: rows.map((r) => [...r, ...new Array(width - r.length).fill(this.padId)]),
      mask: rows.map((r) => [...new Array(r.length).fill(1), ...new Array(width - r.length).fill(0)])
    };
  }
  /** Text of `ids`; `skipSpecialTokens` drops pad/eos/unk/extra-id tokens like HF `skip_special_tokens`. */
  decode(ids, skipSpecialTokens = false) {
    if (ids.length === 0) return "";
    return this.hf.decode(ids.map(Number), { skip_special_tokens: skipSpecialTokens });
  }
  /**
   * Special ids the post-processor puts around a single sequence, found by comparing an encoding with and
   * without specials (works for every template without reading its config).
   */
  templateSpecials() {
    const probe = "a";
    const full = this.hf.encode(probe).ids.map(Number);
    const body = this.hf.encode(probe, { add_special_tokens: false }).ids.map(Number);
    for (let k = 0; k + body.length <= full.length; k++) {
      if (body.every((v, i) => full[k + i] === v)) return [full.slice(0, k), full.slice(k + body.length)];
    }
    throw new Error(`${this.file}: post-processor does not keep the text ids contiguous; truncation unsupported`);
  }
};

// src/util/atomic.ts
var fs9 = __toESM(require("fs"));
var path7 = __toESM(require("path"));
function writeFileAtomic(file, data) {
  fs9.mkdirSync(path7.dirname(path7.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const fd = fs9.openSync(tmp, "w");
  try {
    fs9.writeSync(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data);
    fs9.fsyncSync(fd);
  } finally {
    fs9.closeSync(fd);
  }
  try {
    fs9.renameSync(tmp, file);
  } catch (e) {
    fs9.rmSync(tmp, { force: true });
    throw e;
  }
}

// src/rahf/config.ts
var path8 = __toESM(require("path"));
var SCORE_NAMES = ["plausibility", "alignment", "aesthetics", "overall"];
var HEATMAP_NAMES = ["implausibility", "misalignment"];
var DEFAULT_AUGMENTED_PROMPT_FORMAT = "<output> {SCORE|HEATMAP}: {type} </output> {caption}";
var YOUWEILIANG_HEATMAP_CHANNELS = [768, 384, 192];
var YOUWEILIANG_SCORE_LINEAR = [512, 128];
function gridSize(c) {
  return c.imageSize / c.patchSize;
}
function heatmapSize(c) {
  return gridSize(c) * 16;
}
function visualTokenCount(c) {
  return gridSize(c) ** 2 + (c.keepClsInEncoder ? 1 : 0);
}
function youweiliangScoreConv(d) {
  return [d, d >> 1, d >> 2, d >> 3, d >> 4, d >> 6];
}
function taskPrompt(format, kind, type, caption) {
  return format.replace(/\{SCORE\|HEATMAP\}|\{kind\}/g, kind).replace(/\{type\}/g, type).replace(/\{caption\}/g, caption);
}
function intList(v, key, fallback, len) {
  if (v === void 0 || v === null) return fallback;
  if (!Array.isArray(v) || v.some((x) => !Number.isInteger(x) || x <= 0) || len !== void 0 && v.length !== len) {
    throw new Error(`config.${key}: expected ${len ?? "a list of"} positive integers, got ${JSON.stringify(v)}`);
  }
  return v;
}
function triple(v, key, fallback) {
  if (v === void 0 || v === null) return fallback;
  if (typeof v === "number") return [v, v, v];
  if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== "number" || !Number.isFinite(x))) {
    throw new Error(`config.${key}: expected a number or 3 numbers, got ${JSON.stringify(v)}`);
  }
  return v;
}
function posInt(v, key, fallback) {
  if ((v === void 0 || v === null) && fallback !== void 0) return fallback;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`config.${key}: expected a positive integer, got ${JSON.stringify(v)}`);
  return v;
}
function bool(v, key, fallback) {
  if (v === void 0 || v === null) return fallback;
  if (typeof v !== "boolean") throw new Error(`config.${key}: expected true or false, got ${JSON.stringify(v)}`);
  return v;
}
function subConfig(v, key, dir) {
  if (v && typeof v === "object" && !Array.isArray(v)) return { json: v };
  if (typeof v === "string") {
    const sub4 = path8.resolve(dir, v);
    return { json: readJsonConfig(sub4), dir: sub4 };
  }
  throw new Error(`config.${key}: expected an HF config object or a directory path, got ${JSON.stringify(v)}`);
}
function validateRahfConfig(c) {
  const g = gridSize(c);
  if (!Number.isInteger(g)) throw new Error(`config: image_size ${c.imageSize} is not a multiple of patch_size ${c.patchSize}`);
  if (c.vit.patch_size !== c.patchSize) {
    throw new Error(`config: patch_size ${c.patchSize} differs from the ViT's patch_size ${c.vit.patch_size}`);
  }
  if (c.vit.num_channels !== 3) throw new Error(`config: the ViT must take 3 channels, not ${c.vit.num_channels}`);
  if (c.scoreConv.length === 0) throw new Error("config.score_conv: needs at least one conv layer");
  if (c.variant !== "multi_head" && c.variant !== "augmented_prompt") throw new Error(`config: unknown variant "${c.variant}"`);
  if (c.variant === "augmented_prompt" && !c.augmentedPromptFormat.includes("{caption}")) {
    throw new Error("config.augmented_prompt_format: must contain {caption}");
  }
  return c;
}
function configTokenizerDirs(json, dir) {
  const dirs = [dir];
  if (typeof json?.t5 === "string") dirs.push(path8.resolve(dir, json.t5));
  return dirs;
}
function rahfConfigFromJson(json, dir) {
  const type = json?.model_type;
  if (type !== "rahf" && type !== "rahf_youweiliang") {
    throw new Error(`config: model_type "${type}" is not "rahf" or "rahf_youweiliang"`);
  }
  const vitSrc = subConfig(json.vit, "vit", dir);
  const t5Src = subConfig(json.t5, "t5", dir);
  const vit = withFile(vitSrc.dir ? path8.join(vitSrc.dir, "config.json") : "config.vit", () => vitConfigFromHF(vitSrc.json));
  const t5 = withFile(t5Src.dir ? path8.join(t5Src.dir, "config.json") : "config.t5", () => t5ConfigFromHF(t5Src.json));
  let variant;
  if (json.variant !== void 0) {
    variant = json.variant;
  } else {
    variant = bool(json.multi_heads, "multi_heads", true) ? "multi_head" : "augmented_prompt";
  }
  const heatmap = intList(json.heatmap_channels, "heatmap_channels", YOUWEILIANG_HEATMAP_CHANNELS, 3);
  const c = {
    variant,
    imageSize: posInt(json.image_size, "image_size", vit.image_size),
    patchSize: posInt(json.patch_size, "patch_size", vit.patch_size),
    vit,
    t5,
    vitJson: vitSrc.json,
    t5Json: t5Src.json,
    heatmapChannels: heatmap,
    scoreConv: intList(json.score_conv, "score_conv", youweiliangScoreConv(t5.d_model)),
    scoreLinear: intList(json.score_linear, "score_linear", YOUWEILIANG_SCORE_LINEAR),
    keepClsInEncoder: bool(json.keep_cls_in_encoder, "keep_cls_in_encoder", true),
    maskTextPadding: bool(json.mask_text_padding, "mask_text_padding", false),
    lossIgnoresPadding: bool(json.loss_ignores_padding, "loss_ignores_padding", false),
    augmentedPromptFormat: typeof json.augmented_prompt_format === "string" ? json.augmented_prompt_format : DEFAULT_AUGMENTED_PROMPT_FORMAT,
    imageMean: triple(json.image_mean, "image_mean", [0.5, 0.5, 0.5]),
    imageStd: triple(json.image_std, "image_std", [0.5, 0.5, 0.5]),
    maxTextTokens: posInt(json.max_text_tokens, "max_text_tokens", 512)
  };
  return validateRahfConfig(c);
}
function rahfConfigToJson(c) {
  return {
    model_type: "rahf",
    variant: c.variant,
    multi_heads: c.variant === "multi_head",
    image_size: c.imageSize,
    patch_size: c.patchSize,
    heatmap_channels: c.heatmapChannels,
    score_conv: c.scoreConv,
    score_linear: c.scoreLinear,
    keep_cls_in_encoder: c.keepClsInEncoder,
    mask_text_padding: c.maskTextPadding,
    loss_ignores_padding: c.lossIgnoresPadding,
    augmented_prompt_format: c.augmentedPromptFormat,
    image_mean: c.imageMean,
    image_std: c.imageStd,
    max_text_tokens: c.maxTextTokens,
    score_types: [...SCORE_NAMES],
    heatmap_types: [...HEATMAP_NAMES],
    vit: c.vitJson,
    t5: c.t5Json
  };
}

// src/rahf/heads.ts
var tf9 = __toESM(require("@tensorflow/tfjs"));

// src/rahf/conv.ts
var tf8 = __toESM(require("@tensorflow/tfjs"));
var K = 3;
var TORCH_TO_TF_FILTER = [2, 3, 1, 0];
var TF_TO_TORCH_FILTER = [3, 2, 0, 1];
function checkFilter(f) {
  if (f.rank !== 4 || f.shape[0] !== K || f.shape[1] !== K) {
    throw new Error(`conv filter has shape [${f.shape}], expected [${K}, ${K}, *, *] (tfjs layout)`);
  }
  return f;
}
var conv3x3Core = tf8.customGrad((...args) => {
  const [x4, f4, save] = args;
  save([x4, f4]);
  return {
    value: tf8.conv2d(x4, f4, 1, "same"),
    gradFunc: (dy, saved) => {
      const g = dy;
      const [xs, fs15] = saved;
      const dx = tf8.conv2d(g, tf8.reverse(fs15, [0, 1]).transpose([0, 1, 3, 2]), 1, "same");
      const xpad = tf8.pad(xs, [[0, 0], [1, 1], [1, 1], [0, 0]]).transpose([3, 1, 2, 0]);
      const df = tf8.conv2d(xpad, g.transpose([1, 2, 0, 3]), 1, "valid").transpose([1, 2, 0, 3]);
      return [dx, df];
    }
  };
});
var deconvCore = tf8.customGrad((...args) => {
  const [x4, f4, save] = args;
  save([x4, f4]);
  const [b, h, w] = x4.shape;
  return {
    value: tf8.conv2dTranspose(x4, f4, [b, 2 * h, 2 * w, f4.shape[2]], 2, 1),
    gradFunc: (dy, saved) => {
      const g = dy;
      const [xs, fs15] = saved;
      const dx = tf8.conv2d(g, fs15, 2, 1);
      const dpad = tf8.pad(g, [[0, 0], [1, 0], [1, 0], [0, 0]]).transpose([3, 1, 2, 0]);
      const df = tf8.conv2d(dpad, xs.transpose([1, 2, 0, 3]), 1, "valid", "NHWC", 2).transpose([1, 2, 0, 3]);
      return [dx, df];
    }
  };
});
function conv3x3(x, filter2, bias) {
  const y = conv3x3Core(x, checkFilter(filter2));
  return bias ? tf8.add(y, bias) : y;
}
function deconv3x3s2(x, filter2, bias) {
  if (filter2.shape[3] !== x.shape[3]) {
    throw new Error(`deconv filter [${filter2.shape}] expects ${filter2.shape[3]} input channels, got ${x.shape[3]}`);
  }
  const y = deconvCore(x, checkFilter(filter2));
  return bias ? tf8.add(y, bias) : y;
}

// src/rahf/heads.ts
function channelRmsNorm(x, scale) {
  const c = x.shape[3];
  const variance = tf9.mean(tf9.square(x), 3, true);
  return tf9.mul(tf9.mul(x, tf9.rsqrt(tf9.add(variance, 1e-8))), scale.reshape([c]));
}
var HEATMAP_STAGES = 4;
function conv(x, p, name) {
  return conv3x3(x, p.get(`${name}.weight`), p.get(`${name}.bias`));
}
function norm(x, p, name) {
  return channelRmsNorm(x, p.get(`${name}.scale`));
}
function scoreHead(feature, p, convWidths, linearWidths) {
  return tf9.tidy(() => {
    let x = feature;
    for (let k = 0; k < convWidths.length; k++) {
      x = tf9.relu(norm(conv(x, p, `conv_layers.${3 * k}`), p, `conv_layers.${3 * k + 1}`));
    }
    const [b, h, w, c] = x.shape;
    let y = tf9.transpose(x, [0, 3, 1, 2]).reshape([b, c * h * w]);
    for (let k = 0; k <= linearWidths.length; k++) {
      y = linear(y, p, `linear_layers.${2 * k}`);
      if (k < linearWidths.length) y = tf9.relu(y);
    }
    return tf9.sigmoid(y).reshape([b]);
  });
}
function heatmapHead(feature, p) {
  return tf9.tidy(() => {
    let x = tf9.relu(conv(feature, p, "conv_layers.0"));
    x = norm(x, p, "conv_layers.2");
    x = norm(tf9.relu(conv(x, p, "conv_layers.3")), p, "conv_layers.5");
    for (let i = 0; i < HEATMAP_STAGES; i++) {
      x = tf9.relu(norm(deconv3x3s2(x, p.get(`deconv_layers.${i}.0.weight`), p.get(`deconv_layers.${i}.0.bias`)), p, `deconv_layers.${i}.1`));
      const identity = x;
      let y = tf9.relu(norm(conv(x, p, `conv_layers2.${i}.0`), p, `conv_layers2.${i}.1`));
      y = norm(conv(y, p, `conv_layers2.${i}.3`), p, `conv_layers2.${i}.4`);
      x = tf9.relu(tf9.add(y, identity));
    }
    x = tf9.relu(conv(x, p, "last_conv1"));
    const out = tf9.sigmoid(conv(x, p, "last_conv2"));
    const [b, h, w] = out.shape;
    return out.reshape([b, h, w]);
  });
}
function scoreHeadShapes(c, grid, convWidths, linearWidths) {
  const out = [];
  let cin = c;
  convWidths.forEach((w, k) => {
    out.push([`conv_layers.${3 * k}.weight`, [w, cin, 3, 3]], [`conv_layers.${3 * k}.bias`, [w]]);
    out.push([`conv_layers.${3 * k + 1}.scale`, [w, 1, 1]]);
    cin = w;
  });
  let fin = cin * grid * grid;
  [...linearWidths, 1].forEach((w, k) => {
    out.push([`linear_layers.${2 * k}.weight`, [w, fin]], [`linear_layers.${2 * k}.bias`, [w]]);
    fin = w;
  });
  return out;
}
function heatmapHeadShapes(c, [c0, c1, c2]) {
  const out = [];
  const convP = (name, o, i) => out.push([`${name}.weight`, [o, i, 3, 3]], [`${name}.bias`, [o]]);
  const normP = (name, n) => out.push([`${name}.scale`, [n, 1, 1]]);
  convP("conv_layers.0", c0, c);
  normP("conv_layers.2", c0);
  convP("conv_layers.3", c1, c0);
  normP("conv_layers.5", c1);
  let cin = c1;
  [c0, c1, c1, c2].forEach((w, i) => {
    out.push([`deconv_layers.${i}.0.weight`, [cin, w, 3, 3]], [`deconv_layers.${i}.0.bias`, [w]]);
    normP(`deconv_layers.${i}.1`, w);
    convP(`conv_layers2.${i}.0`, w, w);
    normP(`conv_layers2.${i}.1`, w);
    convP(`conv_layers2.${i}.3`, w, w);
    normP(`conv_layers2.${i}.4`, w);
    cin = w;
  });
  convP("last_conv1", c2, c2);
  convP("last_conv2", 1, c2);
  return out;
}

// src/rahf/init.ts
var tf10 = __toESM(require("@tensorflow/tfjs"));
var VIT_PREFIX = "vit.";
var T5_PREFIX = "t5.";
var PROJECTION = "visual_token_projection";
function isHeadFilter(name, rank) {
  return rank === 4 && (name.startsWith("score_predictor.") || name.startsWith("heatmap_predictor."));
}
function internalShape(name, shape) {
  return isHeadFilter(name, shape.length) ? TORCH_TO_TF_FILTER.map((i) => shape[i]) : shape;
}
function rahfParamShapes(c) {
  const out = [];
  for (const [n, s] of vitParamShapes(c.vit)) out.push([VIT_PREFIX + n, s]);
  for (const [n, s] of t5ParamShapes(c.t5)) out.push([T5_PREFIX + n, s]);
  out.push([`${PROJECTION}.weight`, [c.t5.d_model, c.vit.hidden_size]], [`${PROJECTION}.bias`, [c.t5.d_model]]);
  const d = c.t5.d_model;
  const score = scoreHeadShapes(d, gridSize(c), c.scoreConv, c.scoreLinear);
  const heat = heatmapHeadShapes(d, c.heatmapChannels);
  for (const [prefix, shapes, names] of [
    ["score_predictor.", score, SCORE_NAMES],
    ["heatmap_predictor.", heat, HEATMAP_NAMES]
  ]) {
    if (c.variant === "multi_head") {
      for (const t of names) for (const [n, s] of shapes) out.push([`${prefix}${t}.${n}`, s]);
    } else {
      for (const [n, s] of shapes) out.push([prefix + n, s]);
    }
  }
  return out;
}
function initFor(name, shape, c, shapes) {
  if (name.startsWith(VIT_PREFIX)) {
    const std = typeof c.vitJson.initializer_range === "number" ? c.vitJson.initializer_range : 0.02;
    if (/layernorm/.test(name)) return { kind: "const", value: name.endsWith(".weight") ? 1 : 0 };
    if (name.endsWith(".bias")) return { kind: "const", value: 0 };
    return { kind: "normal", std };
  }
  if (name.startsWith(T5_PREFIX)) {
    const f = typeof c.t5Json.initializer_factor === "number" ? c.t5Json.initializer_factor : 1;
    const { d_model: d, d_kv: dkv, d_ff: dff, num_heads: h } = c.t5;
    if (name.endsWith("layer_norm.weight")) return { kind: "const", value: f };
    if (name.endsWith("shared.weight") || name.endsWith("lm_head.weight")) return { kind: "normal", std: f };
    if (name.endsWith(".q.weight")) return { kind: "normal", std: f * (d * dkv) ** -0.5 };
    if (name.endsWith(".k.weight") || name.endsWith(".v.weight")) return { kind: "normal", std: f * d ** -0.5 };
    if (name.endsWith(".o.weight")) return { kind: "normal", std: f * (h * dkv) ** -0.5 };
    if (name.endsWith("relative_attention_bias.weight")) return { kind: "normal", std: f * d ** -0.5 };
    if (/\.wi(_[01])?\.weight$/.test(name)) return { kind: "normal", std: f * d ** -0.5 };
    if (name.endsWith(".wo.weight")) return { kind: "normal", std: f * dff ** -0.5 };
    throw new Error(`init: no T5 rule for "${name}"`);
  }
  if (name.endsWith(".scale")) return { kind: "const", value: 1 };
  const w = name.endsWith(".bias") ? shapes.get(name.slice(0, -".bias".length) + ".weight") : shape;
  if (!w) throw new Error(`init: bias "${name}" has no weight`);
  const fanIn = w.slice(1).reduce((a, b) => a * b, 1);
  return { kind: "uniform", bound: 1 / Math.sqrt(fanIn) };
}
function nameSeed(name, seed) {
  let h = 2166136261 ^ seed >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h >>> 0;
}
var { sqrt, log } = Math;
var U32_TO_SIGNED_UNIT = 1 / 2 ** 31;
function sample(init, n, seed) {
  const out = new Float32Array(n);
  if (init.kind === "const") return out.fill(init.value);
  let x = seed >>> 0 || 2654435769;
  if (init.kind === "uniform") {
    const b = init.bound;
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = ((x >>> 0) * U32_TO_SIGNED_UNIT - 1) * b;
    }
    return out;
  }
  const std = init.std;
  for (let i = 0; i < n; ) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const u = (x >>> 0) * U32_TO_SIGNED_UNIT - 1;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const v = (x >>> 0) * U32_TO_SIGNED_UNIT - 1;
    const s = u * u + v * v;
    if (s >= 1 || s === 0) continue;
    const m = sqrt(-2 * log(s) / s) * std;
    out[i++] = u * m;
    if (i < n) out[i++] = v * m;
  }
  return out;
}
function initRahfParams(c, seed = 0, opts = {}) {
  const shapes = rahfParamShapes(c);
  const byName = new Map(shapes);
  const out = /* @__PURE__ */ new Map();
  for (const [name, shape] of shapes) {
    if (opts.skip?.(name)) continue;
    const init = initFor(name, shape, c, byName);
    const n = shape.reduce((a, b) => a * b, 1);
    const t = tf10.tensor(sample(init, n, nameSeed(name, seed)), internalShape(name, shape), "float32");
    out.set(name, tf10.variable(t, opts.trainable ?? false, void 0, "float32"));
    t.dispose();
  }
  return out;
}

// src/rahf/keywords.ts
var WORD_SPLIT = /[,.?!":;\s]+/;
var MARK = "_0";
function misalignedWords(seq) {
  const out = [];
  for (const piece of seq.split(WORD_SPLIT)) {
    if (piece.length > MARK.length && piece.endsWith(MARK)) out.push(piece.slice(0, -MARK.length));
  }
  return out;
}

// src/rahf/youweiliang.ts
function inferYouweiliangConfig(tensors, label) {
  const shape = (name) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`${label}: not a youweiliang/RichHF RAHF checkpoint (no "${name}") and no config.json beside it`);
    return t.shape;
  };
  const count = (re) => {
    let n = 0;
    for (const k of tensors.keys()) {
      const m = re.exec(k);
      if (m) n = Math.max(n, Number(m[1]) + 1);
    }
    return n;
  };
  const [, , dv] = shape("vit.embeddings.cls_token");
  const [, , patch] = shape("vit.embeddings.patch_embeddings.projection.weight");
  const positions2 = shape("vit.embeddings.position_embeddings")[1] - 1;
  const grid = Math.round(Math.sqrt(positions2));
  if (grid * grid !== positions2) throw new Error(`${label}: ViT position embeddings hold ${positions2} patches, not a square grid`);
  const vit = {
    model_type: "vit",
    hidden_size: dv,
    num_hidden_layers: count(/^vit\.encoder\.layer\.(\d+)\./),
    num_attention_heads: dv / 64,
    intermediate_size: shape("vit.encoder.layer.0.intermediate.dense.weight")[0],
    hidden_act: "gelu",
    layer_norm_eps: 1e-12,
    image_size: grid * patch,
    patch_size: patch,
    num_channels: 3,
    qkv_bias: tensors.has("vit.encoder.layer.0.attention.attention.query.bias")
  };
  const [vocab, d] = shape("t5.shared.weight");
  const [buckets, heads] = shape("t5.encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
  const inner = shape("t5.encoder.block.0.layer.0.SelfAttention.q.weight")[0];
  const gated = tensors.has("t5.encoder.block.0.layer.1.DenseReluDense.wi_0.weight");
  const dff = shape(`t5.encoder.block.0.layer.1.DenseReluDense.${gated ? "wi_0" : "wi"}.weight`)[0];
  const t5 = {
    model_type: "t5",
    vocab_size: vocab,
    d_model: d,
    d_kv: inner / heads,
    d_ff: dff,
    num_layers: count(/^t5\.encoder\.block\.(\d+)\./),
    num_decoder_layers: count(/^t5\.decoder\.block\.(\d+)\./),
    num_heads: heads,
    relative_attention_num_buckets: buckets,
    relative_attention_max_distance: 128,
    layer_norm_epsilon: 1e-6,
    feed_forward_proj: gated ? "gated-gelu" : "relu",
    tie_word_embeddings: tiedHead(tensors),
    decoder_start_token_id: 0,
    eos_token_id: 1,
    pad_token_id: 0
  };
  const multi = [...tensors.keys()].some((k) => k.startsWith("score_predictor.plausibility."));
  const sp = multi ? "score_predictor.plausibility." : "score_predictor.";
  const hp = multi ? "heatmap_predictor.implausibility." : "heatmap_predictor.";
  const nConv = count(new RegExp(`^${sp.replace(/\./g, "\\.")}conv_layers\\.(\\d+)\\.weight$`));
  const scoreConv = [];
  for (let k = 0; 3 * k < nConv; k++) scoreConv.push(shape(`${sp}conv_layers.${3 * k}.weight`)[0]);
  const nDense = (count(new RegExp(`^${sp.replace(/\./g, "\\.")}linear_layers\\.(\\d+)\\.weight$`)) + 1) / 2;
  const scoreLinear = [];
  for (let k = 0; k < nDense - 1; k++) scoreLinear.push(shape(`${sp}linear_layers.${2 * k}.weight`)[0]);
  return {
    model_type: "rahf_youweiliang",
    multi_heads: multi,
    image_size: grid * patch,
    patch_size: patch,
    heatmap_channels: [shape(`${hp}conv_layers.0.weight`)[0], shape(`${hp}conv_layers.3.weight`)[0], shape(`${hp}last_conv1.weight`)[0]],
    score_conv: scoreConv,
    score_linear: scoreLinear,
    vit,
    t5
  };
}
function tiedHead(tensors) {
  const head = tensors.get("t5.lm_head.weight");
  if (!head) return true;
  const shared = tensors.get("t5.shared.weight");
  if (head.data === shared.data) return true;
  if (head.data.length !== shared.data.length) return false;
  for (let i = 0; i < head.data.length; i++) if (head.data[i] !== shared.data[i]) return false;
  return true;
}

// src/rahf/presets.ts
function vitJson(hidden, layers, heads, mlp, image, patch = 16) {
  return {
    model_type: "vit",
    hidden_size: hidden,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    intermediate_size: mlp,
    hidden_act: "gelu",
    layer_norm_eps: 1e-12,
    image_size: image,
    patch_size: patch,
    num_channels: 3,
    qkv_bias: true,
    initializer_range: 0.02
  };
}
function t5Json(d, dkv, ff, layers, heads, vocab) {
  return {
    model_type: "t5",
    vocab_size: vocab,
    d_model: d,
    d_kv: dkv,
    d_ff: ff,
    num_layers: layers,
    num_decoder_layers: layers,
    num_heads: heads,
    relative_attention_num_buckets: 32,
    relative_attention_max_distance: 128,
    layer_norm_epsilon: 1e-6,
    feed_forward_proj: "relu",
    tie_word_embeddings: true,
    scale_decoder_outputs: true,
    decoder_start_token_id: 0,
    eos_token_id: 1,
    pad_token_id: 0,
    initializer_factor: 1
  };
}
var T5_BASE_VOCAB = 32128;
var common = {
  augmentedPromptFormat: DEFAULT_AUGMENTED_PROMPT_FORMAT,
  imageMean: [0.5, 0.5, 0.5],
  imageStd: [0.5, 0.5, 0.5],
  maxTextTokens: 512
};
var PRESETS = {
  paper: {
    ...common,
    variant: "multi_head",
    imageSize: 224,
    patchSize: 16,
    vitJson: vitJson(768, 12, 12, 3072, 224),
    t5Json: t5Json(768, 64, 3072, 12, 12, T5_BASE_VOCAB),
    heatmapChannels: [...YOUWEILIANG_HEATMAP_CHANNELS],
    scoreConv: youweiliangScoreConv(768),
    scoreLinear: [2048, 1024],
    keepClsInEncoder: false,
    maskTextPadding: true,
    lossIgnoresPadding: true
  },
  large384: {
    ...common,
    variant: "multi_head",
    imageSize: 384,
    patchSize: 16,
    vitJson: vitJson(1024, 24, 16, 4096, 384),
    t5Json: t5Json(768, 64, 3072, 12, 12, T5_BASE_VOCAB),
    heatmapChannels: [...YOUWEILIANG_HEATMAP_CHANNELS],
    scoreConv: youweiliangScoreConv(768),
    scoreLinear: [...YOUWEILIANG_SCORE_LINEAR],
    keepClsInEncoder: true,
    maskTextPadding: false,
    lossIgnoresPadding: false
  },
  tiny: {
    ...common,
    variant: "multi_head",
    imageSize: 128,
    patchSize: 16,
    vitJson: vitJson(64, 2, 4, 128, 128),
    t5Json: t5Json(64, 16, 128, 2, 4, T5_BASE_VOCAB),
    heatmapChannels: [32, 16, 8],
    scoreConv: youweiliangScoreConv(64),
    scoreLinear: [64, 32],
    keepClsInEncoder: false,
    maskTextPadding: true,
    lossIgnoresPadding: true
  }
};
function presetNames() {
  return Object.keys(PRESETS);
}
function getPreset(name) {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset "${name}" (expected ${presetNames().join(", ")})`);
  return JSON.parse(JSON.stringify(p));
}

// src/rahf/resize.ts
var tf11 = __toESM(require("@tensorflow/tfjs"));
function pilBilinearMatrix(inSize, outSize) {
  const m = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    let sum4 = 0;
    for (let i = lo; i < hi; i++) sum4 += Math.max(0, 1 - Math.abs((i - center + 0.5) / filterScale));
    for (let i = lo; i < hi; i++) {
      const w = Math.max(0, 1 - Math.abs((i - center + 0.5) / filterScale));
      m[o * inSize + i] = sum4 !== 0 ? w / sum4 : w;
    }
  }
  return m;
}
function resizeBilinearPil(x, h, w) {
  const [b, ih, iw, c] = x.shape;
  if (ih === h && iw === w) return x;
  return tf11.tidy(() => {
    let y = tf11.transpose(x, [1, 0, 2, 3]);
    if (ih !== h) y = tf11.matMul(tf11.tensor2d(pilBilinearMatrix(ih, h), [h, ih]), y.reshape([ih, -1])).reshape([h, b, iw, c]);
    y = tf11.transpose(y, [2, 1, 0, 3]);
    if (iw !== w) y = tf11.matMul(tf11.tensor2d(pilBilinearMatrix(iw, w), [w, iw]), y.reshape([iw, -1])).reshape([w, b, h, c]);
    return tf11.transpose(y, [1, 2, 0, 3]);
  });
}

// src/rahf/model.ts
function tidyRecord(fn) {
  return tf12.tidy(() => fn());
}
var T5_EMBED_COPIES = [`${T5_PREFIX}encoder.embed_tokens.weight`, `${T5_PREFIX}decoder.embed_tokens.weight`];
function canonicalise(host, c, label) {
  const expected = new Map(rahfParamShapes(c));
  const out = /* @__PURE__ */ new Map();
  const shared = `${T5_PREFIX}shared.weight`;
  for (const [k, t] of host) {
    if (T5_EMBED_COPIES.includes(k) || k.startsWith(`${VIT_PREFIX}pooler.`)) continue;
    if (k === `${T5_PREFIX}lm_head.weight` && c.t5.tie_word_embeddings) continue;
    out.set(k, t);
  }
  if (!out.has(shared)) {
    const copy = T5_EMBED_COPIES.find((k) => host.has(k));
    if (copy) out.set(shared, host.get(copy));
  }
  for (const [k, t] of out) {
    const want = expected.get(k);
    if (!want) throw new Error(`${label}: unexpected parameter "${k}" for this config (variant ${c.variant})`);
    if (t.dtype !== "float32") throw new Error(`${label}: parameter "${k}" is ${t.dtype}, expected float32`);
    if (want.length !== t.shape.length || want.some((s, i) => s !== t.shape[i])) {
      throw new Error(`${label}: parameter "${k}" has shape [${t.shape}], expected [${want}]`);
    }
  }
  const missing = [...expected.keys()].filter((k) => !out.has(k));
  if (missing.length > 0) {
    const more = missing.length > 1 ? ` (and ${missing.length - 1} more)` : "";
    throw new Error(`${label}: missing parameter "${missing[0]}"${more}`);
  }
  return out;
}
function findTokenizer(dirs, label) {
  for (const d of dirs) {
    const f = path9.join(d, "tokenizer.json");
    if (fs10.existsSync(f)) return Tokenizer.fromFile(f);
  }
  throw new Error(`${label}: no tokenizer.json (looked in ${dirs.join(", ")}); pass the tokenizer option`);
}
async function tokenizerFrom(ref, hub) {
  if (fs10.existsSync(ref) && fs10.statSync(ref).isFile()) return Tokenizer.fromFile(ref);
  return Tokenizer.fromDir(await resolveModel(ref, { ...hub, files: hub?.files ?? ["tokenizer.json"] }));
}
function towerWeights(dir, prefix, accept, c) {
  const host = loadWeights(dir);
  const out = /* @__PURE__ */ new Map();
  const strip = prefix === VIT_PREFIX && [...host.keys()].some((k) => k.startsWith("vit.")) ? "vit." : "";
  for (const [k0, t] of host) {
    if (strip && !k0.startsWith(strip)) continue;
    let k = prefix + k0.slice(strip.length);
    if (prefix === T5_PREFIX && !host.has("shared.weight") && k0 === "encoder.embed_tokens.weight") k = `${T5_PREFIX}shared.weight`;
    if (accept.has(k)) out.set(k, t);
  }
  const missing = [...accept].filter((k) => !out.has(k));
  if (missing.length) throw new Error(`${dir}: missing parameter "${missing[0].slice(prefix.length)}" for the ${prefix.slice(0, -1)} tower`);
  return canonicalShapes(out, c, dir);
}
function canonicalShapes(m, c, label) {
  const expected = new Map(rahfParamShapes(c));
  for (const [k, t] of m) {
    const want = expected.get(k);
    if (want.length !== t.shape.length || want.some((s, i) => s !== t.shape[i])) {
      throw new Error(`${label}: parameter "${k}" has shape [${t.shape}], expected [${want}]`);
    }
  }
  return m;
}
function toVariables(m, trainable, into) {
  for (const [k, t] of m) {
    const x = tf12.tidy(() => {
      const raw = tf12.tensor(t.data, t.shape, "float32");
      return isHeadFilter(k, t.shape.length) ? tf12.transpose(raw, TORCH_TO_TF_FILTER) : raw;
    });
    into.set(k, tf12.variable(x, trainable, void 0, "float32"));
    x.dispose();
  }
}
var RewardModel = class _RewardModel {
  constructor(config, tokenizer, params) {
    this.config = config;
    this.tokenizer = tokenizer;
    this.params = params;
    this.vit = new ViTModel(config.vit, params.scope(VIT_PREFIX));
    this.t5 = new T5Model(config.t5, params.scope(T5_PREFIX));
    if (tokenizer.vocabSize > config.t5.vocab_size) {
      throw new Error(`tokenizer ${tokenizer.file} has ${tokenizer.vocabSize} tokens but the T5 vocabulary holds ${config.t5.vocab_size}`);
    }
  }
  config;
  tokenizer;
  params;
  vit;
  t5;
  /**
   * A model from its parts; `params` must hold exactly the config's parameters (checked), in the
   * model's layout: checkpoint names and shapes, except head conv weights as tfjs filters
   * ([kh, kw, in, out]; [kh, kw, out, in] for the transposed convs).
   */
  static fromParts(config, tokenizer, params) {
    const expected = new Map(rahfParamShapes(validateRahfConfig(config)).map(([k, s]) => [k, internalShape(k, s)]));
    for (const [k, v] of params.tensors) {
      const want = expected.get(k);
      if (!want) throw new Error(`unexpected parameter "${k}" for this config`);
      if (want.length !== v.shape.length || want.some((s, i) => s !== v.shape[i])) {
        throw new Error(`parameter "${k}" has shape [${v.shape}], expected [${want}]`);
      }
    }
    const missing = [...expected.keys()].find((k) => !params.tensors.has(k));
    if (missing) throw new Error(`missing parameter "${missing}"`);
    return new _RewardModel(config, tokenizer, params);
  }
  /**
   * Load a checkpoint directory, hub id or weights file: config.json (ours, model_type "rahf", or
   * youweiliang style "rahf_youweiliang") and model.safetensors / a sharded index / a torch
   * state_dict (.pt). Without a config.json (youweiliang's public .pt) the layout is inferred from the
   * tensor shapes and the tokenizer must be given (t5-base's) unless a tokenizer.json sits beside it.
   */
  static async load(ref, opts = {}) {
    const isFile = fs10.existsSync(ref) && fs10.statSync(ref).isFile();
    const dir = isFile ? path9.dirname(ref) : await resolveModel(ref, opts.hub);
    const file = isFile ? ref : opts.weights ? path9.join(dir, opts.weights) : void 0;
    const host = file ? loadWeightsFile(file) : loadWeights(dir);
    const label = file ?? dir;
    const cfgFile = path9.join(dir, "config.json");
    const json = fs10.existsSync(cfgFile) ? readJsonConfig(cfgFile) : inferYouweiliangConfig(host, label);
    const config = withFile(fs10.existsSync(cfgFile) ? cfgFile : label, () => rahfConfigFromJson(json, dir));
    const tensors = canonicalise(host, config, label);
    const tokenizer = opts.tokenizer ? await tokenizerFrom(opts.tokenizer, opts.hub) : findTokenizer(configTokenizerDirs(json, dir), dir);
    const vars = /* @__PURE__ */ new Map();
    toVariables(tensors, opts.trainable ?? false, vars);
    const params = new Params(vars);
    try {
      return new _RewardModel(config, tokenizer, params);
    } catch (e) {
      params.dispose();
      throw e;
    }
  }
  /**
   * A model of a named layout (see presets.ts) with random weights (seeded), optionally starting the
   * towers from HF ViT / T5 checkpoints (their config.json then replaces the preset's tower config).
   * Without a T5 checkpoint the vocabulary is the tokenizer's, rounded up to a multiple of 128.
   */
  static async fromPreset(name, opts = {}) {
    const preset = getPreset(name);
    if (opts.variant) preset.variant = opts.variant;
    const vitDir = opts.vit ? await resolveModel(opts.vit, opts.hub) : void 0;
    const t5Dir = opts.t5 ? await resolveModel(opts.t5, opts.hub) : void 0;
    if (vitDir) preset.vitJson = readJsonConfig(vitDir);
    if (t5Dir) preset.t5Json = readJsonConfig(t5Dir);
    let tokenizer;
    if (opts.tokenizer) tokenizer = await tokenizerFrom(opts.tokenizer, opts.hub);
    else if (t5Dir) tokenizer = Tokenizer.fromDir(t5Dir);
    else throw new Error(`preset "${name}": pass a tokenizer (tokenizer option) or a T5 checkpoint (t5 option)`);
    if (!t5Dir) preset.t5Json.vocab_size = Math.ceil(tokenizer.vocabSize / 128) * 128;
    const config = validateRahfConfig({
      ...preset,
      vit: withFile(vitDir ? path9.join(vitDir, "config.json") : `preset ${name} vit`, () => vitConfigFromHF(preset.vitJson)),
      t5: withFile(t5Dir ? path9.join(t5Dir, "config.json") : `preset ${name} t5`, () => t5ConfigFromHF(preset.t5Json))
    });
    const names = rahfParamShapes(config).map(([n]) => n);
    const fromVit = new Set(vitDir ? names.filter((n) => n.startsWith(VIT_PREFIX)) : []);
    const fromT5 = new Set(t5Dir ? names.filter((n) => n.startsWith(T5_PREFIX)) : []);
    const trainable = opts.trainable ?? false;
    const vars = initRahfParams(config, opts.seed ?? 0, { skip: (n) => fromVit.has(n) || fromT5.has(n), trainable });
    try {
      if (vitDir) toVariables(towerWeights(vitDir, VIT_PREFIX, fromVit, config), trainable, vars);
      if (t5Dir) toVariables(towerWeights(t5Dir, T5_PREFIX, fromT5, config), trainable, vars);
      return _RewardModel.fromParts(config, tokenizer, new Params(vars));
    } catch (e) {
      for (const v of vars.values()) v.dispose();
      throw e;
    }
  }
  // ---------------------------------------------------------------------------------------------
  // Building blocks (all differentiable).
  /** ViT tokens (with or without CLS, per config) projected to the T5 width: [B, Nv, D]. */
  visualTokens(pixelsNorm) {
    const s = this.config.imageSize;
    const [b, h, w, c] = pixelsNorm.shape;
    if (h !== s || w !== s || c !== 3) {
      throw new Error(`RAHF expects normalised NHWC pixels [B, ${s}, ${s}, 3], got [${pixelsNorm.shape}] (predict/scoreGrad resize)`);
    }
    const hidden = this.vit.forward(pixelsNorm);
    const n = gridSize(this.config) ** 2;
    const tokens = this.config.keepClsInEncoder ? hidden : tf12.slice(hidden, [0, 1, 0], [b, n, hidden.shape[2]]);
    return linear(tokens, this.params, PROJECTION);
  }
  /** Token ids and mask of captions, padded to the longest and capped at maxTextTokens. */
  tokenize(texts) {
    const enc = this.tokenizer.encodeBatch(texts, { maxLength: this.config.maxTextTokens });
    return { ids: tf12.tensor2d(enc.ids, void 0, "int32"), mask: tf12.tensor2d(enc.mask, void 0, "int32") };
  }
  /**
   * T5 encoder over [image tokens; caption embeddings]. Without maskTextPadding no mask is used at all,
   * as youweiliang does (pad tokens of shorter captions are attended to).
   */
  encodeJoint(visual, texts) {
    const { ids, mask } = this.tokenize(texts);
    const emb = this.t5.embed(ids);
    const b = visual.shape[0];
    const attentionMask = this.config.maskTextPadding ? tf12.concat([tf12.ones([b, visual.shape[1]], "int32"), mask], 1) : void 0;
    const hidden = this.t5.encode({ inputsEmbeds: tf12.concat([visual, emb], 1), attentionMask });
    return { hidden, textMask: mask };
  }
  /** Encoder positions of the patches (CLS skipped) as an NHWC map [B, g, g, D]. */
  featureMap(hidden) {
    const g = gridSize(this.config);
    const [b, , d] = hidden.shape;
    const start = this.config.keepClsInEncoder ? 1 : 0;
    return tf12.slice(hidden, [0, start, 0], [b, g * g, d]).reshape([b, g, g, d]);
  }
  /** The caption part of the encoder output, which the keyword decoder cross-attends to. */
  captionHidden(hidden) {
    const nv = visualTokenCount(this.config);
    const [b, l, d] = hidden.shape;
    return tf12.slice(hidden, [0, nv, 0], [b, l - nv, d]);
  }
  headParams(kind, type) {
    const base = kind === "score" ? "score_predictor." : "heatmap_predictor.";
    return this.params.scope(this.config.variant === "multi_head" ? `${base}${type}.` : base);
  }
  score(feature, type) {
    return scoreHead(feature, this.headParams("score", type), this.config.scoreConv, this.config.scoreLinear);
  }
  heatmap(feature, type) {
    return heatmapHead(feature, this.headParams("heatmap", type));
  }
  /**
   * Scores (and heatmaps) of normalised pixels [B, S, S, 3] and prompts. Multi-head: one encoder pass
   * feeds every head. Augmented prompt: one encoder pass per output with the task string in the text.
   * `caption` also returns the plain-caption encoder output for the keyword decoder.
   */
  run(pixelsNorm, prompts, opts) {
    if (prompts.length !== pixelsNorm.shape[0]) {
      throw new Error(`got ${pixelsNorm.shape[0]} images but ${prompts.length} prompts`);
    }
    const visual = this.visualTokens(pixelsNorm);
    const scores = {};
    const heatmaps = {};
    let caption;
    if (this.config.variant === "multi_head") {
      const { hidden, textMask } = this.encodeJoint(visual, prompts);
      const feature = this.featureMap(hidden);
      for (const t of SCORE_NAMES) scores[t] = this.score(feature, t);
      if (opts.heatmaps) for (const t of HEATMAP_NAMES) heatmaps[t] = this.heatmap(feature, t);
      if (opts.caption) caption = { hidden: this.captionHidden(hidden), mask: textMask };
    } else {
      const fmt = this.config.augmentedPromptFormat;
      const task = (kind, t) => this.featureMap(this.encodeJoint(visual, prompts.map((p) => taskPrompt(fmt, kind, t, p))).hidden);
      for (const t of SCORE_NAMES) scores[t] = this.score(task("SCORE", t), t);
      if (opts.heatmaps) for (const t of HEATMAP_NAMES) heatmaps[t] = this.heatmap(task("HEATMAP", t), t);
      if (opts.caption) {
        const { hidden, textMask } = this.encodeJoint(visual, prompts);
        caption = { hidden: this.captionHidden(hidden), mask: textMask };
      }
    }
    return { scores, heatmaps: opts.heatmaps ? heatmaps : void 0, caption };
  }
  // ---------------------------------------------------------------------------------------------
  // Public API.
  /**
   * Differentiable forward on normalised NHWC pixels at the model size: scores [B] per type in (0,1)
   * and, unless `heatmaps: false`, heatmaps [B, H, W] per type in (0,1).
   */
  forward(pixelsNorm, prompts, opts = {}) {
    return tidyRecord(() => {
      const out = this.run(pixelsNorm, prompts, { heatmaps: opts.heatmaps ?? true, caption: false });
      return { scores: out.scores, heatmaps: out.heatmaps };
    });
  }
  /**
   * Pixels in [0,1] (NHWC, any size) → normalised model input: PIL-bilinear resize to the model size
   * and (x − mean) / std, differentiable. Decoded images go through src/image.ts (PIL-exact, 8-bit).
   */
  preprocess(pixels01) {
    const { imageSize: s, imageMean, imageStd } = this.config;
    return tf12.tidy(() => {
      const x = resizeBilinearPil(pixels01, s, s);
      return tf12.div(tf12.sub(x, tf12.tensor1d(imageMean)), tf12.tensor1d(imageStd));
    });
  }
  async preprocessImages(images) {
    const s = this.config.imageSize;
    const data = new Float32Array(images.length * s * s * 3);
    for (let i = 0; i < images.length; i++) {
      data.set(await resizeForViT(images[i], s, { mean: this.config.imageMean, std: this.config.imageStd }), i * s * s * 3);
    }
    return tf12.tensor4d(data, [images.length, s, s, 3]);
  }
  /**
   * Rich feedback for images (decoded RgbImages, or a [B, H, W, 3] tensor in [0,1]) and their prompts,
   * in batches. Heatmaps come at the head's resolution (16 × the patch grid, = the model input size
   * for 16-pixel patches).
   */
  async predict(images, prompts, opts = {}) {
    const n = Array.isArray(images) ? images.length : images.shape[0];
    if (prompts.length !== n) throw new Error(`predict: ${n} images but ${prompts.length} prompts`);
    const batch = opts.batchSize ?? 8;
    if (!(Number.isInteger(batch) && batch > 0)) throw new Error(`predict: batchSize must be a positive integer, got ${batch}`);
    const wantHeat = opts.heatmaps ?? true;
    const wantKw = opts.keywords ?? true;
    const results = [];
    for (let start = 0; start < n; start += batch) {
      const end = Math.min(n, start + batch);
      const texts = prompts.slice(start, end);
      const pixels = Array.isArray(images) ? await this.preprocessImages(images.slice(start, end)) : tf12.tidy(() => this.preprocess(tf12.slice(images, [start, 0, 0, 0], [end - start, -1, -1, -1])));
      const out = tidyRecord(() => this.run(pixels, texts, { heatmaps: wantHeat, caption: wantKw }));
      pixels.dispose();
      try {
        const scores = await Promise.all(SCORE_NAMES.map((t) => out.scores[t].data()));
        const heat = wantHeat ? await Promise.all(HEATMAP_NAMES.map((t) => out.heatmaps[t].data())) : [];
        const [hh, hw] = wantHeat ? out.heatmaps[HEATMAP_NAMES[0]].shape.slice(1) : [0, 0];
        let seqs = [];
        if (wantKw) seqs = await this.decodeKeywords(out.caption.hidden, out.caption.mask, opts.maxNewTokens ?? 100);
        for (let i = 0; i < end - start; i++) {
          const fb = {
            scores: Object.fromEntries(SCORE_NAMES.map((t, k) => [t, scores[k][i]]))
          };
          if (wantHeat) {
            fb.heatmaps = Object.fromEntries(
              HEATMAP_NAMES.map((t, k) => [t, { data: heat[k].slice(i * hh * hw, (i + 1) * hh * hw), width: hw, height: hh }])
            );
          }
          if (wantKw) {
            fb.keywordSequence = seqs[i];
            fb.misaligned = misalignedWords(seqs[i]);
          }
          results.push(fb);
        }
      } finally {
        tf12.dispose(out);
      }
    }
    return results;
  }
  /** Greedy T5 decoding from the caption's encoder output; returns the decoded texts. */
  async decodeKeywords(captionHidden, mask, maxNewTokens) {
    const ids = await this.generateIds(captionHidden, mask, maxNewTokens);
    return ids.map((row) => this.tokenizer.decode(row, true).trim());
  }
  generateIds(captionHidden, mask, maxNewTokens) {
    return this.t5.generate(captionHidden, this.config.maskTextPadding ? mask : void 0, { maxNewTokens });
  }
  /**
   * Raw generated ids of the keyword decoder (HF `generate` output: starts with the decoder start
   * token, padded after eos), for normalised pixels at the model size.
   */
  async generateKeywordIds(pixelsNorm, prompts, maxNewTokens = 100) {
    const cap = tf12.tidy(() => {
      const visual = this.visualTokens(pixelsNorm);
      const { hidden, textMask } = this.encodeJoint(visual, prompts);
      return { hidden: this.captionHidden(hidden), mask: textMask };
    });
    try {
      return await this.generateIds(cap.hidden, cap.mask, maxNewTokens);
    } finally {
      tf12.dispose([cap.hidden, cap.mask]);
    }
  }
  /** The keyword sequences ("a yellow_0 cat") for normalised pixels at the model size. */
  async generateKeywords(pixelsNorm, prompts, maxNewTokens = 100) {
    const ids = await this.generateKeywordIds(pixelsNorm, prompts, maxNewTokens);
    return ids.map((row) => this.tokenizer.decode(row, true).trim());
  }
  /** Misaligned prompt words per image (the `_0`-marked words of the generated sequence). */
  async misalignedWords(pixelsNorm, prompts, maxNewTokens = 100) {
    return (await this.generateKeywords(pixelsNorm, prompts, maxNewTokens)).map(misalignedWords);
  }
  /**
   * Teacher-forced token cross-entropy of `targets` (e.g. "a yellow_0 cat") given images and prompts,
   * like HF T5 with labels: decoder inputs are the labels shifted right; the mean runs over every label
   * position, pads included, unless the config's lossIgnoresPadding leaves them out. Differentiable.
   */
  sequenceLoss(pixelsNorm, prompts, targets) {
    if (targets.length !== prompts.length) throw new Error(`sequenceLoss: ${prompts.length} prompts but ${targets.length} targets`);
    return tf12.tidy(() => {
      const visual = this.visualTokens(pixelsNorm);
      const { hidden, textMask } = this.encodeJoint(visual, prompts);
      const enc = this.tokenizer.encodeBatch(targets, { maxLength: this.config.maxTextTokens });
      let labels = tf12.tensor2d(enc.ids, void 0, "int32");
      if (this.config.lossIgnoresPadding) {
        labels = tf12.where(tf12.cast(tf12.tensor2d(enc.mask, void 0, "int32"), "bool"), labels, tf12.fill(labels.shape, -100, "int32"));
      }
      const logits = this.t5.decode(
        this.t5.shiftRight(labels),
        this.captionHidden(hidden),
        this.config.maskTextPadding ? textMask : void 0
      );
      return this.t5.sequenceLoss(logits, labels);
    });
  }
  /**
   * Scores and d(Σ_i Σ_k w_k·score_k,i)/d pixels for pixels in [0,1] (NHWC, any size): resize and
   * normalisation are inside the differentiated function, heatmap heads are skipped. Every score type
   * is returned; only weighted ones contribute to the gradient.
   */
  async scoreGrad(pixels01, prompts, weights) {
    const ws = Object.entries(weights).filter(([, w]) => w !== void 0);
    for (const [k, w] of ws) {
      if (!SCORE_NAMES.includes(k)) throw new Error(`scoreGrad: unknown score "${k}" (expected ${SCORE_NAMES.join(", ")})`);
      if (!Number.isFinite(w)) throw new Error(`scoreGrad: weight of "${k}" is not a finite number`);
    }
    if (ws.length === 0) throw new Error("scoreGrad: weights must name at least one score");
    const kept = {};
    const f = (x) => {
      const { scores } = this.run(this.preprocess(x), prompts, { heatmaps: false, caption: false });
      for (const t of SCORE_NAMES) kept[t] = tf12.keep(scores[t]);
      let total = tf12.scalar(0);
      for (const [k, w] of ws) total = tf12.add(total, tf12.mul(tf12.sum(scores[k]), w));
      return total;
    };
    const { value, grad } = tf12.valueAndGrad(f)(pixels01);
    value.dispose();
    try {
      const scores = {};
      for (const t of SCORE_NAMES) scores[t] = await kept[t].data();
      return { scores, grad };
    } finally {
      tf12.dispose(Object.values(kept));
    }
  }
  /**
   * Write config.json (model_type "rahf", self-contained), model.safetensors (youweiliang's names and
   * PyTorch layouts; the tied T5 table once, as shared.weight) and the tokenizer files. Weights are written first and
   * config.json last, each atomically, so a directory with a config is always complete.
   */
  async save(dir) {
    fs10.mkdirSync(dir, { recursive: true });
    const map = /* @__PURE__ */ new Map();
    for (const [k, v] of this.params.tensors) {
      const t = isHeadFilter(k, v.rank) ? tf12.transpose(v, TF_TO_TORCH_FILTER) : v;
      const data = await t.data();
      map.set(k, { dtype: "float32", shape: [...t.shape], data });
      if (t !== v) t.dispose();
    }
    writeSafetensors(path9.join(dir, "model.safetensors"), map, { format: "pt" });
    const tokDir = path9.dirname(this.tokenizer.file);
    for (const name of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) {
      const src = name === "tokenizer.json" ? this.tokenizer.file : path9.join(tokDir, name);
      const dst = path9.join(dir, name);
      if (fs10.existsSync(src) && path9.resolve(src) !== path9.resolve(dst)) writeFileAtomic(dst, fs10.readFileSync(src));
    }
    writeFileAtomic(path9.join(dir, "config.json"), JSON.stringify(rahfConfigToJson(this.config), null, 2) + "\n");
  }
  /** Number of parameters. */
  get numParams() {
    let n = 0;
    for (const v of this.params.tensors.values()) n += v.size;
    return n;
  }
  dispose() {
    this.params.dispose();
  }
};

// src/onnx/export.ts
var fs12 = __toESM(require("fs"));
var path11 = __toESM(require("path"));

// src/models/clip.ts
var tf13 = __toESM(require("@tensorflow/tfjs"));
var CLIP_BLOCK = {
  ln1: "layer_norm1",
  q: "self_attn.q_proj",
  k: "self_attn.k_proj",
  v: "self_attn.v_proj",
  o: "self_attn.out_proj",
  ln2: "layer_norm2",
  fc1: "mlp.fc1",
  fc2: "mlp.fc2"
};
function clipParamShapes(c) {
  const v = c.vision_config;
  const t = c.text_config;
  const out = [
    ["logit_scale", []],
    ["vision_model.embeddings.class_embedding", [v.hidden_size]],
    ["vision_model.embeddings.patch_embedding.weight", [v.hidden_size, v.num_channels, v.patch_size, v.patch_size]],
    ["vision_model.embeddings.position_embedding.weight", [(v.image_size / v.patch_size) ** 2 + 1, v.hidden_size]],
    ["vision_model.pre_layrnorm.weight", [v.hidden_size]],
    ["vision_model.pre_layrnorm.bias", [v.hidden_size]],
    ["vision_model.post_layernorm.weight", [v.hidden_size]],
    ["vision_model.post_layernorm.bias", [v.hidden_size]],
    ["visual_projection.weight", [c.projection_dim, v.hidden_size]],
    ["text_model.embeddings.token_embedding.weight", [t.vocab_size, t.hidden_size]],
    ["text_model.embeddings.position_embedding.weight", [t.max_position_embeddings, t.hidden_size]],
    ["text_model.final_layer_norm.weight", [t.hidden_size]],
    ["text_model.final_layer_norm.bias", [t.hidden_size]],
    ["text_projection.weight", [c.projection_dim, t.hidden_size]]
  ];
  for (let i = 0; i < v.num_hidden_layers; i++) {
    out.push(...preLNBlockShapes(`vision_model.encoder.layers.${i}.`, CLIP_BLOCK, v.hidden_size, v.intermediate_size, true));
  }
  for (let i = 0; i < t.num_hidden_layers; i++) {
    out.push(...preLNBlockShapes(`text_model.encoder.layers.${i}.`, CLIP_BLOCK, t.hidden_size, t.intermediate_size, true));
  }
  return out;
}
function l2normalize(x) {
  return tf13.div(x, tf13.norm(x, 2, -1, true));
}
function causalBias(l) {
  const m = new Float32Array(l * l);
  for (let i = 0; i < l; i++) for (let j = i + 1; j < l; j++) m[i * l + j] = -34028234663852886e22 / 2;
  return tf13.tensor4d(m, [1, 1, l, l]);
}
var CLIPModel = class {
  constructor(config, params) {
    this.config = config;
    this.params = params;
    this.vAct = activation(config.vision_config.hidden_act);
    this.tAct = activation(config.text_config.hidden_act);
    checkParamShapes(params, clipParamShapes(config));
  }
  config;
  params;
  vAct;
  tAct;
  /** Vision tower last_hidden_state [B, 1+N, D] (encoder output; HF applies post_layernorm only to the pooled CLS). */
  visionHidden(pixels) {
    return tf13.tidy(() => {
      const c = this.config.vision_config;
      const p = this.params.scope("vision_model.");
      const { tokens, grid } = patchEmbed(pixels, p.get("embeddings.patch_embedding.weight"));
      const b = pixels.shape[0];
      const cls = tf13.tile(p.get("embeddings.class_embedding").reshape([1, 1, c.hidden_size]), [b, 1, 1]);
      const pos = positionEmbeddingsFor(p.get("embeddings.position_embedding.weight"), grid);
      let x = tf13.add(tf13.concat([cls, tokens], 1), pos);
      x = layerNorm(x, p, "pre_layrnorm", c.layer_norm_eps);
      const opts = { heads: c.num_attention_heads, eps: c.layer_norm_eps, act: this.vAct, qkvBias: true };
      for (let i = 0; i < c.num_hidden_layers; i++) x = preLNBlock(x, p.scope(`encoder.layers.${i}.`), CLIP_BLOCK, opts);
      return x;
    });
  }
  /** Projected image features before normalisation [B, projection_dim]. */
  imageFeatures(pixels) {
    return tf13.tidy(() => {
      const x = this.visionHidden(pixels);
      const [b, , d] = x.shape;
      const pooled = layerNorm(tf13.slice(x, [0, 0, 0], [b, 1, d]).reshape([b, d]), this.params, "vision_model.post_layernorm", this.config.vision_config.layer_norm_eps);
      return linear(pooled, this.params, "visual_projection", false);
    });
  }
  /** L2-normalised image embeddings [B, projection_dim]. */
  imageEmbeds(pixels) {
    return tf13.tidy(() => l2normalize(this.imageFeatures(pixels)));
  }
  /** Text tower last_hidden_state after final_layer_norm [B, L, D]. `mask` is 1 for real tokens. */
  textHidden(ids, mask) {
    return tf13.tidy(() => {
      const c = this.config.text_config;
      const p = this.params.scope("text_model.");
      const [b, l] = ids.shape;
      if (l > c.max_position_embeddings) {
        throw new Error(`text of ${l} tokens exceeds max_position_embeddings ${c.max_position_embeddings}`);
      }
      if (mask && (mask.shape[0] !== b || mask.shape[1] !== l)) {
        throw new Error(`attention_mask shape [${mask.shape}] does not match input_ids [${ids.shape}]`);
      }
      const ids32 = ids.dtype === "int32" ? ids : tf13.cast(ids, "int32");
      const tok = tf13.gather(p.get("embeddings.token_embedding.weight"), ids32.reshape([-1])).reshape([b, l, c.hidden_size]);
      const pos = tf13.slice(p.get("embeddings.position_embedding.weight"), [0, 0], [l, c.hidden_size]);
      let x = tf13.add(tok, pos);
      let bias = causalBias(l);
      if (mask) bias = tf13.add(bias, additiveMask(mask));
      const opts = { heads: c.num_attention_heads, eps: c.layer_norm_eps, act: this.tAct, qkvBias: true };
      for (let i = 0; i < c.num_hidden_layers; i++) x = preLNBlock(x, p.scope(`encoder.layers.${i}.`), CLIP_BLOCK, opts, bias);
      return layerNorm(x, p, "final_layer_norm", c.layer_norm_eps);
    });
  }
  /**
   * Pooling positions as HF CLIPTextTransformer: the first position holding eos_token_id, or — for
   * legacy configs with eos_token_id 2 — the position of the largest id (the original EOT token).
   * Returned as a one-hot [B, L] so pooling is a differentiable weighted sum, not a gather.
   */
  eosOneHot(ids) {
    return tf13.tidy(() => {
      const eos = this.config.text_config.eos_token_id;
      const ids32 = ids.dtype === "int32" ? ids : tf13.cast(ids, "int32");
      const where3 = eos === 2 ? ids32 : tf13.cast(tf13.equal(ids32, eos), "int32");
      const idx = tf13.argMax(where3, 1).reshape([-1, 1]);
      return tf13.cast(tf13.equal(tf13.range(0, ids.shape[1], 1, "int32").reshape([1, -1]), idx), "float32");
    });
  }
  /** Projected text features before normalisation [B, projection_dim]. */
  textFeatures(ids, mask) {
    return tf13.tidy(() => {
      const x = this.textHidden(ids, mask);
      const pooled = tf13.sum(tf13.mul(x, tf13.expandDims(this.eosOneHot(ids), 2)), 1);
      return linear(pooled, this.params, "text_projection", false);
    });
  }
  /** L2-normalised text embeddings [B, projection_dim]. */
  textEmbeds(ids, mask) {
    return tf13.tidy(() => l2normalize(this.textFeatures(ids, mask)));
  }
  /** exp(logit_scale), the learned inverse temperature (a scalar tensor). */
  logitScale() {
    return tf13.tidy(() => tf13.exp(this.params.get("logit_scale")));
  }
  /** Image–text similarities [B_image, B_text] scaled by exp(logit_scale), as HF logits_per_image. */
  logitsPerImage(pixels, ids, mask) {
    return tf13.tidy(() => {
      const img = this.imageEmbeds(pixels);
      const txt = this.textEmbeds(ids, mask);
      return tf13.mul(tf13.matMul(img, txt, false, true), this.logitScale());
    });
  }
};

// src/onnx/graph.ts
var OPSET = 17;
var MASK_VALUE = -34028234663852886e22 / 2;
var GraphBuilder = class {
  constructor(name) {
    this.name = name;
  }
  name;
  nodes = [];
  inits = /* @__PURE__ */ new Map();
  inputs = [];
  outputs = [];
  keyed = /* @__PURE__ */ new Map();
  names = /* @__PURE__ */ new Set();
  counter = 0;
  /** A fresh value name from a readable stem. */
  fresh(stem) {
    const base = stem.replace(/[^A-Za-z0-9_.:/-]/g, "_");
    let n = base;
    while (this.names.has(n)) n = `${base}_${++this.counter}`;
    this.names.add(n);
    return n;
  }
  input(name, dtype, shape) {
    if (this.names.has(name)) throw new Error(`onnx graph ${this.name}: duplicate name "${name}"`);
    this.names.add(name);
    this.inputs.push({ name, dtype, shape });
    return name;
  }
  /** Expose `value` as graph output `name` (an Identity when the names differ). */
  output(value, name, dtype, shape) {
    let v = value;
    if (value !== name) {
      if (this.names.has(name)) throw new Error(`onnx graph ${this.name}: output name "${name}" already used`);
      this.names.add(name);
      this.nodes.push({ op: "Identity", inputs: [value], outputs: [name], name: `out_${name}` });
      v = name;
    }
    this.outputs.push({ name: v, dtype, shape });
  }
  /** A constant tensor stored as an initializer; `key` deduplicates (same key → same initializer). */
  init(stem, data, dims, key) {
    if (key !== void 0) {
      const hit = this.keyed.get(key);
      if (hit) return hit;
    }
    const dtype = dtypeOf(data);
    const name = this.fresh(stem);
    this.inits.set(name, { name, dtype, dims, data });
    if (key !== void 0) this.keyed.set(key, name);
    return name;
  }
  /** Small constants, deduplicated by value. */
  f32(values, dims) {
    const arr = typeof values === "number" ? [values] : values;
    const d = dims ?? (typeof values === "number" ? [] : [arr.length]);
    return this.init("c_f", Float32Array.from(arr), d, `f32:${d}:${arr.join(",")}`);
  }
  i64(values, dims) {
    const arr = typeof values === "number" ? [values] : values;
    const d = dims ?? (typeof values === "number" ? [] : [arr.length]);
    return this.init("c_i", BigInt64Array.from(arr.map((v) => BigInt(v))), d, `i64:${d}:${arr.join(",")}`);
  }
  /** A node with one output. */
  op(op, inputs, attrs, stem, domain) {
    return this.opN(op, inputs, 1, attrs, stem, domain)[0];
  }
  /** A node with `n` outputs. */
  opN(op, inputs, n, attrs, stem, domain) {
    const base = stem ?? op.toLowerCase();
    const outputs = Array.from({ length: n }, (_, i) => this.fresh(n === 1 ? base : `${base}_${i}`));
    this.nodes.push({ op, inputs, outputs, name: this.fresh(`n_${base}`), attrs, domain });
    return outputs;
  }
  // --- Helpers for common ops -----------------------------------------------------------------
  add(a, b) {
    return this.op("Add", [a, b]);
  }
  sub(a, b) {
    return this.op("Sub", [a, b]);
  }
  mul(a, b) {
    return this.op("Mul", [a, b]);
  }
  div(a, b) {
    return this.op("Div", [a, b]);
  }
  matMul(a, b) {
    return this.op("MatMul", [a, b]);
  }
  relu(x) {
    return this.op("Relu", [x]);
  }
  sigmoid(x) {
    return this.op("Sigmoid", [x]);
  }
  reshape(x, shape) {
    return this.op("Reshape", [x, this.i64(shape)]);
  }
  transpose(x, perm) {
    return this.op("Transpose", [x], { perm });
  }
  concat(xs, axis) {
    return this.op("Concat", xs, { axis });
  }
  /** Slice along one axis; `end` may be a large number for "to the end". */
  slice(x, axis, start, end) {
    return this.op("Slice", [x, this.i64([start]), this.i64([end]), this.i64([axis])]);
  }
  split(x, sizes, axis) {
    return this.opN("Split", [x, this.i64(sizes)], sizes.length, { axis });
  }
  unsqueeze(x, axes) {
    return this.op("Unsqueeze", [x, this.i64(axes)]);
  }
  cast(x, to) {
    return this.op("Cast", [x], { to: CAST_CODE[to] });
  }
  /** Shape(x)[start:end] as int64 [end-start]. */
  shape(x, start, end) {
    return this.op("Shape", [x], { start, end });
  }
  build() {
    return { name: this.name, nodes: this.nodes, initializers: [...this.inits.values()], inputs: this.inputs, outputs: this.outputs };
  }
  model(meta = {}) {
    const domains = new Set(this.nodes.map((n) => n.domain ?? "").filter((d) => d !== ""));
    return {
      graph: this.build(),
      opset: meta.opset ?? OPSET,
      extraOpsets: [...domains].map((domain) => ({ domain, version: 1 })),
      docString: meta.docString,
      metadata: meta.metadata
    };
  }
};
var CAST_CODE = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9 };
function dtypeOf(d) {
  if (d instanceof Float32Array) return "float32";
  if (d instanceof BigInt64Array) return "int64";
  if (d instanceof Int32Array) return "int32";
  if (d instanceof Int8Array) return "int8";
  if (d instanceof Uint8Array) return "uint8";
  throw new Error("onnx graph: unsupported initializer array type");
}

// src/onnx/export-common.ts
var tf14 = __toESM(require("@tensorflow/tfjs"));
function hostData(t, fn) {
  if (!fn) return { data: t.dataSync(), dims: [...t.shape] };
  const y = tf14.tidy(() => fn(t));
  const out = { data: y.dataSync(), dims: [...y.shape] };
  y.dispose();
  return out;
}
function weight(g, v, stem, transform) {
  const key = `${v.id}:${transform?.tag ?? ""}`;
  const { data, dims } = hostData(v, transform?.fn);
  return g.init(stem, data, dims, key);
}
function linearWeight(g, w, stem) {
  return weight(g, w, stem, { tag: "T", fn: (x) => tf14.transpose(x) });
}
function fusedLinearWeight(g, ws, stem) {
  const key = `fused:${ws.map((w) => w.id).join(",")}`;
  const { data, dims } = hostData(ws[0], () => tf14.transpose(tf14.concat(ws, 0)));
  return g.init(stem, data, dims, key);
}
function linearG(g, x, p, name, bias = true) {
  let y = g.matMul(x, linearWeight(g, p.get(`${name}.weight`), `${name}.weight`));
  const b = bias ? p.maybe(`${name}.bias`) : void 0;
  if (b) y = g.add(y, weight(g, b, `${name}.bias`));
  return y;
}
function fusedLinearG(g, x, p, names, bias) {
  const ws = names.map((n) => p.get(`${n}.weight`));
  let y = g.matMul(x, fusedLinearWeight(g, ws, `${names[0]}.fused_weight`));
  if (bias) {
    const b = names.map((n) => p.get(`${n}.bias`));
    const key = `fusedbias:${b.map((t) => t.id).join(",")}`;
    const { data, dims } = hostData(b[0], () => tf14.concat(b, 0));
    y = g.add(y, g.init(`${names[0]}.fused_bias`, data, dims, key));
  }
  return g.split(y, ws.map((w) => w.shape[0]), -1);
}
function layerNormG(g, x, p, name, eps) {
  const scale = weight(g, p.get(`${name}.weight`), `${name}.weight`);
  const bias = weight(g, p.get(`${name}.bias`), `${name}.bias`);
  return g.op("LayerNormalization", [x, scale, bias], { axis: -1, epsilon: { float: eps } }, "layernorm");
}
function rmsNormG(g, x, w, eps, axis = -1) {
  const variance = g.op("ReduceMean", [g.op("Pow", [x, g.f32(2)])], { axes: [axis], keepdims: 1 });
  const y = g.div(x, g.op("Sqrt", [g.add(variance, g.f32(eps))]));
  return g.mul(y, w);
}
var SQRT_2_OVER_PI2 = Math.sqrt(2 / Math.PI);
function activationG(g, name, x) {
  switch (name) {
    case "gelu":
      return g.mul(g.mul(x, g.add(g.op("Erf", [g.div(x, g.f32(Math.SQRT2))]), g.f32(1))), g.f32(0.5));
    case "gelu_new":
    case "gelu_pytorch_tanh":
    case "gelu_fast": {
      const inner = g.mul(g.add(x, g.mul(g.op("Pow", [x, g.f32(3)]), g.f32(0.044715))), g.f32(SQRT_2_OVER_PI2));
      return g.mul(g.mul(x, g.f32(0.5)), g.add(g.op("Tanh", [inner]), g.f32(1)));
    }
    case "quick_gelu":
      return g.mul(x, g.sigmoid(g.mul(x, g.f32(1.702))));
    case "relu":
      return g.relu(x);
    default:
      throw new Error(`onnx export: unsupported activation "${name}"`);
  }
}
function attentionG(g, q, k, v, heads, dh, scale, bias) {
  const qh = g.transpose(g.reshape(q, [0, 0, heads, dh]), [0, 2, 1, 3]);
  const kh = g.transpose(g.reshape(k, [0, 0, heads, dh]), [0, 2, 3, 1]);
  const vh = g.transpose(g.reshape(v, [0, 0, heads, dh]), [0, 2, 1, 3]);
  let s = g.matMul(qh, kh);
  if (scale !== 1) s = g.mul(s, g.f32(scale));
  if (bias) s = g.add(s, bias);
  const a = g.matMul(g.op("Softmax", [s], { axis: -1 }), vh);
  return g.reshape(g.transpose(a, [0, 2, 1, 3]), [0, 0, heads * dh]);
}
function additiveMaskG(g, mask) {
  const m = g.cast(mask, "float32");
  return g.unsqueeze(g.mul(g.sub(g.f32(1), m), g.f32(MASK_VALUE)), [1, 2]);
}
function dimScalar(g, x, axis) {
  return g.op("Squeeze", [g.shape(x, axis, axis + 1), g.i64([0])]);
}
function expandToBatch(g, t, like, rest) {
  return g.op("Expand", [t, g.concat([g.shape(like, 0, 1), g.i64(rest)], 0)]);
}

// src/onnx/export-vit.ts
var tf15 = __toESM(require("@tensorflow/tfjs"));
function patchEmbedG(g, pixels, w, bias, size, stem) {
  const [d, c, p] = w.shape;
  const grid = Math.floor(size / p);
  if (grid * p !== size) throw new Error(`onnx export: image size ${size} is not a multiple of the patch size ${p}`);
  const patches = g.reshape(g.transpose(g.reshape(pixels, [-1, p, grid, p * c]), [0, 2, 1, 3]), [-1, grid * grid, p * p * c]);
  const wm = weight(g, w, `${stem}.weight`, { tag: "patch", fn: (x) => tf15.transpose(tf15.transpose(x, [0, 2, 3, 1]).reshape([d, p * p * c])) });
  const y = g.matMul(patches, wm);
  return bias ? g.add(y, weight(g, bias, `${stem}.bias`)) : y;
}
function preLNBlockG(g, x, p, n, o, d, bias) {
  const h = layerNormG(g, x, p, n.ln1, o.eps);
  const [q, k, v] = fusedLinearG(g, h, p, [n.q, n.k, n.v], o.qkvBias);
  const dh = d / o.heads;
  const a = attentionG(g, q, k, v, o.heads, dh, 1 / Math.sqrt(dh), bias);
  const x1 = g.add(x, linearG(g, a, p, n.o));
  const m = linearG(g, activationG(g, o.act, linearG(g, layerNormG(g, x1, p, n.ln2, o.eps), p, n.fc1)), p, n.fc2);
  return g.add(x1, m);
}
function vitG(g, model, pixels) {
  const c = model.config;
  const p = model.params.scope("embeddings.");
  const d = c.hidden_size;
  const tokens = patchEmbedG(
    g,
    pixels,
    p.get("patch_embeddings.projection.weight"),
    p.get("patch_embeddings.projection.bias"),
    c.image_size,
    "vit.patch"
  );
  const cls = expandToBatch(g, weight(g, p.get("cls_token"), "vit.cls_token"), pixels, [1, d]);
  let x = g.add(g.concat([cls, tokens], 1), weight(g, p.get("position_embeddings"), "vit.position_embeddings"));
  const o = { heads: c.num_attention_heads, eps: c.layer_norm_eps, act: c.hidden_act, qkvBias: c.qkv_bias };
  for (let i = 0; i < c.num_hidden_layers; i++) x = preLNBlockG(g, x, model.params.scope(`encoder.layer.${i}.`), VIT_BLOCK, o, d);
  return layerNormG(g, x, model.params, "layernorm", c.layer_norm_eps);
}
function exportViTGraph(model) {
  const c = model.config;
  const g = new GraphBuilder("vit");
  const px = g.input("pixel_values", "float32", ["batch", c.image_size, c.image_size, c.num_channels]);
  const n = (c.image_size / c.patch_size) ** 2;
  g.output(vitG(g, model, px), "last_hidden_state", "float32", ["batch", n + 1, c.hidden_size]);
  return g;
}

// src/onnx/export-clip.ts
function l2normalize2(g, x) {
  return g.div(x, g.op("ReduceL2", [x], { axes: [-1], keepdims: 1 }));
}
function visionG(g, model, pixels) {
  const c = model.config.vision_config;
  const p = model.params.scope("vision_model.");
  const d = c.hidden_size;
  const tokens = patchEmbedG(g, pixels, p.get("embeddings.patch_embedding.weight"), void 0, c.image_size, "clip.patch");
  const cls = expandToBatch(g, g.reshape(weight(g, p.get("embeddings.class_embedding"), "clip.class_embedding"), [1, 1, d]), pixels, [1, d]);
  let x = g.add(g.concat([cls, tokens], 1), weight(g, p.get("embeddings.position_embedding.weight"), "clip.vision_position"));
  x = layerNormG(g, x, p, "pre_layrnorm", c.layer_norm_eps);
  const o = { heads: c.num_attention_heads, eps: c.layer_norm_eps, act: c.hidden_act, qkvBias: true };
  for (let i = 0; i < c.num_hidden_layers; i++) x = preLNBlockG(g, x, p.scope(`encoder.layers.${i}.`), CLIP_BLOCK, o, d);
  const pooled = layerNormG(g, g.op("Squeeze", [g.slice(x, 1, 0, 1), g.i64([1])]), p, "post_layernorm", c.layer_norm_eps);
  return linearG(g, pooled, model.params, "visual_projection", false);
}
function textG(g, model, ids, mask) {
  const c = model.config.text_config;
  const p = model.params.scope("text_model.");
  const d = c.hidden_size;
  const tok = g.op("Gather", [weight(g, p.get("embeddings.token_embedding.weight"), "clip.token_embedding"), ids], { axis: 0 });
  const posTable = weight(g, p.get("embeddings.position_embedding.weight"), "clip.text_position");
  const len = g.shape(ids, 1, 2);
  const pos = g.op("Slice", [posTable, g.i64([0]), len, g.i64([0])]);
  let x = g.add(tok, pos);
  const r = g.op("Range", [g.i64(0), dimScalar(g, ids, 1), g.i64(1)]);
  const future = g.op("Greater", [g.unsqueeze(r, [0]), g.unsqueeze(r, [1])]);
  const causal = g.op("Where", [future, g.f32(MASK_VALUE), g.f32(0)]);
  const bias = g.add(g.unsqueeze(causal, [0, 1]), additiveMaskG(g, mask));
  const o = { heads: c.num_attention_heads, eps: c.layer_norm_eps, act: c.hidden_act, qkvBias: true };
  for (let i = 0; i < c.num_hidden_layers; i++) x = preLNBlockG(g, x, p.scope(`encoder.layers.${i}.`), CLIP_BLOCK, o, d, bias);
  x = layerNormG(g, x, p, "final_layer_norm", c.layer_norm_eps);
  const key = c.eos_token_id === 2 ? g.cast(ids, "float32") : g.cast(g.op("Equal", [ids, g.i64(c.eos_token_id)]), "float32");
  const idx = g.op("ArgMax", [key], { axis: 1, keepdims: 1, select_last_index: 0 });
  const pooled = g.op("GatherND", [x, idx], { batch_dims: 1 });
  return linearG(g, pooled, model.params, "text_projection", false);
}
function exportClipGraph(model) {
  const v = model.config.vision_config;
  const pdim = model.config.projection_dim;
  const g = new GraphBuilder("clip");
  const px = g.input("pixel_values", "float32", ["image_batch", v.image_size, v.image_size, v.num_channels]);
  const ids = g.input("input_ids", "int64", ["text_batch", "seq"]);
  const mask = g.input("attention_mask", "int64", ["text_batch", "seq"]);
  const img = l2normalize2(g, visionG(g, model, px));
  const txt = l2normalize2(g, textG(g, model, ids, mask));
  const scale = g.op("Exp", [weight(g, model.params.get("logit_scale"), "clip.logit_scale")]);
  const logits = g.mul(g.op("Gemm", [img, txt], { transB: 1 }), scale);
  g.output(img, "image_embeds", "float32", ["image_batch", pdim]);
  g.output(txt, "text_embeds", "float32", ["text_batch", pdim]);
  g.output(logits, "logits_per_image", "float32", ["image_batch", "text_batch"]);
  return g;
}

// src/onnx/export-heads.ts
var tf16 = __toESM(require("@tensorflow/tfjs"));
function filter(g, f, stem) {
  return weight(g, f, stem, { tag: "torch", fn: (x) => tf16.transpose(x, TF_TO_TORCH_FILTER) });
}
function conv2(g, x, p, name) {
  const w = filter(g, p.get(`${name}.weight`), `${name}.weight`);
  const b = weight(g, p.get(`${name}.bias`), `${name}.bias`);
  return g.op("Conv", [x, w, b], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] }, "conv");
}
function deconv(g, x, p, name) {
  const w = filter(g, p.get(`${name}.weight`), `${name}.weight`);
  const b = weight(g, p.get(`${name}.bias`), `${name}.bias`);
  return g.op("ConvTranspose", [x, w, b], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2], output_padding: [1, 1] }, "deconv");
}
function norm3(g, x, p, name) {
  return rmsNormG(g, x, weight(g, p.get(`${name}.scale`), `${name}.scale`), 1e-8, 1);
}
function scoreHeadG(g, feature, p, convWidths, linearWidths) {
  let x = feature;
  for (let k = 0; k < convWidths.length; k++) x = g.relu(norm3(g, conv2(g, x, p, `conv_layers.${3 * k}`), p, `conv_layers.${3 * k + 1}`));
  let y = g.op("Flatten", [x], { axis: 1 });
  for (let k = 0; k <= linearWidths.length; k++) {
    y = linearG(g, y, p, `linear_layers.${2 * k}`);
    if (k < linearWidths.length) y = g.relu(y);
  }
  return g.reshape(g.sigmoid(y), [-1]);
}
function heatmapHeadG(g, feature, p, side) {
  let x = norm3(g, g.relu(conv2(g, feature, p, "conv_layers.0")), p, "conv_layers.2");
  x = norm3(g, g.relu(conv2(g, x, p, "conv_layers.3")), p, "conv_layers.5");
  for (let i = 0; i < HEATMAP_STAGES; i++) {
    x = g.relu(norm3(g, deconv(g, x, p, `deconv_layers.${i}.0`), p, `deconv_layers.${i}.1`));
    let y = g.relu(norm3(g, conv2(g, x, p, `conv_layers2.${i}.0`), p, `conv_layers2.${i}.1`));
    y = norm3(g, conv2(g, y, p, `conv_layers2.${i}.3`), p, `conv_layers2.${i}.4`);
    x = g.relu(g.add(y, x));
  }
  x = g.relu(conv2(g, x, p, "last_conv1"));
  return g.reshape(g.sigmoid(conv2(g, x, p, "last_conv2")), [-1, side, side]);
}

// src/onnx/export-t5.ts
function saturation(c, bidirectional) {
  const nb = c.relative_attention_num_buckets;
  const md = c.relative_attention_max_distance;
  let C = Math.max(md, nb);
  const b = (n) => relativePositionBucket(n, bidirectional, nb, md);
  while ([1, 10, 100, 1e3, 1e5].some((k) => b(C + k) !== b(C) || b(-C - k) !== b(-C))) C *= 2;
  return C;
}
function biasByDistance(table, c, bidirectional, causal) {
  const C = saturation(c, bidirectional);
  const [nb, h] = table.shape;
  const t = table.dataSync();
  const out = new Float32Array((2 * C + 1) * h);
  for (let r = 0; r <= 2 * C; r++) {
    const bucket = relativePositionBucket(r - C, bidirectional, nb, c.relative_attention_max_distance);
    for (let j = 0; j < h; j++) {
      const v = t[bucket * h + j];
      out[r * h + j] = causal && r > C ? Math.fround(v + MASK_VALUE) : v;
    }
  }
  return { data: out, C };
}
function positions(g, x, axis) {
  return g.op("Range", [g.i64(0), dimScalar(g, x, axis), g.i64(1)]);
}
function positionBiasG(g, table, c, x, bidirectional, causal, stem) {
  const { data, C } = biasByDistance(table, c, bidirectional, causal);
  const h = table.shape[1];
  const tab = g.init(`${stem}.bias_by_distance`, data, [2 * C + 1, h], `${table.id}:bias:${bidirectional}:${causal}`);
  const pos = positions(g, x, 1);
  const rel = g.sub(g.unsqueeze(pos, [0]), g.unsqueeze(pos, [1]));
  const idx = g.add(g.op("Min", [g.op("Max", [rel, g.i64(-C)]), g.i64(C)]), g.i64(C));
  const bias = g.op("Gather", [tab, idx], { axis: 0 });
  return g.unsqueeze(g.transpose(bias, [2, 0, 1]), [0]);
}
function norm4(g, x, p, name, eps) {
  return rmsNormG(g, x, weight(g, p.get(`${name}.weight`), `${name}.weight`), eps);
}
function ffnG(g, x, p, c) {
  let h;
  if (c.is_gated_act) {
    const [a, b] = fusedLinearG(g, x, p, ["wi_0", "wi_1"], false);
    h = g.mul(activationG(g, c.dense_act_fn, a), b);
  } else {
    h = activationG(g, c.dense_act_fn, linearG(g, x, p, "wi", false));
  }
  return linearG(g, h, p, "wo", false);
}
function t5AttentionG(g, x, kvSource, p, c, bias) {
  let q, k, v;
  if (kvSource === void 0) [q, k, v] = fusedLinearG(g, x, p, ["q", "k", "v"], false);
  else {
    q = linearG(g, x, p, "q", false);
    [k, v] = fusedLinearG(g, kvSource, p, ["k", "v"], false);
  }
  return linearG(g, attentionG(g, q, k, v, c.num_heads, c.d_kv, 1, bias), p, "o", false);
}
function embedG(g, model, ids) {
  return g.op("Gather", [weight(g, model.params.get("shared.weight"), "t5.shared"), ids], { axis: 0 });
}
function t5EncoderG(g, model, x0, mask) {
  const c = model.config;
  const p = model.params.scope("encoder.");
  let bias = positionBiasG(g, p.get("block.0.layer.0.SelfAttention.relative_attention_bias.weight"), c, x0, true, false, "t5.encoder");
  if (mask) bias = g.add(bias, additiveMaskG(g, mask));
  let x = x0;
  for (let i = 0; i < c.num_layers; i++) {
    const b = p.scope(`block.${i}.layer.`);
    x = g.add(x, t5AttentionG(g, norm4(g, x, b, "0.layer_norm", c.layer_norm_epsilon), void 0, b.scope("0.SelfAttention."), c, bias));
    x = g.add(x, ffnG(g, norm4(g, x, b, "1.layer_norm", c.layer_norm_epsilon), b.scope("1.DenseReluDense."), c));
  }
  return norm4(g, x, p, "final_layer_norm", c.layer_norm_epsilon);
}
function t5DecoderG(g, model, ids, enc, encMask, lastOnly) {
  const c = model.config;
  const p = model.params.scope("decoder.");
  const x0 = embedG(g, model, ids);
  const selfBias = positionBiasG(g, p.get("block.0.layer.0.SelfAttention.relative_attention_bias.weight"), c, x0, false, true, "t5.decoder");
  const crossBias = encMask ? additiveMaskG(g, encMask) : void 0;
  let x = x0;
  for (let i = 0; i < c.num_decoder_layers; i++) {
    const b = p.scope(`block.${i}.layer.`);
    const eps = c.layer_norm_epsilon;
    x = g.add(x, t5AttentionG(g, norm4(g, x, b, "0.layer_norm", eps), void 0, b.scope("0.SelfAttention."), c, selfBias));
    x = g.add(x, t5AttentionG(g, norm4(g, x, b, "1.layer_norm", eps), enc, b.scope("1.EncDecAttention."), c, crossBias));
    x = g.add(x, ffnG(g, norm4(g, x, b, "2.layer_norm", eps), b.scope("2.DenseReluDense."), c));
  }
  if (lastOnly) x = g.op("Squeeze", [g.slice(x, 1, -1, 2 ** 62), g.i64([1])]);
  let h = norm4(g, x, p, "final_layer_norm", c.layer_norm_epsilon);
  if (c.scale_decoder_outputs) h = g.mul(h, g.f32(c.d_model ** -0.5));
  if (c.tie_word_embeddings && lastOnly) {
    return g.op("Gemm", [h, weight(g, model.params.get("shared.weight"), "t5.shared")], { transB: 1 });
  }
  const w = c.tie_word_embeddings ? model.params.get("shared.weight") : model.params.get("lm_head.weight");
  return g.matMul(h, linearWeight(g, w, "t5.lm_head"));
}
function exportT5EncoderGraph(model) {
  const g = new GraphBuilder("t5_encoder");
  const ids = g.input("input_ids", "int64", ["batch", "seq"]);
  const mask = g.input("attention_mask", "int64", ["batch", "seq"]);
  g.output(t5EncoderG(g, model, embedG(g, model, ids), mask), "last_hidden_state", "float32", ["batch", "seq", model.config.d_model]);
  return g;
}
function exportT5DecoderGraph(model, opts = {}) {
  const c = model.config;
  const g = new GraphBuilder(opts.lastOnly ? "t5_decoder_step" : "t5_decoder");
  const ids = g.input("decoder_input_ids", "int64", ["batch", "dec_len"]);
  const enc = g.input("encoder_hidden_states", "float32", ["batch", "enc_len", c.d_model]);
  const mask = opts.encoderMask === false ? void 0 : g.input("encoder_attention_mask", "int64", ["batch", "enc_len"]);
  const logits = t5DecoderG(g, model, ids, enc, mask, !!opts.lastOnly);
  g.output(logits, "logits", "float32", opts.lastOnly ? ["batch", c.vocab_size] : ["batch", "dec_len", c.vocab_size]);
  return g;
}

// src/onnx/export-rahf.ts
function rahfTextInputs(c, part) {
  const masked = c.maskTextPadding;
  const caption = { ids: "input_ids", mask: masked ? "attention_mask" : void 0, kind: "caption" };
  if (part === "encoder" || c.variant === "multi_head") return [caption];
  const tasks = [];
  const add8 = (kind, type) => {
    const suffix = `${kind.toLowerCase()}_${type}`;
    tasks.push({ ids: `input_ids_${suffix}`, mask: masked ? `attention_mask_${suffix}` : void 0, kind, type });
  };
  for (const t of SCORE_NAMES) add8("SCORE", t);
  if (part === "heatmaps") for (const t of HEATMAP_NAMES) add8("HEATMAP", t);
  return tasks;
}
function rahfOutputs(c, part) {
  if (part === "encoder") return ["encoder_hidden"];
  const out = SCORE_NAMES.map((t) => `score_${t}`);
  if (part === "heatmaps") out.push(...HEATMAP_NAMES.map((t) => `heatmap_${t}`));
  if (c.variant === "multi_head") out.push("encoder_hidden");
  return out;
}
function exportRahfGraph(model, part) {
  const c = model.config;
  const d = c.t5.d_model;
  const s = c.imageSize;
  const g = new GraphBuilder(`rahf_${part}`);
  const px = g.input("pixel_values", "float32", ["batch", s, s, 3]);
  const texts = rahfTextInputs(c, part).map((t) => {
    const len = t.kind === "caption" ? "text_len" : `text_len_${t.kind.toLowerCase()}_${t.type}`;
    return { ...t, idsV: g.input(t.ids, "int64", ["batch", len]), maskV: t.mask ? g.input(t.mask, "int64", ["batch", len]) : void 0 };
  });
  const grid = gridSize(c);
  const n = grid * grid;
  const nv = visualTokenCount(c);
  let vit = vitG(g, model.vit, px);
  if (!c.keepClsInEncoder) vit = g.slice(vit, 1, 1, 1 + n);
  const visual = linearG(g, vit, model.params, PROJECTION);
  const encode = (t) => {
    const x = g.concat([visual, embedG(g, model.t5, t.idsV)], 1);
    const mask = t.maskV ? g.op("Pad", [t.maskV, g.i64([0, nv, 0, 0]), g.i64(1)]) : void 0;
    return t5EncoderG(g, model.t5, x, mask);
  };
  const featureMap = (hidden) => {
    const start = c.keepClsInEncoder ? 1 : 0;
    return g.reshape(g.transpose(g.slice(hidden, 1, start, start + n), [0, 2, 1]), [-1, d, grid, grid]);
  };
  const captionHidden = (hidden) => g.slice(hidden, 1, nv, 2 ** 62);
  const head = (kind, type) => {
    const base = kind === "score" ? "score_predictor." : "heatmap_predictor.";
    return model.params.scope(c.variant === "multi_head" ? `${base}${type}.` : base);
  };
  const side = heatmapSize(c);
  const emitScore = (t, feature) => g.output(scoreHeadG(g, feature, head("score", t), c.scoreConv, c.scoreLinear), `score_${t}`, "float32", ["batch"]);
  const emitHeat = (t, feature) => g.output(heatmapHeadG(g, feature, head("heatmap", t), side), `heatmap_${t}`, "float32", ["batch", side, side]);
  if (part === "encoder") {
    g.output(captionHidden(encode(texts[0])), "encoder_hidden", "float32", ["batch", "text_len", d]);
  } else if (c.variant === "multi_head") {
    const hidden = encode(texts[0]);
    const feature = featureMap(hidden);
    for (const t of SCORE_NAMES) emitScore(t, feature);
    if (part === "heatmaps") for (const t of HEATMAP_NAMES) emitHeat(t, feature);
    g.output(captionHidden(hidden), "encoder_hidden", "float32", ["batch", "text_len", d]);
  } else {
    for (const t of texts) {
      const feature = featureMap(encode(t));
      if (t.kind === "SCORE") emitScore(t.type, feature);
      else emitHeat(t.type, feature);
    }
  }
  return g;
}
function exportRahfDecoderGraph(model) {
  const g = exportT5DecoderGraph(model.t5, { lastOnly: true, encoderMask: model.config.maskTextPadding });
  return g;
}

// src/onnx/proto.ts
var fs11 = __toESM(require("fs"));
var path10 = __toESM(require("path"));
var protobuf = __toESM(require("protobufjs"));
var ONNX_PROTO = `
syntax = "proto3";
package onnx;

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5; SPARSE_TENSOR = 11; TYPE_PROTO = 13;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10; SPARSE_TENSORS = 12; TYPE_PROTOS = 14;
  }
  string name = 1;
  string ref_attr_name = 21;
  string doc_string = 13;
  AttributeType type = 20;
  float f = 2;
  int64 i = 3;
  bytes s = 4;
  TensorProto t = 5;
  GraphProto g = 6;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
}

message ValueInfoProto {
  string name = 1;
  TypeProto type = 2;
  string doc_string = 3;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  string name = 3;
  string op_type = 4;
  string domain = 7;
  repeated AttributeProto attribute = 5;
  string doc_string = 6;
}

message StringStringEntryProto {
  string key = 1;
  string value = 2;
}

message OperatorSetIdProto {
  string domain = 1;
  int64 version = 2;
}

message ModelProto {
  int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  string producer_name = 2;
  string producer_version = 3;
  string domain = 4;
  int64 model_version = 5;
  string doc_string = 6;
  GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}

message GraphProto {
  repeated NodeProto node = 1;
  string name = 2;
  repeated TensorProto initializer = 5;
  string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message TensorProto {
  enum DataType {
    UNDEFINED = 0; FLOAT = 1; UINT8 = 2; INT8 = 3; UINT16 = 4; INT16 = 5; INT32 = 6; INT64 = 7; STRING = 8;
    BOOL = 9; FLOAT16 = 10; DOUBLE = 11; UINT32 = 12; UINT64 = 13;
  }
  enum DataLocation { DEFAULT = 0; EXTERNAL = 1; }
  repeated int64 dims = 1;
  int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated int64 int64_data = 7 [packed = true];
  string name = 8;
  string doc_string = 12;
  bytes raw_data = 9;
  repeated StringStringEntryProto external_data = 13;
  DataLocation data_location = 14;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
    string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    int32 elem_type = 1;
    TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
  string denotation = 6;
}
`;
var root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
var ModelProto = root.lookupType("onnx.ModelProto");
var GraphProto = root.lookupType("onnx.GraphProto");
var NodeProto = root.lookupType("onnx.NodeProto");
var TensorProto = root.lookupType("onnx.TensorProto");
var ValueInfoProto = root.lookupType("onnx.ValueInfoProto");
var AttributeProto = root.lookupType("onnx.AttributeProto");
var OperatorSetIdProto = root.lookupType("onnx.OperatorSetIdProto");
var DTYPE_CODE = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9 };
function irVersionFor(opset) {
  if (opset <= 8) return 3;
  if (opset <= 10) return 5;
  if (opset <= 12) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}
function bytesOf(data) {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
function typeProto(v) {
  return {
    tensor_type: {
      elem_type: DTYPE_CODE[v.dtype],
      shape: { dim: v.shape.map((d) => typeof d === "number" ? { dim_value: d } : { dim_param: d }) }
    }
  };
}
function attrProto(name, v) {
  if (typeof v === "number") {
    if (!Number.isInteger(v)) throw new Error(`onnx attribute ${name}: ${v} is not an integer (write {float: ${v}})`);
    return { name, type: 2, i: v };
  }
  if (typeof v === "string") return { name, type: 3, s: Buffer.from(v, "utf8") };
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === "string")) return { name, type: 8, strings: v.map((s) => Buffer.from(s, "utf8")) };
    if (!v.every((x) => Number.isInteger(x))) throw new Error(`onnx attribute ${name}: ints expected, got ${JSON.stringify(v)}`);
    return { name, type: 7, ints: v };
  }
  if ("float" in v) return { name, type: 1, f: v.float };
  if ("floats" in v) return { name, type: 6, floats: v.floats };
  return { name, type: 4, t: TensorProto.decode(tensorProto(v)) };
}
function tensorHead(t, external) {
  const n = t.dims.reduce((a, b) => a * b, 1);
  if (n !== t.data.length) throw new Error(`onnx tensor ${t.name}: dims [${t.dims}] hold ${n} values, data has ${t.data.length}`);
  const msg = { name: t.name, dims: t.dims, data_type: DTYPE_CODE[t.dtype] };
  if (external) {
    msg.data_location = 1;
    msg.external_data = [
      { key: "location", value: external.location },
      { key: "offset", value: String(external.offset) },
      { key: "length", value: String(external.length) }
    ];
  }
  return TensorProto.encode(TensorProto.fromObject(msg)).finish();
}
var RAW_DATA_FIELD = 9;
function tensorChunks(t, external) {
  const head = tensorHead(t, external);
  if (external) return [head];
  const raw = bytesOf(t.data);
  return [head, fieldHeader(RAW_DATA_FIELD, raw.length), raw];
}
function tensorProto(t) {
  return Buffer.concat(tensorChunks(t));
}
function nodeProto(n) {
  return {
    name: n.name,
    op_type: n.op,
    domain: n.domain ?? "",
    input: n.inputs,
    output: n.outputs,
    attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attrProto(k, v))
  };
}
function varint(n) {
  const out = [];
  while (n >= 128) {
    out.push(n % 128 | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Uint8Array.from(out);
}
function fieldHeader(field2, length) {
  const tag = varint(field2 << 3 | 2);
  const len = varint(length);
  const out = new Uint8Array(tag.length + len.length);
  out.set(tag, 0);
  out.set(len, tag.length);
  return out;
}
var GRAPH_FIELD = 7;
var INITIALIZER_FIELD = 5;
var DEFAULT_EXTERNAL_THRESHOLD = Math.floor(1.9 * 2 ** 30);
var ALIGN = 4096;
var Sink = class {
  constructor(fd) {
    this.fd = fd;
  }
  fd;
  bytes = 0;
  chunks = [];
  write(b) {
    if (this.fd === void 0) this.chunks.push(b);
    else for (let off = 0; off < b.length; ) off += fs11.writeSync(this.fd, b, off, b.length - off);
    this.bytes += b.length;
  }
};
function withTmp(file, body) {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const fd = fs11.openSync(tmp, "w");
  try {
    const sink = new Sink(fd);
    body(sink);
    fs11.fsyncSync(fd);
    fs11.closeSync(fd);
    fs11.renameSync(tmp, file);
    return sink.bytes;
  } catch (e) {
    try {
      fs11.closeSync(fd);
    } catch {
    }
    fs11.rmSync(tmp, { force: true });
    throw e;
  }
}
function serialise(model, external, sink) {
  const g = model.graph;
  const graphHead = GraphProto.encode(
    GraphProto.fromObject({
      name: g.name,
      node: g.nodes.map(nodeProto),
      input: g.inputs.map((v) => ({ name: v.name, type: typeProto(v) })),
      output: g.outputs.map((v) => ({ name: v.name, type: typeProto(v) }))
    })
  ).finish();
  const tensors = g.initializers.map((t) => {
    const chunks = tensorChunks(t, external.get(t.name));
    const len = chunks.reduce((a, c) => a + c.length, 0);
    return { chunks: [fieldHeader(INITIALIZER_FIELD, len), ...chunks], len };
  });
  const graphLen = graphHead.length + tensors.reduce((a, t) => a + t.chunks[0].length + t.len, 0);
  const modelHead = ModelProto.encode(
    ModelProto.fromObject({
      ir_version: irVersionFor(model.opset),
      opset_import: [{ domain: "", version: model.opset }, ...model.extraOpsets ?? []],
      producer_name: model.producer ?? "richhf-ts",
      producer_version: "0.1.0",
      doc_string: model.docString ?? "",
      metadata_props: Object.entries(model.metadata ?? {}).map(([key, value]) => ({ key, value }))
    })
  ).finish();
  sink.write(modelHead);
  sink.write(fieldHeader(GRAPH_FIELD, graphLen));
  sink.write(graphHead);
  for (const t of tensors) for (const c of t.chunks) sink.write(c);
}
function writeModel(model, file, opts = {}) {
  fs11.mkdirSync(path10.dirname(path10.resolve(file)), { recursive: true });
  const g = model.graph;
  const total = g.initializers.reduce((a, t) => a + t.data.byteLength, 0);
  const threshold = opts.externalDataThreshold ?? DEFAULT_EXTERNAL_THRESHOLD;
  const minBytes = opts.externalMinBytes ?? 1024;
  const external = /* @__PURE__ */ new Map();
  let dataFile;
  let dataBytes;
  if (total > threshold) {
    const location = opts.externalDataName ?? `${path10.basename(file)}.data`;
    dataFile = path10.join(path10.dirname(file), location);
    dataBytes = withTmp(dataFile, (sink) => {
      for (const t of g.initializers) {
        if (t.data.byteLength < minBytes) continue;
        const pad2 = (ALIGN - sink.bytes % ALIGN) % ALIGN;
        if (pad2) sink.write(new Uint8Array(pad2));
        external.set(t.name, { location, offset: sink.bytes, length: t.data.byteLength });
        sink.write(bytesOf(t.data));
      }
    });
  }
  const bytes = withTmp(file, (sink) => serialise(model, external, sink));
  return { file, bytes, dataFile, dataBytes };
}

// src/onnx/quantize.ts
function quantizeWeight(w, k, n, qmax = 127) {
  const scale = new Float32Array(n);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < n; j++) {
      const a = Math.abs(w[i * n + j]);
      if (a > scale[j]) scale[j] = a;
    }
  }
  for (let j = 0; j < n; j++) scale[j] = scale[j] > 0 ? scale[j] / qmax : 1;
  const q = new Int8Array(k * n);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < n; j++) {
      const v = Math.round(w[i * n + j] / scale[j]);
      q[i * n + j] = v > qmax ? qmax : v < -qmax ? -qmax : v;
    }
  }
  return { q, scale };
}
function quantizeDynamic(model, opts = {}) {
  const minElements = opts.minElements ?? 4096;
  const qmax = opts.reduceRange ? 63 : 127;
  const g = model.graph;
  const inits = new Map(g.initializers.map((t) => [t.name, t]));
  const quantised = /* @__PURE__ */ new Map();
  const newInits = [];
  const nodes = [];
  let serial = 0;
  const fresh = (s) => `${s}__q${serial++}`;
  const floatUsers = /* @__PURE__ */ new Set();
  for (const n of g.nodes) {
    if (n.op === "MatMul") continue;
    for (const i of n.inputs) floatUsers.add(i);
  }
  for (const n of g.nodes) {
    const w = n.op === "MatMul" ? inits.get(n.inputs[1]) : void 0;
    if (!w || w.dtype !== "float32" || w.dims.length !== 2 || w.data.length < minElements) {
      nodes.push(n);
      continue;
    }
    let qw = quantised.get(w.name);
    if (!qw) {
      const [k, nn] = w.dims;
      const { q, scale } = quantizeWeight(w.data, k, nn, qmax);
      qw = { q: `${w.name}_int8`, scale: `${w.name}_scale` };
      newInits.push({ name: qw.q, dtype: "int8", dims: [k, nn], data: q }, { name: qw.scale, dtype: "float32", dims: [nn], data: scale });
      quantised.set(w.name, qw);
    }
    const [xq, xs, xz] = [fresh("x_q"), fresh("x_scale"), fresh("x_zero")];
    const [acc, accF, sc] = [fresh("mm_int32"), fresh("mm_float"), fresh("scale")];
    nodes.push({ op: "DynamicQuantizeLinear", inputs: [n.inputs[0]], outputs: [xq, xs, xz], name: fresh("dql") });
    nodes.push({ op: "MatMulInteger", inputs: [xq, qw.q, xz], outputs: [acc], name: fresh("mmi") });
    nodes.push({ op: "Cast", inputs: [acc], outputs: [accF], name: fresh("cast"), attrs: { to: 1 } });
    nodes.push({ op: "Mul", inputs: [xs, qw.scale], outputs: [sc], name: fresh("scale_mul") });
    nodes.push({ op: "Mul", inputs: [accF, sc], outputs: n.outputs, name: fresh("out_mul") });
  }
  const keep2 = g.initializers.filter((t) => !quantised.has(t.name) || floatUsers.has(t.name));
  return {
    ...model,
    graph: { ...g, nodes, initializers: [...keep2, ...newInits] },
    docString: `${model.docString ?? ""} (dynamic int8 MatMul weights${opts.reduceRange ? ", 7-bit" : ""})`.trim()
  };
}

// src/onnx/export.ts
function expect(model, cls, kind) {
  if (!(model instanceof cls)) throw new Error(`exportOnnx: kind "${kind}" needs a ${cls.name}, got a ${model.constructor.name}`);
  return model;
}
function exportOnnx(model, kind) {
  let g;
  switch (kind) {
    case "rahf":
      g = exportRahfGraph(expect(model, RewardModel, kind), "scores");
      break;
    case "rahf-heatmaps":
      g = exportRahfGraph(expect(model, RewardModel, kind), "heatmaps");
      break;
    case "rahf-encoder":
      g = exportRahfGraph(expect(model, RewardModel, kind), "encoder");
      break;
    case "rahf-decoder":
      g = exportRahfDecoderGraph(expect(model, RewardModel, kind));
      break;
    case "vit":
      g = exportViTGraph(expect(model, ViTModel, kind));
      break;
    case "t5-encoder":
      g = exportT5EncoderGraph(expect(model, T5Model, kind));
      break;
    case "t5-decoder":
      g = exportT5DecoderGraph(expect(model, T5Model, kind));
      break;
    case "clip":
      g = exportClipGraph(expect(model, CLIPModel, kind));
      break;
    default:
      throw new Error(`exportOnnx: unknown kind "${kind}"`);
  }
  return g.model({ docString: `richhf-ts ${kind} export` });
}
function manifestPath(onnxFile) {
  return path11.join(path11.dirname(onnxFile), `${path11.basename(onnxFile).replace(/\.onnx$/i, "")}.rahf.json`);
}
function exportRahf(model, out, opts = {}) {
  if (!/\.onnx$/i.test(out)) throw new Error(`export: output file ${out} must end in .onnx`);
  const dir = path11.dirname(path11.resolve(out));
  fs12.mkdirSync(dir, { recursive: true });
  const stem = path11.basename(out).replace(/\.onnx$/i, "");
  const c = model.config;
  const log2 = opts.log ?? (() => void 0);
  const written = [];
  const write = (kind, file) => {
    let m = exportOnnx(model, kind);
    if (opts.quantize === "int8") m = quantizeDynamic(m, opts.quantizeOptions);
    const r = writeModel(m, path11.join(dir, file), opts);
    written.push(r.file);
    if (r.dataFile) written.push(r.dataFile);
    const mb = (r.bytes + (r.dataBytes ?? 0)) / 2 ** 20;
    log2(`wrote ${r.file}${r.dataFile ? ` (+ ${path11.basename(r.dataFile)})` : ""}, ${mb.toFixed(1)} MiB`);
    return file;
  };
  const files = { scores: write("rahf", `${stem}.onnx`), decoder: write("rahf-decoder", `${stem}.decoder.onnx`) };
  if (opts.heatmaps) files.heatmaps = write("rahf-heatmaps", `${stem}.heatmaps.onnx`);
  if (c.variant !== "multi_head") files.encoder = write("rahf-encoder", `${stem}.encoder.onnx`);
  const tokDir = path11.dirname(model.tokenizer.file);
  for (const name of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) {
    const src = name === "tokenizer.json" ? model.tokenizer.file : path11.join(tokDir, name);
    const dst = path11.join(dir, name);
    if (fs12.existsSync(src) && path11.resolve(src) !== path11.resolve(dst)) {
      writeFileAtomic(dst, fs12.readFileSync(src));
      written.push(dst);
    }
  }
  const strip = (t) => t.map(({ ids, mask, kind, type }) => ({ ids, mask, kind, type }));
  const manifest = {
    format: "rahf-onnx",
    version: 1,
    config: rahfConfigToJson(c),
    files,
    inputs: { scores: strip(rahfTextInputs(c, "scores")), heatmaps: strip(rahfTextInputs(c, "heatmaps")), encoder: strip(rahfTextInputs(c, "encoder")) },
    outputs: { scores: rahfOutputs(c, "scores"), heatmaps: rahfOutputs(c, "heatmaps") },
    encoderHiddenFromScores: c.variant === "multi_head",
    tokenizer: "tokenizer.json",
    quantize: opts.quantize,
    pixels: { layout: "NHWC", size: c.imageSize, mean: [...c.imageMean], std: [...c.imageStd], normalised: true }
  };
  const mf = manifestPath(path11.join(dir, `${stem}.onnx`));
  writeFileAtomic(mf, JSON.stringify(manifest, null, 2) + "\n");
  written.push(mf);
  return { manifest: mf, files: written };
}

// src/onnx/scorer.ts
var fs13 = __toESM(require("fs"));
var os2 = __toESM(require("os"));
var path12 = __toESM(require("path"));
var ort = __toESM(require("onnxruntime-node"));
function findManifest(ref) {
  if (!fs13.existsSync(ref)) throw new Error(`${ref}: no such file or directory`);
  if (fs13.statSync(ref).isDirectory()) {
    const found = fs13.readdirSync(ref).filter((f) => f.endsWith(".rahf.json"));
    if (found.length === 0) throw new Error(`${ref}: no *.rahf.json manifest (export the model with \`rahf export\`)`);
    if (found.length > 1) throw new Error(`${ref}: several manifests (${found.join(", ")}); pass the .onnx file`);
    return path12.join(ref, found[0]);
  }
  const mf = path12.join(path12.dirname(ref), `${path12.basename(ref).replace(/\.(onnx|rahf\.json)$/i, "")}.rahf.json`);
  if (!fs13.existsSync(mf)) throw new Error(`${ref}: no manifest ${path12.basename(mf)} beside it (export the model with \`rahf export\`)`);
  return mf;
}
function readManifest(file) {
  let m;
  try {
    m = JSON.parse(fs13.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: not a readable JSON manifest (${e.message.split("\n")[0]})`);
  }
  if (m?.format !== "rahf-onnx" || m.version !== 1) throw new Error(`${file}: not a rahf-onnx version 1 manifest`);
  return m;
}
function int64(rows) {
  const b = rows.length;
  const l = rows[0]?.length ?? 0;
  const data = new BigInt64Array(b * l);
  rows.forEach((r, i) => r.forEach((v, j) => data[i * l + j] = BigInt(v)));
  return new ort.Tensor("int64", data, [b, l]);
}
function resizeNhwc(x, b, h, w, s) {
  if (h === s && w === s) return x;
  const my = pilBilinearMatrix(h, s);
  const mx = pilBilinearMatrix(w, s);
  const rows = new Float32Array(b * s * w * 3);
  for (let n = 0; n < b; n++)
    for (let o = 0; o < s; o++)
      for (let i = 0; i < h; i++) {
        const wt = my[o * h + i];
        if (wt === 0) continue;
        const src = (n * h + i) * w * 3;
        const dst = (n * s + o) * w * 3;
        for (let k = 0; k < w * 3; k++) rows[dst + k] += wt * x[src + k];
      }
  const out = new Float32Array(b * s * s * 3);
  for (let n = 0; n < b; n++)
    for (let r = 0; r < s; r++)
      for (let o = 0; o < s; o++)
        for (let j = 0; j < w; j++) {
          const wt = mx[o * w + j];
          if (wt === 0) continue;
          const src = ((n * s + r) * w + j) * 3;
          const dst = ((n * s + r) * s + o) * 3;
          for (let c = 0; c < 3; c++) out[dst + c] += wt * rows[src + c];
        }
  return out;
}
async function greedyDecode(session, encoderHidden, encoderMask, t5, maxNewTokens) {
  const b = encoderHidden.dims[0];
  const rows = Array.from({ length: b }, () => [t5.decoder_start_token_id]);
  const done = new Array(b).fill(false);
  const feeds = { encoder_hidden_states: encoderHidden };
  if (session.inputNames.includes("encoder_attention_mask")) {
    if (!encoderMask) throw new Error("greedyDecode: the decoder graph needs encoder_attention_mask");
    feeds.encoder_attention_mask = encoderMask;
  }
  for (let step = 0; step < maxNewTokens; step++) {
    feeds.decoder_input_ids = int64(rows);
    const logits = (await session.run(feeds)).logits;
    const v = logits.dims[1];
    const data = logits.data;
    for (let r = 0; r < b; r++) {
      let tok = t5.pad_token_id;
      if (!done[r]) {
        let best = 0;
        for (let j = 1; j < v; j++) if (data[r * v + j] > data[r * v + best]) best = j;
        tok = best;
        if (tok === t5.eos_token_id) done[r] = true;
      }
      rows[r].push(tok);
    }
    logits.dispose();
    if (done.every(Boolean)) break;
  }
  return rows;
}
var OnnxScorer = class _OnnxScorer {
  constructor(dir, manifest, config, tokenizer, sessionOptions, defaults) {
    this.dir = dir;
    this.manifest = manifest;
    this.config = config;
    this.tokenizer = tokenizer;
    this.sessionOptions = sessionOptions;
    this.defaults = defaults;
  }
  dir;
  manifest;
  config;
  tokenizer;
  sessionOptions;
  defaults;
  sessions = /* @__PURE__ */ new Map();
  /** Open an exported model: its .onnx file, its manifest, or the folder holding one manifest. */
  static async create(onnxFileOrDir, opts = {}) {
    const mf = findManifest(onnxFileOrDir);
    const dir = path12.dirname(mf);
    const manifest = readManifest(mf);
    const config = rahfConfigFromJson(manifest.config, dir);
    const tokenizer = Tokenizer.fromFile(path12.join(dir, manifest.tokenizer));
    const threads = opts.threads ?? os2.cpus().length;
    if (!(Number.isInteger(threads) && threads > 0)) throw new Error(`OnnxScorer: threads must be a positive integer, got ${threads}`);
    const batchSize = opts.batchSize ?? 8;
    if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new Error(`OnnxScorer: batchSize must be a positive integer, got ${batchSize}`);
    if (opts.heatmaps && !manifest.files.heatmaps) throw new Error(`${mf}: exported without heatmaps (re-export with --heatmaps)`);
    const scorer = new _OnnxScorer(
      dir,
      manifest,
      config,
      tokenizer,
      { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all" },
      { heatmaps: opts.heatmaps ?? false, keywords: opts.keywords ?? false, batchSize }
    );
    await scorer.session(opts.heatmaps ? "heatmaps" : "scores");
    return scorer;
  }
  session(part) {
    let s = this.sessions.get(part);
    if (!s) {
      const file = this.manifest.files[part];
      if (!file) throw new Error(`${this.dir}: the export has no ${part} graph`);
      s = ort.InferenceSession.create(path12.join(this.dir, file), this.sessionOptions).catch((e) => {
        this.sessions.delete(part);
        throw new Error(`${path12.join(this.dir, file)}: onnxruntime cannot load it (${String(e.message ?? e).split("\n")[0]})`);
      });
      this.sessions.set(part, s);
    }
    return s;
  }
  /** Token ids (and mask, for masked configs) of texts, as the model tokenizes them. */
  texts(texts, feeds, ids, mask) {
    const enc = this.tokenizer.encodeBatch(texts, { maxLength: this.config.maxTextTokens });
    feeds[ids] = int64(enc.ids);
    const m = int64(enc.mask);
    if (mask) feeds[mask] = m;
    return m;
  }
  /**
   * One batch through the scores (or heatmaps) graph: normalised NHWC pixels [B, S, S, 3] and B prompts
   * → raw outputs. `encoderHidden` is filled when `caption` is asked for (from the same pass for
   * multi-head models, from the encoder graph otherwise).
   */
  async run(pixelsNorm, prompts, opts = {}) {
    const s = this.config.imageSize;
    const b = prompts.length;
    if (pixelsNorm.length !== b * s * s * 3) {
      throw new Error(`OnnxScorer: pixels hold ${pixelsNorm.length} values, expected ${b}\xD7${s}\xD7${s}\xD73 for ${b} prompts`);
    }
    const part = opts.heatmaps ? "heatmaps" : "scores";
    const sess = await this.session(part);
    const pixels = new ort.Tensor("float32", pixelsNorm, [b, s, s, 3]);
    const feeds = { pixel_values: pixels };
    let captionMask;
    for (const t of this.manifest.inputs[part]) {
      const texts = t.kind === "caption" ? prompts : prompts.map((p) => taskPrompt(this.config.augmentedPromptFormat, t.kind, t.type, p));
      const m = this.texts(texts, feeds, t.ids, t.mask);
      if (t.kind === "caption") captionMask = m;
    }
    const out = await sess.run(feeds);
    const res = { scores: {} };
    for (const t of SCORE_NAMES) res.scores[t] = out[`score_${t}`].data;
    if (opts.heatmaps) {
      res.heatmaps = {};
      for (const t of HEATMAP_NAMES) res.heatmaps[t] = out[`heatmap_${t}`].data;
    }
    if (opts.caption) {
      if (this.manifest.encoderHiddenFromScores) {
        res.encoderHidden = out.encoder_hidden;
      } else {
        const enc = await this.session("encoder");
        const ef = { pixel_values: pixels };
        for (const t of this.manifest.inputs.encoder) captionMask = this.texts(prompts, ef, t.ids, t.mask);
        res.encoderHidden = (await enc.run(ef)).encoder_hidden;
      }
      res.captionMask = captionMask ?? this.tokenMask(prompts);
    }
    return res;
  }
  tokenMask(prompts) {
    return int64(this.tokenizer.encodeBatch(prompts, { maxLength: this.config.maxTextTokens }).mask);
  }
  /**
   * Greedy keyword decoding through the decoder step graph (see {@link greedyDecode}) from the
   * caption's encoder output and its token mask.
   */
  async generateIds(encoderHidden, captionMask, maxNewTokens = 100) {
    return greedyDecode(await this.session("decoder"), encoderHidden, captionMask, this.config.t5, maxNewTokens);
  }
  /** Generated keyword ids (as RewardModel.generateKeywordIds) for normalised pixels at the model size. */
  async generateKeywordIds(pixelsNorm, prompts, maxNewTokens = 100) {
    const out = await this.run(pixelsNorm, prompts, { caption: true });
    return this.generateIds(out.encoderHidden, out.captionMask, maxNewTokens);
  }
  /** Normalised model input [n, S, S, 3] for images [start, end) of the input. */
  async pixelsFor(images, start, end, opts) {
    const { imageSize: s, imageMean: mean3, imageStd: std } = this.config;
    const n = end - start;
    if (Array.isArray(images)) {
      const out2 = new Float32Array(n * s * s * 3);
      for (let i = start; i < end; i++) out2.set(await resizeForViT(images[i], s, { mean: mean3, std }), (i - start) * s * s * 3);
      return out2;
    }
    const [h, w] = opts.size ?? [s, s];
    const per = h * w * 3;
    const slice5 = images.subarray(start * per, end * per);
    if ((opts.input ?? "pixels01") === "normalised") {
      if (h !== s || w !== s) throw new Error(`OnnxScorer: normalised input must be ${s}\xD7${s}, got ${h}\xD7${w}`);
      return slice5;
    }
    const x = resizeNhwc(slice5, n, h, w, s);
    const out = new Float32Array(n * s * s * 3);
    for (let i = 0; i < out.length; i++) out[i] = (x[i] - mean3[i % 3]) / std[i % 3];
    return out;
  }
  /**
   * Rich feedback (scores; heatmaps and misaligned keywords when asked) for images and prompts, in
   * batches: decoded RgbImages of any size (PIL-exact resize, as RewardModel.predict), or a
   * Float32Array NHWC batch (see ScoreOptions.input / size).
   */
  async score(images, prompts, opts = {}) {
    const n = prompts.length;
    if (Array.isArray(images)) {
      if (images.length !== n) throw new Error(`OnnxScorer.score: ${images.length} images but ${n} prompts`);
    } else {
      const [h, w] = opts.size ?? [this.config.imageSize, this.config.imageSize];
      if (images.length !== n * h * w * 3) {
        throw new Error(`OnnxScorer.score: pixel array holds ${images.length} values, expected ${n}\xD7${h}\xD7${w}\xD73 for ${n} prompts`);
      }
    }
    const heat = opts.heatmaps ?? this.defaults.heatmaps;
    const kw = opts.keywords ?? this.defaults.keywords;
    const batch = opts.batchSize ?? this.defaults.batchSize;
    if (!(Number.isInteger(batch) && batch > 0)) throw new Error(`OnnxScorer.score: batchSize must be a positive integer, got ${batch}`);
    if (heat && !this.manifest.files.heatmaps) throw new Error(`${this.dir}: exported without heatmaps (re-export with --heatmaps)`);
    const results = [];
    for (let start = 0; start < n; start += batch) {
      const end = Math.min(n, start + batch);
      const texts = prompts.slice(start, end);
      const px = await this.pixelsFor(images, start, end, opts);
      const out = await this.run(px, texts, { heatmaps: heat, caption: kw });
      let seqs = [];
      if (kw) {
        const ids = await this.generateIds(out.encoderHidden, out.captionMask, opts.maxNewTokens ?? 100);
        seqs = ids.map((row) => this.tokenizer.decode(row, true).trim());
      }
      const side = heat ? Math.round(Math.sqrt(out.heatmaps[HEATMAP_NAMES[0]].length / (end - start))) : 0;
      for (let i = 0; i < end - start; i++) {
        const fb = { scores: Object.fromEntries(SCORE_NAMES.map((t) => [t, out.scores[t][i]])) };
        if (heat) {
          fb.heatmaps = Object.fromEntries(
            HEATMAP_NAMES.map((t) => [t, { data: out.heatmaps[t].slice(i * side * side, (i + 1) * side * side), width: side, height: side }])
          );
        }
        if (kw) {
          fb.keywordSequence = seqs[i];
          fb.misaligned = misalignedWords(seqs[i]);
        }
        results.push(fb);
      }
    }
    return results;
  }
  /** Release the onnxruntime sessions. */
  async dispose() {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s.catch(() => void 0))?.release();
  }
};

// src/bench/onnx.ts
async function timeRuns(runs, fn) {
  await fn();
  const ts = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    ts.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  ts.sort((a, b) => a - b);
  return { median: ts[Math.floor(ts.length / 2)], min: ts[0] };
}
async function median(runs, fn, mins) {
  const t = await timeRuns(runs, fn);
  mins?.push(t.min);
  return t.median;
}
function rahfForwardFlops(model, textTokens) {
  const c = model.config;
  const v = c.vit;
  const n = gridSize(c) ** 2;
  const lv = n + 1;
  let f = 0;
  const pd = v.patch_size * v.patch_size * 3;
  f += n * pd * v.hidden_size;
  f += v.num_hidden_layers * (lv * (4 * v.hidden_size ** 2 + 2 * v.hidden_size * v.intermediate_size) + 2 * lv * lv * v.hidden_size);
  const t = c.t5;
  const nv = visualTokenCount(c);
  const l = nv + textTokens;
  const inner = t.num_heads * t.d_kv;
  f += nv * v.hidden_size * t.d_model;
  const ffn = (t.is_gated_act ? 3 : 2) * t.d_model * t.d_ff;
  f += t.num_layers * (l * (4 * t.d_model * inner + ffn) + 2 * l * l * inner);
  const g = gridSize(c);
  let cin = t.d_model;
  let head = 0;
  for (const w of c.scoreConv) {
    head += g * g * 9 * cin * w;
    cin = w;
  }
  let fin = cin * g * g;
  for (const w of [...c.scoreLinear, 1]) {
    head += fin * w;
    fin = w;
  }
  f += SCORE_NAMES.length * head;
  return 2 * f;
}
function dirSize(dir) {
  return fs14.readdirSync(dir).reduce((a, f) => a + fs14.statSync(path13.join(dir, f)).size, 0);
}
async function benchOnnx(opts = {}) {
  const preset = opts.preset ?? "paper";
  const runs = opts.runs ?? 5;
  const threads = opts.threads ?? os3.cpus().length;
  const log2 = opts.log ?? ((s) => process.stderr.write(s + "\n"));
  const tokenizer = opts.tokenizer ?? path13.resolve(__dirname, "../../test/fixtures/parity/rahf/t5/tokenizer.json");
  const withHeat = opts.heatmaps ?? true;
  const dir = opts.dir ?? fs14.mkdtempSync(path13.join(os3.tmpdir(), "rahf-onnx-bench-"));
  const prompt = "a photo of a red cat sitting on a blue sofa next to two green apples";
  try {
    const model = await RewardModel.fromPreset(preset, { tokenizer, seed: 0 });
    const textTokens = model.tokenizer.encode(prompt).length;
    const flops = rahfForwardFlops(model, textTokens);
    const t0 = process.hrtime.bigint();
    exportRahf(model, path13.join(dir, "model.onnx"), { heatmaps: withHeat, log: log2 });
    const exportS = Number(process.hrtime.bigint() - t0) / 1e9;
    if (opts.int8 ?? true) exportRahf(model, path13.join(dir, "int8", "model.onnx"), { quantize: "int8", log: log2 });
    const s = model.config.imageSize;
    writeModel(exportOnnx(model.vit, "vit"), path13.join(dir, "vit.onnx"));
    model.dispose();
    const px = (b) => {
      const x = new Float32Array(b * s * s * 3);
      for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * 0.9;
      return x;
    };
    const prompts = (b) => Array.from({ length: b }, () => prompt);
    const x1 = px(1);
    const x8 = px(8);
    const mins = [];
    const timeScorer = async (sc2) => {
      const bs1 = await median(runs, () => sc2.run(x1, prompts(1)), mins);
      const bs8 = await median(runs, () => sc2.run(x8, prompts(8)), mins);
      return { bs1, bs8 };
    };
    const load0 = os3.loadavg()[0];
    const tc = process.hrtime.bigint();
    const sc = await OnnxScorer.create(path13.join(dir, "model.onnx"), { threads });
    const sessionCreate = Number(process.hrtime.bigint() - tc) / 1e9;
    const f32 = await timeScorer(sc);
    const vit = await ort2.InferenceSession.create(path13.join(dir, "vit.onnx"), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: "all" });
    const vitFeed = { pixel_values: new ort2.Tensor("float32", x1, [1, s, s, 3]) };
    const vitTime = await timeRuns(runs, () => vit.run(vitFeed));
    await vit.release();
    log2(`ORT fp32 ViT alone (yardstick): batch 1 ${vitTime.median.toFixed(3)} s`);
    log2(`ORT fp32 scores: batch 1 ${f32.bs1.toFixed(3)} s, batch 8 ${f32.bs8.toFixed(3)} s (${(8 / f32.bs8).toFixed(2)} img/s)`);
    const figures = {
      preset,
      threads,
      runs,
      tokens: visualTokenCount(model.config) + textTokens,
      forward_gflop: flops / 1e9,
      export_s: exportS,
      forward_bs1_s: f32.bs1,
      forward_bs8_s: f32.bs8,
      forward_bs8_img_per_s: 8 / f32.bs8,
      forward_bs1_gflops: flops / 1e9 / f32.bs1,
      model_mb: dirSize(dir) / 2 ** 20,
      fastest_s: {},
      session_create_s: sessionCreate,
      vit_bs1_s: vitTime.median,
      load_avg: [load0, 0]
    };
    figures.fastest_s.forward_bs1_s = mins[0];
    figures.fastest_s.forward_bs8_s = mins[1];
    if (withHeat) {
      figures.forward_heatmaps_bs1_s = await median(runs, () => sc.run(x1, prompts(1), { heatmaps: true }), mins);
      figures.fastest_s.forward_heatmaps_bs1_s = mins[2];
      log2(`ORT fp32 scores + heatmaps: batch 1 ${figures.forward_heatmaps_bs1_s.toFixed(3)} s`);
    }
    const ref = await sc.run(x8, prompts(8));
    await sc.dispose();
    if (opts.int8 ?? true) {
      const q = await OnnxScorer.create(path13.join(dir, "int8", "model.onnx"), { threads });
      const t = await timeScorer(q);
      const got = await q.run(x8, prompts(8));
      let max = 0;
      let sum4 = 0;
      let cnt = 0;
      for (const k of SCORE_NAMES) {
        for (let i = 0; i < 8; i++) {
          const d = Math.abs(got.scores[k][i] - ref.scores[k][i]);
          max = Math.max(max, d);
          sum4 += d;
          cnt++;
        }
      }
      await q.dispose();
      figures.fastest_s.int8_forward_bs1_s = mins[mins.length - 2];
      figures.fastest_s.int8_forward_bs8_s = mins[mins.length - 1];
      figures.int8 = { forward_bs1_s: t.bs1, forward_bs8_img_per_s: 8 / t.bs8, max_abs_score_diff: max, mean_abs_score_diff: sum4 / cnt };
      log2(`ORT int8 scores: batch 1 ${t.bs1.toFixed(3)} s, batch 8 ${(8 / t.bs8).toFixed(2)} img/s, |\u0394score| max ${max.toExponential(2)}`);
    }
    figures.load_avg[1] = os3.loadavg()[0];
    return figures;
  } finally {
    if (!opts.dir) fs14.rmSync(dir, { recursive: true, force: true });
  }
}

// .scratch/bench.ts
(async () => {
  await initBackend();
  const f = await benchOnnx({ preset: process.argv[2], tokenizer: "test/fixtures/parity/rahf/t5/tokenizer.json", runs: Number(process.argv[3] ?? 5), dir: process.argv[5], int8: process.argv[4] !== "noint8" });
  console.log(JSON.stringify(f, null, 1));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
