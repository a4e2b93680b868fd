// Jest runs tests in a vm context whose typed-array constructors differ from the host's, so native
// addons (onnxruntime-node) and `instanceof Float32Array` checks in libraries reject test arrays.
// Sharing the host's constructors makes the test context behave like a plain Node process.
const NodeEnvironment = require('jest-environment-node').TestEnvironment;

const SHARED = [
  'ArrayBuffer', 'SharedArrayBuffer', 'DataView', 'Uint8Array', 'Uint8ClampedArray', 'Int8Array',
  'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', 'Float32Array', 'Float64Array',
  'BigInt64Array', 'BigUint64Array', 'Buffer', 'TextEncoder', 'TextDecoder',
];

class HostTypedArrayEnvironment extends NodeEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) if (globalThis[name]) this.global[name] = globalThis[name];
  }
}
module.exports = HostTypedArrayEnvironment;
