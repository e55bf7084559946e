// The case page and the dashboard in Debian's chromium, against a real three-node federation started by the
// C++ harness (tests/integration/federation_test.cc, BrowserCaseFlow...): choose photos, see them hashed with
// local thumbnails, submit, note the case number and PIN; no request carries image bytes; the signals match at
// node C; reopen the page, see the status (members holding the hashes), withdraw the whole case, see the
// signals stop matching at C; a wrong PIN is refused and the case locks after pin_attempts; the dashboard
// shows an origin suspended from it. Screenshots of each page go to `work` (not committed).
//
// Usage: node case_flow.mjs '{"a_url", "c_url", "a_admin", "c_query", "images": [...], "work", "pin_attempts"}'
import fs from 'node:fs';
import path from 'node:path';
import { launch, check, finish } from './common.mjs';

const cfg = JSON.parse(process.argv[2]);
fs.mkdirSync(cfg.work, { recursive: true });
const shot = (page, name) => page.screenshot({ path: path.join(cfg.work, name + '.png'), fullPage: true });
const { browser, context } = await launch();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every request the pages make, with its body: none may carry a slice of any image.
const bodies = [];
context.on('request', (r) => bodies.push({ url: r.url(), body: r.postDataBuffer() }));
const windows = cfg.images.map((f) => {
  const b = fs.readFileSync(f);
  return [b.subarray(Math.floor(b.length / 2), Math.floor(b.length / 2) + 32), b.subarray(200, 232)];
});

async function pdqAtC(hex) {
  const r = await context.request.post(cfg.c_url + '/v1/match', {
    headers: { Authorization: 'Bearer ' + cfg.c_query, 'Content-Type': 'application/json' },
    data: { pdq: hex, max_distance: 0 },
  });
  const j = await r.json();
  return (j.matches || []).length;
}
async function until(what, fn, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > end) { console.log('timed out: ' + what); return false; }
    await sleep(250);
  }
}

// --- Open a case ----------------------------------------------------------------------------------------------
const page = await context.newPage();
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
await page.goto(cfg.a_url + '/');
await page.setInputFiles('#files', cfg.images);
check(await until('hashing', async () => (await page.textContent('#hash-status')).includes(`${cfg.images.length} of ${cfg.images.length} files ready`)),
      'every chosen photo is hashed on the page');
const thumbs = await page.$$eval('#file-list img, #file-list video', (els) => els.map((e) => e.src));
check(thumbs.length === cfg.images.length && thumbs.every((s) => s.startsWith('blob:')), 'thumbnails are local blob: URLs');
await shot(page, 'case-page-hashed');
await page.fill('#message', 'please help');
const created = page.waitForResponse((r) => r.url().endsWith('/v1/cases') && r.request().method() === 'POST');
await page.click('#submit');
const signalIds = (await (await created).json()).signals;
await page.waitForSelector('#receipt:not([hidden])', { timeout: 30000 });
const caseNumber = (await page.textContent('#case-number')).trim();
const pin = (await page.textContent('#case-pin')).trim();
check(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/.test(caseNumber) && /^[0-9]{8}$/.test(pin), `a case number and a PIN are shown (${caseNumber})`);
check((await page.textContent('#receipt')).includes('Write this down'), 'the page says to write them down');
await shot(page, 'case-page-receipt');

let leaked = 0;
for (const { url, body } of bodies) {
  if (!body) continue;
  for (const ws of windows) for (const w of ws) if (body.includes(w)) { leaked++; console.log('     image bytes in ' + url); }
}
check(bodies.some((b) => b.url.endsWith('/v1/cases')) && leaked === 0, 'no request carries image bytes');

// The submitted PDQ hashes (from the request the page sent) match at C once the federation has synced.
const sent = bodies.find((b) => b.url.endsWith('/v1/cases'));
const hashes = JSON.parse(sent.body.toString()).hashes;
check(hashes.every((h) => Object.keys(h).every((k) => ['pdq', 'quality', 'md5', 'sha256', 'robust', 'vpdq', 'duration'].includes(k))),
      'the page sends fingerprints only');
check(hashes.some((h) => Array.isArray(h.vpdq) && h.vpdq.length > 0), 'a video is submitted as its vPDQ frames');
check(await until('match at C', async () => (await pdqAtC(hashes[0].pdq)) > 0), 'the case\'s first hash matches at node C');
// A platform at C disputes the first signal: the victim sees a dispute (not who), A's dashboard lists it.
const disputed = await context.request.post(`${cfg.c_url}/v1/signals/${signalIds[0]}/opinions`, {
  headers: { Authorization: 'Bearer ' + cfg.c_query, 'Content-Type': 'application/json' }, data: { verdict: 'disputed' } });
check(disputed.status() === 201, 'node C records a dispute of the first signal');

// --- The dashboard -----------------------------------------------------------------------------------------------
const dash = await context.newPage();
await dash.goto(cfg.a_url + '/admin');
await dash.fill('#token', cfg.a_admin);
await dash.click('#login button');
await dash.waitForSelector('#dash:not([hidden])', { timeout: 10000 });
check(await until('origins table', async () => (await dash.textContent('#origins')).includes('node-b')), 'the dashboard lists the origins');
await dash.click('text=Suspend node-b');
check(await until('suspended', async () => /node-b.*suspended/.test(await dash.textContent('#origins'))),
      'an origin suspended from the dashboard shows as suspended');
check((await dash.textContent('#cases')).startsWith(String(cfg.images.length) + ' signals'), 'the dashboard counts the victim-submitted signals');
check(/victim_submitted\s*\d+/.test(await dash.textContent('#by-label')) && /pdq\s*\d+/.test(await dash.textContent('#by-type')),
      'the dashboard counts signals by type and label');
check(await until('case listed', async () => {
  await dash.click('#refresh');
  const t = await dash.textContent('#case-list');
  return t.includes('please help') && t.includes(String(cfg.images.length));
}), 'the dashboard lists the case with its message');
check(await until('dispute listed', async () => {
  await dash.click('#refresh');
  return (await dash.textContent('#disputes')).includes(signalIds[0]) && (await dash.textContent('#disputes')).includes('node-c');
}), 'the dashboard lists node C\'s dispute of the case\'s signal');
const stored = await dash.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie);
check(!stored.includes(cfg.a_admin), 'the admin token is not in storage or cookies');
await shot(dash, 'dashboard');

// --- Reopen, read the status ------------------------------------------------------------------------------------
const again = await context.newPage();
await again.goto(cfg.a_url + '/');
async function lookup(p, number, code) {
  await p.fill('#lookup-number', number);
  await p.fill('#lookup-pin', code);
  await p.click('#lookup-go');
}
let summary = '';
check(await until('members holding', async () => {
  await lookup(again, caseNumber.toLowerCase().replaceAll('-', ' '), pin);  // as a person might type it
  await again.waitForSelector('#case-view:not([hidden])', { timeout: 10000 }).catch(() => {});
  summary = await again.textContent('#case-summary');
  return /holding the fingerprints: [12]\./.test(summary);
}), `the status shows the case active and held by members (${summary})`);
check(summary.startsWith('Active') && (await again.$$('#case-signals li')).length === cfg.images.length,
      'every file is listed as active');
const firstLine = await again.textContent('#case-signals li');
check(firstLine.includes('disputed by 1 platform') && !firstLine.includes('node-c'), `the victim sees the dispute, not who made it (${firstLine})`);
await shot(again, 'case-status-active');

// --- Withdraw the whole case -----------------------------------------------------------------------------------
again.once('dialog', (d) => d.accept());
await again.click('#withdraw-all');
check(await until('withdrawn', async () => (await again.textContent('#case-summary')).startsWith('Withdrawn')),
      'after withdrawing, the case reads Withdrawn');
await shot(again, 'case-status-withdrawn');
check(await until('gone at C', async () => (await pdqAtC(hashes[0].pdq)) === 0), 'the withdrawn hash stops matching at node C');

// --- Wrong PIN and the lockout ----------------------------------------------------------------------------------
const wrong = pin === '00000000' ? '11111111' : '00000000';
let texts = [];
for (let i = 0; i < cfg.pin_attempts; i++) {
  await lookup(again, caseNumber, wrong);
  await again.waitForFunction(() => document.getElementById('lookup-error').textContent !== '', null, { timeout: 10000 });
  texts.push(await again.textContent('#lookup-error'));
  await again.evaluate(() => { document.getElementById('lookup-error').textContent = ''; });
}
check(texts.every((t) => t.includes('wrong')), 'a wrong PIN is refused');
await lookup(again, caseNumber, pin);
await again.waitForFunction(() => document.getElementById('lookup-error').textContent !== '', null, { timeout: 10000 });
const locked = await again.textContent('#lookup-error');
check(locked.includes('locked'), `after ${cfg.pin_attempts} wrong PINs even the right one is refused (${locked})`);
await shot(again, 'case-locked');

check(errors.length === 0, 'no script errors on the pages' + (errors.length ? ': ' + errors.join('; ') : ''));
await browser.close();
finish();
