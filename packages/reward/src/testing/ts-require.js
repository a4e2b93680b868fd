// `node -r ./ts-require.js file.ts`: run this package's TypeScript sources in a plain Node process (what a
// test needs when the code under test forks a worker from src/, e.g. onnx/export-cache.ts, or when a test
// starts real processes). Each .ts file is transpiled by esbuild (a dev dependency) as it is required;
// types are not checked (jest's ts-jest does that for the tests themselves).
'use strict';
const fs = require('fs');
const esbuild = require('esbuild');

require.extensions['.ts'] = function (module, filename) {
  const src = fs.readFileSync(filename, 'utf8');
  const { code } = esbuild.transformSync(src, { loader: 'ts', format: 'cjs', target: 'node20', sourcefile: filename, sourcemap: 'inline' });
  module._compile(code, filename);
};
