// cairn's dashboard: the shell. Talks to /ui/api/ (JSON; the session cookie; actions carry the
// session's CSRF token), routes on the URL's hash, and leaves each page to pages.js. Pages are
// built with DOM calls only (text is never parsed as HTML) and draw charts with Chart.js.
'use strict';

const cairn = {
  session: null,
  timers: [],
  charts: [],
  pages: {},        // name -> async function(view, ...args), filled in by pages.js
  gen: 0,           // navigations so far: a page finishing after a later one started is dropped
  lastRenderMs: 0,  // how long the last page took, request to rendered table (read by tests)
};

class ApiError extends Error {}

// The answer's JSON; an ApiError with the server's message (or the status) otherwise.
async function answer(r) {
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON: a proxy's page, a cut connection */ }
  if (!r.ok || body === null) throw new ApiError((body && body.error) || `${r.status} ${r.statusText}`);
  return body;
}

// fetch, with a network failure (server down, connection cut) as an ApiError.
async function request(path, init) {
  try {
    return await fetch('/ui/api/' + path, { credentials: 'same-origin', ...init });
  } catch (e) {
    throw new ApiError('cairn did not answer: ' + e.message);
  }
}

async function apiGet(path) {
  const r = await request(path);
  if (r.status === 401) { location.href = '/ui/login'; throw new ApiError('not logged in'); }
  return answer(r);
}

async function apiPost(path, payload) {
  const r = await request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': cairn.session.csrf_token },
    body: JSON.stringify(payload || {}),
  });
  return answer(r);
}

// h('td', {class: 'num', onclick: f}, 'text', childNode, ...): an element; strings become text.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  return el;
}

function badge(text, extra) { return h('span', { class: 'badge ' + (extra || text) }, text); }
function link(href, text) { return h('a', { href }, text); }

function fmtBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(n), u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return (u ? v.toFixed(1) : String(v)) + ' ' + units[u];
}

function fmtTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const pad = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
         `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtDuration(ms) {
  if (ms < 0 || !isFinite(ms)) return '';
  const s = Math.round(ms / 1000);
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
}

function fmtNumber(v) {
  if (v === 'inf') return '∞';
  if (typeof v !== 'number') return String(v);
  if (v === 0) return '0';
  return Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(3) : v.toPrecision(4);
}

// Asks before an action; resolves true when confirmed.
function confirmAction(text) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  return new Promise((resolve) => {
    const ok = document.getElementById('confirm-ok');
    const cancel = document.getElementById('confirm-cancel');
    const done = (answer) => {
      ok.removeEventListener('click', onOk);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancel);
      dialog.close();
      resolve(answer);
    };
    const onOk = () => done(true);
    const onCancel = () => done(false);
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
  });
}

// Confirms, runs the action, shows its outcome in `status` (an element), then re-renders.
async function runAction(question, path, payload, status) {
  if (!(await confirmAction(question))) return;
  try {
    await apiPost(path, payload);
    await route();
  } catch (e) {
    if (status) status.replaceChildren(h('span', { class: 'error action-error' }, e.message));
  }
}

// A sortable, filterable table. columns: [{key, label, num, value(row) -> sort key,
// cell(row) -> node or text}]. Returns {element, render(rows)}.
function dataTable(columns, rows, opts) {
  opts = opts || {};
  let sortKey = opts.sortKey || columns[0].key, desc = !!opts.desc;
  const body = h('tbody');
  const heads = columns.map((c) => h('th', {
    class: 'sortable' + (c.num ? ' num' : ''), 'data-key': c.key,
    onclick: () => { desc = sortKey === c.key ? !desc : false; sortKey = c.key; draw(); },
  }, c.label));
  const table = h('table', { class: opts.id ? 'data ' + opts.id : 'data', id: opts.id },
                  h('thead', {}, h('tr', {}, heads)), body);
  let current = rows;
  function draw() {
    const col = columns.find((c) => c.key === sortKey);
    const key = col.value || ((r) => r[col.key]);
    const sorted = current.slice().sort((a, b) => {
      const x = key(a), y = key(b);
      const cmp = typeof x === 'number' && typeof y === 'number' ? x - y
                  : String(x ?? '').localeCompare(String(y ?? ''));
      return desc ? -cmp : cmp;
    });
    heads.forEach((th) => {
      th.classList.toggle('sorted-asc', th.dataset.key === sortKey && !desc);
      th.classList.toggle('sorted-desc', th.dataset.key === sortKey && desc);
    });
    const frag = document.createDocumentFragment();
    for (const r of sorted) {
      frag.appendChild(h('tr', {}, columns.map((c) => {
        const v = c.cell ? c.cell(r) : r[c.key];
        return h('td', { class: c.num ? 'num' : null }, v);
      })));
    }
    body.replaceChildren(frag);
  }
  draw();
  return { element: table, render(newRows) { current = newRows; draw(); } };
}

const PALETTE = ['#2f5fb3', '#c0392b', '#1f7a3a', '#a15c00', '#8a6bb8', '#138d90', '#6b7280'];

// A line chart (Chart.js) in a panel. datasets: [{label, data: [{x, y}]}]; x in seconds.
function lineChart(id, title, datasets, xLabel) {
  datasets.forEach((d, i) => {
    d.borderColor = d.backgroundColor = PALETTE[i % PALETTE.length];
    d.pointRadius = d.data.length > 60 ? 0 : 2;
    d.borderWidth = 2;
  });
  const canvas = h('canvas', { id });
  const panel = h('div', { class: 'panel' }, h('h2', {}, title), h('div', { class: 'chart-box' }, canvas));
  const chart = new Chart(canvas, {
    type: 'line',
    data: { datasets },
    options: {
      animation: false, maintainAspectRatio: false, parsing: true, spanGaps: true,
      interaction: { mode: 'nearest', intersect: false },
      scales: { x: { type: 'linear', title: { display: true, text: xLabel || 'seconds' } } },
      plugins: { legend: { display: datasets.length > 1 || !!datasets[0]?.label } },
    },
  });
  cairn.charts.push(chart);
  return { panel, chart };
}

// Runs `fn(current)` every `ms` while `view` (the page that asked) is the one shown; `current()`
// says whether it still is (check it after each await). One refresh at a time: a tick while the
// last one is still waiting is skipped. A failed refresh is tried again at the next tick.
function every(view, ms, fn) {
  const current = () => view.isConnected;
  let busy = false;
  const id = setInterval(() => {
    if (!current()) { clearInterval(id); return; }
    if (busy) return;
    busy = true;
    Promise.resolve().then(() => fn(current)).catch((e) => {
      if (!(e instanceof ApiError)) console.warn('refresh failed', e);
    }).finally(() => { busy = false; });
  }, ms);
  cairn.timers.push(id);
}

// Shows the page the URL's hash names. Each page renders into a fresh <main> that replaces the
// shown one only if no later navigation started meanwhile (two routes may be in flight).
async function route() {
  const gen = ++cairn.gen;
  cairn.timers.forEach(clearInterval);
  cairn.timers = [];
  let parts;
  try {
    parts = (location.hash.replace(/^#\/?/, '') || 'groups').split('/').map(decodeURIComponent);
  } catch (e) {  // a malformed %-escape
    parts = ['?'];
  }
  const name = { groups: parts.length > 1 ? 'group' : 'groups', versions: 'version', diff: 'diff',
                 jobs: parts.length > 1 ? 'job' : 'jobs', compare: 'compare',
                 endpoints: parts.length > 1 ? 'endpoint' : 'endpoints' }[parts[0]];
  const section = { versions: 'groups', diff: 'groups', compare: 'jobs' }[parts[0]] || parts[0];
  document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('active', a.dataset.section === section));
  const view = h('main', { id: 'main' });
  const show = () => {
    if (gen !== cairn.gen) return false;
    const charts = cairn.charts;
    cairn.charts = [];
    charts.forEach((c) => { if (view.contains(c.canvas)) cairn.charts.push(c); else c.destroy(); });
    document.getElementById('main').replaceWith(view);
    return true;
  };
  const started = performance.now();
  try {
    if (!name) throw new ApiError('No such page.');
    await cairn.pages[name](view, ...parts.slice(1));  // Chart.js sizes charts once shown
    if (show()) {
      cairn.lastRenderMs = performance.now() - started;
      document.body.dataset.page = name;
    }
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    view.replaceChildren(h('h1', {}, 'Not available'), h('p', { class: 'error' }, e.message));
    if (show()) document.body.dataset.page = 'error';
  }
}

async function start() {
  cairn.session = await apiGet('session');
  document.getElementById('who').textContent =
      cairn.session.user + (cairn.session.read_only ? ' (read-only)' : '');
  document.body.classList.toggle('read-only', cairn.session.read_only);
  document.getElementById('logout').addEventListener('click', async () => {
    await fetch('/ui/logout', { method: 'POST', credentials: 'same-origin',
                                headers: { 'X-CSRF-Token': cairn.session.csrf_token } });
    location.href = '/ui/login';
  });
  window.addEventListener('hashchange', route);
  await route();
}

window.addEventListener('DOMContentLoaded', () => { start(); });
