// The admin dashboard: signs in with the admin key (the gateway keeps the session; this tab keeps
// only the CSRF token, in memory), then shows usage, keys and fallback state read from /admin/*.
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip,
} from 'chart.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

const $ = (sel) => document.querySelector(sel);
const FALLBACK_REFRESH_MS = 2000;
const COLORS = ['#3057d5', '#e0822b', '#1f8a4c', '#c53030', '#7c3aed', '#0891b2', '#ca8a04', '#db2777', '#4b5563'];

let csrfToken = null;  // this tab's only secret; gone when the tab closes
let currentView = 'usage';
let fallbackTimer = null;
const charts = {};

// ---- API ----

class SignedOut extends Error {}

async function api(method, path, body) {
  const headers = { 'x-csrf-token': csrfToken ?? '' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (res.status === 401) {
    showSignIn('Your session ended: sign in again.');
    throw new SignedOut();
  }
  if (!res.ok) throw new Error(data?.detail ?? data?.error?.message ?? `HTTP ${res.status}`);
  return data;
}

// ---- sign-in ----

function showSignIn(message = '') {
  csrfToken = null;
  stopFallbackRefresh();
  for (const v of document.querySelectorAll('.view')) v.hidden = true;
  $('#nav').hidden = true;
  $('#sign-out').hidden = true;
  $('#signin').hidden = false;
  $('#signin-error').textContent = message;
  $('#admin-key').focus();
}

function showApp() {
  $('#signin').hidden = true;
  $('#nav').hidden = false;
  $('#sign-out').hidden = false;
  show(currentView);
}

$('#signin-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('#admin-key');
  const res = await fetch('/dashboard/api/session', {
    method: 'POST', headers: { 'content-type': 'application/json' }, credentials: 'same-origin',
    body: JSON.stringify({ admin_key: input.value }),
  });
  input.value = '';  // the key is not kept anywhere in the page
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    $('#signin-error').textContent = data.detail ?? data.error?.message ?? `Sign-in failed (HTTP ${res.status})`;
    return;
  }
  csrfToken = data.csrf_token;
  showApp();
});

$('#sign-out').addEventListener('click', async () => {
  try { await api('DELETE', '/dashboard/api/session'); } catch { /* signed out either way */ }
  showSignIn('Signed out.');
});

// ---- views ----

function show(view) {
  currentView = view;
  for (const b of document.querySelectorAll('#nav .tab')) b.classList.toggle('active', b.dataset.view === view);
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== `view-${view}`;
  stopFallbackRefresh();
  const load = { usage: loadUsage, keys: loadKeys, fallback: startFallbackRefresh }[view];
  load().catch(report);
}

for (const b of document.querySelectorAll('#nav .tab')) b.addEventListener('click', () => show(b.dataset.view));

function report(err) {
  if (err instanceof SignedOut) return;
  const status = { usage: '#usage-status', keys: '#keys-status', fallback: '#fallback-error' }[currentView];
  $(status).textContent = `Error: ${err.message}`;
}

const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : n ?? '');
const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
};

// ---- usage ----

function isoDate(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

{
  const today = new Date();
  const weekAgo = new Date(today.getTime() - 6 * 86400_000);
  $('#usage-from').value = isoDate(weekAgo);
  $('#usage-to').value = isoDate(today);
}

$('#usage-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  loadUsage().catch(report);
});
$('#usage-metric').addEventListener('change', () => loadUsage().catch(report));
$('#usage-split').addEventListener('change', () => loadUsage().catch(report));

const tokensOf = (e) => (e.input ?? 0) + (e.output ?? 0) + (e.cache_read ?? 0) + (e.cache_write ?? 0);

// Every day (or hour) from `from` to `to`, so the time axis has no holes: "YYYY-MM-DD" or
// "YYYY-MM-DD HH:00", as the API names its buckets.
function bucketNames(from, to, hourly) {
  const out = [];
  const end = new Date(`${to}T00:00:00Z`);
  for (let d = new Date(`${from}T00:00:00Z`); d <= end && out.length < 24 * 400; d = new Date(d.getTime() + 86400_000)) {
    const day = d.toISOString().slice(0, 10);
    if (!hourly) out.push(day);
    else for (let h = 0; h < 24; h++) out.push(`${day} ${String(h).padStart(2, '0')}:00`);
  }
  return out;
}

// Series for one chart: labels (every bucket of the range) and, per model or key, a value per bucket.
function seriesOf(buckets, nameOf, names, labelOf, split, metric) {
  const byName = new Map(buckets.map((b) => [nameOf(b), b]));
  const series = new Set();
  const values = names.map((name) => {
    const b = byName.get(name) ?? {};
    const out = {};
    if (split === 'model') {
      for (const [model, e] of Object.entries(b.by_model ?? {})) out[model] = metric === 'tokens' ? tokensOf(e) : e.requests ?? 0;
    } else {
      for (const [key, models] of Object.entries(b.by_tenant ?? {})) {
        out[key] = Object.values(models).reduce((n, e) => n + (metric === 'tokens' ? tokensOf(e) : e.requests ?? 0), 0);
      }
    }
    for (const n of Object.keys(out)) series.add(n);
    return out;
  });
  const datasets = [...series].sort().map((label, i) => ({
    label,
    data: values.map((v) => v[label] ?? 0),
    backgroundColor: COLORS[i % COLORS.length],
    maxBarThickness: 48,
    stack: 'all',
  }));
  return { labels: names.map(labelOf), datasets };
}

function drawChart(id, data, metric) {
  const canvas = document.getElementById(id);
  const points = data.datasets.reduce((n, d) => n + d.data.filter((v) => v > 0).length, 0);
  canvas.dataset.points = String(points);
  canvas.setAttribute('aria-label', `${metric}: ${points} data points`);
  if (charts[id]) {
    charts[id].data = data;
    charts[id].options.scales.y.title.text = metric;
    charts[id].update();
    return;
  }
  charts[id] = new Chart(canvas, {
    type: 'bar',
    data,
    options: {
      animation: false,
      maintainAspectRatio: false,
      responsive: true,
      plugins: { legend: { position: 'bottom' } },
      scales: {
        x: { stacked: true, ticks: { maxRotation: 0, autoSkip: true } },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: metric } },
      },
    },
  });
}

let usageRows = [];
let usageSort = { key: 'total', dir: -1 };

async function loadUsage() {
  const from = $('#usage-from').value;
  const to = $('#usage-to').value;
  if (!from || !to || from > to) {
    $('#usage-status').textContent = 'Choose a range: From must not be after To.';
    return;
  }
  $('#usage-status').textContent = 'Loading…';
  const q = `from=${from}&to=${to}`;
  const [totals, daily, hourly] = await Promise.all([
    api('GET', `/admin/usage?${q}`), api('GET', `/admin/usage/daily?${q}`), api('GET', `/admin/usage/hourly?date=${to}`),
  ]);
  const metric = $('#usage-metric').value;
  const split = $('#usage-split').value;

  const cards = [
    ['requests', totals.total_requests], ['input tokens', totals.total_input_tokens],
    ['output tokens', totals.total_output_tokens], ['cache read tokens', totals.total_cache_read_tokens],
    ['cache write tokens', totals.total_cache_write_tokens], ['errors', totals.total_errors],
    ['active keys', `${totals.active_keys} / ${totals.total_keys}`],
  ];
  $('#usage-totals').replaceChildren(...cards.map(([label, v]) => el('div', { class: 'card', dataset: { total: label } },
    el('div', { class: 'value' }, fmt(v)), el('div', { class: 'label' }, label))));

  drawChart('chart-daily', seriesOf(daily.days, (d) => d.date, bucketNames(from, to, false), (n) => n.slice(5), split, metric), metric);
  drawChart('chart-hourly', seriesOf(hourly.hours, (h) => h.hour, bucketNames(to, to, true), (n) => n.slice(11, 13), split, metric), metric);
  $('#hourly-caption').textContent = `Per hour, ${to}`;

  // Rows: key × model over the range, summed from the daily answer.
  const rows = new Map();
  for (const day of daily.days) {
    for (const k of day.keys ?? []) {
      for (const [model, e] of Object.entries(k.by_model ?? {})) {
        const id = `${k.name}\u0000${model}`;
        const r = rows.get(id) ?? { key: k.name, model, requests: 0, input: 0, output: 0, cache_read: 0, cache_write: 0, total: 0 };
        r.requests += e.requests ?? 0;
        r.input += e.input ?? 0;
        r.output += e.output ?? 0;
        r.cache_read += e.cache_read ?? 0;
        r.cache_write += e.cache_write ?? 0;
        r.total += tokensOf(e);
        rows.set(id, r);
      }
    }
  }
  usageRows = [...rows.values()];
  renderUsageTable();
  $('#usage-status').textContent = `Time zone ${totals.time_zone || 'UTC'}; updated ${new Date().toLocaleTimeString()}`;
}

function renderUsageTable() {
  const { key, dir } = usageSort;
  const sorted = [...usageRows].sort((a, b) => {
    const x = a[key];
    const y = b[key];
    return (typeof x === 'number' ? x - y : String(x).localeCompare(String(y))) * dir;
  });
  const cols = ['key', 'model', 'requests', 'input', 'output', 'cache_read', 'cache_write', 'total'];
  $('#usage-table tbody').replaceChildren(...sorted.map((r) => el('tr', {},
    ...cols.map((c) => el('td', { class: typeof r[c] === 'number' ? 'num' : '' }, fmt(r[c]))))));
  const sum = (c) => usageRows.reduce((n, r) => n + r[c], 0);
  $('#usage-table tfoot').replaceChildren(el('tr', { id: 'usage-total-row' },
    el('td', {}, 'Total'), el('td', {}, ''),
    ...cols.slice(2).map((c) => el('td', { class: 'num', dataset: { col: c } }, fmt(sum(c)))),
  ));
  for (const th of document.querySelectorAll('#usage-table th')) {
    if (th.dataset.sort === key) th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
    else th.removeAttribute('aria-sort');
  }
}

for (const th of document.querySelectorAll('#usage-table th[data-sort]')) {
  th.addEventListener('click', () => {
    const key = th.dataset.sort;
    usageSort = { key, dir: usageSort.key === key ? -usageSort.dir : (key === 'key' || key === 'model' ? 1 : -1) };
    renderUsageTable();
  });
}

// ---- keys ----

// Any object (a key's policy or budgets, whatever fields they have) as a small definition list.
function fields(obj) {
  if (obj === undefined || obj === null) return el('span', { class: 'muted' }, '—');
  if (typeof obj !== 'object') return el('span', {}, String(obj));
  const dl = el('dl', { class: 'fields' });
  const add = (prefix, value) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const entries = Object.entries(value);
      if (entries.length === 0) dl.append(el('dt', {}, prefix), el('dd', {}, '{}'));
      for (const [k, v] of entries) add(prefix ? `${prefix}.${k}` : k, v);
      return;
    }
    const text = Array.isArray(value) ? value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : v)).join(', ') : value;
    dl.append(el('dt', {}, prefix), el('dd', {}, fmt(text)));
  };
  add('', obj);
  return dl.childElementCount > 0 ? dl : el('span', { class: 'muted' }, '—');
}

// A key's policy without the limits it does not set (0, null or an empty list mean "no limit").
function policySummary(policy, expired) {
  if (!policy || typeof policy !== 'object') return policy;
  const out = {};
  for (const [name, value] of Object.entries(policy)) {
    if (value === null || value === 0 || value === false || (Array.isArray(value) && value.length === 0)) continue;
    out[name.replaceAll('_', ' ')] = value;
  }
  if (expired) out.expired = 'yes';
  return Object.keys(out).length > 0 ? out : 'no limits';
}

// Budgets as "used / limit (left), resets at".
function budgetSummary(budgets) {
  if (!budgets || typeof budgets !== 'object') return budgets;
  const out = {};
  for (const [period, b] of Object.entries(budgets)) {
    if (b && typeof b === 'object' && 'limit' in b) {
      out[period] = `${fmt(b.used)} / ${fmt(b.limit)} (${fmt(b.remaining)} left, resets ${b.resets_at})`;
    } else {
      out[period] = b;
    }
  }
  return out;
}

async function loadKeys() {
  const data = await api('GET', '/admin/keys');
  const rows = data.keys.map((k) => {
    const ref = encodeURIComponent(k.id);
    const toggle = el('button', { type: 'button', dataset: { action: k.enabled ? 'disable' : 'enable' } }, k.enabled ? 'Disable' : 'Enable');
    toggle.addEventListener('click', () => keyAction(k.enabled ? 'POST' : 'POST', `/admin/keys/${ref}/${k.enabled ? 'disable' : 'enable'}`));
    const del = el('button', { type: 'button', class: 'danger', dataset: { action: 'delete' } }, 'Delete');
    del.addEventListener('click', async () => {
      if (await confirmDialog(`Delete the key "${k.name}" (${k.key})? Clients using it are refused at once. This cannot be undone.`)) {
        await keyAction('DELETE', `/admin/keys/${ref}`);
      }
    });
    return el('tr', { dataset: { keyId: k.id, keyName: k.name } },
      el('td', {}, k.name), el('td', {}, el('code', {}, k.key)),
      el('td', { class: 'state' }, el('span', { class: `badge ${k.enabled ? 'ok' : 'bad'}` }, k.enabled ? 'enabled' : 'disabled')),
      el('td', {}, k.created ?? ''),
      el('td', { class: 'num' }, fmt(k.total_requests)), el('td', { class: 'num' }, fmt(k.total_input)),
      el('td', { class: 'num' }, fmt(k.total_output)), el('td', {}, k.last_used ?? '—'),
      el('td', { class: 'policy' }, fields(policySummary(k.policy, k.expired))),
      el('td', { class: 'budgets' }, fields(budgetSummary(k.budgets))),
      el('td', { class: 'actions' }, toggle, del));
  });
  $('#keys-table tbody').replaceChildren(...rows);
  $('#keys-status').textContent = `${data.keys.length} keys`;
}

async function keyAction(method, path) {
  try {
    await api(method, path);
    await loadKeys();
  } catch (err) {
    report(err);
  }
}

function confirmDialog(text) {
  const dialog = $('#confirm');
  $('#confirm-text').textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
  });
}

$('#create-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    const created = await api('POST', '/admin/keys', { name: $('#create-name').value });
    $('#create-name').value = '';
    $('#new-key-value').textContent = created.api_key;
    $('#copy-status').textContent = '';
    $('#new-key').hidden = false;
    await loadKeys();
  } catch (err) {
    report(err);
  }
});

$('#copy-key').addEventListener('click', async () => {
  const text = $('#new-key-value').textContent;
  try {
    await navigator.clipboard.writeText(text);
    $('#copy-status').textContent = 'Copied.';
  } catch {
    // No clipboard access (an insecure origin): select the key so Ctrl+C copies it.
    getSelection().selectAllChildren($('#new-key-value'));
    $('#copy-status').textContent = 'Selected: press Ctrl+C to copy.';
  }
});

$('#dismiss-key').addEventListener('click', () => {
  $('#new-key-value').textContent = '';  // the only copy the page had
  $('#new-key').hidden = true;
});

// ---- fallback ----

async function loadFallback() {
  const fb = await api('GET', '/admin/fallback');
  $('#fallback-summary').textContent =
    `Fallback ${fb.enabled ? 'on' : 'off'} · ${fb.tiers.length} tiers · quota floor ${Math.round((fb.min_remaining_fraction ?? 0) * 100)}% · ` +
    `last quota poll ${fb.last_health_poll ?? 'never'}`;
  const rows = fb.tiers.map((t) => {
    const quota = el('td', { class: 'quota' });
    if (typeof t.remaining_fraction === 'number') {
      const bar = el('span');
      bar.style.width = `${Math.max(0, Math.min(1, t.remaining_fraction)) * 100}%`;
      quota.append(el('span', { class: `meter${t.quota_low ? ' low' : ''}` }, bar));
    }
    quota.append(String(t.remaining));
    const cooldown = t.cooldown
      ? el('span', {}, el('span', { class: 'badge warn' }, `${t.cooldown.seconds_left} s left`), ` ${t.cooldown.reason}`)
      : el('span', { class: 'muted' }, 'none');
    return el('tr', { dataset: { tier: t.name } },
      el('td', {}, t.name), el('td', {}, t.model), el('td', {}, `${t.provider} (${t.type})`), quota,
      el('td', { class: 'available' }, el('span', { class: `badge ${t.available ? 'ok' : 'bad'}` }, t.available ? 'yes' : 'no')),
      el('td', { class: 'cooldown' }, cooldown), el('td', { class: 'num' }, fmt(t.consecutive_failures)));
  });
  $('#fallback-table tbody').replaceChildren(...rows);
  $('#fallback-error').textContent = fb.last_reload_error ? `Last reload refused: ${fb.last_reload_error}` : '';
  $('#fallback-updated').textContent = `updated ${new Date().toLocaleTimeString()} (every ${FALLBACK_REFRESH_MS / 1000} s)`;
}

async function startFallbackRefresh() {
  const tick = async () => {
    try {
      await loadFallback();
    } catch (err) {
      report(err);
      if (err instanceof SignedOut) return;
    }
    if (currentView === 'fallback' && csrfToken) fallbackTimer = setTimeout(tick, FALLBACK_REFRESH_MS);
  };
  await tick();
}

function stopFallbackRefresh() {
  clearTimeout(fallbackTimer);
  fallbackTimer = null;
}

// ---- start: resume this browser's session if its cookie still names one ----

(async () => {
  const res = await fetch('/dashboard/api/session', { credentials: 'same-origin', cache: 'no-store' });
  if (res.ok) {
    csrfToken = (await res.json()).csrf_token;
    showApp();
  } else {
    showSignIn();
  }
})();
