// The member dashboard: read-mostly views of the admin API, and suspend / unsuspend of an origin through the
// same API (audited like any call). The admin token lives in this module's memory only: never in storage, a
// cookie or the URL; reloading the page signs out.
const $ = (id) => document.getElementById(id);
let token = null;

async function api(method, path, body) {
  const init = { method, headers: { Authorization: 'Bearer ' + token }, credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((data.error && data.error.message) || ('the server answered ' + r.status));
  return data;
}

function table(el, headers, rows) {
  const head = document.createElement('tr');
  for (const h of headers) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = h;
    head.append(th);
  }
  el.replaceChildren(head);
  for (const row of rows) {
    const tr = document.createElement('tr');
    for (const cell of row) {
      const td = document.createElement('td');
      if (cell instanceof Node) td.append(cell); else td.textContent = String(cell);
      tr.append(td);
    }
    el.append(tr);
  }
}

function button(label, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.addEventListener('click', onClick);
  return b;
}

async function refresh() {
  $('error').textContent = '';
  try {
    const fed = await api('GET', '/v1/federation/status');
    table($('peers'), ['Peer', 'Connected', 'Last success', 'Errors', 'Last error'],
          (fed.peers || []).map((p) => [p.id, p.connected ? 'yes' : 'no',
                                        p.last_success_ms ? new Date(p.last_success_ms).toISOString() : 'never',
                                        p.errors, p.last_error || '']));
    table($('origins'), ['Origin', 'Signed size', 'Lag', 'Equivocation', 'Status', 'Action'],
          (fed.origins || []).map((o) => [o.origin, o.trusted_size, o.lag, o.equivocation ? 'YES' : 'no',
            o.suspended ? 'suspended' : 'active',
            o.suspended ? button(`Unsuspend ${o.origin}`, () => act('/v1/federation/unsuspend', o.origin))
                        : button(`Suspend ${o.origin}`, () => act('/v1/federation/suspend', o.origin))]));
  } catch (e) {
    table($('peers'), ['Federation'], [[e.message]]);
    table($('origins'), [], []);
  }
  try {
    const stats = await api('GET', '/v1/stats');
    $('signal-total').textContent = `${stats.signals} live signals on this node, all origins.`;
    table($('by-type'), ['Type', 'Signals'], Object.entries(stats.by_type));
    table($('by-label'), ['Label', 'Signals'], Object.entries(stats.by_label));
    const banks = await api('GET', '/v1/banks');
    table($('banks'), ['Bank', 'Signals', 'Matching ratio'],
          (banks.banks || []).map((b) => [b.name, b.signals, b.matching_enabled_ratio]));
    const listed = await api('GET', '/v1/signals?label=victim_submitted&limit=1000');
    const n = (listed.signals || []).length;
    $('cases').textContent = `${n}${listed.next ? '+' : ''} signals submitted from the case page on this node.`;
    const disputes = await api('GET', '/v1/disputes?limit=50');
    table($('disputes'), ['Signal', 'Disputed by', 'Seen'],
          (disputes.disputes || []).map((d) => [d.signal_id, d.disputed_by, new Date(d.seen_at_ms).toISOString()]));
    const cases = await api('GET', '/v1/cases?limit=50');
    table($('case-list'), ['Opened', 'Files', 'Withdrawn', 'Message to you'],
          (cases.cases || []).map((c) => [new Date(c.created_at_ms).toISOString(), c.signals.length, c.withdrawn, c.message]));
    const tokens = await api('GET', '/v1/tokens');
    table($('tokens'), ['Name', 'Role', 'Expires'],
          (tokens.tokens || []).map((t) => [t.name, t.role, t.expires_at_ms ? new Date(t.expires_at_ms).toISOString() : 'never']));
  } catch (e) {
    $('error').textContent = e.message;
  }
}

async function act(path, origin) {
  try {
    await api('POST', path, { origin });
  } catch (e) {
    $('error').textContent = e.message;
  }
  await refresh();
}

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  token = $('token').value.trim();
  $('token').value = '';
  try {
    await api('GET', '/v1/federation/status').catch(async (err) => {
      // A node without federation answers 503 here; the token is still checked by /v1/tokens.
      await api('GET', '/v1/tokens');
      return err;
    });
    $('login').hidden = true;
    $('dash').hidden = false;
    await refresh();
  } catch (err) {
    token = null;
    $('error').textContent = 'Sign-in failed: ' + err.message;
  }
});
$('refresh').addEventListener('click', refresh);
$('logout').addEventListener('click', () => {
  token = null;
  $('dash').hidden = true;
  $('login').hidden = false;
});
