// kvplan web calculator. Vanilla JS, no build step, no third-party code.
// The page holds no formulas: every number comes from the JSON API, which
// runs the same core as `kvplan estimate --format json`.
'use strict';

const $ = (id) => document.getElementById(id);
const GIB = 2 ** 30;
// Slider stops: common context lengths (exact token counts).
const CTX_STEPS = [1024, 2048, 4096, 8192, 16384, 32768, 65536, 100000, 131072, 163840, 262144, 524288, 1000000, 1048576];
const DEFAULTS = { model: 'llama-3.1-70b', gpu: 'H100', per_node: '4', nodes: '1', ctx: '32k', batch: '16', engine: 'vllm' };
// API field → the control that shows it (to mark errors).
const FIELD_CONTROL = {
  model: 'model', config: 'config', gpus: 'gpu', ctx: 'ctx', max_model_len: 'ctx', batch: 'batch',
  weights: 'weights', kv_dtype: 'kv-dtype', engine: 'engine', tp: 'tp', pp: 'pp', ep: 'ep', dp: 'dp',
  gpu_memory_utilization: 'mem-fraction', mem_fraction_static: 'mem-fraction', block_size: 'block-size',
  max_num_batched_tokens: 'mnbt', mtp: 'mtp', mtp_acceptance: 'mtp', users: 'users',
  max_tpot_ms: 'max-tpot', max_ttft_ms: 'max-ttft', objective: 'objective', profile: 'profile', attention: 'attention',
};

const catalog = { models: [], gpus: [], engines: [] };
let customConfig = null; // parsed object of a pasted config.json
let seq = 0; // latest request number; older answers are dropped
let timer = null;

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
function fmtTokens(n) {
  if (n >= 1048576 && n % 1048576 === 0) return n / 1048576 + 'Mi';
  if (n >= 1000000 && n % 1000000 === 0) return n / 1000000 + 'M';
  if (n >= 1024 && n % 1024 === 0) return n / 1024 + 'Ki';
  if (n >= 1000 && n % 1000 === 0) return n / 1000 + 'k';
  return nf0.format(n);
}
const FORMATS = {
  gib: fmtGiB, bytes: fmtBytes, sec: fmtSec, params: fmtParams, text: String,
  int: (n) => nf0.format(n), rate: (n) => nf0.format(n) + ' tok/s',
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
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'type' || k === 'value' || k === 'id' || k === 'scope') el.setAttribute(k, v);
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

// ---------- state <-> controls <-> URL ----------
function gpusText() {
  const per = $('per-node').value.trim() || '1';
  const nodes = $('nodes').value.trim() || '1';
  const gpu = $('gpu').value.trim();
  return (nodes !== '1' ? nodes + 'x' : '') + per + 'x' + gpu;
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

// The body of /api/estimate for the current controls (API field names).
function request() {
  const r = {};
  if (customConfig) r.config = customConfig;
  else r.model = $('model').value.trim();
  r.gpus = gpusText();
  const ctx = $('ctx').value.trim();
  if (ctx) r.ctx = ctx;
  const batch = num('batch');
  if (batch !== undefined) r.batch = batch;
  for (const [id, key] of [['weights', 'weights'], ['kv-dtype', 'kv_dtype'], ['engine', 'engine']]) {
    if ($(id).value) r[key] = $(id).value;
  }
  if (manual()) for (const k of ['tp', 'pp', 'ep', 'dp']) if (num(k) !== undefined) r[k] = num(k);
  const frac = num('mem-fraction');
  if (frac !== undefined) r[$('engine').value === 'sglang' ? 'mem_fraction_static' : 'gpu_memory_utilization'] = frac;
  if (num('block-size') !== undefined) r.block_size = num('block-size');
  if (num('mnbt') !== undefined) r.max_num_batched_tokens = num('mnbt');
  if ($('mtp').checked) r.mtp = true;
  if ($('profile').value) r.profile = $('profile').value;
  if ($('attention').value.trim()) r.attention = $('attention').value.trim();
  return r;
}

// The URL query uses the API's field names, so a link reads like the request.
function writeUrl(r) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(r)) if (k !== 'config') q.set(k, String(v));
  history.replaceState(null, '', '?' + q.toString());
}
function readUrl() {
  const q = new URLSearchParams(location.search);
  const val = (k, d) => (q.has(k) ? q.get(k) : d);
  $('model').value = val('model', DEFAULTS.model);
  const g = parseGpus(val('gpus', `${DEFAULTS.per_node}x${DEFAULTS.gpu}`)) || {};
  $('gpu').value = g.gpu || DEFAULTS.gpu;
  $('per-node').value = g.per || DEFAULTS.per_node;
  $('nodes').value = g.nodes || DEFAULTS.nodes;
  $('ctx').value = val('ctx', DEFAULTS.ctx);
  $('batch').value = val('batch', DEFAULTS.batch);
  $('weights').value = val('weights', '');
  $('kv-dtype').value = val('kv_dtype', '');
  $('engine').value = val('engine', DEFAULTS.engine);
  const par = ['tp', 'pp', 'ep', 'dp'].some((k) => q.has(k));
  $('par-manual').checked = par;
  $('par-auto').checked = !par;
  for (const k of ['tp', 'pp', 'ep', 'dp']) $(k).value = val(k, '');
  $('mem-fraction').value = val('gpu_memory_utilization', val('mem_fraction_static', ''));
  $('block-size').value = val('block_size', '');
  $('mnbt').value = val('max_num_batched_tokens', '');
  $('mtp').checked = val('mtp', '') === 'true';
  $('profile').value = val('profile', '');
  $('attention').value = val('attention', '');
  if ($('mem-fraction').value || $('block-size').value || $('mnbt').value || $('mtp').checked || $('profile').value || $('attention').value) {
    $('advanced').open = true;
  }
  syncPar();
  syncSliders();
  describePickers();
}

function syncPar() {
  for (const k of ['tp', 'pp', 'ep', 'dp']) $(k).disabled = !manual();
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
  const m = catalog.models.find((x) => x.name === $('model').value.trim() || (x.aliases || []).includes($('model').value.trim()));
  $('model-info').textContent = customConfig ? 'using the pasted config.json' : m
    ? `${m.display_name}: ${fmtParams(m.params_total)} params (${fmtParams(m.params_active)} active), ${m.attention_label}, ${m.num_layers} layers, up to ${nf0.format(m.max_context)} tokens`
    : '';
  $('ctx-info').textContent = isFinite(tokensOf($('ctx').value)) ? `= ${nf0.format(tokensOf($('ctx').value))} tokens` : '';
  const g = catalog.gpus.find((x) => x.name.toLowerCase() === $('gpu').value.trim().toLowerCase());
  $('gpu-info').textContent = g ? `${g.display_name}: ${fmtGiB(g.memory_bytes)}, ${g.memory_bandwidth_tbps} TB/s` : '';
}

// ---------- rendering ----------
function setState(state) {
  $('results').dataset.state = state;
  $('results').setAttribute('aria-busy', state === 'loading' ? 'true' : 'false');
}
function clearInvalid() {
  for (const el of document.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
}
function showError(e) {
  clearInvalid();
  const box = $('error');
  box.hidden = false;
  box.textContent = e.message;
  const id = FIELD_CONTROL[e.field];
  if (id && $(id)) {
    $(id).setAttribute('aria-invalid', 'true');
    box.append(' ', h('a', { href: '#' + id, class: 'fix' }, 'Go to the field'));
  }
  $('status').textContent = 'Fix the input marked in red.';
  setState('error');
}

function renderReport(rep) {
  $('error').hidden = true;
  clearInvalid();
  for (const el of document.querySelectorAll('#results [data-field]')) {
    const v = get(rep, el.dataset.field);
    el.dataset.value = v === undefined ? '' : String(v);
    el.textContent = v === undefined ? '–' : (FORMATS[el.dataset.format] || String)(v);
  }
  const m = rep.model, g = rep.gpus, d = rep.deployment, w = rep.workload;
  const par = [`TP${d.tp}`, d.pp > 1 && `PP${d.pp}`, d.dp > 1 && `DP${d.dp}`, d.ep > 1 && `EP${d.ep}`].filter(Boolean).join(' ');
  $('summary').textContent = `${m.display_name} (${fmtParams(m.params_total)} params, ${m.attention}) on ${g.count} × ${g.display_name}` +
    ` · ${d.weights_dtype} weights · ${d.kv_dtype} KV · ${par} · ${d.engine} · ${nf0.format(w.context)} tokens × ${nf0.format(w.batch)} sequences`;
  $('verdict').dataset.fits = String(rep.fits);
  $('verdict-head').textContent = rep.fits ? 'FITS' : 'DOES NOT FIT';
  $('verdict-lines').replaceChildren(...rep.verdict.map((t) => h('li', {}, t)));
  renderBar(rep.memory_per_gpu);
  $('recommendations').replaceChildren(...rep.recommendations.map((r) => h('li', {},
    h('strong', {}, r.title), ' ', h('span', { class: 'hint' }, r.detail), ' ',
    applyButton(r.candidate))));
  if (!rep.recommendations.length) $('recommendations').append(h('li', {}, 'No better configuration on these GPUs.'));
  $('assumptions').replaceChildren(...rep.assumptions.map((t) => h('li', {}, t)));
  $('version').textContent = rep.kvplan_version;
  for (const k of ['tp', 'pp', 'ep', 'dp']) $(k).placeholder = String(d[k]);
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

// A button that loads a candidate configuration into the form.
function applyButton(c) {
  const b = h('button', { type: 'button', class: 'apply' }, 'Try this');
  b.setAttribute('aria-label', `Try ${c.weights_dtype} weights, ${c.kv_dtype} KV, TP${c.tp} PP${c.pp} DP${c.dp} EP${c.ep} on ${c.gpus} GPUs`);
  b.addEventListener('click', () => {
    $('weights').value = c.weights_dtype;
    $('kv-dtype').value = c.kv_dtype;
    $('nodes').value = String(c.nodes);
    $('per-node').value = String(c.gpus / c.nodes);
    $('par-manual').checked = true;
    $('par-auto').checked = false;
    for (const k of ['tp', 'pp', 'ep', 'dp']) $(k).value = String(c[k]);
    syncPar();
    schedule(0);
    $('results-h').scrollIntoView({ behavior: 'smooth' });
  });
  return b;
}

const SERIES = [
  ['weights_bytes', 'weights'], ['kv_cache_bytes', 'kv'], ['activation_bytes', 'act'], ['overhead_bytes', 'ovh'],
];
function renderChart(sw, ctx) {
  const svg = $('chart');
  svg.replaceChildren();
  const pts = sw.points;
  if (!pts.length) return;
  const W = 640, H = 300, L = 56, R = 12, T = 12, B = 40;
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
  const step = niceStep(ymax / GIB / 5);
  for (let g = 0; g * step * GIB <= ymax; g++) {
    const y = Y(g * step * GIB);
    svg.append(s('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'grid' }));
    svg.append(s('text', { x: L - 6, y: y + 4, class: 'tick', 'text-anchor': 'end' }, `${g * step}`));
  }
  svg.append(s('text', { x: 14, y: T + (H - T - B) / 2, class: 'axis', transform: `rotate(-90 14 ${T + (H - T - B) / 2})`, 'text-anchor': 'middle' }, 'GiB per GPU'));
  // X labels at powers of two that are sample points.
  let last = -Infinity;
  for (const p of pts) {
    const x = X(p.context);
    if (x - last < 44) continue;
    last = x;
    svg.append(s('line', { x1: x, x2: x, y1: H - B, y2: H - B + 4, class: 'grid' }));
    svg.append(s('text', { x, y: H - B + 16, class: 'tick', 'text-anchor': 'middle' }, fmtTokens(p.context)));
  }
  svg.append(s('text', { x: L + (W - L - R) / 2, y: H - 4, class: 'axis', 'text-anchor': 'middle' }, 'context per sequence, tokens (log scale)'));
  // Capacity, budget and the current context.
  // Capacity label above its line, budget label below its line (they are close).
  for (const [v, cls, label, dy] of [[sw.capacity_bytes, 'line-capacity', 'GPU memory', -5], [sw.budget_bytes, 'line-budget', 'engine budget', 13]]) {
    svg.append(s('line', { x1: L, x2: W - R, y1: Y(v), y2: Y(v), class: cls }));
    svg.append(s('text', { x: L + 6, y: Y(v) + dy, class: 'label ' + cls }, label));
  }
  if (ctx >= pts[0].context && ctx <= pts[pts.length - 1].context) {
    svg.append(s('line', { x1: X(ctx), x2: X(ctx), y1: T, y2: H - B, class: 'line-now' }));
    const right = X(ctx) > (L + W) / 2;
    svg.append(s('text', { x: X(ctx) + (right ? -4 : 4), y: T + 12, class: 'label', 'text-anchor': right ? 'end' : 'start' }, `this plan: ${fmtTokens(ctx)}`));
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

function cliCommand(r, rep) {
  const q = (v) => (/^[\w.:/@%+-]+$/.test(v) ? v : `'${String(v).replace(/'/g, "'\\''")}'`);
  const parts = ['kvplan', 'estimate', r.config ? 'config.json' : q(r.model), '--gpus', q(r.gpus)];
  const flag = { ctx: '--ctx', batch: '--batch', weights: '--weights', kv_dtype: '--kv-dtype', engine: '--engine', tp: '--tp', pp: '--pp', ep: '--ep', dp: '--dp',
    gpu_memory_utilization: '--gpu-memory-utilization', mem_fraction_static: '--mem-fraction-static', block_size: '--block-size',
    max_num_batched_tokens: '--max-num-batched-tokens', profile: '--profile', attention: '--attention' };
  for (const [k, f] of Object.entries(flag)) if (r[k] !== undefined) parts.push(f, q(String(r[k])));
  if (r.mtp) parts.push('--mtp');
  parts.push('--format', 'json');
  return parts.join(' ');
}

// ---------- the update loop ----------
function schedule(ms = 250) {
  clearTimeout(timer);
  timer = setTimeout(update, ms);
}
async function update() {
  const r = request();
  writeUrl(r);
  describePickers();
  const my = ++seq;
  setState('loading');
  $('status').textContent = 'Computing…';
  try {
    const [rep, sw] = await Promise.all([api('/api/estimate', r), api('/api/sweep', r)]);
    if (my !== seq) return;
    renderReport(rep);
    renderChart(sw, rep.workload.context);
    $('cli-cmd').textContent = cliCommand(r, rep);
    $('results').dataset.request = JSON.stringify(r);
    $('status').textContent = `Updated: ${rep.fits ? 'fits' : 'does not fit'}, ${fmtGiB(rep.memory_per_gpu.total_bytes)} of ${fmtGiB(rep.memory_per_gpu.capacity_bytes)} per GPU.`;
    setState('ready');
  } catch (e) {
    if (my !== seq) return;
    $('results').dataset.request = JSON.stringify(r);
    showError(e);
  }
}

async function runPlan(ev) {
  ev.preventDefault();
  const r = request();
  for (const k of ['tp', 'pp', 'ep', 'dp']) delete r[k];
  delete r.batch;
  const users = num('users'), tpot = num('max-tpot'), ttft = num('max-ttft');
  if (users !== undefined) r.users = users;
  if (tpot !== undefined) r.max_tpot_ms = tpot;
  if (ttft !== undefined) r.max_ttft_ms = ttft;
  r.objective = $('objective').value;
  r.top = 10;
  $('plan-status').textContent = 'Searching…';
  try {
    const out = await api('/api/plan', r);
    const tb = $('plan-table').tBodies[0];
    tb.replaceChildren(...out.candidates.map((c, i) => h('tr', {
      class: c.fits ? '' : 'nofit',
      'data-config': `${c.weights_dtype}/${c.kv_dtype}/${c.tp}/${c.pp}/${c.dp}/${c.ep}`,
      'data-tps': String(c.tokens_per_second),
    },
      h('td', {}, String(i + 1) + (c.pareto ? ' ★' : '')), h('td', {}, c.weights_dtype), h('td', {}, c.kv_dtype),
      h('td', {}, `${c.tp}·${c.pp}·${c.dp}·${c.ep}`), h('td', {}, String(c.gpus)), h('td', {}, nf0.format(c.batch)),
      h('td', {}, nf0.format(c.tokens_per_second)), h('td', {}, fmtSec(c.tpot_seconds)), h('td', {}, fmtSec(c.ttft_seconds)),
      h('td', {}, (c.fits ? '' : '✗ ') + c.reason), h('td', {}, applyButton(c)))));
    $('plan-table').hidden = false;
    $('plan-table').dataset.request = JSON.stringify(r);
    $('plan-table').dataset.evaluated = String(out.evaluated);
    $('plan-status').textContent = `${out.evaluated} configurations evaluated; ${out.any_fits ? 'best first, ★ = on the throughput/latency Pareto front' : 'none fits'}.`;
  } catch (e) {
    $('plan-status').textContent = e.message;
    const id = FIELD_CONTROL[e.field];
    if (id && $(id)) $(id).setAttribute('aria-invalid', 'true');
  }
}

async function setConfigText(text) {
  $('config').value = text;
  if (!text.trim()) {
    customConfig = null;
    $('config-info').textContent = 'The config stays in this page; it is not part of the share link.';
    $('model').disabled = false;
    schedule(0);
    return;
  }
  let obj;
  try { obj = JSON.parse(text); } catch (e) {
    customConfig = null;
    $('config-info').textContent = `Not valid JSON: ${e.message}`;
    $('config').setAttribute('aria-invalid', 'true');
    return;
  }
  try {
    const m = await api('/api/config', obj);
    customConfig = obj;
    $('config').removeAttribute('aria-invalid');
    $('model').disabled = true;
    $('config-info').textContent = `Read ${m.display_name}: ${fmtParams(m.params_total)} params (${fmtParams(m.params_active)} active), ${m.attention_label}, ${m.layers} layers, up to ${nf0.format(m.max_context)} tokens.`;
    schedule(0);
  } catch (e) {
    customConfig = null;
    $('config-info').textContent = e.message;
    $('config').setAttribute('aria-invalid', 'true');
  }
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
  readUrl();

  const form = $('form');
  form.addEventListener('submit', (e) => { e.preventDefault(); schedule(0); });
  form.addEventListener('input', (e) => {
    const t = e.target;
    if (t.id === 'ctx-range') $('ctx').value = String(CTX_STEPS[t.value]);
    if (t.id === 'batch-range') $('batch').value = String(2 ** t.value);
    if (t.id === 'config' || t.id === 'config-file') return;
    syncSliders();
    schedule();
  });
  form.addEventListener('change', (e) => {
    if (e.target.name === 'par-mode') {
      syncPar();
      if (manual()) for (const k of ['tp', 'pp', 'ep', 'dp']) if (!$(k).value) $(k).value = $(k).placeholder;
      schedule(0);
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
  $('copy-link').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      $('copy-status').textContent = 'Link copied.';
    } catch (_) {
      $('copy-status').textContent = `Copy this address: ${location.href}`;
    }
  });
  $('status').textContent = '';
  await update();
}

document.addEventListener('DOMContentLoaded', init);
