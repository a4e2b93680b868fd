#!/usr/bin/env bash
# Dev tool (not a test): builds the GPU check for one run on the lent GPU machine.
#   1. packs Node, Dawn (`webgpu`) and the Vulkan loaders into <repo>/.gpu-carry (git-ignored) with the
#      workplace script, unless that is already done. Its path comes from GPU_CARRY_SCRIPT, default
#      /work/shared/device/prepare-gpu-carry.sh (the repo never reads shared/ at run or test time);
#   2. bundles src/bench/gpu-check/main.ts with esbuild into .gpu-carry/app/gpu-check.js: everything but Dawn,
#      which run.sh puts on NODE_PATH, and the native/wasm backends the check does not use; sharp
#      (native, only for image files) is replaced by src/bench/gpu-check/sharp-unavailable.ts.
# The bundle is left xz-compressed (.gpu-carry/app/gpu-check.js.xz). On the GPU machine, from the
# repo root, with carry [".gpu-carry"]:
#   python3 -c 'import lzma,sys; open(sys.argv[2],"wb").write(lzma.open(sys.argv[1]).read())' \
#     .gpu-carry/app/gpu-check.js.xz /tmp/gpu-check.js && bash .gpu-carry/run.sh /tmp/gpu-check.js
# Dry runs here (no GPU, after `xz -dk .gpu-carry/app/gpu-check.js.xz`): `node .gpu-carry/app/gpu-check.js`
# stops at "no adapter";
# GPU_CHECK_BACKEND=cpu runs every step with cpu in place of webgpu. The real WGSL kernels (slowly) on
# Dawn's OpenGL ES backend with Mesa's llvmpipe, from the repo root, with a decompressed dawn.node:
#   RAHF_DAWN_OPTIONS=backend=opengles RAHF_WEBGPU_FEATURE_LEVEL=compatibility EGL_PLATFORM=surfaceless \
#   GPU_CHECK_PRESET=tiny GPU_CHECK_TRAIN_BATCH=1 NODE_PATH=packages/reward/node_modules node <copy of gpu-check.js>
set -euo pipefail
pkg=$(cd "$(dirname "$0")/.." && pwd)
root=$(git -C "$pkg" rev-parse --show-toplevel)
carry="$root/.gpu-carry"
if [ ! -x "$carry/run.sh" ] || [ ! -d "$carry/app/node_modules/webgpu" ]; then
  script=${GPU_CARRY_SCRIPT:-/work/shared/device/prepare-gpu-carry.sh}
  [ -f "$script" ] || { echo "build-gpu-check: $script not found (set GPU_CARRY_SCRIPT)" >&2; exit 1; }
  (cd "$root" && bash "$script")
fi
cd "$pkg"
./node_modules/.bin/esbuild src/bench/gpu-check/main.ts --bundle --platform=node --target=node20 --format=cjs \
  --external:webgpu --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu \
  --external:@tensorflow/tfjs-backend-wasm --alias:sharp=./src/bench/gpu-check/sharp-unavailable.ts \
  --minify --keep-names --log-level=warning --legal-comments=none --outfile="$carry/app/gpu-check.js"
# The repo's tracked files plus the carry must stay under the device tool's 64 MiB: ship the bundle
# xz-compressed (2.9 MB → 0.5 MB) and unpack it there (python3's lzma, as run.sh does for Dawn).
xz -9 -f "$carry/app/gpu-check.js"
echo "bundle: $(du -h "$carry/app/gpu-check.js.xz" | cut -f1) (xz)  carry: $(du -sh "$carry" | cut -f1)"
