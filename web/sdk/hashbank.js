// hashbank browser SDK: hash images on the user's own device, bit-identical to `hashbank hash --json`.
//
//   import { hash } from '/sdk/hashbank.js';
//   const h = await hash(file);              // File, Blob, ArrayBuffer or Uint8Array
//   // h = { path, pdq, quality, md5, sha256, width, height, format, robust?, dihedral? }
//
// The hashing runs the node's own C++ hashing code compiled to WebAssembly (web/wasm/), in a Web Worker in
// browsers (the page stays responsive) and in process under Node.js. Nothing is sent anywhere: the only network
// requests this module makes are for its own files (hashbank-worker.js, hashbank_core.mjs, hashbank_core.wasm),
// once, on the first call or on ready(). Errors are HashbankError with the C++ hasher's code and message.
//
// Videos are not hashed by the SDK (the node's video decoder is FFmpeg, which is not compiled to WebAssembly):
// they fail with the same error the image hasher gives for a file that is not JPEG or PNG.

export class HashbankError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'HashbankError';
    this.code = code;  // INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL
  }
}

const isNode = typeof process === 'object' && process !== null && typeof process.versions === 'object' &&
               typeof process.versions.node === 'string' && typeof window === 'undefined';

let backend = null;  // a promise of { call(bytes, dihedral) -> Promise<object>, limits, close() }

async function nodeBackend() {
  const fs = await import('node:fs/promises');
  const { default: createCore } = await import(new URL('./hashbank_core.mjs', import.meta.url).href);
  const wasmBinary = await fs.readFile(new URL('./hashbank_core.wasm', import.meta.url));
  const core = await createCore({ wasmBinary });
  const limits = JSON.parse(core.UTF8ToString(core._hashbank_limits_json()));
  return {
    limits,
    async call(bytes, dihedral) { return callCore(core, bytes, dihedral); },
    close() {},
  };
}

function workerBackend() {
  const worker = new Worker(new URL('./hashbank-worker.js', import.meta.url), { type: 'module', name: 'hashbank' });
  const pending = new Map();
  let next = 1;
  let failed = null;
  const request = (message, transfer) => new Promise((resolve, reject) => {
    if (failed) { reject(failed); return; }
    const id = next++;
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, ...message }, transfer || []);
  });
  worker.onmessage = (e) => {
    const { id, result, error } = e.data;
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    if (error) p.reject(new HashbankError(error.code, error.message));
    else p.resolve(result);
  };
  worker.onerror = (e) => {
    failed = new HashbankError('INTERNAL', 'the hashing worker failed to start: ' + (e.message || 'unknown error'));
    for (const p of pending.values()) p.reject(failed);
    pending.clear();
  };
  return request({ op: 'limits' }).then((limits) => ({
    limits,
    call(bytes, dihedral) { return request({ op: 'hash', bytes, dihedral }, [bytes.buffer]); },
    close() { worker.terminate(); },
  }));
}

// Runs the core on `bytes` (a Uint8Array) in this thread. Shared with hashbank-worker.js.
export function callCore(core, bytes, dihedral) {
  const ptr = core._malloc(Math.max(1, bytes.length));
  if (!ptr) throw new HashbankError('RESOURCE_EXHAUSTED', 'out of memory for a file of ' + bytes.length + ' bytes');
  try {
    core.HEAPU8.set(bytes, ptr);
    const out = JSON.parse(core.UTF8ToString(core._hashbank_hash(ptr, bytes.length, dihedral ? 1 : 0)));
    if (out.error) throw new HashbankError(out.error.code, out.error.message);
    return out;
  } finally {
    core._free(ptr);
  }
}

// Loads the hashing core (worker and WebAssembly) now rather than on the first hash().
export function ready() {
  if (!backend) {
    backend = isNode ? nodeBackend() : workerBackend();
    backend.catch(() => { backend = null; });
  }
  return backend.then(() => undefined);
}

// The limits the hasher applies: { max_file_bytes, max_pixels } (the C++ hasher's defaults).
export async function limits() {
  await ready();
  return { ...(await backend).limits };
}

// Hashes one image file. options.dihedral: also PDQ of the 8 rotations and mirrors.
export async function hash(input, options = {}) {
  await ready();
  const b = await backend;
  let name;
  let size;
  if (typeof Blob !== 'undefined' && input instanceof Blob) {
    size = input.size;
    if (typeof input.name === 'string') name = input.name;
  } else if (input instanceof ArrayBuffer) {
    size = input.byteLength;
  } else if (ArrayBuffer.isView(input)) {
    size = input.byteLength;
  } else {
    throw new TypeError('hash() takes a Blob, File, ArrayBuffer or Uint8Array');
  }
  // The C++ hasher's own refusal, before anything is read or copied.
  if (size > b.limits.max_file_bytes) {
    throw new HashbankError('RESOURCE_EXHAUSTED', `file is ${size} bytes, over the limit of ${b.limits.max_file_bytes}`);
  }
  let bytes;
  if (typeof Blob !== 'undefined' && input instanceof Blob) bytes = new Uint8Array(await input.arrayBuffer());
  else if (input instanceof ArrayBuffer) bytes = new Uint8Array(input.slice(0));
  else bytes = new Uint8Array(input.buffer.slice(input.byteOffset, input.byteOffset + input.byteLength));
  const result = await b.call(bytes, !!options.dihedral);
  return name === undefined ? result : { path: name, ...result };
}

// Stops the worker (browsers); a later hash() starts a new one.
export async function close() {
  if (!backend) return;
  const b = await backend.catch(() => null);
  backend = null;
  if (b) b.close();
}
