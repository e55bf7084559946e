// hashbank browser SDK: hash images on the user's own device, bit-identical to `hashbank hash --json`.
//
//   import { hash } from '/sdk/hashbank.js';
//   const h = await hash(file);              // File, Blob, ArrayBuffer or Uint8Array
//   // an image: { path, pdq, quality, md5, sha256, width, height, format, robust?, dihedral? }
//   // a video:  { path, type: "video", md5, sha256, width, height, codec, frame_rate, duration,
//   //             seconds_per_frame, vpdq: [{ frame, quality, pdq, timestamp }], vpdq_keyframes?: [{ timestamp, robust }] }
//
// The hashing runs the node's own C++ hashing code compiled to WebAssembly (web/wasm/), in a Web Worker in
// browsers (the page stays responsive) and in process under Node.js. Nothing is sent anywhere: the only network
// requests this module makes are for its own files (hashbank-worker.js, hashbank_core.mjs/.wasm), once, on the
// first call or on ready(); the video core (hashbank_video_core.mjs/.wasm, FFmpeg's decoders, 4.5 MB) only when
// the first video is hashed. Errors are HashbankError with the C++ hasher's code and message.

export class HashbankError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'HashbankError';
    this.code = code;  // INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL
  }
}

const isNode = typeof process === 'object' && process !== null && typeof process.versions === 'object' &&
               typeof process.versions.node === 'string' && typeof window === 'undefined';

let backend = null;  // a promise of { limits, sniff(head), call(bytes, options) -> Promise<object>, close() }

async function nodeBackend() {
  const fs = await import('node:fs/promises');
  const load = async (name) => {
    const { default: create } = await import(new URL(`./${name}.mjs`, import.meta.url).href);
    return create({ wasmBinary: await fs.readFile(new URL(`./${name}.wasm`, import.meta.url)) });
  };
  const core = await load('hashbank_core');
  let videoCore = null;
  const limits = JSON.parse(core.UTF8ToString(core._hashbank_limits_json()));
  return {
    limits,
    async sniff(head) { return sniffCore(core, head); },
    async call(bytes, options) {
      if (!options.video) return callCore(core, bytes, options);
      if (!videoCore) videoCore = load('hashbank_video_core');
      return callCore(await videoCore, bytes, options);
    },
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
    sniff(head) { return request({ op: 'sniff', bytes: head }, [head.buffer]); },
    call(bytes, options) { return request({ op: 'hash', bytes, options }, [bytes.buffer]); },
    close() { worker.terminate(); },
  }));
}

function withBytes(core, bytes, fn) {
  const ptr = core._malloc(Math.max(1, bytes.length));
  if (!ptr) throw new HashbankError('RESOURCE_EXHAUSTED', 'out of memory for a file of ' + bytes.length + ' bytes');
  try {
    core.HEAPU8.set(bytes, ptr);
    return fn(ptr);
  } finally {
    core._free(ptr);
  }
}

// Whether the first bytes of a file are a video's (the image core's LooksLikeVideo). Shared with the worker.
export function sniffCore(core, head) {
  return withBytes(core, head, (ptr) => core._hashbank_looks_like_video(ptr, head.length) === 1);
}

// Runs a core on `bytes` (a Uint8Array) in this thread: the image core, or the video core when options.video.
// Shared with hashbank-worker.js.
export function callCore(core, bytes, options) {
  const out = JSON.parse(withBytes(core, bytes, (ptr) => core.UTF8ToString(options.video
    ? core._hashbank_hash_video(ptr, bytes.length, options.frameInterval)
    : core._hashbank_hash(ptr, bytes.length, options.dihedral ? 1 : 0))));
  if (out.error) throw new HashbankError(out.error.code, out.error.message);
  return out;
}

// Loads the hashing core (worker and WebAssembly) now rather than on the first hash().
export function ready() {
  if (!backend) {
    backend = isNode ? nodeBackend() : workerBackend();
    backend.catch(() => { backend = null; });
  }
  return backend.then(() => undefined);
}

// The limits the hashers apply: { max_file_bytes, max_pixels, max_video_file_bytes } (the C++ defaults).
export async function limits() {
  await ready();
  return { ...(await backend).limits };
}

// Hashes one image or video file. options.dihedral: also PDQ of an image's 8 rotations and mirrors;
// options.frameInterval: seconds between a video's hashed frames (default 1, as `hashbank hash`; 0 = every frame).
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
  const frameInterval = options.frameInterval === undefined ? 1 : Number(options.frameInterval);
  if (!(frameInterval >= 0 && frameInterval <= 3600)) throw new TypeError('frameInterval: seconds, 0 to 3600');
  // Image or video, by the first bytes (as `hashbank hash`); then the C++ hasher's own refusal of an oversized
  // file, before the rest is read or copied.
  const slice = (from, to) => {
    if (typeof Blob !== 'undefined' && input instanceof Blob) return input.slice(from, to).arrayBuffer().then((x) => new Uint8Array(x));
    if (input instanceof ArrayBuffer) return Promise.resolve(new Uint8Array(input.slice(from, to)));
    return Promise.resolve(new Uint8Array(input.buffer.slice(input.byteOffset + from, input.byteOffset + Math.min(to, input.byteLength))));
  };
  const video = await b.sniff(await slice(0, 512));
  const limit = video ? b.limits.max_video_file_bytes : b.limits.max_file_bytes;
  if (size > limit) throw new HashbankError('RESOURCE_EXHAUSTED', `file is ${size} bytes, over the limit of ${limit}`);
  const bytes = await slice(0, size);
  const result = await b.call(bytes, { video, dihedral: !!options.dihedral, frameInterval });
  return name === undefined ? result : { path: name, ...result };
}

// Stops the worker (browsers); a later hash() starts a new one.
export async function close() {
  if (!backend) return;
  const b = await backend.catch(() => null);
  backend = null;
  if (b) b.close();
}
