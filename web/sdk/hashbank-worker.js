// The hashing worker of the browser SDK (hashbank.js): loads the WebAssembly image core once (and the video
// core when the first video comes) and hashes the files posted to it, one at a time. It makes no network
// request but for the cores' own files.
import createCore from './hashbank_core.mjs';
import { callCore, sniffCore, HashbankError } from './hashbank.js';

const corePromise = createCore();
let videoCore = null;

self.onmessage = async (e) => {
  const { id, op, bytes, options } = e.data;
  try {
    const core = await corePromise;
    if (op === 'limits') {
      self.postMessage({ id, result: JSON.parse(core.UTF8ToString(core._hashbank_limits_json())) });
    } else if (op === 'sniff') {
      self.postMessage({ id, result: sniffCore(core, bytes) });
    } else if (op === 'hash' && options.video) {
      if (!videoCore) videoCore = import('./hashbank_video_core.mjs').then((m) => m.default());
      self.postMessage({ id, result: callCore(await videoCore, bytes, options) });
    } else if (op === 'hash') {
      self.postMessage({ id, result: callCore(core, bytes, options) });
    } else {
      throw new HashbankError('INVALID_ARGUMENT', 'unknown request');
    }
  } catch (err) {
    if (op === 'hash' && options && options.video && !(err instanceof HashbankError)) videoCore = null;  // retry the load
    const error = err instanceof HashbankError ? { code: err.code, message: err.message }
                                               : { code: 'INTERNAL', message: String(err && err.message || err) };
    self.postMessage({ id, error });
  }
};
