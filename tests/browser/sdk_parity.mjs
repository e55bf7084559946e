// The browser SDK against the C++ hasher, in Debian's chromium and in Node.js: for every image of the test set
// (the PDQ reference's images and the hard cases made here: CMYK, alpha, grey, 16-bit, palette, EXIF
// orientation, progressive, tiny, panorama, truncated, unsupported) and every video (the vPDQ reference's
// samples, and clips made here in each codec and container the node takes but AV1), hash() gives exactly what
// `hashbank hash --json` prints (or the same error message); no request is made while hashing; the
// page's SDK files carry a strict Content-Security-Policy; an oversized file is refused with the C++ message.
//
// Usage: node sdk_parity.mjs '{"url": "https://127.0.0.1:PORT", "bin": ".../hashbank", "images": [...],
//                              "videos": [...], "work": "<dir for generated files and screenshots>"}'
import fs from 'node:fs';
import path from 'node:path';
import { launch, cliHash, makeImage, makeClip, check, finish, sameJson } from './common.mjs';

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

// Videos: the reference's two sample videos and clips in every codec and container the node takes (AV1 aside),
// made by ffmpeg; hashed at the CLI's default sampling (one frame a second) and, for one, every frame.
const videos = [...(cfg.videos || [])];
const clips = {
  'h264.mp4': ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'],
  'h264-aac.mkv': ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest'],
  'hevc.mp4': ['-c:v', 'libx265', '-pix_fmt', 'yuv420p', '-x265-params', 'log-level=error'],
  'vp9.webm': ['-c:v', 'libvpx-vp9', '-b:v', '300k'],
  'vp8-vorbis.webm': ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-c:v', 'libvpx', '-b:v', '300k', '-c:a', 'libvorbis', '-shortest'],
  'mpeg4.avi': ['-c:v', 'mpeg4', '-q:v', '4'],
  'mpeg2.ts': ['-c:v', 'mpeg2video', '-q:v', '4'],
  'mpeg1.mpg': ['-c:v', 'mpeg1video', '-q:v', '4'],
  'theora.ogv': ['-c:v', 'libtheora', '-q:v', '6'],
  'flv1.flv': ['-c:v', 'flv1'],
  'mjpeg.mov': ['-c:v', 'mjpeg', '-q:v', '4'],
};
for (const [name, args] of Object.entries(clips)) {
  const out = path.join(work, name);
  try { makeClip(out, args); videos.push(out); } catch (e) { console.log(`     (no ${name}: this ffmpeg cannot make it)`); }
}
const videoCases = videos.map((f) => ({ file: f, interval: 1, want: cliHash(cfg.bin, f) }));
if (videos.length > 0) videoCases.push({ file: videos[0], interval: 0, want: cliHash(cfg.bin, videos[0], ['--frame-interval', '0']) });
check(videoCases.every((c) => !c.want.error && c.want.type === 'video' && c.want.vpdq.length > 0),
      `the CLI hashes all ${videoCases.length} video cases`);
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

// Videos in the browser: the video core is fetched on the first one, and nothing while hashing after that.
await page.evaluate(async (b) => window.hb.hash(Uint8Array.from(atob(b), (c) => c.charCodeAt(0))),
                    fs.readFileSync(videos[0]).toString('base64'));
const beforeVideos = requests.length;
for (const c of videoCases) {
  const t0 = Date.now();
  const got = await page.evaluate(async ([b, interval]) => {
    try { return await window.hb.hash(Uint8Array.from(atob(b), (x) => x.charCodeAt(0)), { frameInterval: interval }); }
    catch (e) { return { error: e.message }; }
  }, [fs.readFileSync(c.file).toString('base64'), c.interval]);
  c.ms = Date.now() - t0;
  if (c.interval === 0) console.log(`speed: ${path.basename(c.file)}, every frame (${c.want.vpdq.length}), in ${c.ms} ms in chromium`);
  const same = sameJson(got, c.want);
  check(same, `browser vPDQ of ${path.basename(c.file)} (every ${c.interval || 'frame'}${c.interval ? ' s' : ''}) equals the C++ hasher's` +
        (same ? ` (${c.want.vpdq.length} frames)` : `\n     browser: ${JSON.stringify(got).slice(0, 400)}\n     cli:     ${JSON.stringify(c.want).slice(0, 400)}`));
}
check(requests.length === beforeVideos, `no network request while hashing ${videoCases.length} videos`);

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
for (const name of ['hashbank.js', 'hashbank-worker.js', 'hashbank_core.mjs', 'hashbank_core.wasm',
                    'hashbank_video_core.mjs', 'hashbank_video_core.wasm']) {
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
let nodeVideos = 0;
for (const c of videoCases) {
  let got;
  try { got = await nodeSdk.hash(fs.readFileSync(c.file), { frameInterval: c.interval }); } catch (e) { got = { error: e.message }; }
  if (sameJson(got, c.want)) nodeVideos++;
  else console.log(`     node.js differs on ${path.basename(c.file)}: ${JSON.stringify(got).slice(0, 200)}`);
}
check(nodeVideos === videoCases.length, `Node.js vPDQ equals the C++ hasher's on ${nodeVideos} of ${videoCases.length} video cases`);
finish();
