// The hashing worker of the browser SDK (hashbank.js): loads the WebAssembly core once and hashes the files
// posted to it, one at a time. It makes no network request but for the core's own two files.
import createCore from './hashbank_core.mjs';
import { callCore, HashbankError } from './hashbank.js';

const corePromise = createCore();

self.onmessage = async (e) => {
  const { id, op, bytes, dihedral } = e.data;
  try {
    const core = await corePromise;
    if (op === 'limits') {
      self.postMessage({ id, result: JSON.parse(core.UTF8ToString(core._hashbank_limits_json())) });
    } else if (op === 'hash') {
      self.postMessage({ id, result: callCore(core, bytes, dihedral) });
    } else {
      throw new HashbankError('INVALID_ARGUMENT', 'unknown request');
    }
  } catch (err) {
    const error = err instanceof HashbankError ? { code: err.code, message: err.message }
                                               : { code: 'INTERNAL', message: String(err && err.message || err) };
    self.postMessage({ id, error });
  }
};
