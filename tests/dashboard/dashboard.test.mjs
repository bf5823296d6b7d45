// The admin dashboard in a real browser: Debian's headless Chromium, driven by playwright-core,
// against the real gateway, authsvc, usagesvc, fallbacksvc and fake upstream that
// dashboard_browser_test.cpp started and filled with usage. Signs in (after a wrong and a client key
// are refused), sees the charts and totals drawn from that usage, creates a key (shown once, copied),
// disables, enables and deletes it, sees a cooldown appear on the Fallback view after the fake
// upstream answers 429, signs out. Writes a screenshot of each view.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run through ctest (dashboard_browser_test)`);
  return v;
};
const BASE = env('LUNA_DASH_URL');
const ADMIN_KEY = env('LUNA_DASH_ADMIN_KEY');
const CLIENT_KEY = env('LUNA_DASH_CLIENT_KEY');
const UPSTREAM = env('LUNA_DASH_UPSTREAM');
const EXPECT = JSON.parse(env('LUNA_DASH_EXPECT'));
const SHOTS = env('LUNA_DASH_SCREENSHOTS');
const CHROMIUM = process.env.LUNA_CHROMIUM || '/usr/bin/chromium';
const { chromium } = createRequire(join(env('LUNA_DASH_NODE_MODULES'), 'noop.js'))('playwright-core');
const WAIT = { timeout: 20_000 };

mkdirSync(SHOTS, { recursive: true });

async function ask(key, model) {
  const res = await fetch(`${BASE}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(10_000),
  });
  await res.text();
  return res.status;
}

async function eventually(what, fn, ms = 10_000) {
  const until = Date.now() + ms;
  let last;
  while (Date.now() < until) {
    last = await fn();
    if (last) return last;
    await sleep(100);
  }
  assert.fail(`${what}: not within ${ms} ms (last: ${JSON.stringify(last)})`);
}

// Saturated (non-gray) opaque pixels in the plot part of a canvas (its top 80%; the legend is below):
// the bars, never the axes, grid or labels, which are gray.
const COLORED_PIXELS = (id) => {
  const c = document.getElementById(id);
  const d = c.getContext('2d').getImageData(0, 0, c.width, Math.floor(c.height * 0.8)).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    const [r, g, b, a] = [d[i], d[i + 1], d[i + 2], d[i + 3]];
    if (a > 200 && Math.max(r, g, b) - Math.min(r, g, b) > 60) n++;
  }
  return n;
};

const numberIn = async (locator) => Number((await locator.textContent()).replace(/[^0-9]/g, ''));

test('dashboard: sign-in, usage charts, keys, fallback cooldown, sign-out', async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, baseURL: BASE });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  const sessionCookie = async () => (await context.cookies()).find((c) => c.name === 'luna_dashboard');

  await t.test('a wrong admin key and a client key are refused', async () => {
    await page.goto('/dashboard');
    await page.locator('#signin-form').waitFor(WAIT);
    await page.fill('#admin-key', 'sk-admin-wrong');
    await page.click('#signin-form button[type=submit]');
    await page.locator('#signin-error', { hasText: 'Invalid admin key' }).waitFor(WAIT);
    await page.fill('#admin-key', CLIENT_KEY);
    await page.click('#signin-form button[type=submit]');
    await page.locator('#signin-error', { hasText: 'Admin key required' }).waitFor(WAIT);
    assert.equal(await sessionCookie(), undefined);
    assert.equal(await page.locator('#nav').isVisible(), false);
    await page.screenshot({ path: join(SHOTS, 'signin.png') });
  });

  await t.test('signing in sets an HttpOnly, SameSite=Strict session cookie and keeps no key', async () => {
    await page.fill('#admin-key', ADMIN_KEY);
    await page.click('#signin-form button[type=submit]');
    await page.locator('#nav').waitFor(WAIT);
    const cookie = await sessionCookie();
    assert.ok(cookie, 'no session cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.secure, false);  // plain HTTP here; Secure behind TLS (dashboard_test.cpp)
    const leaks = await page.evaluate((key) => ({
      cookie: document.cookie.includes('luna_dashboard'),
      html: document.documentElement.outerHTML.includes(key),
      url: location.href.includes(key),
      storage: JSON.stringify({ ...localStorage, ...sessionStorage }).includes(key),
    }), ADMIN_KEY);
    assert.deepEqual(leaks, { cookie: false, html: false, url: false, storage: false });
  });

  await t.test('usage: totals, table and charts come from the generated usage', async () => {
    await page.locator('#usage-total-row').waitFor(WAIT);
    const total = (col) => numberIn(page.locator(`#usage-total-row td[data-col=${col}]`));
    assert.equal(await total('requests'), EXPECT.requests);
    assert.equal(await total('input'), EXPECT.input);
    assert.equal(await total('output'), EXPECT.output);
    assert.equal(await total('cache_read'), EXPECT.cache_read);
    assert.equal(await numberIn(page.locator('.card[data-total="requests"] .value')), EXPECT.requests);
    assert.equal(await numberIn(page.locator('.card[data-total="cache read tokens"] .value')), EXPECT.cache_read);
    // One row per key and model, each named.
    const rows = await page.locator('#usage-table tbody tr').allTextContents();
    assert.equal(rows.length, EXPECT.rows, rows.join(' | '));
    for (const name of EXPECT.keys) assert.ok(rows.some((r) => r.includes(name)), `${name} not in ${rows}`);
    // The charts have bars: data points, and coloured pixels on the canvas.
    for (const id of ['chart-daily', 'chart-hourly']) {
      assert.ok(Number(await page.getAttribute(`#${id}`, 'data-points')) > 0, id);
      assert.ok(await page.evaluate(COLORED_PIXELS, id) > 500, `${id} has no bars`);
    }
    // Sorting by requests, both ways.
    await page.click('#usage-table th[data-sort=requests]');
    const col = async () => (await page.locator('#usage-table tbody tr td:nth-child(3)').allTextContents()).map((s) => Number(s.replace(/,/g, '')));
    const desc = await col();
    assert.deepEqual(desc, [...desc].sort((a, b) => b - a));
    await page.click('#usage-table th[data-sort=requests]');
    const asc = await col();
    assert.deepEqual(asc, [...asc].sort((a, b) => a - b));
    assert.equal(await page.getAttribute('#usage-table th[data-sort=requests]', 'aria-sort'), 'ascending');
    // Split by key: the same usage, drawn per key.
    await page.selectOption('#usage-split', 'key');
    await eventually('per-key chart', () => page.evaluate(COLORED_PIXELS, 'chart-daily').then((n) => n > 500));
    // Requests instead of tokens: the same buckets, counted in requests.
    await page.selectOption('#usage-metric', 'requests');
    await page.locator('#chart-daily[aria-label^="requests:"]').waitFor(WAIT);
    assert.ok(await page.evaluate(COLORED_PIXELS, 'chart-daily') > 500);
    await page.selectOption('#usage-metric', 'tokens');
    await page.selectOption('#usage-split', 'model');
    await page.locator('#chart-daily[aria-label^="tokens:"]').waitFor(WAIT);
    await page.locator('#usage-status', { hasText: 'updated' }).waitFor(WAIT);
    await page.screenshot({ path: join(SHOTS, 'usage.png'), fullPage: true });
    // A range without usage: empty charts, zero totals.
    await page.fill('#usage-from', '2020-01-01');
    await page.fill('#usage-to', '2020-01-02');
    await page.click('#usage-form button[type=submit]');
    await eventually('empty range', async () => (await total('requests')) === 0);
    assert.equal(await page.evaluate(COLORED_PIXELS, 'chart-daily'), 0);
    assert.equal(await page.getAttribute('#chart-daily', 'data-points'), '0');
  });

  let madeKey;
  await t.test('keys: create (shown once, copied), disable, enable, delete', async () => {
    await page.click('#nav [data-view=keys]');
    await page.locator('#keys-table tbody tr').first().waitFor(WAIT);
    for (const name of EXPECT.keys) await page.locator(`#keys-table tr[data-key-name="${name}"]`).waitFor(WAIT);
    // A key's policy and budget are shown in its row; a key without one says so.
    const limited = page.locator(`#keys-table tr[data-key-name="${EXPECT.policy.key}"]`);
    const shown = (await limited.locator('td.policy').textContent()) + (await limited.locator('td.budgets').textContent());
    for (const text of EXPECT.policy.shows) assert.ok(shown.includes(text), `${text} not in "${shown}"`);
    const free = page.locator(`#keys-table tr[data-key-name="${EXPECT.keys[0]}"] td.policy`);
    assert.ok((await free.textContent()).includes('no limits'), await free.textContent());
    await page.fill('#create-name', 'browser-made');
    await page.click('#create-form button[type=submit]');
    await page.locator('#new-key').waitFor(WAIT);
    madeKey = (await page.textContent('#new-key-value')).trim();
    assert.match(madeKey, /^sk-/);
    await page.click('#copy-key');
    await page.locator('#copy-status', { hasText: 'Copied' }).waitFor(WAIT);
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), madeKey);
    const row = page.locator('#keys-table tr[data-key-name="browser-made"]');
    await row.locator('.state', { hasText: 'enabled' }).waitFor(WAIT);
    assert.equal(await ask(madeKey, 'claude-opus'), 200);
    await page.screenshot({ path: join(SHOTS, 'keys-created.png'), fullPage: true });
    // Shown once: gone after Done, and the list shows only the masked key.
    await page.click('#dismiss-key');
    assert.equal(await page.locator('#new-key').isVisible(), false);
    assert.equal((await page.content()).includes(madeKey), false);

    await row.locator('button[data-action=disable]').click();
    await row.locator('.state', { hasText: 'disabled' }).waitFor(WAIT);
    await eventually('disabled key refused', async () => [401, 403].includes(await ask(madeKey, 'claude-opus')));
    await page.screenshot({ path: join(SHOTS, 'keys.png'), fullPage: true });
    await row.locator('button[data-action=enable]').click();
    await row.locator('.state', { hasText: 'enabled' }).waitFor(WAIT);
    await eventually('enabled key served', async () => (await ask(madeKey, 'claude-opus')) === 200);

    // Delete asks first; Cancel keeps the key, Delete removes it.
    await row.locator('button[data-action=delete]').click();
    await page.locator('#confirm[open]').waitFor(WAIT);
    await page.click('#confirm button[value=cancel]');
    await sleep(200);
    assert.equal(await row.count(), 1);
    await row.locator('button[data-action=delete]').click();
    await page.click('#confirm-ok');
    await row.waitFor({ state: 'detached', ...WAIT });
    await eventually('deleted key refused', async () => (await ask(madeKey, 'claude-opus')) === 401);
  });

  await t.test('fallback: a 429 from the upstream shows up as a cooldown, by itself', async () => {
    await page.click('#nav [data-view=fallback]');
    const opus = page.locator('#fallback-table tr[data-tier=opus]');
    await opus.waitFor(WAIT);
    assert.equal((await opus.locator('.cooldown').textContent()).trim(), 'none');
    for (const [tier, remaining] of Object.entries(EXPECT.quota)) {
      assert.equal((await page.locator(`#fallback-table tr[data-tier=${tier}] .quota`).textContent()).trim(), remaining);
    }
    await opus.locator('.available', { hasText: 'yes' }).waitFor(WAIT);
    const set = await fetch(`${UPSTREAM}/_control/models/claude-opus`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mode: '429', retry_after: 60 }),
    });
    assert.equal(set.status, 200);
    // The request fails over to the next tier; opus cools down. The page refreshes on its own.
    assert.equal(await ask(CLIENT_KEY, 'claude-opus'), 200);
    await opus.locator('.cooldown', { hasText: 's left' }).waitFor(WAIT);
    const text = await opus.locator('.cooldown').textContent();
    assert.match(text, /\d+ s left/);
    assert.match(text, /429|rate/i, text);
    await opus.locator('.available', { hasText: 'no' }).waitFor(WAIT);
    await page.screenshot({ path: join(SHOTS, 'fallback.png'), fullPage: true });
  });

  await t.test('signing out ends the session', async () => {
    const cookie = await sessionCookie();
    await page.click('#sign-out');
    await page.locator('#signin-form').waitFor(WAIT);
    assert.equal(await sessionCookie(), undefined);
    const res = await fetch(`${BASE}/dashboard/api/session`, { headers: { cookie: `luna_dashboard=${cookie.value}` } });
    assert.equal(res.status, 401);
    await page.reload();
    await page.locator('#signin-form').waitFor(WAIT);
    assert.equal(await page.locator('#nav').isVisible(), false);
  });

  // Nothing the page did was blocked by its Content-Security-Policy or threw. (Sign-in answers of
  // 401/403 are logged by Chromium as failed resources; they are expected.)
  const unexpected = problems.filter((p) => !/status of 40[13]/.test(p));
  assert.deepEqual(unexpected, []);
});
