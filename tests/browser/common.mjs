// Shared by the browser tests: Debian's chromium through playwright-core (never a downloaded browser), the
// hashbank CLI's own output as the expected value, and a small assertion helper.
import { execFileSync, spawnSync } from 'node:child_process';
import { chromium } from 'playwright-core';

export async function launch() {
  const args = [];
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');  // root (CI containers)
  const browser = await chromium.launch({ executablePath: process.env.HASHBANK_CHROMIUM || '/usr/bin/chromium', args });
  // The nodes under test serve their generated development certificate on loopback.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  return { browser, context };
}

// `hashbank hash --json --dihedral FILE [extra...]`: the parsed line without "path", or { error: message }.
export function cliHash(bin, file, extra = []) {
  const r = spawnSync(bin, ['hash', '--json', '--dihedral', ...extra, file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    const prefix = `hashbank hash: ${file}: `;
    const line = r.stderr.trim().split('\n').pop();
    return { error: line.startsWith(prefix) ? line.slice(prefix.length) : line };
  }
  const out = JSON.parse(r.stdout.trim());
  delete out.path;
  return out;
}

export function makeImage(args) { execFileSync('/usr/bin/convert', args); }
// A test clip by the ffmpeg command-line tool: `args` between the lavfi test source and the output file.
export function makeClip(out, args, seconds = 3) {
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=25:duration=${seconds}`,
                          ...args, out]);
}

let failures = 0;
export function check(cond, what) {
  if (cond) {
    console.log('ok   ' + what);
  } else {
    failures++;
    console.log('FAIL ' + what);
  }
}
export function finish() {
  console.log(failures === 0 ? 'all checks passed' : `${failures} checks failed`);
  process.exit(failures === 0 ? 0 : 1);
}

// Every key of `a` and `b` equal (JSON-wise, keys in any order).
export function sameJson(a, b) {
  const norm = (v) => JSON.stringify(v, (k, x) => (x && typeof x === 'object' && !Array.isArray(x))
    ? Object.fromEntries(Object.entries(x).sort(([p], [q]) => (p < q ? -1 : 1))) : x);
  return norm(a) === norm(b);
}
