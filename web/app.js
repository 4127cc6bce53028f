// kvplan web calculator. Vanilla JS, no build step, no third-party code.
// The page holds no formulas: every number comes from the JSON API, which
// runs the same core as `kvplan estimate --format json`.
'use strict';

const $ = (id) => document.getElementById(id);
const GIB = 2 ** 30;
// Slider stops: common context lengths (exact token counts).
const CTX_STEPS = [1024, 2048, 4096, 8192, 16384, 32768, 65536, 100000, 131072, 163840, 262144, 524288, 1000000, 1048576];
const DEFAULTS = { model: 'llama-3.1-70b', gpu: 'H100', per_node: '4', nodes: '1', ctx: '32k', batch: '16', engine: 'vllm' };
// Waits before a request: typed text waits for a pause in typing (a request
// per keystroke flashes errors for half-typed names); numbers, selects and
// sliders answer quickly; a Hub id waits longer (each lookup is a download).
const TEXT_PAUSE_MS = 700;
const CHANGE_PAUSE_MS = 200;
const HUB_PAUSE_MS = 1500;
// Fields whose typing waits for a pause.
const TEXT_FIELDS = new Set(['model', 'gpu', 'ctx', 'attention']);
// Longest config fragment put in a link (browsers take far more; chat
// apps and mail clients cut long links).
const MAX_CONFIG_FRAGMENT = 32000;
// API field → the control that shows it (to mark errors).
const FIELD_CONTROL = {
  model: 'model', config: 'config', gpus: 'gpu', ctx: 'ctx', max_model_len: 'ctx', batch: 'batch',
  weights: 'weights', kv_dtype: 'kv-dtype', engine: 'engine', tp: 'tp', pp: 'pp', ep: 'ep', dp: 'dp',
  gpu_memory_utilization: 'mem-fraction', mem_fraction_static: 'mem-fraction', block_size: 'block-size',
  max_num_batched_tokens: 'mnbt', mtp: 'mtp', mtp_acceptance: 'mtp', users: 'users',
  max_tpot_ms: 'max-tpot', max_ttft_ms: 'max-ttft', objective: 'objective', profile: 'profile', attention: 'attention',
  serving: 'isl', isl: 'isl', osl: 'osl', concurrency: 'concurrency', request_rate: 'request-rate', percentile: 'percentile',
  'serving.num_requests': 'isl', max_concurrency: 'concurrency', emit: 'engine',
};
// With a serving workload the plan's limits are the workload's SLA fields.
const SLA_CONTROL = { max_tpot_ms: 'sla-tpot', max_ttft_ms: 'sla-ttft' };
// One parallelism order everywhere on the page.
const PAR = ['tp', 'pp', 'dp', 'ep'];

const catalog = { models: [], gpus: [], engines: [] };
// The pasted config.json: its text as typed, the parsed object once the
// server accepted it, and its state: none | checking | ok | invalid | missing.
const cfg = { text: '', obj: null, state: 'none', message: '', fragment: '' };
let seq = 0; // latest request number; older answers are dropped
let timer = null;
let shown = null; // { req, rep } of the results on screen
let lastSweep = null; // the chart's data, redrawn on resize
let plan = null; // { req, gpus } of the plan table on screen
let appliedGpus = null; // GPUs text of the last plan row applied

// ---------- formatting ----------
const nf0 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
function fmtGiB(b) {
  const s = (Math.abs(b) / GIB).toFixed(2) + ' GiB';
  return b < 0 ? '−' + s : s;
}
function fmtBytes(b) {
  if (Math.abs(b) >= GIB) return fmtGiB(b);
  if (Math.abs(b) >= 2 ** 20) return (b / 2 ** 20).toFixed(2) + ' MiB';
  if (Math.abs(b) >= 1024) return (b / 1024).toFixed(2) + ' KiB';
  return b + ' B';
}
function fmtSec(s) {
  if (!isFinite(s)) return '–';
  if (s < 1e-3) return (s * 1e6).toFixed(1) + ' µs';
  if (s < 1) return (s * 1e3).toFixed(2) + ' ms';
  if (s < 120) return s.toFixed(2) + ' s';
  return (s / 60).toFixed(1) + ' min';
}
function fmtParams(n) {
  if (n >= 1e12) return (n / 1e12).toFixed(2) + 'T';
  if (n >= 1e9) return (n / 1e9).toFixed(2) + 'B';
  if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  return nf0.format(n);
}
// Token counts as people write them: decimal k/M where the number is round
// in thousands (128,000 = "128k", never "125Ki"), binary Ki/Mi otherwise
// (131,072 = "128Ki").
function fmtTokens(n) {
  if (n >= 1000000 && n % 1000000 === 0) return n / 1000000 + 'M';
  if (n >= 1048576 && n % 1048576 === 0) return n / 1048576 + 'Mi';
  if (n >= 1000 && n % 1000 === 0) return n / 1000 + 'k';
  if (n >= 1024 && n % 1024 === 0) return n / 1024 + 'Ki';
  return nf0.format(n);
}
const FORMATS = {
  gib: fmtGiB, bytes: fmtBytes, sec: fmtSec, params: fmtParams, text: String,
  int: (n) => nf0.format(n), rate: (n) => nf0.format(n) + ' tok/s',
  ms: (v) => fmtMs(v), rate1: (n) => n.toFixed(1) + ' tok/s', num1: (n) => n.toFixed(1), num2: (n) => n.toFixed(2),
};
// Client-side reading of "100k"/"128Ki", only to place the slider; the
// server parses the text itself.
function tokensOf(text) {
  const m = /^\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*(ki|mi|k|m)?\s*$/i.exec(text || '');
  if (!m) return NaN;
  const mult = { ki: 1024, mi: 1048576, k: 1000, m: 1e6 }[(m[2] || '').toLowerCase()] || 1;
  return Number(m[1].replace(/[_,]/g, '')) * mult;
}

// ---------- DOM helpers: text nodes only, never HTML strings (errors echo user input) ----------
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') el.className = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'type' || k === 'value' || k === 'id' || k === 'scope' || k === 'href') el.setAttribute(k, v);
    else el[k] = v;
  }
  for (const kid of kids) if (kid != null) el.append(kid);
  return el;
}
const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (text != null) el.textContent = text;
  return el;
}
function get(obj, path) {
  return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

// ---------- API ----------
async function api(path, body) {
  const init = body === undefined ? {} : {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  };
  const resp = await fetch(path, init);
  let data;
  try { data = await resp.json(); } catch (_) { data = { error: `HTTP ${resp.status}` }; }
  if (!resp.ok) {
    const e = new Error(data.error || `HTTP ${resp.status}`);
    e.field = data.field;
    throw e;
  }
  return data;
}

// ---------- a pasted config in the link: deflate-raw + base64url in the fragment ----------
function b64url(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
function unb64url(text) {
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
async function through(bytes, stream) {
  return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(stream)).arrayBuffer());
}
// "z" + compressed, or "j" + plain where the browser cannot compress.
async function packText(text) {
  const bytes = new TextEncoder().encode(text);
  if (typeof CompressionStream === 'function') return 'z' + b64url(await through(bytes, new CompressionStream('deflate-raw')));
  return 'j' + b64url(bytes);
}
async function unpackText(packed) {
  const kind = packed[0], bytes = unb64url(packed.slice(1));
  if (kind === 'j') return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  if (kind === 'z') {
    if (typeof DecompressionStream !== 'function') throw new Error('this browser cannot decompress it');
    return new TextDecoder('utf-8', { fatal: true }).decode(await through(bytes, new DecompressionStream('deflate-raw')));
  }
  throw new Error('unknown encoding');
}

// ---------- state <-> controls <-> URL ----------
// "8xH100" or "2x8xH100" typed into the GPU field: the counts and the name.
function splitGpuField(text) {
  const m = /^\s*(\d+)\s*[x×*]\s*(?:(\d+)\s*[x×*]\s*)?([A-Za-z].*)$/.exec(text || '');
  if (!m) return null;
  return m[2] ? { nodes: m[1], per: m[2], gpu: m[3].trim() } : { nodes: '1', per: m[1], gpu: m[3].trim() };
}
function gpuName() {
  const t = $('gpu').value.trim();
  const sp = splitGpuField(t);
  return sp ? sp.gpu : t;
}
function gpusText() {
  const per = $('per-node').value.trim() || '1';
  const nodes = $('nodes').value.trim() || '1';
  return (nodes !== '1' ? nodes + 'x' : '') + per + 'x' + gpuName();
}
// The counts typed into the GPU field go to their own fields at once.
function absorbGpuCounts(strip) {
  const sp = splitGpuField($('gpu').value);
  if (!sp) return;
  $('per-node').value = sp.per;
  $('nodes').value = sp.nodes;
  if (strip) $('gpu').value = sp.gpu;
}
function parseGpus(text) {
  const m = /^\s*(?:(\d+)\s*[x×]\s*)?(?:(\d+)\s*[x×]\s*)?(.*)$/i.exec(text || '');
  if (!m) return null;
  if (m[1] && m[2]) return { nodes: m[1], per: m[2], gpu: m[3] };
  return { nodes: '1', per: m[1] || '1', gpu: m[3] };
}
const manual = () => $('par-manual').checked;
const num = (id) => {
  const v = $(id).value.trim();
  return v === '' ? undefined : Number(v);
};
const findModel = (name) => catalog.models.find((x) => x.name === name || (x.aliases || []).includes(name));

// An input the page can tell is not ready before asking the server.
class LocalError extends Error {
  constructor(message, field) { super(message); this.field = field; this.local = true; }
}

// The body of /api/estimate for the current controls (API field names).
function request() {
  const r = {};
  if (cfg.state === 'ok') r.config = cfg.obj;
  else if (cfg.state === 'invalid') throw new LocalError(`config: ${cfg.message} Fix the pasted config.json, or press "Back to the built-in model".`, 'config');
  else if (cfg.state === 'checking') throw new LocalError('config: checking the pasted config.json…', 'config');
  else if (cfg.state === 'missing') throw new LocalError(cfg.message, 'config');
  else r.model = $('model').value.trim();
  r.gpus = gpusText();
  const ctx = $('ctx').value.trim();
  if (ctx) r.ctx = ctx;
  const batch = num('batch');
  if (batch !== undefined) r.batch = batch;
  for (const [id, key] of [['weights', 'weights'], ['kv-dtype', 'kv_dtype'], ['engine', 'engine']]) {
    if ($(id).value) r[key] = $(id).value;
  }
  if (manual()) for (const k of PAR) if (num(k) !== undefined) r[k] = num(k);
  const frac = num('mem-fraction');
  if (frac !== undefined) r[$('engine').value === 'sglang' ? 'mem_fraction_static' : 'gpu_memory_utilization'] = frac;
  if (num('block-size') !== undefined) r.block_size = num('block-size');
  if (num('mnbt') !== undefined) r.max_num_batched_tokens = num('mnbt');
  if ($('mtp').checked) r.mtp = true;
  if ($('profile').value) r.profile = $('profile').value;
  if ($('attention').value.trim()) r.attention = $('attention').value.trim();
  const sv = servingRequest();
  if (sv) r.serving = sv;
  return r;
}
// The request as far as the controls give it, for the link even when a
// pasted config makes it unusable.
function requestForLink() {
  try { return request(); } catch (_) {
    const saved = cfg.state;
    cfg.state = 'none';
    try { const r = request(); delete r.model; return r; } finally { cfg.state = saved; }
  }
}

// The URL query uses the API's field names, so a link reads like the
// request. A pasted config travels in the fragment (never sent to the
// server); `config=in-link` says so, `config=not-in-link` says a config
// was used that the link cannot carry.
function writeUrl(r) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(r)) {
    if (k === 'serving') for (const [sk, sv] of Object.entries(v)) q.set(sk, String(sv));
    else if (k !== 'config') q.set(k, String(v));
  }
  const sla = slaInputs();
  if (r.serving) {
    if (sla.percentile !== 'p90') q.set('percentile', sla.percentile);
    for (const k of ['max_ttft_ms', 'max_tpot_ms']) if (sla[k] !== undefined) q.set(k, String(sla[k]));
  }
  let hash = '';
  if (cfg.state !== 'none') {
    if (cfg.fragment && cfg.fragment.length <= MAX_CONFIG_FRAGMENT) {
      q.set('config', 'in-link');
      hash = '#config=' + cfg.fragment;
    } else {
      q.set('config', 'not-in-link');
    }
  }
  history.replaceState(null, '', '?' + q.toString() + hash);
}
function readUrl() {
  const q = new URLSearchParams(location.search);
  const val = (k, d) => (q.has(k) ? q.get(k) : d);
  $('model').value = val('model', q.has('config') ? '' : DEFAULTS.model);
  const g = parseGpus(val('gpus', `${DEFAULTS.per_node}x${DEFAULTS.gpu}`)) || {};
  $('gpu').value = g.gpu || DEFAULTS.gpu;
  $('per-node').value = g.per || DEFAULTS.per_node;
  $('nodes').value = g.nodes || DEFAULTS.nodes;
  $('ctx').value = val('ctx', DEFAULTS.ctx);
  $('batch').value = val('batch', DEFAULTS.batch);
  $('weights').value = val('weights', '');
  $('kv-dtype').value = val('kv_dtype', '');
  $('engine').value = val('engine', DEFAULTS.engine);
  const par = PAR.some((k) => q.has(k));
  $('par-manual').checked = par;
  $('par-auto').checked = !par;
  for (const k of PAR) $(k).value = val(k, '');
  $('mem-fraction').value = val('gpu_memory_utilization', val('mem_fraction_static', ''));
  $('block-size').value = val('block_size', '');
  $('mnbt').value = val('max_num_batched_tokens', '');
  $('mtp').checked = val('mtp', '') === 'true';
  $('profile').value = val('profile', '');
  $('attention').value = val('attention', '');
  $('isl').value = val('isl', '');
  $('osl').value = val('osl', '');
  $('concurrency').value = val('concurrency', '');
  $('request-rate').value = val('request_rate', '');
  $('load-rate').checked = q.has('request_rate');
  $('load-conc').checked = !q.has('request_rate');
  $('percentile').value = val('percentile', 'p90');
  $('sla-ttft').value = val('max_ttft_ms', '');
  $('sla-tpot').value = val('max_tpot_ms', '');
  syncLoad();
  if ($('mem-fraction').value || $('block-size').value || $('mnbt').value || $('mtp').checked || $('profile').value || $('attention').value) {
    $('advanced').open = true;
  }
  syncPar();
  syncSliders();
  describePickers();
  return q.get('config');
}
// Restore a pasted config named by the link; where the link cannot give
// it back, the page says so and computes nothing (never the default model).
async function restoreConfig(marker) {
  if (!marker) return;
  $('custom').open = true;
  const m = /(?:^#|&)config=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (marker === 'in-link' && m) {
    try {
      const text = await unpackText(m[1]);
      await setConfigText(text, false);
      return;
    } catch (e) {
      setConfigState('missing', `config: this link's pasted config.json could not be read (${e.message}); paste or upload the config.json again, or press "Back to the built-in model".`);
      return;
    }
  }
  setConfigState('missing', 'config: this link was made with a pasted config.json that is not in the link; paste or upload the config.json again, or press "Back to the built-in model".');
}

function syncPar() {
  for (const k of PAR) $(k).disabled = !manual();
}
function syncSliders() {
  const t = tokensOf($('ctx').value);
  if (isFinite(t)) {
    let best = 0;
    CTX_STEPS.forEach((c, i) => { if (Math.abs(Math.log(c / t)) < Math.abs(Math.log(CTX_STEPS[best] / t))) best = i; });
    $('ctx-range').value = best;
  }
  const b = Number($('batch').value);
  if (b >= 1) $('batch-range').value = Math.min(14, Math.round(Math.log2(b)));
  $('ctx-range').setAttribute('aria-valuetext', `${nf0.format(CTX_STEPS[$('ctx-range').value])} tokens`);
  $('batch-range').setAttribute('aria-valuetext', `${2 ** $('batch-range').value} sequences`);
}
function describePickers() {
  const name = $('model').value.trim();
  const m = findModel(name);
  let info = '';
  if (cfg.state === 'ok') info = 'using the pasted config.json (below)';
  else if (cfg.state !== 'none') info = 'the pasted config.json below is not usable yet';
  else if (m) info = `${m.display_name}: ${fmtParams(m.params_total)} params (${fmtParams(m.params_active)} active), ${m.attention_label}, ${m.num_layers} layers, up to ${nf0.format(m.max_context)} tokens`;
  else if (name.startsWith('hf:')) info = 'a Hugging Face Hub model, fetched by this server (if it was started with --allow-hub)';
  $('model-info').textContent = info;
  $('ctx-info').textContent = isFinite(tokensOf($('ctx').value)) ? `= ${nf0.format(tokensOf($('ctx').value))} tokens` : '';
  const gn = gpuName().toLowerCase();
  const g = catalog.gpus.find((x) => x.name.toLowerCase() === gn || (x.aliases || []).some((a) => a.toLowerCase() === gn));
  $('gpu-info').textContent = g ? `${g.display_name}: ${fmtGiB(g.memory_bytes)}, ${g.memory_bandwidth_tbps} TB/s` : '';
}
// Built-in names that start with what is typed (a half-typed name).
function modelsStartingWith(text) {
  const t = text.toLowerCase();
  if (!t) return [];
  return catalog.models.filter((m) => [m.name, ...(m.aliases || [])].some((n) => n.toLowerCase().startsWith(t)));
}

// ---------- rendering ----------
function setState(state) {
  $('results').dataset.state = state;
  $('results').setAttribute('aria-busy', state === 'loading' ? 'true' : 'false');
}
function clearInvalid() {
  for (const el of document.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
  for (const el of document.querySelectorAll('.field-error')) el.remove();
  for (const el of document.querySelectorAll('[aria-describedby*="err-"]')) {
    el.setAttribute('aria-describedby', el.getAttribute('aria-describedby').split(' ').filter((x) => !x.startsWith('err-')).join(' '));
  }
}
// Mark the control `id` invalid and say why right under it.
function markField(id, message) {
  const ctl = $(id);
  if (!ctl) return;
  ctl.setAttribute('aria-invalid', 'true');
  const p = h('p', { class: 'field-error', id: 'err-' + id }, message);
  (ctl.closest('.pair') || ctl).insertAdjacentElement('afterend', p);
  const was = (ctl.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && !x.startsWith('err-'));
  ctl.setAttribute('aria-describedby', [...was, p.id].join(' '));
}
// A short description of a request, to say what the numbers on screen are for.
function describeReq(r) {
  const parts = [r.config ? 'the pasted config.json' : r.model, `on ${r.gpus}`];
  if (r.ctx) parts.push(`ctx ${r.ctx}`);
  if (r.batch !== undefined) parts.push(`batch ${r.batch}`);
  for (const k of ['weights', 'kv_dtype', 'engine']) if (r[k]) parts.push(`${k === 'kv_dtype' ? 'KV' : k} ${r[k]}`);
  if (PAR.some((k) => r[k] !== undefined)) parts.push(PAR.map((k) => `${k.toUpperCase()}${r[k] ?? '–'}`).join('·'));
  if (r.serving) {
    const sv = r.serving;
    parts.push(`serving ${sv.isl}+${sv.osl} tokens at ${sv.request_rate !== undefined ? sv.request_rate + ' req/s' : (sv.concurrency ?? r.batch ?? 1) + ' users'}`);
  }
  return parts.join(', ');
}
// The numbers on screen no longer answer the inputs: say so and dim them.
function markStale(why) {
  const res = $('results');
  res.dataset.stale = 'true';
  $('stale').hidden = false;
  $('stale').textContent = shown
    ? `Not current: the numbers below are for ${describeReq(shown.req)}. ${why}`
    : `No result yet. ${why}`;
}
function clearStale() {
  $('results').dataset.stale = 'false';
  $('stale').hidden = true;
  $('stale').textContent = '';
}
function showError(e) {
  clearInvalid();
  const box = $('error');
  box.hidden = false;
  box.textContent = e.message;
  const id = FIELD_CONTROL[e.field];
  if (id && $(id)) {
    markField(id, e.message);
    box.append(' ', h('a', { href: '#' + id, class: 'fix' }, 'Go to the field'));
  }
  $('status').textContent = 'Fix the input marked in red.';
  markStale('They will update when the input is fixed.');
  setState('error');
}

function renderReport(rep) {
  $('error').hidden = true;
  clearInvalid();
  for (const el of document.querySelectorAll('#results [data-field]')) {
    const v = get(rep, el.dataset.field);
    el.dataset.value = v === undefined ? '' : String(v);
    el.textContent = v === undefined ? '–' : (FORMATS[el.dataset.format] || String)(v);
    el.classList.remove('bad');
    delete el.dataset.shown;
  }
  const m = rep.model, g = rep.gpus, d = rep.deployment, w = rep.workload, mem = rep.memory_per_gpu;
  const par = PAR.map((k) => `${k.toUpperCase()}${d[k]}`).join(' · ');
  $('summary').textContent = `${m.display_name} (${fmtParams(m.params_total)} params, ${m.attention}) on ${g.count} × ${g.display_name}` +
    ` · ${d.weights_dtype} weights · ${d.kv_dtype} KV · ${par} · ${d.engine} · ${nf0.format(w.context)} tokens × ${nf0.format(w.batch)} sequences`;
  renderVerdict(rep);
  renderImpossible(rep);
  renderAccount(mem);
  renderBar(mem);
  $('recommendations').replaceChildren(...rep.recommendations.map((r) => h('li', {},
    h('strong', {}, r.title), ' ', h('span', { class: 'hint' }, r.cost ? `${r.detail}; cost: ${r.cost}` : r.detail), ' ',
    applyButton(r.candidate, 'recommendation'))));
  if (!rep.recommendations.length) $('recommendations').append(h('li', {}, 'No better configuration on these GPUs.'));
  $('assumptions').replaceChildren(...rep.assumptions.map((t) => h('li', {}, t)));
  $('version').textContent = rep.kvplan_version;
  for (const k of PAR) $(k).placeholder = String(d[k]);
}

// The headline and its reasons agree: under DOES NOT FIT, the failing
// reasons come first, and a memory line that passes says it is memory alone.
function renderVerdict(rep) {
  const mem = rep.memory_per_gpu;
  let lines = rep.verdict.slice();
  if (!rep.fits) {
    if (mem.total_bytes > mem.capacity_bytes && !lines.some((t) => /GPU memory|exceed/.test(t))) {
      lines.push(`the total of ${fmtGiB(mem.total_bytes)} per GPU exceeds its ${fmtGiB(mem.capacity_bytes)} of GPU memory`);
    }
    const passing = (t) => /^fits:\s*/.test(t);
    lines = [...lines.filter((t) => !passing(t)), ...lines.filter(passing).map((t) => 'memory alone would fit: ' + t.replace(/^fits:\s*/, ''))];
  }
  $('verdict').dataset.fits = String(rep.fits);
  $('verdict-head').textContent = rep.fits ? 'FITS' : 'DOES NOT FIT';
  $('verdict-lines').replaceChildren(...lines.map((t) => h('li', {}, t)));
}

// Quantities that cannot happen are said as what they mean: a KV pool
// below zero is a shortfall, and a plan that does not fit has no speed.
function renderImpossible(rep) {
  const mem = rep.memory_per_gpu;
  const pool = document.querySelector('[data-field="memory_per_gpu.kv_budget_bytes"]');
  const short = mem.kv_shortfall_bytes !== undefined ? mem.kv_shortfall_bytes : Math.max(0, -mem.kv_budget_bytes);
  pool.dataset.shortfall = String(short);
  if (short > 0) {
    pool.textContent = `short by ${fmtGiB(short)}`;
    pool.classList.add('bad');
  }
  const note = $('speed-note');
  note.replaceChildren();
  if (!rep.fits) {
    for (const el of document.querySelectorAll('#speed [data-field]')) {
      el.textContent = '—';
      el.dataset.shown = 'none';
    }
    const lim = rep.limits;
    const why = lim.max_batch === 0
      ? 'not even one sequence of this context fits'
      : `at this context at most ${nf0.format(lim.max_batch)} sequences fit`;
    note.append(`No speed: this configuration cannot run as set (${why}).`);
    if (lim.max_batch > 0 && rep.workload.context <= lim.model_max_context && lim.max_batch < rep.workload.batch) {
      const b = h('button', { type: 'button', class: 'apply', id: 'use-max-batch' }, `Use batch ${nf0.format(lim.max_batch)}`);
      b.addEventListener('click', () => {
        $('batch').value = String(lim.max_batch);
        syncSliders();
        schedule(0, true);
      });
      note.append(' ', b);
    }
  }
  note.hidden = rep.fits;
}

// Say where the memory terms go: the four terms add up to the total; the
// KV pool is what the engine's start-up arithmetic leaves inside its
// budget, and the difference is the part the engine keeps outside it.
function renderAccount(mem) {
  const el = $('mem-account');
  const sum = mem.weights_bytes + mem.activation_bytes + mem.overhead_bytes;
  if (mem.kv_budget_bytes <= 0) {
    el.dataset.value = '';
    el.textContent = `weights + KV cache + activations + overhead = ${fmtGiB(mem.total_bytes)} per GPU; no KV pool is left inside the engine budget of ${fmtGiB(mem.budget_bytes)}.`;
    return;
  }
  const outside = sum + mem.kv_budget_bytes - mem.budget_bytes;
  el.dataset.value = String(outside);
  const tail = outside >= 0
    ? `${fmtGiB(outside)} of these sits outside the engine budget (the engine takes it from the headroom the memory fraction leaves).`
    : `${fmtGiB(-outside)} of the budget stays unallocated by the engine.`;
  el.textContent = `weights + KV cache + activations + overhead = ${fmtGiB(mem.total_bytes)} per GPU. ` +
    `Weights + activations + overhead + KV pool = ${fmtGiB(sum + mem.kv_budget_bytes)} against an engine budget of ${fmtGiB(mem.budget_bytes)}: ${tail}`;
}

function renderBar(mem) {
  const scale = Math.max(mem.capacity_bytes, mem.total_bytes) || 1;
  for (const seg of document.querySelectorAll('#membar .seg')) {
    seg.style.width = (100 * Math.max(0, mem[seg.dataset.seg]) / scale).toFixed(3) + '%';
  }
  $('mark-budget').style.left = (100 * mem.budget_bytes / scale).toFixed(3) + '%';
  $('mark-capacity').style.left = (100 * mem.capacity_bytes / scale).toFixed(3) + '%';
  $('membar').setAttribute('aria-label',
    `per-GPU memory: weights ${fmtGiB(mem.weights_bytes)}, KV ${fmtGiB(mem.kv_cache_bytes)}, activations ${fmtGiB(mem.activation_bytes)}, ` +
    `overhead ${fmtGiB(mem.overhead_bytes)}; total ${fmtGiB(mem.total_bytes)} of ${fmtGiB(mem.capacity_bytes)} (engine budget ${fmtGiB(mem.budget_bytes)})`);
}

// A button that loads a candidate configuration — deployment and batch —
// into the form. From the plan table, focus stays on the button (the table
// is not redrawn); a recommendation's list is redrawn, so focus moves to
// the result's heading.
function applyButton(c, from) {
  const b = h('button', { type: 'button', class: 'apply' }, 'Try this');
  b.setAttribute('aria-label', `Try ${c.weights_dtype} weights, ${c.kv_dtype} KV, TP${c.tp} PP${c.pp} DP${c.dp} EP${c.ep} on ${c.gpus} GPUs at batch ${c.batch}`);
  b.addEventListener('click', () => {
    if (b.disabled) return;
    $('weights').value = c.weights_dtype;
    $('kv-dtype').value = c.kv_dtype;
    absorbGpuCounts(true);
    $('nodes').value = String(c.nodes);
    $('per-node').value = String(c.gpus / c.nodes);
    $('batch').value = String(c.batch);
    $('par-manual').checked = true;
    $('par-auto').checked = false;
    for (const k of PAR) $(k).value = String(c[k]);
    syncPar();
    syncSliders();
    if (from === 'plan') {
      appliedGpus = gpusText();
      $('plan-applied').textContent = `Applied: ${c.weights_dtype} weights, ${c.kv_dtype} KV, TP·PP·DP·EP ${c.tp}·${c.pp}·${c.dp}·${c.ep} on ${c.gpus} GPUs, batch ${nf0.format(c.batch)} — the result above shows it.`;
      schedule(0, true);
    } else {
      schedule(0, true, () => $('results-h').focus({ preventScroll: false }));
    }
  });
  return b;
}

const SERIES = [
  ['weights_bytes', 'weights'], ['kv_cache_bytes', 'kv'], ['activation_bytes', 'act'], ['overhead_bytes', 'ovh'],
];
// Text sizes in CSS px: the chart is drawn at its on-screen width, so they
// stay readable on a phone (the viewBox is never scaled down).
const CHART_FONT = 12;
function renderChart(sw, ctx) {
  lastSweep = { sw, ctx };
  const svg = $('chart');
  svg.replaceChildren();
  const pts = sw.points;
  if (!pts.length) return;
  const W = Math.max(280, Math.round(svg.parentElement.clientWidth || 640));
  const narrow = W < 520;
  const H = narrow ? 260 : 300, L = narrow ? 44 : 56, R = 14, T = 14, B = 42;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('width', String(W));
  svg.setAttribute('height', String(H));
  const lx = (c) => Math.log2(c);
  const x0 = lx(pts[0].context), x1 = lx(pts[pts.length - 1].context);
  const ymax = Math.max(sw.capacity_bytes, ...pts.map((p) => p.memory_per_gpu.total_bytes)) * 1.05;
  const X = (c) => L + (x1 === x0 ? 0.5 : (lx(c) - x0) / (x1 - x0)) * (W - L - R);
  const Y = (b) => T + (1 - b / ymax) * (H - T - B);
  // Stacked areas, bottom to top.
  const base = pts.map(() => 0);
  for (const [key, cls] of SERIES) {
    const top = pts.map((p, i) => base[i] + Math.max(0, p.memory_per_gpu[key]));
    let d = pts.map((p, i) => `${i ? 'L' : 'M'}${X(p.context).toFixed(1)},${Y(top[i]).toFixed(1)}`).join('');
    for (let i = pts.length - 1; i >= 0; i--) d += `L${X(pts[i].context).toFixed(1)},${Y(base[i]).toFixed(1)}`;
    svg.append(s('path', { d: d + 'Z', class: 'area ' + cls }));
    top.forEach((v, i) => { base[i] = v; });
  }
  // Grid and y labels (GiB).
  const step = niceStep(ymax / GIB / (narrow ? 4 : 5));
  for (let g = 0; g * step * GIB <= ymax; g++) {
    const y = Y(g * step * GIB);
    svg.append(s('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'grid' }));
    svg.append(s('text', { x: L - 6, y: y + 4, class: 'tick', 'text-anchor': 'end' }, `${g * step}`));
  }
  const mid = T + (H - T - B) / 2;
  svg.append(s('text', { x: 14, y: mid, class: 'axis', transform: `rotate(-90 14 ${mid})`, 'text-anchor': 'middle' }, 'GiB per GPU'));
  // X labels: as many as fit without touching; the last one is kept whole
  // inside the chart (anchored at its end).
  const width = (t) => t.length * CHART_FONT * 0.62 + 10;
  let lastRight = -Infinity;
  const ticks = [];
  for (const p of pts) {
    const label = fmtTokens(p.context);
    const x = X(p.context);
    if (x - width(label) / 2 < lastRight) continue;
    ticks.push([x, label]);
    lastRight = x + width(label) / 2;
  }
  for (const [x, label] of ticks) {
    const half = width(label) / 2 - 5;
    const anchor = x + half > W - 2 ? 'end' : x - half < L - 20 ? 'start' : 'middle';
    const tx = anchor === 'end' ? W - 2 : x;
    svg.append(s('line', { x1: x, x2: x, y1: H - B, y2: H - B + 4, class: 'grid' }));
    svg.append(s('text', { x: tx, y: H - B + 17, class: 'tick', 'text-anchor': anchor }, label));
  }
  svg.append(s('text', { x: L + (W - L - R) / 2, y: H - 5, class: 'axis', 'text-anchor': 'middle' }, narrow ? 'context, tokens (log scale)' : 'context per sequence, tokens (log scale)'));
  // Capacity label above its line, budget label below its line (they are close).
  for (const [v, cls, label, dy] of [[sw.capacity_bytes, 'line-capacity', 'GPU memory', -5], [sw.budget_bytes, 'line-budget', 'engine budget', 15]]) {
    svg.append(s('line', { x1: L, x2: W - R, y1: Y(v), y2: Y(v), class: cls }));
    svg.append(s('text', { x: L + 6, y: Y(v) + dy, class: 'label ' + cls }, label));
  }
  if (ctx >= pts[0].context && ctx <= pts[pts.length - 1].context) {
    svg.append(s('line', { x1: X(ctx), x2: X(ctx), y1: T, y2: H - B, class: 'line-now' }));
    const right = X(ctx) > (L + W) / 2;
    svg.append(s('text', { x: X(ctx) + (right ? -4 : 4), y: T + 14, class: 'label', 'text-anchor': right ? 'end' : 'start' }, `this plan: ${fmtTokens(ctx)}`));
  }
  svg.append(s('line', { x1: L, x2: L, y1: T, y2: H - B, class: 'axisline' }));
  svg.append(s('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axisline' }));
  const lastFit = pts.filter((p) => p.fits).pop();
  $('chart-desc').textContent = `Stacked weights, KV cache, activations and overhead per GPU from ${fmtTokens(pts[0].context)} to ${fmtTokens(pts[pts.length - 1].context)} tokens at batch ${sw.batch}. ` +
    (lastFit ? `Fits up to the ${fmtTokens(lastFit.context)} point.` : 'Fits at none of these contexts.');
  $('chart-table').tBodies[0].replaceChildren(...pts.map((p) => {
    const m = p.memory_per_gpu;
    return h('tr', {}, h('th', { scope: 'row' }, nf0.format(p.context)),
      ...[m.weights_bytes, m.kv_cache_bytes, m.activation_bytes, m.overhead_bytes, m.total_bytes].map((b) => h('td', {}, fmtGiB(b))),
      h('td', {}, p.fits ? 'yes' : 'no'));
  }));
}
function niceStep(x) {
  const p = 10 ** Math.floor(Math.log10(x || 1));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function cliCommand(r) {
  const q = (v) => (/^[\w.:/@%+-]+$/.test(v) ? v : `'${String(v).replace(/'/g, "'\\''")}'`);
  const parts = ['kvplan', 'estimate', r.config ? 'config.json' : q(r.model), '--gpus', q(r.gpus)];
  const flag = { ctx: '--ctx', batch: '--batch', weights: '--weights', kv_dtype: '--kv-dtype', engine: '--engine', tp: '--tp', pp: '--pp', dp: '--dp', ep: '--ep',
    gpu_memory_utilization: '--gpu-memory-utilization', mem_fraction_static: '--mem-fraction-static', block_size: '--block-size',
    max_num_batched_tokens: '--max-num-batched-tokens', profile: '--profile', attention: '--attention' };
  for (const [k, f] of Object.entries(flag)) if (r[k] !== undefined) parts.push(f, q(String(r[k])));
  if (r.mtp) parts.push('--mtp');
  if (r.serving) {
    for (const [k, f] of [['isl', '--isl'], ['osl', '--osl'], ['concurrency', '--concurrency'], ['request_rate', '--request-rate']]) {
      if (r.serving[k] !== undefined) parts.push(f, String(r.serving[k]));
    }
  }
  parts.push('--format', 'json');
  return parts.join(' ');
}

// ---------- serving: the workload, the simulated results and their chart ----------
const EMIT_ENGINES = new Set(['vllm', 'sglang', 'trtllm']);
const rateMode = () => $('load-rate').checked;
// The `serving` object of a request, or undefined when no lengths are given.
function servingRequest() {
  const isl = num('isl'), osl = num('osl');
  if (isl === undefined && osl === undefined) return undefined;
  if (isl === undefined) throw new LocalError('isl: give the input tokens per request too (or clear the output length to skip the simulation).', 'isl');
  if (osl === undefined) throw new LocalError('osl: give the output tokens per request too (or clear the input length to skip the simulation).', 'osl');
  const sv = { isl, osl };
  if (rateMode()) {
    const rr = num('request-rate');
    if (rr === undefined) throw new LocalError('request_rate: give the requests per second (or pick concurrent users).', 'request_rate');
    sv.request_rate = rr;
  } else if (num('concurrency') !== undefined) {
    sv.concurrency = num('concurrency');
  }
  return sv;
}
// The SLA inputs: the statistic and the limits (sent with the plan).
function slaInputs() {
  const o = { percentile: $('percentile').value };
  if (num('sla-ttft') !== undefined) o.max_ttft_ms = num('sla-ttft');
  if (num('sla-tpot') !== undefined) o.max_tpot_ms = num('sla-tpot');
  return o;
}
function syncLoad() {
  $('concurrency').disabled = rateMode();
  $('request-rate').disabled = !rateMode();
}
// The body of /api/serving-sweep for a request: the same workload in a
// closed loop, from 1 user to a few times the chosen concurrency.
function servingSweepBody(r) {
  const body = { ...r, serving: { ...r.serving, percentile: slaInputs().percentile } };
  delete body.serving.request_rate;
  const c = r.serving.concurrency ?? (r.serving.request_rate !== undefined ? undefined : r.batch);
  body.max_concurrency = Math.min(8192, Math.max(64, 4 * (c || 16)));
  delete body.serving.concurrency;
  return body;
}
function fmtMs(v) {
  if (!isFinite(v)) return '–';
  if (v < 10) return v.toFixed(2) + ' ms';
  if (v < 10000) return nf0.format(Math.round(v * 10) / 10) + ' ms';
  return (v / 1000).toFixed(2) + ' s';
}
// Compact axis numbers: 1, 20, 500, 2k, 15k.
function fmtAxis(v) {
  if (v >= 1e6) return +(v / 1e6).toPrecision(3) + 'M';
  if (v >= 1e3) return +(v / 1e3).toPrecision(3) + 'k';
  return String(+v.toPrecision(3));
}

function renderServing(rep, ssw) {
  const sv = rep.serving;
  $('serving').hidden = !sv;
  if (!sv) {
    lastServing = null;
    return;
  }
  $('serving-load').textContent = `${nf0.format(sv.replicas)} replica${sv.replicas > 1 ? 's' : ''}, ${sv.load_per_replica} each; ${nf0.format(sv.requests)} requests over ${sv.duration_seconds.toFixed(1)} s simulated (${nf0.format(sv.iterations)} iterations); KV pool ${nf0.format(sv.kv_pool_tokens_per_replica)} tokens per replica, at most ${(100 * sv.peak_kv_use).toFixed(0)} % in use.`;
  $('serving-sched').textContent = `Scheduler: ${sv.scheduler}.`;
  $('serving-assumptions').replaceChildren(...sv.assumptions.map((t) => h('li', {}, t)));
  const sla = slaInputs(), p = sla.percentile, el = $('serving-sla');
  const parts = [];
  let meets = true;
  for (const [k, lim, name] of [['ttft_ms', sla.max_ttft_ms, 'TTFT'], ['tpot_ms', sla.max_tpot_ms, 'TPOT']]) {
    if (lim === undefined) continue;
    const v = sv[k][p];
    meets = meets && v <= lim;
    parts.push(`${name} ${p} ${fmtMs(v)} ${v <= lim ? '≤' : '>'} ${fmtMs(lim)}`);
  }
  el.dataset.meets = parts.length ? String(meets) : '';
  el.textContent = parts.length ? `SLA ${meets ? 'met' : 'missed'}: ${parts.join('; ')}.` : `No SLA set: give a max TTFT or TPOT to check it (and to plan to it).`;
  renderServingChart(ssw, sv);
}

let lastServing = null; // the serving chart's data, redrawn on resize
function renderServingChart(ssw, sv) {
  lastServing = { ssw, sv };
  if (!ssw || !ssw.points.length) {
    $('schart-lat').replaceChildren();
    $('schart-pareto').replaceChildren();
    $('schart-desc').textContent = 'No concurrency sweep.';
    return;
  }
  const pts = ssw.points, p = ssw.percentile === 'p50' ? 'p90' : ssw.percentile;
  const xy = (f) => pts.map((q) => [q.concurrency, f(q.serving)]);
  lineChart($('schart-lat'), $('schart-lat-legend'), {
    xlog: true, ylog: true, xlabel: 'concurrent users (log)', ylabel: 'ms (log)', xticks: pts.map((q) => q.concurrency),
    series: [
      { name: 'TTFT p50', cls: 'ttft', pts: xy((s) => s.ttft_ms.p50) },
      { name: `TTFT ${p}`, cls: 'ttft dashed', pts: xy((s) => s.ttft_ms[p]) },
      { name: 'TPOT p50', cls: 'tpot', pts: xy((s) => s.tpot_ms.p50) },
      { name: `TPOT ${p}`, cls: 'tpot dashed', pts: xy((s) => s.tpot_ms[p]) },
    ],
  });
  const par = pts.map((q) => [q.serving.output_tokens_per_second_per_user, q.serving.output_tokens_per_second_per_gpu, q.concurrency]);
  lineChart($('schart-pareto'), $('schart-pareto-legend'), {
    xlog: false, ylog: false, xlabel: 'output tokens/s per user', ylabel: 'tok/s per GPU',
    series: [{ name: 'each point: concurrent users', cls: 'pareto', pts: par, labels: true }],
    mark: [sv.output_tokens_per_second_per_user, sv.output_tokens_per_second_per_gpu],
  });
  const best = pts.reduce((a, b) => (b.serving.output_tokens_per_second_per_gpu > a.serving.output_tokens_per_second_per_gpu ? b : a));
  $('schart-desc').textContent = `The same workload at ${pts.length} concurrencies from ${pts[0].concurrency} to ${pts[pts.length - 1].concurrency} users (closed loop). ` +
    `Top: TTFT and TPOT (p50 solid, ${p} dashed). Bottom: output tokens/s per GPU against per user, each point labelled with its users; ● is the workload above. ` +
    `Most per GPU: ${nf0.format(best.serving.output_tokens_per_second_per_gpu)} tok/s at ${best.concurrency} users.`;
  $('schart-th-ttft').textContent = `TTFT ${p}`;
  $('schart-th-tpot').textContent = `TPOT ${p}`;
  $('schart-table').tBodies[0].replaceChildren(...pts.map((q) => {
    const s = q.serving;
    return h('tr', {
      'data-concurrency': String(q.concurrency), 'data-ttft-p50': String(s.ttft_ms.p50), 'data-tpot-p50': String(s.tpot_ms.p50),
      'data-tps-gpu': String(s.output_tokens_per_second_per_gpu), 'data-tps-user': String(s.output_tokens_per_second_per_user),
    }, h('th', { scope: 'row' }, nf0.format(q.concurrency)),
      ...[fmtMs(s.ttft_ms.p50), fmtMs(s.ttft_ms[p]), fmtMs(s.tpot_ms.p50), fmtMs(s.tpot_ms[p]),
        nf0.format(s.output_tokens_per_second_per_gpu), s.output_tokens_per_second_per_user.toFixed(1)].map((t) => h('td', {}, t)));
  }));
}

// A line chart drawn at its on-screen width (text at its CSS size), in the
// page's own way: log or linear axes, a legend beside it in HTML.
function lineChart(svg, legend, o) {
  svg.replaceChildren();
  const W = Math.max(280, Math.round(svg.parentElement.clientWidth || 640));
  const narrow = W < 520;
  const H = narrow ? 220 : 250, L = narrow ? 50 : 60, R = 16, T = 14, B = 40;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('width', String(W));
  svg.setAttribute('height', String(H));
  const ok = ([x, y]) => isFinite(x) && isFinite(y) && (!o.xlog || x > 0) && (!o.ylog || y > 0);
  const all = o.series.flatMap((s) => s.pts).filter(ok);
  if (!all.length) return;
  const tx = (v) => (o.xlog ? Math.log10(v) : v), ty = (v) => (o.ylog ? Math.log10(v) : v);
  let x0 = Math.min(...all.map((q) => tx(q[0]))), x1 = Math.max(...all.map((q) => tx(q[0])));
  let y0 = Math.min(...all.map((q) => ty(q[1]))), y1 = Math.max(...all.map((q) => ty(q[1])));
  if (o.ylog) { y0 = Math.floor(y0); y1 = Math.ceil(y1); if (y1 === y0) y1 += 1; } else { y0 = 0; y1 = (y1 || 1) * 1.08; }
  if (!o.xlog) { x0 = 0; x1 = (x1 || 1) * 1.08; }
  const X = (v) => L + (x1 === x0 ? 0.5 : (tx(v) - x0) / (x1 - x0)) * (W - L - R);
  const Y = (v) => T + (1 - (ty(v) - y0) / (y1 - y0)) * (H - T - B);
  // Y grid: decades (with 2 and 5 when few), or nice linear steps.
  const yt = [];
  if (o.ylog) {
    for (let k = y0; k <= y1; k++) for (const m of (y1 - y0 <= 2 ? [1, 2, 5] : [1])) if (k + Math.log10(m) <= y1 + 1e-9) yt.push(m * 10 ** k);
  } else {
    const st = niceStep(y1 / (narrow ? 4 : 5));
    for (let v = 0; v <= y1; v += st) yt.push(v);
  }
  for (const v of yt) {
    svg.append(s('line', { x1: L, x2: W - R, y1: Y(v), y2: Y(v), class: 'grid' }));
    svg.append(s('text', { x: L - 6, y: Y(v) + 4, class: 'tick', 'text-anchor': 'end' }, fmtAxis(v)));
  }
  // X ticks: the given values (thinned so labels never touch), or nice steps.
  let xt = o.xticks;
  if (!xt) { const st = niceStep(x1 / (narrow ? 4 : 6)); xt = []; for (let v = 0; v <= x1; v += st) xt.push(v); }
  const width = (t) => t.length * CHART_FONT * 0.62 + 10;
  let lastRight = -Infinity;
  for (const v of xt) {
    const x = X(v), label = fmtAxis(v);
    if (x - width(label) / 2 < lastRight) continue;
    lastRight = x + width(label) / 2;
    const anchor = x + width(label) / 2 > W - 2 ? 'end' : 'middle';
    svg.append(s('line', { x1: x, x2: x, y1: H - B, y2: H - B + 4, class: 'grid' }));
    svg.append(s('text', { x: anchor === 'end' ? W - 2 : x, y: H - B + 17, class: 'tick', 'text-anchor': anchor }, label));
  }
  svg.append(s('text', { x: L + (W - L - R) / 2, y: H - 5, class: 'axis', 'text-anchor': 'middle' }, o.xlabel));
  const mid = T + (H - T - B) / 2;
  svg.append(s('text', { x: 13, y: mid, class: 'axis', transform: `rotate(-90 13 ${mid})`, 'text-anchor': 'middle' }, o.ylabel));
  svg.append(s('line', { x1: L, x2: L, y1: T, y2: H - B, class: 'axisline' }));
  svg.append(s('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axisline' }));
  for (const se of o.series) {
    const q = se.pts.filter(ok);
    if (!q.length) continue;
    svg.append(s('path', { d: q.map(([x, y], i) => `${i ? 'L' : 'M'}${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(''), class: 'sline ' + se.cls }));
    for (const [x, y, tag] of q) {
      svg.append(s('circle', { cx: X(x).toFixed(1), cy: Y(y).toFixed(1), r: 3, class: 'sdot ' + se.cls }));
      if (se.labels && tag !== undefined) {
        const lx = X(x), right = lx > W - R - 40;
        svg.append(s('text', { x: right ? lx - 5 : lx + 5, y: Math.max(T + 11, Y(y) - 6), class: 'label small', 'text-anchor': right ? 'end' : 'start' }, String(tag)));
      }
    }
  }
  if (o.mark && ok(o.mark)) svg.append(s('circle', { cx: X(o.mark[0]).toFixed(1), cy: Y(o.mark[1]).toFixed(1), r: 6, class: 'smark' }));
  legend.replaceChildren(...o.series.map((se) => h('span', { class: 'key' }, h('span', { class: 'swatch line ' + se.cls }), se.name)));
}

// ---------- the launch command (--emit) with its copy button ----------
let launchFor = null; // JSON of the request the launch on screen answers
function launchBody(r) {
  const body = { ...r };
  delete body.serving;
  body.emit = r.engine || 'vllm';
  if (r.serving) {
    body.input_len = r.serving.isl;
    body.output_len = r.serving.osl;
  }
  return body;
}
function launchText(l) {
  const files = l.files.map((f) => `cat > ${f.name} <<'EOF'\n${f.text.replace(/\n$/, '')}\nEOF`);
  return [...files, ...l.commands.map((c) => c.shell)].join('\n\n');
}
async function loadLaunch(r) {
  if (!r || !$('launch-panel').open) return;
  const engine = r.engine || 'vllm';
  const panel = $('launch-panel');
  if (!EMIT_ENGINES.has(engine)) {
    panel.dataset.state = 'none';
    $('launch-status').textContent = `No launch command for the ${engine} engine profile: pick vLLM, SGLang or TensorRT-LLM.`;
    $('launch-cmd').textContent = '';
    $('copy-launch').disabled = true;
    return;
  }
  const body = launchBody(r), key = JSON.stringify(body);
  if (key === launchFor) return;
  launchFor = key;
  panel.dataset.state = 'loading';
  $('launch-status').textContent = 'Writing the launch command…';
  try {
    const rep = await api('/api/estimate', body);
    if (launchFor !== key) return;
    const l = rep.launch;
    $('launch-cmd').textContent = launchText(l);
    $('copy-launch').disabled = false;
    $('copy-launch-status').textContent = '';
    $('launch-status').textContent = `${l.engine} ${l.engine_version}${l.expressible ? '' : ' — not expressible as set: see the problems below'}; flags from ${l.args_source}.`;
    $('launch-problems').replaceChildren(...l.problems.map((t) => h('li', {}, t)));
    $('launch-log').replaceChildren(...l.expected_log.map((e) => h('li', {}, h('span', { class: 'hint' }, `${e.quantity} = ${e.value}: `), h('code', {}, e.line))));
    if (!l.expected_log.length) $('launch-log').append(h('li', { class: 'hint' }, 'none for this engine'));
    $('launch-bench').textContent = l.benchmark.map((c) => c.shell).join('\n\n');
    $('launch-notes').replaceChildren(...l.notes.map((t) => h('li', {}, t)));
    panel.dataset.request = key;
    panel.dataset.state = 'ready';
  } catch (e) {
    if (launchFor !== key) return;
    launchFor = null;
    panel.dataset.state = 'error';
    $('launch-status').textContent = e.message;
    $('launch-cmd').textContent = '';
    $('copy-launch').disabled = true;
  }
}
async function copyLaunch() {
  const text = $('launch-cmd').textContent;
  try {
    await navigator.clipboard.writeText(text);
    $('copy-launch-status').textContent = 'Copied.';
  } catch (_) {
    // No clipboard access: select the text for a manual copy.
    const range = document.createRange();
    range.selectNodeContents($('launch-cmd'));
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    $('copy-launch-status').textContent = 'Selected: press Ctrl+C (or ⌘C) to copy.';
  }
}
// ---------- the SLA plan (a serving workload is set) ----------
function renderSlaPlan(out, body) {
  const p = body.serving.percentile || 'p90';
  $('plan-table').hidden = true;
  $('sla-th-ttft').textContent = `TTFT ${p}`;
  $('sla-th-tpot').textContent = `TPOT ${p}`;
  const labels = Array.from($('sla-table').tHead.rows[0].cells, (c) => c.dataset.label || c.textContent);
  $('sla-table').tBodies[0].replaceChildren(...out.candidates.map((c, i) => {
    const cells = [
      String(i + 1) + (c.pareto ? ' ★' : ''), c.weights_dtype, c.kv_dtype, `${c.tp}·${c.pp}·${c.dp}·${c.ep}`,
      c.copies > 1 ? `${c.total_gpus} (${c.copies}×${c.gpus})` : String(c.gpus),
      nf0.format(c.max_num_batched_tokens), nf0.format(c.max_num_seqs), fmtMs(c.ttft_ms), fmtMs(c.tpot_ms),
      nf0.format(c.output_tokens_per_second_per_gpu), c.output_tokens_per_second_per_user.toFixed(1),
      c.meets_sla ? 'meets' : `✗ ${c.sla_ratio.toFixed(2)}×`,
    ].map((t, j) => h('td', { 'data-label': labels[j] }, t));
    cells.push(h('td', { class: 'apply-cell', 'data-label': '' }, slaApplyButton(c)));
    return h('tr', {
      class: c.meets_sla ? '' : 'nofit',
      'data-config': `${c.weights_dtype}/${c.kv_dtype}/${c.tp}/${c.pp}/${c.dp}/${c.ep}`,
      'data-tps-gpu': String(c.output_tokens_per_second_per_gpu),
      'data-ttft': String(c.ttft_ms),
      'data-tpot': String(c.tpot_ms),
    }, ...cells);
  }));
  $('sla-table').hidden = false;
  $('sla-table').dataset.request = JSON.stringify(body);
  $('sla-table').dataset.evaluated = String(out.evaluated);
  $('sla-nearest').hidden = !out.nearest;
  $('sla-nearest').textContent = out.nearest || '';
  const sla = out.sla, lims = [sla.max_ttft_ms != null ? `TTFT ≤ ${sla.max_ttft_ms} ms` : null, sla.max_tpot_ms != null ? `TPOT ≤ ${sla.max_tpot_ms} ms` : null].filter(Boolean);
  const load = body.serving.request_rate !== undefined ? `${body.serving.request_rate} requests/s` : `${body.serving.concurrency ?? body.batch ?? 1} users`;
  $('plan-for').textContent = `Planned for ${describeReq(body)}: ${nf0.format(body.serving.isl)} + ${nf0.format(body.serving.osl)} tokens per request at ${load}; SLA ${lims.length ? lims.join(', ') : '(none)'} at ${sla.percentile}; ranked by output tokens/s per GPU.`;
  $('plan-status').textContent = `${out.evaluated} configurations simulated; ${out.any_meets ? 'best first, ★ = on the tokens/s per GPU vs per user Pareto front' : 'none meets the SLA (nearest first)'}.`;
}
// "Try this" on an SLA row: the layout, formats and prefill chunk (the
// workload stays as it is).
function slaApplyButton(c) {
  const b = h('button', { type: 'button', class: 'apply' }, 'Try this');
  b.setAttribute('aria-label', `Try ${c.weights_dtype} weights, ${c.kv_dtype} KV, TP${c.tp} PP${c.pp} DP${c.dp} EP${c.ep} on ${c.gpus} GPUs, prefill chunk ${c.max_num_batched_tokens}`);
  b.addEventListener('click', () => {
    if (b.disabled) return;
    $('weights').value = c.weights_dtype;
    $('kv-dtype').value = c.kv_dtype;
    absorbGpuCounts(true);
    const per = Number($('per-node').value) || 1;
    if (c.gpus <= per) { $('nodes').value = '1'; $('per-node').value = String(c.gpus); } else { $('nodes').value = String(Math.ceil(c.gpus / per)); }
    $('par-manual').checked = true;
    $('par-auto').checked = false;
    for (const k of PAR) $(k).value = String(c[k]);
    $('mnbt').value = String(c.max_num_batched_tokens);
    $('advanced').open = true;
    syncPar();
    syncSliders();
    appliedGpus = gpusText();
    $('plan-applied').textContent = `Applied: ${c.weights_dtype} weights, ${c.kv_dtype} KV, TP·PP·DP·EP ${c.tp}·${c.pp}·${c.dp}·${c.ep} on ${c.gpus} GPUs, prefill chunk ${nf0.format(c.max_num_batched_tokens)} — the result above shows it.`;
    schedule(0, true);
  });
  return b;
}

// ---------- the plan table: what it was searched for, and when it is stale ----------
// The inputs a search depends on (the parallelism and batch are searched
// over; weights and KV dtype only when the search fixed them).
function planInputs(r) {
  const o = { ...r };
  for (const k of [...PAR, 'batch', 'users', 'max_tpot_ms', 'max_ttft_ms', 'objective', 'top']) delete o[k];
  if (o.config) o.config = JSON.stringify(o.config);
  return o;
}
function planStaleReason(cur) {
  if (!plan) return null;
  const was = planInputs(plan.req), now = planInputs(cur);
  const changed = [];
  for (const k of new Set([...Object.keys(was), ...Object.keys(now)])) {
    if ((k === 'weights' || k === 'kv_dtype') && was[k] === undefined) continue;
    if (k === 'gpus' && (now.gpus === appliedGpus || now.gpus === was.gpus)) continue;
    if (JSON.stringify(was[k]) !== JSON.stringify(now[k])) {
      const label = k === 'config' ? 'the pasted config' : k;
      changed.push(k === 'config' || k === 'model' ? label : `${label} ${was[k] ?? '(default)'} → ${now[k] ?? '(default)'}`);
    }
  }
  return changed.length ? changed.join(', ') : null;
}
function checkPlanStale(cur) {
  if (!plan) return;
  const why = cur ? planStaleReason(cur) : 'the inputs are not valid';
  const t = $('plan-table');
  t.dataset.stale = why ? 'true' : 'false';
  $('sla-table').dataset.stale = why ? 'true' : 'false';
  $('plan-stale').hidden = !why;
  $('plan-stale').textContent = why ? `Out of date: the inputs changed since this search (${why}). Search again to try a row.` : '';
  for (const b of document.querySelectorAll('#plan-table button.apply, #sla-table button.apply')) {
    b.disabled = !!why;
    if (why) b.setAttribute('aria-disabled', 'true'); else b.removeAttribute('aria-disabled');
  }
}

// ---------- the update loop ----------
let afterUpdate = null;
// Recompute after `ms`; `force` skips the half-typed-name hold; `then` runs
// after the results are drawn.
function schedule(ms = CHANGE_PAUSE_MS, force = false, then = null) {
  clearTimeout(timer);
  afterUpdate = then;
  timer = setTimeout(() => update(force), ms);
}
async function update(force = false) {
  describePickers();
  // A paste being checked recomputes when the check ends.
  if (cfg.state === 'checking') return;
  let r;
  try {
    r = request();
  } catch (e) {
    writeUrl(requestForLink());
    ++seq;
    showError(e);
    checkPlanStale(null);
    return;
  }
  writeUrl(r);
  checkPlanStale(r);
  // A half-typed built-in name: wait for the rest instead of an error.
  if (!force && r.model && !findModel(r.model) && !r.model.startsWith('hf:')) {
    const matches = modelsStartingWith(r.model);
    if (matches.length) {
      ++seq;
      $('status').textContent = `${matches.length} built-in model${matches.length > 1 ? 's' : ''} start${matches.length > 1 ? '' : 's'} with '${r.model}': pick one from the list, or press Enter to use '${r.model}' as typed.`;
      markStale('Waiting for a complete model name.');
      setState('waiting');
      return;
    }
  }
  const my = ++seq;
  setState('loading');
  $('status').textContent = 'Computing…';
  const then = afterUpdate;
  afterUpdate = null;
  try {
    // The memory chart has no serving section; the serving chart is its own sweep.
    const memReq = { ...r };
    delete memReq.serving;
    const calls = [api('/api/estimate', r), api('/api/sweep', memReq)];
    const ssBody = r.serving ? servingSweepBody(r) : null;
    if (ssBody) calls.push(api('/api/serving-sweep', ssBody));
    const [rep, sw, ssw] = await Promise.all(calls);
    if (my !== seq) return;
    shown = { req: r, rep };
    clearStale();
    renderReport(rep);
    renderChart(sw, rep.workload.context);
    renderServing(rep, ssw);
    $('schart-table').dataset.request = ssBody ? JSON.stringify(ssBody) : '';
    syncPlanMode(r);
    $('cli-cmd').textContent = cliCommand(r);
    $('results').dataset.request = JSON.stringify(r);
    $('status').textContent = `Updated: ${rep.fits ? 'fits' : 'does not fit'}, ${fmtGiB(rep.memory_per_gpu.total_bytes)} of ${fmtGiB(rep.memory_per_gpu.capacity_bytes)} per GPU.`;
    setState('ready');
    loadLaunch(r);
    if (then) then();
  } catch (e) {
    if (my !== seq) return;
    $('results').dataset.request = JSON.stringify(r);
    showError(e);
  }
}

async function runPlan(ev) {
  ev.preventDefault();
  let r;
  try { r = request(); } catch (e) {
    $('plan-status').textContent = e.message;
    return;
  }
  for (const k of PAR) delete r[k];
  const batch = r.batch;
  delete r.batch;
  const users = num('users'), tpot = num('max-tpot'), ttft = num('max-ttft');
  if (users !== undefined) r.users = users;
  if (tpot !== undefined) r.max_tpot_ms = tpot;
  if (ttft !== undefined) r.max_ttft_ms = ttft;
  r.objective = $('objective').value;
  r.top = 10;
  if (r.serving) {
    await runSlaPlan(r, batch);
    return;
  }
  $('sla-table').hidden = true;
  $('sla-nearest').hidden = true;
  $('plan-status').textContent = 'Searching…';
  try {
    const out = await api('/api/plan', r);
    const tb = $('plan-table').tBodies[0];
    const labels = Array.from($('plan-table').tHead.rows[0].cells, (c) => c.dataset.label || c.textContent);
    tb.replaceChildren(...out.candidates.map((c, i) => {
      const cells = [
        String(i + 1) + (c.pareto ? ' ★' : ''), c.weights_dtype, c.kv_dtype, `${c.tp}·${c.pp}·${c.dp}·${c.ep}`, String(c.gpus),
        nf0.format(c.batch), c.fits ? nf0.format(c.tokens_per_second) : '—', c.fits ? fmtSec(c.tpot_seconds) : '—',
        c.fits ? fmtSec(c.ttft_seconds) : '—', (c.fits ? '' : '✗ ') + c.reason,
      ].map((t, j) => h('td', { 'data-label': labels[j], class: j === 9 ? 'why' : '' }, t));
      cells.push(h('td', { class: 'apply-cell', 'data-label': '' }, applyButton(c, 'plan')));
      return h('tr', {
        class: c.fits ? '' : 'nofit',
        'data-config': `${c.weights_dtype}/${c.kv_dtype}/${c.tp}/${c.pp}/${c.dp}/${c.ep}`,
        'data-tps': String(c.tokens_per_second),
        'data-batch': String(c.batch),
        'data-gpus': String(c.gpus),
      }, ...cells);
    }));
    plan = { req: r };
    appliedGpus = null;
    $('plan-applied').textContent = '';
    $('plan-table').hidden = false;
    $('plan-table').dataset.request = JSON.stringify(r);
    $('plan-table').dataset.evaluated = String(out.evaluated);
    const goal = [r.users !== undefined ? `${r.users} users` : 'the largest batch that fits',
      r.max_tpot_ms !== undefined ? `TPOT ≤ ${r.max_tpot_ms} ms` : null, r.max_ttft_ms !== undefined ? `TTFT ≤ ${r.max_ttft_ms} ms` : null,
      `objective ${r.objective}`].filter(Boolean).join(', ');
    $('plan-for').textContent = `Searched for ${describeReq(r)}; ${r.weights ? '' : 'any weight format, '}${r.kv_dtype ? '' : 'any KV dtype, '}${goal}.`;
    $('plan-status').textContent = `${out.evaluated} configurations evaluated; ${out.any_fits ? 'best first, ★ = on the throughput/latency Pareto front' : 'none fits'}.`;
    checkPlanStale(r);
  } catch (e) {
    $('plan-status').textContent = e.message;
    const id = FIELD_CONTROL[e.field];
    if (id) markField(id, e.message);
  }
}

// The SLA plan: the workload's SLA fields are its limits.
async function runSlaPlan(r, batch) {
  const sla = slaInputs();
  const body = { ...r, serving: { ...r.serving, percentile: sla.percentile } };
  // The load defaults to the batch, as the estimate's does.
  if (body.serving.concurrency === undefined && body.serving.request_rate === undefined && batch !== undefined) body.serving.concurrency = batch;
  for (const k of ['users', 'max_tpot_ms', 'max_ttft_ms', 'objective']) delete body[k];
  if (sla.max_ttft_ms !== undefined) body.max_ttft_ms = sla.max_ttft_ms;
  if (sla.max_tpot_ms !== undefined) body.max_tpot_ms = sla.max_tpot_ms;
  $('plan-status').textContent = 'Simulating the configurations…';
  try {
    const out = await api('/api/plan', body);
    renderSlaPlan(out, body);
    plan = { req: r };
    appliedGpus = null;
    $('plan-applied').textContent = '';
    checkPlanStale(r);
  } catch (e) {
    $('plan-status').textContent = e.message;
    const id = SLA_CONTROL[e.field] || FIELD_CONTROL[e.field];
    if (id) markField(id, e.message);
  }
}
// With a serving workload the plan searches to its SLA: the classic
// search's own limits are not used, and say so.
function syncPlanMode(r) {
  const sv = !!(r && r.serving);
  for (const id of ['users', 'max-tpot', 'max-ttft', 'objective']) $(id).disabled = sv;
  $('plan-mode').textContent = sv
    ? 'A serving workload is set: the search simulates each configuration and plans to its SLA (max TTFT/TPOT in the Serving workload fields), ranked by output tokens/s per GPU.'
    : '';
}

function setConfigState(state, message) {
  cfg.state = state;
  cfg.message = message || '';
  $('model').disabled = state !== 'none';
  if (state === 'invalid' || state === 'missing') $('config').setAttribute('aria-invalid', 'true');
  else $('config').removeAttribute('aria-invalid');
  if (state === 'none') $('config-info').textContent = 'A pasted config travels in the share link (compressed, after the #), never to other servers.';
  else if (state !== 'ok') $('config-info').textContent = message;
  describePickers();
}

// A pasted or uploaded config.json: checked by the server, then used for
// every request. While it is invalid nothing is computed (the old results
// are marked stale) and the model picker stays locked: the page never
// silently falls back to the built-in model.
async function setConfigText(text, recompute = true) {
  $('config').value = text;
  cfg.text = text;
  if (!text.trim()) {
    cfg.obj = null;
    cfg.fragment = '';
    setConfigState('none');
    if (!$('model').value.trim()) $('model').value = DEFAULTS.model;
    schedule(0, true);
    return;
  }
  cfg.fragment = await packText(text).catch(() => '');
  if (cfg.text !== text) return; // a newer paste arrived meanwhile
  let obj;
  try { obj = JSON.parse(text); } catch (e) {
    cfg.obj = null;
    setConfigState('invalid', `not valid JSON: ${e.message}.`);
    if (recompute) schedule(0, true);
    return;
  }
  setConfigState('checking', 'Checking the config.json…');
  try {
    const m = await api('/api/config', obj);
    if (cfg.text !== text) return;
    cfg.obj = obj;
    setConfigState('ok');
    $('config-info').textContent = `Read ${m.display_name}: ${fmtParams(m.params_total)} params (${fmtParams(m.params_active)} active), ${m.attention_label}, ${m.layers} layers, up to ${nf0.format(m.max_context)} tokens. It travels in the share link.`;
  } catch (e) {
    if (cfg.text !== text) return;
    cfg.obj = null;
    setConfigState('invalid', e.message.replace(/^config:\s*/, '') + '.');
  }
  if (recompute) schedule(0, true);
}

function fill(listId, items, value, label) {
  $(listId).replaceChildren(...items.map((x) => h('option', { value: value(x) }, label(x))));
}

async function init() {
  try {
    const [models, gpus, engines, formats, profiles] = await Promise.all(
      ['/api/models', '/api/gpus', '/api/engines', '/api/formats', '/api/profiles'].map((p) => api(p)));
    Object.assign(catalog, { models, gpus, engines });
    fill('model-list', models, (m) => m.name, (m) => `${m.display_name} · ${fmtParams(m.params_total)}`);
    fill('gpu-list', gpus, (g) => g.name, (g) => `${g.display_name} · ${fmtGiB(g.memory_bytes)}`);
    $('engine').replaceChildren(...engines.map((e) => h('option', { value: e.name }, `${e.display_name}`)));
    $('weights').append(...formats.weights.map((f) => h('option', { value: f }, f)));
    $('kv-dtype').append(...formats.kv_dtypes.map((f) => h('option', { value: f }, f)));
    $('profile').append(...profiles.map((p) => h('option', { value: p.name }, `measured on ${p.device_name} (${p.date}; ${p.gpu} only)`)));
  } catch (e) {
    showError(e);
    return;
  }
  const marker = readUrl();
  setConfigState('none');

  const form = $('form');
  form.addEventListener('submit', (e) => { e.preventDefault(); absorbGpuCounts(true); schedule(0, true); });
  form.addEventListener('input', (e) => {
    const t = e.target;
    if (t.id === 'ctx-range') $('ctx').value = String(CTX_STEPS[t.value]);
    if (t.id === 'batch-range') $('batch').value = String(2 ** t.value);
    if (t.id === 'config' || t.id === 'config-file') return;
    if (t.id === 'gpu') absorbGpuCounts(false);
    syncSliders();
    describePickers();
    const hub = t.id === 'model' && t.value.trim().startsWith('hf:');
    schedule(hub ? HUB_PAUSE_MS : TEXT_FIELDS.has(t.id) ? TEXT_PAUSE_MS : CHANGE_PAUSE_MS);
  });
  form.addEventListener('change', (e) => {
    const t = e.target;
    if (t.name === 'load-mode') {
      syncLoad();
      schedule(0);
    } else if (t.name === 'par-mode') {
      syncPar();
      if (manual()) for (const k of PAR) if (!$(k).value) $(k).value = $(k).placeholder;
      schedule(0);
    } else if (t.id === 'gpu') {
      absorbGpuCounts(true);
      describePickers();
    } else if (t.id === 'model' && !$('model').disabled) {
      // Enter or leaving the field: the name is complete as typed.
      schedule(0, true);
    }
  });
  let cfgTimer = null;
  $('config').addEventListener('input', () => {
    clearTimeout(cfgTimer);
    cfgTimer = setTimeout(() => setConfigText($('config').value), 400);
  });
  $('config-file').addEventListener('change', async () => {
    const f = $('config-file').files[0];
    if (f) await setConfigText(await f.text());
  });
  $('config-clear').addEventListener('click', () => { $('config-file').value = ''; setConfigText(''); });
  $('plan-form').addEventListener('submit', runPlan);
  $('launch-panel').addEventListener('toggle', () => { if ($('launch-panel').open && shown) loadLaunch(shown.req); });
  $('copy-launch').addEventListener('click', copyLaunch);
  $('copy-link').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      $('copy-status').textContent = 'Link copied.';
    } catch (_) {
      $('copy-status').textContent = `Copy this address: ${location.href}`;
    }
  });
  // Redraw the chart at its new width (text stays at its CSS size).
  let lastWidth = 0;
  new ResizeObserver(() => {
    const w = $('chart').parentElement.clientWidth;
    if (lastSweep && Math.abs(w - lastWidth) > 2) {
      lastWidth = w;
      renderChart(lastSweep.sw, lastSweep.ctx);
    }
  }).observe($('chart').parentElement);
  let lastServingWidth = 0;
  new ResizeObserver(() => {
    const w = $('schart-lat').parentElement.clientWidth;
    if (lastServing && Math.abs(w - lastServingWidth) > 2) {
      lastServingWidth = w;
      renderServingChart(lastServing.ssw, lastServing.sv);
    }
  }).observe($('schart-lat').parentElement);
  $('status').textContent = '';
  await restoreConfig(marker);
  await update(true);
}

document.addEventListener('DOMContentLoaded', init);
