// The contract test of docs/api/openapi.yaml against a running node (tests/integration/openapi_contract_test.cc
// starts a real `hashbank serve` and runs this script). Usage: node contract.mjs CONFIG_JSON, where the config
// is {url, ca, token, spec, image, video, tmp}.
//
// What it checks, every failure listed with the request that showed it (exit 1 if any):
// 1. Every example in the document (request bodies, parameters, responses, and those written inside schemas)
//    validates against its own schema.
// 2. Every operation is called with its documented example request (JSON bodies; the image and video routes
//    get a real test image or video; ids come from earlier answers; the HMA routes, documented by reference
//    to HMA, get HMA's request shapes). It must answer 2xx, and every answer's status must be documented for
//    that operation, its Content-Type must be a documented media type, and a JSON body must validate against
//    the documented schema for that status.
// 3. Every operation that needs a token answers 401 without one (documented, Error body), and every operation
//    whose description names its roles answers a query token 403 when `query` is not one of them.
// 4. A method a path does not list (PATCH, OPTIONS) is 405 with the Error body and the message its path's
//    description names, and HEAD answers the GET's status (405 where there is no GET) with no body bytes on
//    the wire.
// 5. Every operation was exercised (a new route documented but not called here fails the run).
import fs from "node:fs";
import https from "node:https";
import tls from "node:tls";
import YAML from "yaml";
import Ajv from "ajv-draft-04";
import addFormats from "ajv-formats";

const cfg = JSON.parse(process.argv[2]);
const doc = YAML.parse(fs.readFileSync(cfg.spec, "utf8"));
const ca = fs.readFileSync(cfg.ca);
const base = new URL(cfg.url);
const failures = [];
const fail = (what, detail) => failures.push(`${what}: ${detail}`);

// --- Schemas --------------------------------------------------------------------------------------------
// The whole document is one schema ("spec"); a schema inside it is compiled as {$ref: "spec#<pointer>"}, so
// its own "#/components/..." references resolve in the document. OpenAPI 3.0's schema dialect is draft-04's
// plus `nullable`, which Ajv implements; `example` and friends are annotations (strict off).
// The copy Ajv sees: examples stripped (draft-04 would read an example's "id" as a schema id), and
// `nullable: true` as OpenAPI 3.0 means it, "this schema, or null" (also beside allOf, where the document uses
// it on a $ref), written as anyOf.
const forAjv = (node, parentKey) => {
  if (Array.isArray(node)) return node.map((x) => forAjv(x));
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if ((k === "example" || k === "examples" || k === "nullable") && parentKey !== "properties") continue;
    out[k] = forAjv(v, k);
  }
  if (node.nullable === true && parentKey !== "properties") return { anyOf: [{ type: "null" }, out] };
  return out;
};
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(forAjv(doc), "spec");
const escape = (s) => s.replace(/~/g, "~0").replace(/\//g, "~1");
const validators = new Map();
function validatorAt(pointer) {
  if (!validators.has(pointer)) validators.set(pointer, ajv.compile({ $ref: `spec#${pointer}` }));
  return validators.get(pointer);
}
function check(pointer, value, what) {
  const v = validatorAt(pointer);
  if (!v(value)) fail(what, `${ajv.errorsText(v.errors)} in ${JSON.stringify(value).slice(0, 300)}`);
}
// A $ref'd response or parameter, followed; its pointer too.
function deref(node, pointer) {
  while (node && node.$ref) {
    pointer = node.$ref.slice(1);
    node = pointer.slice(1).split("/").reduce((n, p) => n?.[p.replace(/~1/g, "/").replace(/~0/g, "~")], doc);
  }
  return [node, pointer];
}

const METHODS = ["get", "put", "post", "delete", "patch", "head"];
const operations = [];  // {method, template, op, pointer}
for (const [template, item] of Object.entries(doc.paths)) {
  for (const method of METHODS) {
    if (item[method]) operations.push({ method, template, op: item[method], pointer: `/paths/${escape(template)}/${method}` });
  }
}
const opKey = (method, template) => `${method.toUpperCase()} ${template}`;
const findOp = (method, template) => operations.find((o) => o.method === method && o.template === template);

// 1. Examples against their schemas.
for (const { method, template, op, pointer } of operations) {
  const name = opKey(method, template);
  for (const [i, p0] of (op.parameters ?? []).entries()) {
    const [p, pp] = deref(p0, `${pointer}/parameters/${i}`);
    if (p.example !== undefined && p.schema) {
      // Query parameters arrive as text: a number's example is checked as the number it spells.
      const value = p.schema.type === "integer" || p.schema.type === "number" ? Number(p.example) : p.example;
      check(`${pp}/schema`, value, `${name} parameter ${p.name} example`);
    }
  }
  for (const [media, c] of Object.entries(op.requestBody?.content ?? {})) {
    const cp = `${pointer}/requestBody/content/${escape(media)}`;
    if (c.example !== undefined) check(`${cp}/schema`, c.example, `${name} request example`);
    for (const [k, e] of Object.entries(c.examples ?? {})) check(`${cp}/schema`, e.value, `${name} request example ${k}`);
  }
  for (const [status, r0] of Object.entries(op.responses)) {
    const [r, rp] = deref(r0, `${pointer}/responses/${status}`);
    for (const [media, c] of Object.entries(r.content ?? {})) {
      if (!media.startsWith("application/json") || !c.schema) continue;
      const cp = `${rp}/content/${escape(media)}`;
      if (c.example !== undefined) check(`${cp}/schema`, c.example, `${name} ${status} example`);
      for (const [k, e] of Object.entries(c.examples ?? {})) check(`${cp}/schema`, e.value, `${name} ${status} example ${k}`);
    }
  }
}

// Examples written inside schemas (a property's `example`) against the schema they sit in.
function walkSchema(node, pointer, what) {
  if (!node || typeof node !== "object" || Array.isArray(node) || node.$ref) return;
  if (node.example !== undefined) check(pointer, node.example, `${what} example`);
  for (const [k, v] of Object.entries(node.properties ?? {})) walkSchema(v, `${pointer}/properties/${escape(k)}`, `${what}.${k}`);
  if (node.items) walkSchema(node.items, `${pointer}/items`, `${what}[]`);
  if (node.additionalProperties && typeof node.additionalProperties === "object") {
    walkSchema(node.additionalProperties, `${pointer}/additionalProperties`, `${what}{}`);
  }
  for (const key of ["allOf", "anyOf", "oneOf"]) (node[key] ?? []).forEach((s, i) => walkSchema(s, `${pointer}/${key}/${i}`, what));
}
for (const [name, schema] of Object.entries(doc.components.schemas)) walkSchema(schema, `/components/schemas/${escape(name)}`, name);
for (const { op, pointer, method, template } of operations) {
  const name = opKey(method, template);
  for (const [media, c] of Object.entries(op.requestBody?.content ?? {})) {
    walkSchema(c.schema, `${pointer}/requestBody/content/${escape(media)}/schema`, `${name} request`);
  }
  for (const [status, r0] of Object.entries(op.responses)) {
    const [r, rp] = deref(r0, `${pointer}/responses/${status}`);
    for (const [media, c] of Object.entries(r.content ?? {})) walkSchema(c.schema, `${rp}/content/${escape(media)}/schema`, `${name} ${status}`);
  }
}

// --- HTTP -----------------------------------------------------------------------------------------------
const agent = new https.Agent({ ca, keepAlive: true, maxSockets: 1 });
function request(method, path, { body, type, token = cfg.token, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    if (type) h["Content-Type"] = type;
    if (body !== undefined) h["Content-Length"] = Buffer.byteLength(body);
    const req = https.request({ host: base.hostname, port: base.port, path, method, headers: h, agent, servername: "localhost" }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, type: res.headers["content-type"] ?? "", body: Buffer.concat(chunks) }));
    });
    req.setTimeout(60000, () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
// The raw bytes of an answer on a fresh connection that the server closes: to see what HEAD really sends.
function rawExchange(text) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: base.hostname, port: Number(base.port), ca, servername: "localhost" }, () => s.end(text));
    const chunks = [];
    s.on("data", (c) => chunks.push(c));
    s.on("end", () => resolve(Buffer.concat(chunks)));
    s.on("error", reject);
    s.setTimeout(30000, () => s.destroy(new Error("timed out")));
  });
}

const mediaMatches = (documented, actual) => {
  const a = actual.split(";")[0].trim().toLowerCase();
  const d = documented.split(";")[0].trim().toLowerCase();
  return d === a || d === "*/*" || (d.endsWith("/*") && a.startsWith(d.slice(0, -1)));
};

// Checks an answer against the operation's documented responses; returns the parsed JSON body if any.
function checkAnswer(o, res, what) {
  const name = `${what} (${opKey(o.method, o.template)})`;
  const documented = o.op.responses[String(res.status)] ?? o.op.responses.default;
  if (!documented) {
    fail(name, `status ${res.status} is not documented (documented: ${Object.keys(o.op.responses).join(", ")}); body ${res.body.toString().slice(0, 200)}`);
    return undefined;
  }
  const [r, rp] = deref(documented, `${o.pointer}/responses/${o.op.responses[String(res.status)] ? res.status : "default"}`);
  const contents = Object.keys(r.content ?? {});
  if (contents.length === 0) return undefined;
  const media = contents.find((m) => mediaMatches(m, res.type));
  if (!media) {
    fail(name, `status ${res.status}: Content-Type "${res.type}" is not documented (${contents.join(", ")})`);
    return undefined;
  }
  if (!media.startsWith("application/json")) return undefined;
  let value;
  try {
    value = JSON.parse(res.body.toString("utf8"));
  } catch (e) {
    fail(name, `status ${res.status}: the body is not JSON: ${res.body.toString().slice(0, 200)}`);
    return undefined;
  }
  if (r.content[media].schema) check(`${rp}/content/${escape(media)}/schema`, value, `${name} status ${res.status} body`);
  return value;
}

// --- 2. Every operation with its documented example ---------------------------------------------------
const image = fs.readFileSync(cfg.image);
const video = fs.readFileSync(cfg.video);
function requestExample(o) {
  const c = o.op.requestBody?.content?.["application/json"];
  if (!c) return undefined;
  if (c.example !== undefined) return c.example;
  const first = Object.values(c.examples ?? {})[0];
  if (first) return first.value;
  fail(opKey(o.method, o.template), "a JSON request body with no example");
  return undefined;
}
// The documented query parameters that have examples, as a query string.
function exampleQuery(o) {
  const q = new URLSearchParams();
  for (const [i, p0] of (o.op.parameters ?? []).entries()) {
    const [p] = deref(p0, `${o.pointer}/parameters/${i}`);
    if (p.in === "query" && p.example !== undefined) q.set(p.name, String(p.example));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
function multipart(field, filename, bytes, type) {
  const boundary = "contract-boundary-7d1e";
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n`),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, type: `multipart/form-data; boundary=${boundary}` };
}

const vars = { tmp: cfg.tmp };
const exercised = new Set();
// Each step: [method, template, how]; `how` gives {path?, body?, type?, token?} from the example and the
// values captured so far, and may capture from the answer. A step must answer 2xx.
const json = (v) => ({ body: JSON.stringify(v), type: "application/json" });
const withExample = (o) => {
  const e = requestExample(o);
  return e === undefined ? {} : json(e);
};
const PDQ = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22";
const steps = [
  ["get", "/v1/health"], ["get", "/metrics"], ["get", "/status"], ["get", "/status/live"],
  ["get", "/"], ["get", "/case.js"], ["get", "/style.css"], ["get", "/favicon.svg"], ["get", "/admin"], ["get", "/admin.js"],
  ["get", "/sdk/hashbank.js"], ["get", "/sdk/hashbank-worker.js"], ["get", "/sdk/hashbank_core.mjs"],
  ["get", "/sdk/hashbank_core.wasm"], ["get", "/sdk/hashbank_video_core.mjs"], ["get", "/sdk/hashbank_video_core.wasm"],
  // HMA's bank routes (documented by reference to HMA: its request shapes).
  ["post", "/c/banks", () => json({ name: "NCII_VICTIM_SUBMITTED" })],
  ["get", "/c/banks"], ["get", "/c/signal_type"], ["get", "/c/content_type"], ["get", "/v1/banks"],
  ["post", "/c/banks", () => json({ name: "CONTRACT_SCRATCH" })],
  ["get", "/c/bank/{bank}", () => ({ path: "/c/bank/CONTRACT_SCRATCH" })],
  ["put", "/c/bank/{bank}", () => ({ path: "/c/bank/CONTRACT_SCRATCH", ...json({ enabled: false }) })],
  ["post", "/c/bank/{bank}/signal", () => ({ path: "/c/bank/CONTRACT_SCRATCH/signal", ...json({ pdq: PDQ }) }), (v) => { vars.hmaContent = v.id; }],
  ["post", "/c/bank/{bank}/content", () => ({ path: "/c/bank/CONTRACT_SCRATCH/content", ...multipart("photo", "p.jpg", image, "image/jpeg") })],
  ["get", "/c/bank/{bank}/content/{id}", () => ({ path: `/c/bank/CONTRACT_SCRATCH/content/${vars.hmaContent}` })],
  ["put", "/c/bank/{bank}/content/{id}", () => ({ path: `/c/bank/CONTRACT_SCRATCH/content/${vars.hmaContent}`, ...json({ enabled: true }) })],
  ["get", "/m/lookup", () => ({ path: `/m/lookup?signal_type=pdq&signal=${PDQ}` })],
  ["post", "/m/lookup", () => ({ path: "/m/lookup", ...multipart("photo", "p.jpg", image, "image/jpeg") })],
  ["get", "/m/raw_lookup", () => ({ path: `/m/raw_lookup?signal_type=pdq&signal=${PDQ}` })],
  ["post", "/m/compare", () => ({ path: "/m/compare", ...json({ pdq: [PDQ, PDQ] }) })],
  ["get", "/m/index/status"],
  ["post", "/h/hash", () => ({ path: "/h/hash", ...multipart("photo", "p.jpg", image, "image/jpeg") })],
  ["delete", "/c/bank/{bank}/content/{id}", () => ({ path: `/c/bank/CONTRACT_SCRATCH/content/${vars.hmaContent}` })],
  ["delete", "/c/bank/{bank}", () => ({ path: "/c/bank/CONTRACT_SCRATCH" })],
  // The member API, with the document's own examples.
  ["post", "/v1/tokens", withExample, (v) => { vars.tokenName = v.name; }],
  ["get", "/v1/tokens"],
  ["post", "/v1/signals", withExample, (v) => { vars.signal = v.id; }],
  ["post", "/v1/signals:batch", withExample],
  ["post", "/v1/signals/image", (o) => ({ path: `/v1/signals/image${exampleQuery(o)}`, body: image, type: "image/jpeg" })],
  ["post", "/v1/signals/video", (o) => ({ path: `/v1/signals/video${exampleQuery(o)}`, body: video, type: "video/mp4" })],
  ["get", "/v1/signals", () => ({ path: "/v1/signals?bank=DEFAULT" })],
  ["get", "/v1/signals/{id}", () => ({ path: `/v1/signals/${vars.signal}` })],
  ["post", "/v1/signals/{id}/opinions", (o) => ({ path: `/v1/signals/${vars.signal}/opinions`, ...withExample(o) })],
  ["put", "/v1/signals/{id}/labels", (o) => ({ path: `/v1/signals/${vars.signal}/labels`, ...withExample(o) })],
  ["post", "/v1/match", withExample],
  ["post", "/v1/match/image", (o) => ({ path: `/v1/match/image${exampleQuery(o)}`, body: image, type: "image/jpeg" })],
  ["post", "/v1/match/video", (o) => ({ path: `/v1/match/video${exampleQuery(o)}`, body: video, type: "video/mp4" })],
  ["post", "/v1/hash", (o) => ({ path: `/v1/hash${exampleQuery(o)}`, body: image, type: "image/jpeg" })],
  ["post", "/v1/watch", withExample],
  ["post", "/v1/webhooks", withExample, (v) => { vars.webhook = v.id; }],
  ["get", "/v1/webhooks"],
  ["get", "/v1/webhooks/{id}", () => ({ path: `/v1/webhooks/${vars.webhook}` })],
  ["delete", "/v1/webhooks/{id}", () => ({ path: `/v1/webhooks/${vars.webhook}` })],
  ["post", "/v1/cases", withExample, (v) => { vars.caseNumber = v.case_number; vars.pin = v.pin; }],
  ["post", "/v1/cases/status", (o) => ({ ...json({ ...requestExample(o), case_number: vars.caseNumber, pin: vars.pin }), token: "" })],
  ["get", "/v1/cases"], ["get", "/v1/stats"], ["get", "/v1/disputes"],
  ["post", "/v1/models", withExample],
  ["get", "/v1/federation/status"],
  ["post", "/v1/federation/suspend", withExample],
  ["post", "/v1/federation/unsuspend", withExample],
  ["post", "/v1/import", withExample],
  ["get", "/v1/import/{key}", () => ({ path: "/v1/import/3f9a0c5e7b2d4f618a0b1c2d3e4f5a6b" })],  // the batch's key
  ["post", "/v1/backup", (o) => json({ ...requestExample(o), dir: `${vars.tmp}/backup` })],
  // A second backup into the same directory: documented 409, in the Error codes' enum.
  ["post", "/v1/backup", (o) => json({ ...requestExample(o), dir: `${vars.tmp}/backup` }), undefined, 409],
  ["post", "/v1/cases/withdraw", (o) => ({ ...json({ ...requestExample(o), case_number: vars.caseNumber, pin: vars.pin }), token: "" })],
  ["delete", "/v1/tokens/{name}", () => ({ path: `/v1/tokens/${vars.tokenName}` })],
  ["get", "/v1/signals/{id}", () => ({ path: `/v1/signals/${vars.signal}` }), (v) => { vars.before = v; }],
  ["delete", "/v1/signals/{id}", () => ({ path: `/v1/signals/${vars.signal}` })],
  ["get", "/v1/signals/{id}", () => ({ path: `/v1/signals/${vars.signal}` }), (v) => { vars.after = v; }],
  // Another origin's signal: 422 before existence is checked, as documented.
  ["delete", "/v1/signals/{id}", () => ({ path: "/v1/signals/eu-2:1" }), undefined, 422],
  ["get", "/v1/audit", () => ({ path: "/v1/audit?limit=1000" })],
];

for (const [method, template, how, capture, expect] of steps) {
  const o = findOp(method, template);
  if (!o) {
    fail(opKey(method, template), "called by this test but not in the document");
    continue;
  }
  exercised.add(opKey(method, template));
  const r = how ? how(o) : {};
  const path = r.path ?? template;
  let res;
  try {
    res = await request(method.toUpperCase(), path, r);
  } catch (e) {
    fail(`${method.toUpperCase()} ${path}`, `request failed: ${e.message}`);
    continue;
  }
  const value = checkAnswer(o, res, `${method.toUpperCase()} ${path}`);
  if (expect !== undefined ? res.status !== expect : res.status < 200 || res.status > 299) {
    fail(`${method.toUpperCase()} ${path}`, `answered ${res.status}, not ${expect ?? "2xx"}: ${res.body.toString().slice(0, 300)}`);
  } else if (capture && value !== undefined) {
    capture(value);
  }
}

// What the document says of a withdrawn signal: still readable as a tombstone (withdrawn, its time),
// everything its entry carried purged.
if (vars.before && vars.after) {
  const what = "GET /v1/signals/{id} after its withdrawal";
  const a = vars.after;
  if (a.withdrawn !== true || typeof a.withdrawn_at_ms !== "number" || a.withdrawn_at_ms <= 0) fail(what, `not a tombstone: ${JSON.stringify(a)}`);
  if (a.signal_types.length !== 0 || a.labels.length !== 0 || a.created_at_ms !== 0 || a.submitted_by !== "") {
    fail(what, `the entry's values are documented as purged: ${JSON.stringify(a)}`);
  }
  for (const k of ["bank", "content_id", "note", "metadata"]) if (k in a) fail(what, `${k} is documented as absent`);
  if (a.opinions.confirmed !== 0 || a.opinions.disputed !== 0) fail(what, `opinions ${JSON.stringify(a.opinions)}, documented as 0`);
  if (vars.before.opinions.confirmed + vars.before.opinions.disputed === 0) fail(what, "the signal had no opinion before");
  if (vars.before.labels.length === 0) fail(what, "the signal had no labels before (the check would prove nothing)");
}

// Every route label /metrics prints after all the calls above is one the document lists.
{
  const o = findOp("get", "/metrics");
  const listed = /Route\s+labels:([^.]*)\./.exec(o.op.description)?.[1].replace(/\([^)]*\)/g, "").split(",").map((x) => x.trim()).filter(Boolean) ?? [];
  const res = await request("GET", "/metrics");
  const seen = new Set([...res.body.toString().matchAll(/route="([^"]*)"/g)].map((m) => m[1]));
  for (const r of seen) if (!listed.includes(r)) fail("GET /metrics", `route label "${r}" is not in the documented list`);
  if (seen.size < 10) fail("GET /metrics", `only ${seen.size} route labels after every operation was called`);
}

// --- 3. Authentication and roles ---------------------------------------------------------------------
const queryToken = await (async () => {
  const res = await request("POST", "/v1/tokens", json({ name: "contract-query", role: "query" }));
  if (res.status !== 201) fail("POST /v1/tokens (a query token for the role checks)", `${res.status} ${res.body}`);
  return JSON.parse(res.body.toString()).token;
})();
const dummyPath = (template) => template.replace(/\{id\}/g, "none:1").replace(/\{bank\}/g, "NO_SUCH_BANK").replace(/\{name\}/g, "nobody");
for (const o of operations) {
  const security = o.op.security ?? doc.security ?? [];
  const needsToken = security.length > 0 && !security.some((s) => Object.keys(s).length === 0);
  const path = dummyPath(o.template);
  const M = o.method.toUpperCase();
  const noToken = await request(M, path, { token: "" });
  if (needsToken) {
    if (noToken.status !== 401) fail(`${M} ${path} without a token`, `answered ${noToken.status}, but the document requires a token`);
    checkAnswer(o, noToken, `${M} ${path} without a token`);
  } else if (noToken.status === 401) {
    fail(`${M} ${path} without a token`, "answered 401, but the document says no token is needed (security: [])");
  }
  const roles = /Roles: ([^.\n]*)/.exec(o.op.description ?? "");
  if (roles && !/\bany\b/.test(roles[1]) && !/\bquery\b/.test(roles[1])) {
    const q = await request(M, path, { token: queryToken });
    if (q.status !== 403) fail(`${M} ${path} with a query token`, `answered ${q.status}; the document names roles "${roles[1].trim()}"`);
    checkAnswer(o, q, `${M} ${path} with a query token`);
  }
}

// An error answer in the member API's shape with this code (the 405 cannot be attached to an undeclared
// method in OpenAPI, so it is checked against components/schemas/Error directly).
function checkError(res, code, what) {
  let v;
  try {
    v = JSON.parse(res.body.toString());
  } catch {
    return fail(what, `not JSON: ${res.body.toString().slice(0, 200)}`);
  }
  check("/components/schemas/Error", v, what);
  if (v?.error?.code !== code) fail(what, `error code ${v?.error?.code}, not ${code}`);
}
if (!/\b405\b/.test(doc.info.description) || !/\bHEAD\b/.test(doc.info.description)) {
  fail("info.description", "does not say what an unlisted method (405) and HEAD get");
}

// --- 4. Methods and HEAD ------------------------------------------------------------------------------
for (const [template, item] of Object.entries(doc.paths)) {
  const path = dummyPath(template);
  for (const method of ["PATCH", "OPTIONS"]) {
    if (item[method.toLowerCase()]) continue;
    const res = await request(method, path);
    if (res.status !== 405) fail(`${method} ${path}`, `answered ${res.status}; a method the path does not list is 405 (info.description)`);
    // HMA's paths answer as Flask does (an HTML page), the member API with its Error body and the message
    // its path's description names ("use GET").
    else if (!Object.values(item).some((op) => op?.tags?.includes("hma"))) {
      checkError(res, "method_not_allowed", `${method} ${path}`);
      const said = /\("(use [A-Za-z ]+)"\)/.exec(item.description ?? "")?.[1];
      const got = JSON.parse(res.body.toString())?.error?.message;
      if (said && got !== said) fail(`${method} ${path}`, `message "${got}", the path's description says "${said}"`);
    }
  }
  // HEAD: GET's status (405 where there is no GET), and not one body byte on the wire.
  const getRes = item.get ? await request("GET", path) : undefined;
  const raw = (await rawExchange(`HEAD ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${cfg.token}\r\nConnection: close\r\n\r\n`)).toString("latin1");
  const split = raw.indexOf("\r\n\r\n");
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
  const want = getRes ? getRes.status : 405;
  if (status !== want) fail(`HEAD ${path}`, `answered ${status}, not ${want}${getRes ? " as GET did" : ""}`);
  if (split < 0 || raw.length > split + 4) fail(`HEAD ${path}`, `${raw.length - split - 4} body bytes after the headers`);
  // The static files' length is fixed, so HEAD's Content-Length must be the GET body's.
  if (getRes && (item.get.security ?? doc.security).length === 0 && !path.startsWith("/v1/") && !path.startsWith("/status")) {
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(raw.slice(0, split))?.[1]);
    if (length !== getRes.body.length) fail(`HEAD ${path}`, `Content-Length ${length} where GET's body has ${getRes.body.length} bytes`);
  }
}

// --- 5. Coverage ----------------------------------------------------------------------------------------
for (const o of operations) {
  if (!exercised.has(opKey(o.method, o.template))) fail(opKey(o.method, o.template), "documented but never called by this test");
}

agent.destroy();
if (failures.length > 0) {
  console.log(`contract: ${failures.length} mismatch(es) between docs/api/openapi.yaml and the node:`);
  for (const f of failures) console.log(`  - ${f}`);
  process.exit(1);
}
console.log(`contract: all checks passed (${operations.length} operations, ${steps.length} example calls)`);
