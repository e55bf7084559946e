// The case page: hashes the chosen photos and videos on this device with the SDK (/sdk/hashbank.js, WebAssembly in a
// worker), submits only the fingerprints to /v1/cases, shows the case number and PIN once, and reads or
// withdraws a case with them. No image byte leaves the page: thumbnails are blob: URLs of the local files.
import { hash, ready } from '/sdk/hashbank.js';

const $ = (id) => document.getElementById(id);
const items = [];  // { file, url, result, error, li, status }

ready().catch((e) => { $('hash-status').textContent = 'This browser cannot run the hashing: ' + e.message; });

function addFiles(files) {
  for (const file of files) {
    const li = document.createElement('li');
    const url = URL.createObjectURL(file);
    const isVideo = file.type.startsWith('video/');
    const img = document.createElement(isVideo ? 'video' : 'img');
    img.src = url;
    if (isVideo) { img.muted = true; img.preload = 'metadata'; } else { img.alt = ''; }  // the name is read out
    const text = document.createElement('span');
    text.textContent = file.name + ': waiting';
    li.append(img, text);
    $('file-list').append(li);
    items.push({ file, url, li, text, result: null, error: null });
  }
  hashPending();
}

let hashing = false;
async function hashPending() {
  if (hashing) return;
  hashing = true;
  $('submit').disabled = true;
  try {
    for (;;) {
      const pending = items.filter((it) => !it.result && !it.error);
      if (pending.length === 0) break;
      const it = pending[0];
      const done = items.length - pending.length;
      $('hash-status').textContent = `Computing fingerprints on this device: ${done + 1} of ${items.length}`;
      it.text.textContent = it.file.name + ': computing fingerprints…';
      try {
        it.result = await hash(it.file);
        it.text.textContent = it.file.name + ': ready';
      } catch (e) {
        it.error = e;
        it.text.textContent = it.file.name + ': cannot be used (' + e.message + ')';
      }
    }
    const ok = items.filter((it) => it.result).length;
    $('hash-status').textContent = `${ok} of ${items.length} files ready to submit.`;
    $('submit').disabled = ok === 0;
  } finally {
    hashing = false;
  }
}

$('files').addEventListener('change', (e) => addFiles(e.target.files));
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  addFiles(e.dataTransfer.files);
});

async function postJson(path, body) {
  const r = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                body: JSON.stringify(body), credentials: 'omit', cache: 'no-store' });
  let data = {};
  try { data = await r.json(); } catch { /* not JSON */ }
  if (!r.ok) {
    const msg = (data.error && data.error.message) || ('the server answered ' + r.status);
    const err = new Error(msg);
    err.status = r.status;
    err.code = data.error && data.error.code;
    throw err;
  }
  return data;
}

$('submit').addEventListener('click', async () => {
  $('submit-error').textContent = '';
  const ready = items.filter((it) => it.result);
  // Only the fingerprints (what the node banks): a photo's PDQ, MD5, SHA-256 and robust fingerprint; a video's
  // vPDQ frames, duration, MD5 and SHA-256.
  const hashes = ready.map((it) => {
    const r = it.result;
    if (r.type === 'video') return { vpdq: r.vpdq, duration: r.duration, md5: r.md5, sha256: r.sha256 };
    const h = { pdq: r.pdq, quality: r.quality, md5: r.md5, sha256: r.sha256 };
    if (r.robust) h.robust = r.robust;
    return h;
  });
  $('submit').disabled = true;
  try {
    const out = await postJson('/v1/cases', { hashes, message: $('message').value });
    $('case-number').textContent = out.case_number;
    $('case-pin').textContent = out.pin;
    $('receipt').hidden = false;
    $('receipt').focus();
    ready.forEach((it, i) => { it.signal = out.signals[i]; });
  } catch (e) {
    $('submit-error').textContent = 'Not submitted: ' + e.message;
    $('submit').disabled = false;
  }
});

let current = null;  // { case_number, pin } of the case shown

function showCase(status) {
  const view = $('case-view');
  view.hidden = false;
  const n = status.signals.length;
  const live = status.signals.filter((s) => s.status === 'active').length;
  const words = { active: 'Active', withdrawn: 'Withdrawn', partly_withdrawn: 'Partly withdrawn' };
  $('case-summary').textContent =
    `${words[status.status] || status.status}: ${live} of ${n} files active. ` +
    `Member platforms holding the fingerprints: ${status.members_holding}.`;
  const list = $('case-signals');
  list.replaceChildren();
  status.signals.forEach((s, i) => {
    const li = document.createElement('li');
    const text = document.createElement('span');
    let line = `File ${i + 1}: ${s.status === 'active' ? 'active' : 'withdrawn'}`;
    if (s.confirmations) line += `, confirmed by ${s.confirmations} platform(s)`;
    if (s.disputes) line += `, disputed by ${s.disputes} platform(s)`;
    text.textContent = line;
    li.append(text);
    if (s.status === 'active') {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = `Withdraw file ${i + 1}`;
      b.addEventListener('click', () => withdraw(s.id));
      li.append(b);
    }
    list.append(li);
  });
  $('withdraw-all').hidden = live === 0;
}

$('lookup').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('lookup-error').textContent = '';
  current = { case_number: $('lookup-number').value.trim(), pin: $('lookup-pin').value.trim() };
  try {
    showCase(await postJson('/v1/cases/status', current));
    $('case-view').focus();
  } catch (err) {
    $('case-view').hidden = true;
    $('lookup-error').textContent = err.message;
  }
});

async function withdraw(signal) {
  if (!current) return;
  const what = signal ? 'this file' : 'every file of this case';
  if (!window.confirm(`Withdraw your consent for ${what}? Platforms will stop blocking it.`)) return;
  $('lookup-error').textContent = '';
  try {
    const body = { ...current };
    if (signal) body.signal = signal;
    showCase(await postJson('/v1/cases/withdraw', body));
  } catch (err) {
    $('lookup-error').textContent = err.message;
  }
}
$('withdraw-all').addEventListener('click', () => withdraw(null));
