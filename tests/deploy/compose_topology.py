#!/usr/bin/env python3
"""compose_topology: the topology docker-compose.yml declares, run with the native binaries.

For each of authsvc, usagesvc, fallbacksvc and gateway it starts the built binary with exactly the
environment its container would get (the Dockerfile stage's ENV, then compose's `environment:`,
resolved by `docker-compose config` with an operator's variables: ADMIN_KEY, UPSTREAM_URL and the
fallback.json path), in start order by `depends_on`, and waits for it with the health-check command
compose declares. Only these are substituted:

  service host names (authsvc:8181, ...)  -> 127.0.0.1
  container ports (8180..8183, and the    -> free ports picked at run time
  metrics ports 8191..8193)
  container paths of volumes and binds    -> a temporary directory per volume (same layout inside);
                                             the working directory (WORKDIR) likewise
  /usr/local/bin/<service>                -> the built binary
  UPSTREAM_URL                            -> a fake upstream (tests/fakes), given as the operator's
                                             variable, as an operator's .env would

Then, like an operator moving over from the old proxy: the old keys.json was dropped into the
authsvc volume before the first start (the documented copy); its key works; a key is created
through the gateway's admin API with the ADMIN_KEY compose passed; one /v1/messages request and one
streaming request are served; usage arrives (GET /admin/usage total_requests == 2); /admin/fallback
answers with the read-only fallback.json; each service's metrics port (the one compose exposes)
answers GET /metrics in Prometheus' text format with figures that match what was done. Then SIGTERM to each (gateway first), each must exit 0
within a bound, and every state file must be where the compose volumes say, with nothing written
outside them. Every process is stopped by its PID, also on failure.

Environment: LUNA_{GATEWAY,AUTHSVC,USAGESVC,FALLBACKSVC,FAKE_UPSTREAM}_BIN; argv[1] = source dir.
"""

import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compose_lib import (LISTEN_VAR, METRICS_VAR, SERVICES, Failure, check, environment, healthcheck_cmd,  # noqa: E402
                         last, load_compose, parse_dockerfile, stage_chain, stage_env, start_order,
                         volumes_of)

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../.."))
DEADLINE = time.monotonic() + float(os.environ.get("LUNA_TOPOLOGY_BUDGET_S", "150"))
MODEL = "claude-sonnet-4-5"


def need_bin(name):
    p = os.environ.get(f"LUNA_{name.upper()}_BIN")
    check(p and os.access(p, os.X_OK), f"LUNA_{name.upper()}_BIN is not set to an executable ({p})")
    return os.path.abspath(p)


def remaining(cap):
    return max(0.1, min(cap, DEADLINE - time.monotonic()))


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def request(port, method, path, headers=None, body=None, timeout=15):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        h = dict(headers or {})
        if data is not None:
            h.setdefault("content-type", "application/json")
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        conn.close()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? '
                     r'(NaN|[+-]Inf|[-+0-9.eE]+)$')


def scrape(port, service):
    """GET /metrics of a service: {"name{labels}": value}, every line checked against the text format."""
    st, hdrs, body = request(port, "GET", "/metrics")
    check(st == 200, f"{service} GET /metrics: {st} {body[:300]!r}")
    check(hdrs.get("content-type") == "text/plain; version=0.0.4; charset=utf-8",
          f"{service} /metrics content-type {hdrs.get('content-type')}")
    text = body.decode()
    check(text.endswith("\n"), f"{service} /metrics does not end with a newline")
    out = {}
    for line in text.split("\n")[:-1]:
        if line.startswith("#"):
            check(re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* ", line), f"{service}: bad comment {line!r}")
            continue
        m = _SAMPLE.match(line)
        check(m, f"{service}: not a sample line: {line!r}")
        check(m.group(1).startswith(f"luna_{service}_"), f"{service}: foreign metric {m.group(1)}")
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


class Topology:
    def __init__(self):
        self.procs = []  # (name, Popen), start order
        self.tmp = tempfile.mkdtemp(prefix="luna-compose-topology-")
        self.logs = os.path.join(self.tmp, "logs")
        os.makedirs(self.logs)

    # -- processes ------------------------------------------------------------------------------
    def start(self, name, argv, env, cwd):
        log = open(os.path.join(self.logs, f"{name}.log"), "wb")
        p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.procs.append((name, p))
        return p

    def kill_all(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    print(f"  {name} (pid {p.pid}) did not die after SIGKILL")

    def dump_logs(self):
        for name, _ in self.procs:
            path = os.path.join(self.logs, f"{name}.log")
            with open(path, "rb") as f:
                tail = f.read()[-3000:].decode(errors="replace")
            print(f"---- {name} log (tail) ----\n{tail}")


def main():
    bins = {s: need_bin(s) for s in SERVICES}
    fake_bin = need_bin("fake_upstream")
    t0 = time.monotonic()
    topo = Topology()
    ok = False
    try:
        run(topo, bins, fake_bin)
        ok = True
        print(f"PASS in {time.monotonic() - t0:.1f} s")
    except Failure as e:
        print(f"FAIL: {e}")
        topo.dump_logs()
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        topo.dump_logs()
    finally:
        topo.kill_all()
        if ok:
            shutil.rmtree(topo.tmp, ignore_errors=True)
        else:
            print(f"(state and logs kept in {topo.tmp})")
    return 0 if ok else 1


def run(topo, bins, fake_bin):
    tmp = topo.tmp

    # The fake upstream, on a port of its own choosing.
    port_file = os.path.join(tmp, "fake_upstream.port")
    fake = topo.start("fake_upstream", [fake_bin, "--listen", "127.0.0.1:0", "--port-file", port_file],
                      {"PATH": "/usr/bin:/bin"}, tmp)
    while not os.path.exists(port_file):
        check(fake.poll() is None, "fake_upstream exited at start")
        check(time.monotonic() < DEADLINE, "fake_upstream wrote no port file")
        time.sleep(0.05)
    with open(port_file) as f:
        fake_port = int(f.read().strip())
    upstream_url = f"http://127.0.0.1:{fake_port}"
    # Quota on the upstream's /health, which fallbacksvc polls at UPSTREAM_URL (and then keeps in
    # its state file).
    st, _, body = request(fake_port, "POST", "/_control/quota", body={"accounts": [
        {"email": "a@test", "models": {MODEL: {"remainingFraction": 0.8}}}]})
    check(st == 200, f"fake_upstream /_control/quota: {st} {body!r}")

    # The operator's files: fallback.json (old format, read-only) and an .env's variables.
    bind_dir = os.path.join(tmp, "operator")
    os.makedirs(bind_dir)
    fallback_json = os.path.join(bind_dir, "fallback.json")
    with open(fallback_json, "w") as f:
        json.dump({"enabled": True, "health_poll_interval_seconds": 30, "min_remaining_fraction": 0.1,
                   "tiers": [{"name": "sonnet", "model": MODEL, "type": "antigravity"}]}, f)
    os.chmod(fallback_json, 0o444)
    with open(fallback_json, "rb") as f:
        fallback_sha = hashlib.sha256(f.read()).hexdigest()
    admin_key = "sk-admin-compose-" + secrets.token_hex(12)
    compose, how = load_compose(ROOT, {"ADMIN_KEY": admin_key, "UPSTREAM_URL": upstream_url,
                                       "LUNA_FALLBACK_JSON": fallback_json})
    print(f"compose resolved with {how}")
    stages = parse_dockerfile(os.path.join(ROOT, "deploy/Dockerfile"))

    # Container ports -> free host ports; volumes -> directories under tmp/volumes.
    svcs = compose["services"]
    container_port = {s: int(environment(svcs[s])[LISTEN_VAR[s]].rsplit(":", 1)[1]) for s in SERVICES}
    container_metrics_port = {s: int(environment(svcs[s])[v].rsplit(":", 1)[1]) for s, v in METRICS_VAR.items()}
    ports = free_ports(len(SERVICES) + len(METRICS_VAR))
    host_port = dict(zip(SERVICES, ports))
    host_metrics_port = dict(zip(METRICS_VAR, ports[len(SERVICES):]))
    volume_dir = {}
    mounts = {}
    for s in SERVICES:
        mounts[s] = []
        for v in volumes_of(svcs[s]):
            if v["type"] == "volume":
                d = volume_dir.setdefault(v["source"], os.path.join(tmp, "volumes", v["source"]))
                os.makedirs(d, exist_ok=True)
                mounts[s].append((v["target"], d))
            else:
                check(os.path.exists(v["source"]), f"{s}: bind source {v['source']} does not exist")
                mounts[s].append((v["target"], v["source"]))
        mounts[s].sort(key=lambda m: -len(m[0]))

    def subst(s, value):
        def hostport(m):
            host, port = m.group(1), int(m.group(2))
            if host in SERVICES and port == container_port[host]:
                return f"127.0.0.1:{host_port[host]}"
            if host in ("0.0.0.0", "127.0.0.1", "localhost") and port == container_port[s]:
                return f"127.0.0.1:{host_port[s]}"
            if host in ("0.0.0.0", "127.0.0.1", "localhost") and port == container_metrics_port.get(s):
                return f"127.0.0.1:{host_metrics_port[s]}"
            return m.group(0)
        value = re.sub(r"(?<![\w.-])([A-Za-z0-9_.-]+):(\d+)(?!\d)", hostport, value)
        for target, host in mounts[s]:
            if value == target or value.startswith(target.rstrip("/") + "/"):
                value = host + value[len(target):]
                break
        for b in SERVICES:
            value = value.replace(f"/usr/local/bin/{b}", bins[b])
        return value

    # The old proxy's keys.json, copied into the authsvc volume before its first start (as
    # deploy/README.md says); its key has no usage history, so the totals below stay exact.
    keys_file = subst("authsvc", environment(svcs["authsvc"])["KEYS_FILE"])
    legacy_key = "sk-legacy" + secrets.token_hex(12)
    with open(keys_file, "w") as f:
        json.dump({"admin_key": "sk-admin-legacy-" + secrets.token_hex(8), "keys": {legacy_key: {
            "name": "old-agent", "enabled": True, "created": "2026-01-02T03:04:05+08:00",
            "usage": {"total_input": 0, "total_output": 0, "total_requests": 0, "last_used": None,
                      "daily": {}}}}}, f)
    os.chmod(keys_file, 0o600)

    # Start in compose's order, each with exactly its container's environment.
    order = start_order(compose, list(SERVICES))
    check(order[0] == "authsvc" and order[-1] == "gateway", f"start order {order}")
    envs = {}
    for s in order:
        chain = stage_chain(stages, s)
        env = stage_env(chain)
        env.update(environment(svcs[s]))
        env = {k: subst(s, v) for k, v in env.items()}
        env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        for k, v in env.items():
            check(not re.search(r"/var/lib/luna|/etc/luna|\b(authsvc|usagesvc|fallbacksvc|gateway):\d", v),
                  f"{s}: {k}={v} was not mapped to this machine")
            check(not re.search(r"\b818[0-3]\b|\b819[1-3]\b", v), f"{s}: {k}={v} still names a container port")
        envs[s] = env
        cwd = subst(s, last(chain, "WORKDIR"))
        check(os.path.isdir(cwd), f"{s}: WORKDIR {last(chain, 'WORKDIR')} is not on one of its volumes")
        p = topo.start(s, [bins[s]], env, cwd)
        probe = [subst(s, a) for a in healthcheck_cmd(svcs[s])]
        check(probe[0] == "CMD", f"{s}: healthcheck {probe}")
        t_start = time.monotonic()
        while True:
            check(p.poll() is None, f"{s} exited ({p.returncode}) before it was healthy")
            r = subprocess.run(probe[1:], capture_output=True, timeout=remaining(10))
            if r.returncode == 0:
                break
            check(time.monotonic() - t_start < 30 and time.monotonic() < DEADLINE,
                  f"{s}: `{' '.join(probe[1:])}` did not pass within 30 s")
            time.sleep(0.2)
        print(f"  {s}: healthy by `{' '.join(probe[1:])}` after {time.monotonic() - t_start:.1f} s")

    gw = host_port["gateway"]
    admin = {"x-api-key": envs["authsvc"]["ADMIN_KEY"]}
    check(envs["authsvc"]["ADMIN_KEY"] == admin_key, "compose did not pass ADMIN_KEY to authsvc")

    st, _, body = request(gw, "POST", "/admin/keys", admin, {"name": "compose-topology"})
    check(st == 200, f"POST /admin/keys: {st} {body[:300]!r}")
    new_key = json.loads(body)["api_key"]

    msg = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    h = {"anthropic-version": "2023-06-01"}
    st, hdrs, body = request(gw, "POST", "/v1/messages", dict(h, **{"x-api-key": legacy_key}), msg)
    check(st == 200, f"/v1/messages with the old keys.json's key: {st} {body[:300]!r}")
    check(json.loads(body).get("type") == "message", f"/v1/messages answer: {body[:300]!r}")
    st, hdrs, body = request(gw, "POST", "/v1/messages", dict(h, authorization=f"Bearer {new_key}"),
                          dict(msg, stream=True))
    check(st == 200 and hdrs.get("content-type", "").startswith("text/event-stream"),
          f"streaming /v1/messages: {st} {hdrs.get('content-type')} {body[:300]!r}")
    check(b"event: message_stop" in body, f"the stream did not end normally: {body[-300:]!r}")
    print("  served one /v1/messages request (old key) and one stream (new key)")

    totals = None
    usage_by = min(DEADLINE, time.monotonic() + 20)
    while time.monotonic() < usage_by:
        st, _, body = request(gw, "GET", "/admin/usage", admin)
        if st == 200:
            totals = json.loads(body)
            if totals.get("total_requests") == 2:
                break
        time.sleep(0.2)
    check(totals and totals.get("total_requests") == 2, f"GET /admin/usage: {totals}")
    check(totals.get("total_output_tokens", 0) > 0, f"no output tokens recorded: {totals}")
    print(f"  usage arrived: {totals}")

    fallback_by = min(DEADLINE, time.monotonic() + 15)
    while True:
        st, _, body = request(gw, "GET", "/admin/fallback", admin)
        check(st == 200, f"GET /admin/fallback: {st} {body[:300]!r}")
        fb = json.loads(body)
        check(fb.get("enabled") is True and [t.get("name") for t in fb.get("tiers", [])] == ["sonnet"],
              f"/admin/fallback does not show the mounted fallback.json: {body[:400]!r}")
        if fb["tiers"][0].get("remaining") == "80%":
            break
        check(time.monotonic() < fallback_by, f"fallbacksvc did not poll the upstream's quota: {body[:600]!r}")
        time.sleep(0.2)
    st, _, body = request(gw, "GET", "/health")
    check(st == 200 and json.loads(body).get("status") == "ok", f"GET /health: {st} {body[:300]!r}")
    print("  /admin/fallback shows the mounted chain and the upstream's quota; /health answers")

    # Each service's metrics, on the port compose exposes (mapped here like the others).
    metrics = {s: scrape(host_metrics_port[s], s) for s in METRICS_VAR}
    for s, m in metrics.items():
        check(m.get(f"luna_{s}_serving") == 1, f"{s}: luna_{s}_serving is {m.get(f'luna_{s}_serving')}")
    a, u, fb = metrics["authsvc"], metrics["usagesvc"], metrics["fallbacksvc"]
    check(a.get('luna_authsvc_keys{state="enabled"}') == 2, f"authsvc keys: {a}")  # the old key and the new one
    check(a.get("luna_authsvc_watch_streams") == 1, "authsvc: the gateway's watch stream is not counted")
    check(u.get("luna_usagesvc_events_recorded_total") == 2, f"usagesvc events: {u}")
    check(fb.get("luna_fallbacksvc_tiers") == 1 and
          fb.get('luna_fallbacksvc_tier_quota_remaining_fraction{tier="sonnet"}') == 0.8, f"fallbacksvc: {fb}")
    check(fb.get('luna_fallbacksvc_quota_polls_total{provider="upstream",result="ok"}', 0) >= 1, f"fallbacksvc: {fb}")
    print("  metrics: every service's GET /metrics parses and matches: 2 keys, 1 watch stream, 2 events, quota 0.8")

    # SIGTERM, gateway first (compose stops dependents first); each exits 0 within its bound.
    for name, p in reversed(topo.procs):
        if name == "fake_upstream":
            continue
        t_stop = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=remaining(25))
        except subprocess.TimeoutExpired:
            raise Failure(f"{name} did not exit within 25 s of SIGTERM")
        check(rc == 0, f"{name} exited {rc} on SIGTERM")
        print(f"  {name}: exit 0 {time.monotonic() - t_stop:.1f} s after SIGTERM")
    fake.send_signal(signal.SIGTERM)
    fake.wait(timeout=remaining(10))

    # State where the volumes say, and nothing elsewhere.
    host = socket.gethostname()
    expect = {
        "authsvc": [envs["authsvc"]["KEYS_FILE"], envs["authsvc"]["KEYS_FILE"] + ".legacy-backup"],
        "usagesvc": [envs["usagesvc"]["USAGE_DATA_DIR"]],
        "fallbacksvc": [envs["fallbacksvc"]["FALLBACK_STATE_FILE"]],
        "gateway": [envs["gateway"]["USAGE_SPOOL_FILE"].replace("{hostname}", host)],
    }
    for s, paths in expect.items():
        own = [d for t, d in mounts[s] if d.startswith(os.path.join(tmp, "volumes") + "/")]
        check(len(own) == 1, f"{s}: {own}")
        for p in paths:
            check(os.path.exists(p), f"{s}: {p} does not exist (volume holds {sorted(os.listdir(own[0]))})")
            check(p == own[0] or p.startswith(own[0] + "/"), f"{s}: {p} is not on its volume {own[0]}")
        print(f"  {s}: volume {os.path.basename(own[0])} holds {sorted(os.listdir(own[0]))}")
    check(os.listdir(os.path.join(tmp, "volumes")) and
          all(os.listdir(os.path.join(tmp, "volumes", v)) for v in os.listdir(os.path.join(tmp, "volumes"))),
          "a volume stayed empty")
    with open(os.path.join(expect["authsvc"][0])) as f:
        check('"luna-keys"' in f.read(), "the keys file was not rewritten in the new format")
    with open(fallback_json, "rb") as f:
        check(hashlib.sha256(f.read()).hexdigest() == fallback_sha, "fallback.json (read-only) was changed")
    check(sorted(os.listdir(bind_dir)) == ["fallback.json"], f"files appeared beside fallback.json: {os.listdir(bind_dir)}")
    top = sorted(os.listdir(tmp))
    check(top == sorted(["fake_upstream.port", "logs", "operator", "volumes"]), f"files outside the volumes: {top}")


if __name__ == "__main__":
    sys.exit(main())
