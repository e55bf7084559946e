// The browser SDK against the C++ hasher, in Debian's chromium and in Node.js: for every image of the test set
// (the PDQ reference's images and the hard cases made here: CMYK, alpha, grey, 16-bit, palette, EXIF
// orientation, progressive, tiny, panorama, truncated, unsupported), hash() gives exactly what
// `hashbank hash --json --dihedral` prints (or the same error message); no request is made while hashing; the
// page's SDK files carry a strict Content-Security-Policy; an oversized file is refused with the C++ message.
//
// Usage: node sdk_parity.mjs '{"url": "https://127.0.0.1:PORT", "bin": ".../hashbank", "images": [...],
//                              "work": "<dir for generated images and screenshots>"}'
import fs from 'node:fs';
import path from 'node:path';
import { launch, cliHash, makeImage, check, finish, sameJson } from './common.mjs';

const cfg = JSON.parse(process.argv[2]);
const work = cfg.work;
fs.mkdirSync(work, { recursive: true });

// The hard cases, made with ImageMagick from one of the reference images.
const src = cfg.images[0];
const made = {
  'cmyk.jpg': ['-colorspace', 'CMYK', '-quality', '90'],
  'alpha.png': ['-alpha', 'set', '-channel', 'A', '-evaluate', 'set', '50%', '+channel'],
  'grey.jpg': ['-colorspace', 'Gray'],
  'grey.png': ['-colorspace', 'Gray'],
  'deep16.png': ['-depth', '16'],
  'palette.png': ['-colors', '64', '-type', 'Palette'],
  'exif-rotated.jpg': ['-orient', 'RightTop'],
  'progressive.jpg': ['-interlace', 'Plane'],
  'tiny.png': ['-resize', '3x2!'],
  'panorama.jpg': ['-resize', '2400x180!'],
  'unsupported.gif': [],
};
const images = [...cfg.images];
for (const [name, args] of Object.entries(made)) {
  const out = path.join(work, name);
  makeImage([src, ...args, out]);
  images.push(out);
}
const truncated = path.join(work, 'truncated.jpg');
fs.writeFileSync(truncated, fs.readFileSync(src).subarray(0, 4000));
images.push(truncated);

const expected = images.map((f) => cliHash(cfg.bin, f));
check(expected.filter((e) => !e.error).length >= images.length - 2, 'the CLI hashes all but the two broken files');

// --- In the browser -------------------------------------------------------------------------------------------
const { browser, context } = await launch();
const page = await context.newPage();
const requests = [];
page.on('request', (r) => requests.push(r));
const response = await page.goto(cfg.url + '/');
const csp = response.headers()['content-security-policy'] || '';
check(csp.includes("default-src 'none'") && csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'),
      'the page is served with a strict Content-Security-Policy');
const sdk = await context.request.get(cfg.url + '/sdk/hashbank.js');
check(sdk.ok() && (sdk.headers()['content-type'] || '').startsWith('text/javascript'), 'GET /sdk/hashbank.js serves the module');

await page.evaluate(async () => { const m = await import('/sdk/hashbank.js'); await m.ready(); window.hb = m; });
const before = requests.length;
const results = [];
for (const f of images) {
  const bytes = fs.readFileSync(f).toString('base64');  // page.evaluate's arguments are JSON: base64 is compact
  const t0 = Date.now();
  const r = await page.evaluate(async (b) => {
    const u = Uint8Array.from(atob(b), (c) => c.charCodeAt(0));
    try { return await window.hb.hash(u, { dihedral: true }); } catch (e) { return { error: e.message, code: e.code }; }
  }, bytes);
  results.push({ r, ms: Date.now() - t0 });
}
check(requests.length === before, `no network request while hashing ${images.length} files (saw ${requests.length - before})`);
images.forEach((f, i) => {
  const got = { ...results[i].r };
  delete got.code;
  check(sameJson(got, expected[i]), `browser hash of ${path.basename(f)} equals the C++ hasher's` +
        (sameJson(got, expected[i]) ? '' : `\n     browser: ${JSON.stringify(got).slice(0, 300)}\n     cli:     ${JSON.stringify(expected[i]).slice(0, 300)}`));
});
// A File keeps its name as "path".
const named = await page.evaluate(async (b) => (await window.hb.hash(
  new File([Uint8Array.from(atob(b), (c) => c.charCodeAt(0))], 'photo.jpg'))).path, fs.readFileSync(src).toString('base64'));
check(named === 'photo.jpg', 'a File\'s name comes back as path');
// Oversized: refused before reading, with the C++ hasher's message (a sparse 65 MiB file for the CLI).
const big = path.join(work, 'big.jpg');
fs.writeFileSync(big, Buffer.alloc(0));
fs.truncateSync(big, 65 * 1024 * 1024);
const bigCli = cliHash(cfg.bin, big);
const bigSdk = await page.evaluate(async () => {
  try { await window.hb.hash(new Blob([new Uint8Array(65 * 1024 * 1024)])); return {}; } catch (e) { return { error: e.message, code: e.code }; }
});
check(bigSdk.code === 'RESOURCE_EXHAUSTED' && bigSdk.error === bigCli.error,
      `an oversized file is refused with the C++ message (${bigSdk.error})`);
fs.rmSync(big);
await page.screenshot({ path: path.join(work, 'sdk-page.png'), fullPage: true });

// Speed: ~1 MP JPEGs in this browser (reported, not asserted).
const mp = path.join(work, 'onemp.jpg');
makeImage([src, '-resize', '1155x866!', '-quality', '90', mp]);
const speed = await page.evaluate(async (b) => {
  const bytes = Uint8Array.from(atob(b), (c) => c.charCodeAt(0));
  await window.hb.hash(bytes);
  const n = 20;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await window.hb.hash(bytes);
  return n / ((performance.now() - t0) / 1000);
}, fs.readFileSync(mp).toString('base64'));
console.log(`speed: ${speed.toFixed(1)} images/s for a 1 MP JPEG in chromium (one worker)`);
await browser.close();

// --- In Node.js: the same four files, downloaded from the node ------------------------------------------------
const sdkDir = path.join(work, 'sdk');
fs.mkdirSync(sdkDir, { recursive: true });
const { context: c2, browser: b2 } = await launch();
for (const name of ['hashbank.js', 'hashbank-worker.js', 'hashbank_core.mjs', 'hashbank_core.wasm']) {
  const r = await c2.request.get(`${cfg.url}/sdk/${name}`);
  fs.writeFileSync(path.join(sdkDir, name), await r.body());
}
await b2.close();
const nodeSdk = await import(path.join(sdkDir, 'hashbank.js'));
let nodeSame = 0;
for (let i = 0; i < images.length; i++) {
  let got;
  try { got = await nodeSdk.hash(fs.readFileSync(images[i]), { dihedral: true }); } catch (e) { got = { error: e.message }; }
  if (sameJson(got, expected[i])) nodeSame++;
  else console.log(`     node.js differs on ${path.basename(images[i])}: ${JSON.stringify(got).slice(0, 200)}`);
}
check(nodeSame === images.length, `Node.js hash() equals the C++ hasher's on ${nodeSame} of ${images.length} files`);
finish();
