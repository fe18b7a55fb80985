// The Aires console: search, histogram, event detail, live tail, trace
// view and dashboards, over the console's JSON API (/api/...).
import { histogramChart, lineChart } from './charts.js';

const $ = (sel) => document.querySelector(sel);
const TAIL_EVERY_MS = 1000;
const MAX_ROWS = 1000;

const state = {
  next: null,        // cursor of the next search page
  live: false,
  tailCursor: null,  // newest received_at seen (ns, as text)
  seen: new Map(),   // id -> received ns, for the tail's overlap
  tailTimer: null,
  lastTail: 0,
};

// ---- the API ----

// GET `path` with `params`; or, for the listings (whose query line may be
// long), POST them as JSON.
const POSTED = new Set(['/api/search', '/api/histogram', '/api/tail']);

async function api(path, params = {}) {
  const url = new URL(path, location.origin);
  const given = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  const headers = {};
  const key = sessionStorage.getItem('aires-api-key');
  if (key) headers.Authorization = 'Bearer ' + key;
  let init = { headers };
  if (POSTED.has(path)) {
    headers['Content-Type'] = 'application/json';
    init = { method: 'POST', headers, body: JSON.stringify(given) };
  } else {
    for (const [k, v] of Object.entries(given)) url.searchParams.set(k, v);
  }
  const res = await fetch(url, init);
  let body;
  try { body = await res.json(); } catch { body = { error: `${res.status} ${res.statusText}` }; }
  // The API wants a key (basic auth, if set, the browser asks for itself).
  if ((res.status === 401 && (res.headers.get('www-authenticate') || '').startsWith('Bearer')) || res.status === 403) {
    const entered = prompt(body.error + '\nAPI key:');
    if (entered) { sessionStorage.setItem('aires-api-key', entered); return api(path, params); }
  }
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

function showError(err) {
  const box = $('#error');
  if (!err) { box.hidden = true; box.textContent = ''; return; }
  box.hidden = false;
  box.textContent = String(err.message || err);
}

// ---- the time range ----

function toLocalInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 19);
}

function rangeParams() {
  const choice = $('#range').value;
  if (choice !== 'custom') return { since: choice };
  const from = Date.parse($('#from').value);
  const to = Date.parse($('#to').value);
  return { from: isNaN(from) ? '' : String(from), to: isNaN(to) ? '' : String(to) };
}

function setCustomRange(fromMs, toMs) {
  $('#range').value = 'custom';
  $('#custom-range').hidden = false;
  $('#from').value = toLocalInput(fromMs);
  $('#to').value = toLocalInput(toMs);
}

// ---- formatting ----

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child == null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function nsToDate(ns) { return new Date(Number(BigInt(ns) / 1000000n)); }

function fmtTime(ns) {
  const d = nsToDate(ns);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function levelBadge(level) { return el('span', { class: `level level-${level}` }, level); }

function httpText(e) {
  if (!e.http_method && !e.http_route) return '';
  const parts = [e.http_method, e.http_route || e.http_path];
  if (Number(e.http_status)) parts.push(e.http_status);
  if (Number(e.duration_ms)) parts.push(`${Number(e.duration_ms).toFixed(1)} ms`);
  return parts.filter(Boolean).join(' ');
}

function eventRow(e, fresh = false) {
  const trace = e.trace_id
    ? el('a', { href: `#/trace/${e.trace_id}`, class: 'mono', onclick: (ev) => ev.stopPropagation() }, e.trace_id.slice(0, 8) + '…')
    : '';
  const row = el('tr', { 'data-id': e.id, 'data-ts': e.ts, class: fresh ? 'fresh' : '' },
    el('td', { class: 'time' }, fmtTime(e.ts)),
    el('td', {}, levelBadge(e.severity)),
    el('td', {}, e.service),
    el('td', {}, e.message, e.error_type ? el('span', { class: 'legend-note' }, `  ${e.error_type}: ${e.error_message}`) : null),
    el('td', { class: 'mono' }, httpText(e)),
    el('td', {}, trace));
  row.addEventListener('click', () => openEvent(e.id, e.ts));
  return row;
}

// ---- search ----

function searchParams() { return { q: $('#q').value.trim(), ...rangeParams() }; }

async function runSearch() {
  stopTail();
  showError(null);
  const params = searchParams();
  // Older pages follow this query and this window, whatever is typed or
  // however long it takes to scroll.
  state.params = params.since ? { ...params, to: String(Date.now()) } : params;
  writeHash('search', params);
  const tbody = $('#results tbody');
  $('#count').textContent = 'searching…';
  try {
    const [page, hist] = await Promise.all([
      api('/api/search', { ...state.params, limit: 100 }),
      api('/api/histogram', { ...state.params, buckets: 120 }),
    ]);
    tbody.replaceChildren(...page.events.map((e) => eventRow(e)));
    state.next = page.next;
    $('#more').hidden = !page.next;
    histogramChart($('#histogram'), hist, (from, to) => { setCustomRange(from, to); runSearch(); });
    const total = Number($('#histogram').dataset.total);
    $('#count').textContent = `${total.toLocaleString('en')} matching events in range; showing ${page.events.length}${page.next ? '+' : ''}, newest first`;
    $('#count').dataset.total = String(total);
    $('#count').dataset.shown = String(page.events.length);
  } catch (err) {
    tbody.replaceChildren();
    $('#count').textContent = '';
    showError(err);
  }
}

async function loadMore() {
  if (!state.next) return;
  try {
    const page = await api('/api/search', { ...state.params, limit: 100, before: state.next });
    $('#results tbody').append(...page.events.map((e) => eventRow(e)));
    state.next = page.next;
    $('#more').hidden = !page.next;
    $('#count').dataset.shown = String($('#results tbody').children.length);
  } catch (err) { showError(err); }
}

// ---- live tail ----

function startTail() {
  state.live = true;
  $('#live').setAttribute('aria-pressed', 'true');
  $('#live').textContent = 'Pause';
  writeHash('search', { ...searchParams(), live: 1 });
  if (!state.tailCursor) $('#results tbody').replaceChildren();
  $('#tail-rate').textContent = 'live';
  pollTail();
}

function stopTail() {
  state.live = false;
  clearTimeout(state.tailTimer);
  $('#live').setAttribute('aria-pressed', 'false');
  $('#live').textContent = 'Live';
  if (state.tailCursor) $('#tail-rate').textContent = 'paused (resuming continues from here)';
}

async function pollTail() {
  if (!state.live) return;
  const started = Date.now();
  try {
    const page = await api('/api/tail', { q: $('#q').value.trim(), cursor: state.tailCursor });
    if (!state.live) return;
    showError(null);
    const fresh = page.events.filter((e) => !state.seen.has(e.id));
    const tbody = $('#results tbody');
    for (const e of fresh) {
      state.seen.set(e.id, BigInt(e.received_ns));
      tbody.prepend(eventRow(e, true));
    }
    while (tbody.children.length > MAX_ROWS) tbody.lastElementChild.remove();
    state.tailCursor = page.cursor;
    // Forget ids older than the overlap the server re-reads.
    const horizon = BigInt(page.cursor) - 10000000000n;
    for (const [id, ns] of state.seen) if (ns < horizon) state.seen.delete(id);
    const seconds = Math.max(0.001, (Date.now() - (state.lastTail || started)) / 1000);
    state.lastTail = Date.now();
    $('#tail-rate').textContent = page.matched
      ? `live: ${page.matched.toLocaleString('en')} new events since the last update (about ${Math.round(page.matched / seconds).toLocaleString('en')}/s), too many to show: showing the newest ${page.events.length} of each update`
      : `live: ${fresh.length} new`;
    $('#count').textContent = `${tbody.children.length} events shown`;
  } catch (err) {
    showError(err);
  }
  state.tailTimer = setTimeout(pollTail, Math.max(0, TAIL_EVERY_MS - (Date.now() - started)));
}

// ---- event detail ----

function kv(dl, name, value) {
  if (value === '' || value == null || (typeof value === 'object' && Object.keys(value).length === 0)) return;
  dl.append(el('dt', {}, name), el('dd', {}, typeof value === 'object' ? JSON.stringify(value) : String(value)));
}

async function openEvent(id, ts) {
  try {
    const e = await api(`/api/events/${encodeURIComponent(id)}`, { ts });
    const body = $('#detail-body');
    const links = el('p', {},
      e.trace_id ? el('a', { href: `#/trace/${e.trace_id}`, id: 'detail-trace' }, 'Open trace →') : null, ' ',
      e.session_id ? el('a', { href: '#/search?' + new URLSearchParams({ q: `session:"${e.session_id.replace(/["\\]/g, '\\$&')}"`, since: '24h' }), id: 'detail-session' }, 'Same session →') : null);
    const main = el('dl', {});
    kv(main, 'time', fmtTime(e.ts));
    for (const k of ['severity', 'service', 'environment', 'message', 'id', 'trace_id', 'span_id', 'session_id']) kv(main, k, e[k]);
    const http = el('dl', {});
    for (const k of ['http_method', 'http_route', 'http_path', 'http_status', 'http_duration_ns', 'http_host', 'http_scheme', 'http_client_ip', 'http_user_agent', 'http_request_bytes', 'http_response_bytes']) {
      if (Number(e[k]) !== 0 || (typeof e[k] === 'string' && e[k] && isNaN(Number(e[k])))) kv(http, k.replace('http_', ''), e[k]);
    }
    const attrs = el('dl', {});
    for (const map of ['attributes_string', 'attributes_int', 'attributes_float', 'attributes_bool']) {
      for (const [k, v] of Object.entries(e[map] || {})) kv(attrs, k, v);
    }
    const error = e.error_type || e.error_message ? el('div', { id: 'detail-error' },
      el('h3', {}, 'Error'),
      el('p', {}, el('b', {}, e.error_type), ': ', e.error_message),
      (e.error_chain || []).length ? el('ol', { class: 'chain' }, ...e.error_chain.map((c) => el('li', {}, 'caused by: ', c))) : null,
      e.error_backtrace ? el('pre', {}, e.error_backtrace) : null) : null;
    const site = el('dl', {});
    kv(site, 'file', e.file ? `${e.file}:${e.line}` : '');
    for (const k of ['module', 'function', 'sdk_name', 'sdk_version', 'batch_id', 'tags']) kv(site, k, Array.isArray(e[k]) && !e[k].length ? '' : e[k]);
    kv(site, 'received', fmtTime(e.received_ns));
    body.replaceChildren(
      el('h2', {}, levelBadge(e.severity), ' ', e.message),
      links, main,
      error,
      http.children.length ? el('h3', {}, 'HTTP') : null, http.children.length ? http : null,
      attrs.children.length ? el('h3', {}, 'Attributes') : null, attrs.children.length ? attrs : null,
      el('h3', {}, 'Call site'), site);
    $('#detail').hidden = false;
  } catch (err) { showError(err); }
}

// ---- trace view ----

async function showTrace(id) {
  stopTail();
  showView('trace');
  $('#trace-id').textContent = id;
  const tbody = $('#trace-events tbody');
  tbody.replaceChildren();
  $('#trace-timeline').replaceChildren();
  try {
    const { events, truncated } = await api(`/api/traces/${encodeURIComponent(id)}`);
    showError(null);
    const t0 = BigInt(events[0].ts);
    const t1 = BigInt(events[events.length - 1].ts);
    const spanNs = Number(t1 - t0) || 1;
    const at = (e) => Number(BigInt(e.ts) - t0);
    const services = new Set(events.map((e) => e.service));
    const errors = events.filter((e) => e.severity === 'error' || e.severity === 'fatal').length;
    $('#trace-summary').textContent = `${events.length} events${truncated ? ' (the first ones only)' : ''} over ${(spanNs / 1e6).toFixed(2)} ms, ` +
      `${services.size} service${services.size === 1 ? '' : 's'}, ${errors} error${errors === 1 ? '' : 's'}`;
    // One lane per service and span, in order of first appearance.
    const lanes = new Map();
    for (const e of events) {
      const key = `${e.service} · ${e.span_id || '(no span)'}`;
      if (!lanes.has(key)) lanes.set(key, []);
      lanes.get(key).push(e);
    }
    for (const [name, list] of lanes) {
      const track = el('div', { class: 'lane-track' });
      const first = at(list[0]) / spanNs * 100, last = at(list[list.length - 1]) / spanNs * 100;
      track.append(el('div', { class: 'span-bar', style: `left:${first}%;width:${Math.max(0.5, last - first)}%` }));
      for (const e of list) {
        const dot = el('div', { class: 'dot', title: `${e.severity}: ${e.message}`, style: `left:${at(e) / spanNs * 100}%;background:var(--${e.severity})` });
        dot.addEventListener('click', () => openEvent(e.id, e.ts));
        track.append(dot);
      }
      $('#trace-timeline').append(el('div', { class: 'lane' }, el('div', { class: 'lane-name', title: name }, name), track));
    }
    for (const e of events) {
      const row = el('tr', { 'data-id': e.id },
        el('td', { class: 'mono' }, (at(e) / 1e6).toFixed(3)),
        el('td', {}, levelBadge(e.severity)),
        el('td', {}, e.service),
        el('td', { class: 'mono' }, e.span_id),
        el('td', {}, e.message),
        el('td', { class: 'mono' }, httpText(e)),
        el('td', {}, e.error_type ? `${e.error_type}: ${e.error_message}` : ''));
      row.addEventListener('click', () => openEvent(e.id, e.ts));
      tbody.append(row);
    }
  } catch (err) { showError(err); }
}

// ---- dashboards ----

async function showDashboards() {
  stopTail();
  showView('dashboards');
  const params = rangeParams();
  try {
    const [rate, latency] = await Promise.all([
      api('/api/dashboards/error-rate', { ...params, buckets: 60 }),
      api('/api/dashboards/latency', { ...params, buckets: 60, service: $('#dash-service').value.trim() }),
    ]);
    showError(null);
    lineChart($('#dash-errors'), rate.times, rate.series, (s) => s.rate, { percent: true });
    const holder = $('#dash-latency');
    holder.replaceChildren();
    const routes = Object.entries(latency.series)
      .sort((a, b) => b[1].requests.reduce((x, y) => x + Number(y), 0) - a[1].requests.reduce((x, y) => x + Number(y), 0))
      .slice(0, 8);
    if (!routes.length) holder.append(el('p', { class: 'legend-note' }, 'No HTTP requests in this range.'));
    for (const [route, s] of routes) {
      const box = el('div', { class: 'route chart' });
      holder.append(el('h3', {}, route), box);
      lineChart(box, latency.times, { p50: s.p50, p95: s.p95, p99: s.p99 }, (v) => v, { height: 150 });
    }
  } catch (err) { showError(err); }
}

// ---- navigation ----

function showView(name) {
  for (const v of ['search', 'trace', 'dashboards']) $(`#view-${v}`).hidden = v !== name;
  $('#nav-search').classList.toggle('active', name === 'search');
  $('#nav-dashboards').classList.toggle('active', name === 'dashboards');
}

let writingHash = false;
function writeHash(view, params) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '' && v != null));
  const hash = `#/${view}?${query}`;
  if (location.hash !== hash) { writingHash = true; location.hash = hash; }
}

function route() {
  if (writingHash) { writingHash = false; return; }
  const hash = location.hash || '#/search';
  const [path, query = ''] = hash.slice(1).split('?');
  const params = new URLSearchParams(query);
  $('#detail').hidden = true;
  if (path.startsWith('/trace/')) {
    let id = path.slice(7);
    try { id = decodeURIComponent(id); } catch { /* shown as typed; the API says what is wrong */ }
    return showTrace(id);
  }
  if (path === '/dashboards') return showDashboards();
  showView('search');
  if (params.has('q')) $('#q').value = params.get('q');
  if (params.has('since')) { $('#range').value = params.get('since'); $('#custom-range').hidden = true; }
  if (params.has('from')) setCustomRange(Number(params.get('from')), Number(params.get('to')) || Date.now());
  if (params.get('live') === '1') { runSearch().then(startTail); } else runSearch();
}

$('#search-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.tailCursor = null;
  state.seen.clear();
  if (location.hash.startsWith('#/dashboards')) return showDashboards();
  showView('search');
  runSearch();
});
$('#range').addEventListener('change', () => { $('#custom-range').hidden = $('#range').value !== 'custom'; });
$('#live').addEventListener('click', () => { showView('search'); state.live ? stopTail() : startTail(); });
$('#more').addEventListener('click', loadMore);
$('#detail-close').addEventListener('click', () => { $('#detail').hidden = true; });
$('#dash-service').addEventListener('change', showDashboards);
document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') $('#detail').hidden = true; });
window.addEventListener('hashchange', route);
route();
