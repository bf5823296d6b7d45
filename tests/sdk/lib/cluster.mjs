// Starts the real binaries for one test file: the fake upstream, authsvc and a gateway, each on
// 127.0.0.1 with port 0 (the bound port is read back from --port-file), with their state and logs
// in a temporary directory. Every process is stopped by its PID when the file ends, when it fails,
// and when the hard deadline passes, so nothing outlives the test.
//
// Paths come from the environment (CTest sets them): LUNA_GATEWAY_BIN, LUNA_AUTHSVC_BIN,
// LUNA_FAKE_UPSTREAM_BIN.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
// Whole-file deadline: past it every child is killed and the process exits non-zero.
const HARD_DEADLINE_MS = Number(process.env.LUNA_SDK_DEADLINE_MS || 120_000);

// The SDKs read credentials and base URLs from the environment; the tests pass everything
// explicitly, so nothing from the caller's environment may leak into a client.
for (const name of Object.keys(process.env)) {
  if (/^(ANTHROPIC|OPENAI)_/.test(name)) delete process.env[name];
}

const live = new Set(); // child processes not known to have exited
const liveDirs = new Set(); // temporary directories of clusters not stopped yet
let deadlineArmed = false;

function killAllNow(signal = 'SIGKILL') {
  for (const child of live) {
    try {
      process.kill(child.pid, signal);
    } catch {
      // already gone
    }
  }
}

function armSafetyNets() {
  if (deadlineArmed) return;
  deadlineArmed = true;
  // A crash or an early exit of this file must not leave servers behind.
  process.on('exit', () => killAllNow('SIGKILL'));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      killAllNow('SIGKILL');
      process.exit(1);
    });
  }
  const timer = setTimeout(() => {
    process.stderr.write(`sdk tests: hard deadline of ${HARD_DEADLINE_MS} ms passed; killing children ` +
      `(state and logs kept in ${[...liveDirs].join(', ') || 'nothing'})\n`);
    killAllNow('SIGKILL');
    process.exit(1);
  }, HARD_DEADLINE_MS);
  timer.unref();
}

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through ctest, or set it to the built binary`);
  if (!existsSync(value)) throw new Error(`${name}=${value} does not exist: build the project first`);
  return value;
}

class Child {
  constructor(name, bin, args, env, logFile) {
    this.name = name;
    this.logFile = logFile;
    const fd = openSync(logFile, 'a');
    try {
      this.proc = spawn(bin, args, {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    this.pid = this.proc.pid;
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        live.delete(this);
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
      this.proc.once('error', (err) => {
        live.delete(this);
        this.exitInfo = { error: err.message };
        resolve(this.exitInfo);
      });
    });
    if (this.pid) live.add(this);
  }

  log() {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  async stop() {
    if (!live.has(this)) return this.exitInfo;
    try {
      process.kill(this.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    let timer;
    const done = await Promise.race([
      this.exited,
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(null), STOP_GRACE_MS);
      }),
    ]);
    clearTimeout(timer);
    if (done) return done;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    return this.exited;
  }
}

async function waitForPortFile(child, file) {
  const until = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < until) {
    if (child.exitInfo) break;
    if (existsSync(file)) {
      const port = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
      if (port > 0) return port;
    }
    await sleep(20);
  }
  throw new Error(
    `${child.name} did not write its port to ${file} within ${START_TIMEOUT_MS} ms ` +
      `(exit: ${JSON.stringify(child.exitInfo ?? null)}); its log:\n${child.log()}`,
  );
}

async function fetchWithTimeout(url, init = {}, ms = 5_000) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
}

export class Cluster {
  /** @param {{upstreamFormat: 'anthropic'|'openai', gatewayEnv?: Record<string,string>}} opts */
  constructor(opts) {
    this.upstreamFormat = opts.upstreamFormat;
    this.gatewayEnv = opts.gatewayEnv ?? {};
    this.adminKey = `sk-admin-sdk-${randomBytes(12).toString('hex')}`;
    this.children = [];
  }

  get gatewayUrl() {
    return `http://${HOST}:${this.gatewayPort}`;
  }

  get upstreamUrl() {
    return `http://${HOST}:${this.upstreamPort}`;
  }

  async start() {
    armSafetyNets();
    const gatewayBin = requiredEnv('LUNA_GATEWAY_BIN');
    const authBin = requiredEnv('LUNA_AUTHSVC_BIN');
    const upstreamBin = requiredEnv('LUNA_FAKE_UPSTREAM_BIN');
    this.dir = mkdtempSync(join(tmpdir(), 'luna-sdk-'));
    liveDirs.add(this.dir);
    try {
      const upstream = this.#spawn('fake_upstream', upstreamBin,
        ['--listen', `${HOST}:0`, '--port-file', join(this.dir, 'upstream.port')], {});
      const auth = this.#spawn('authsvc', authBin, ['--port-file', join(this.dir, 'auth.port')], {
        KEYS_FILE: join(this.dir, 'keys.json'),
        ADMIN_KEY: this.adminKey,
        AUTHSVC_LISTEN: `${HOST}:0`,
        AUTHSVC_METRICS_LISTEN: 'off',
      });
      this.upstreamPort = await waitForPortFile(upstream, join(this.dir, 'upstream.port'));
      this.authPort = await waitForPortFile(auth, join(this.dir, 'auth.port'));
      const gateway = this.#spawn('gateway', gatewayBin, ['--port-file', join(this.dir, 'gateway.port')], {
        GATEWAY_LISTEN: `${HOST}:0`,
        AUTHSVC_ADDR: `${HOST}:${this.authPort}`,
        UPSTREAM_URL: this.upstreamUrl,
        UPSTREAM_FORMAT: this.upstreamFormat,
        USAGESVC_ADDR: 'off',
        FALLBACKSVC_ADDR: 'off',
        USAGE_SPOOL_FILE: join(this.dir, 'usage-spool.log'),
        SHUTDOWN_GRACE_SECONDS: '2',
        ...this.gatewayEnv,
      });
      this.gateway = gateway;
      this.gatewayPort = await waitForPortFile(gateway, join(this.dir, 'gateway.port'));
      await this.#waitHealthy();
      this.clientKey = await this.createKey('sdk-conformance');
    } catch (err) {
      await this.stop({ keepDir: true });
      throw new Error(`${err.message}\n(state and logs kept in ${this.dir})`);
    }
    return this;
  }

  #spawn(name, bin, args, env) {
    const child = new Child(name, bin, args, env, join(this.dir, `${name}.log`));
    this.children.push(child);
    return child;
  }

  async #waitHealthy() {
    const until = Date.now() + START_TIMEOUT_MS;
    let last = '';
    while (Date.now() < until) {
      if (this.gateway.exitInfo) break;
      try {
        const r = await fetchWithTimeout(`${this.gatewayUrl}/health`, {}, 2_000);
        if (r.status === 200) return;
        last = `${r.status} ${await r.text()}`;
      } catch (err) {
        last = err.message;
      }
      await sleep(50);
    }
    throw new Error(`gateway never became healthy (last: ${last}); its log:\n${this.gateway.log()}`);
  }

  /** Creates a client key through the gateway's admin API and returns the full key. */
  async createKey(name) {
    const r = await fetchWithTimeout(`${this.gatewayUrl}/admin/keys`, {
      method: 'POST',
      headers: { 'x-api-key': this.adminKey, 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`POST /admin/keys: ${r.status} ${text}`);
    const key = JSON.parse(text).api_key;
    if (typeof key !== 'string' || key === '') throw new Error(`POST /admin/keys gave no api_key: ${text}`);
    return key;
  }

  /** Sets a model's behaviour on the fake upstream (see tests/fakes/fake_behaviour.h). */
  async setModel(model, behaviour) {
    const r = await fetchWithTimeout(`${this.upstreamUrl}/_control/models/${encodeURIComponent(model)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(behaviour),
    });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`fake upstream control for ${model}: ${r.status} ${text}`);
  }

  /** The requests the fake upstream received for `model`, oldest first, bodies parsed. */
  async upstreamRequests(model) {
    const r = await fetchWithTimeout(`${this.upstreamUrl}/_control/requests`);
    const all = (await r.json()).requests;
    const out = [];
    for (const req of all) {
      let body = null;
      try {
        body = req.body == null ? null : JSON.parse(req.body);
      } catch {
        // not JSON: not a model call
      }
      if (body && body.model === model) out.push({ ...req, json: body });
    }
    return out;
  }

  /** The path an upstream of this cluster's format is called on. */
  get upstreamPath() {
    return this.upstreamFormat === 'openai' ? '/v1/chat/completions' : '/v1/messages';
  }

  /** Logs of all processes, for failure messages. */
  logs() {
    return this.children.map((c) => `----- ${c.name} (pid ${c.pid}) -----\n${c.log()}`).join('\n');
  }

  async stop({ keepDir = false } = {}) {
    // Reverse start order, each by its PID.
    for (const child of [...this.children].reverse()) await child.stop();
    liveDirs.delete(this.dir);
    if (this.dir && !keepDir && !process.env.LUNA_SDK_KEEP_TMP) rmSync(this.dir, { recursive: true, force: true });
  }
}
