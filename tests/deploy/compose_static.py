#!/usr/bin/env python3
"""compose_static: what can be proved about the deployment files without a Docker engine.

  docker-compose.yml   resolved by Debian's `docker-compose config` (no daemon needed); only the
                       load balancer publishes a port (8180); authsvc, usagesvc and fallbacksvc set
                       their metrics address and `expose` that port (to the compose network only);
                       every service has a health check that
                       runs its own binary's --probe on its own port, restart: unless-stopped, a start
                       order by health, internal addresses by service name, its state on a volume of
                       its own, fallback.json mounted read-only; every variable set is documented in
                       README.md's configuration tables; image names follow LUNA_REGISTRY/LUNA_TAG.
  deploy/Dockerfile    a stage per compose target; the build stage installs the project's build
                       packages (deploy/install-deps.sh's list) without recommends and builds Release
                       without tests; the runtime stage installs no -dev package and no compiler, and
                       every shared library the built binaries load comes from its packages; each
                       service stage copies only its binary, runs as a non-root USER, EXPOSEs its port
                       (and its metrics port) and has the same --probe HEALTHCHECK as compose.
  deploy/haproxy.cfg   re-resolves `gateway` through Docker's DNS, health-checks /health, does not
                       buffer or compress, times out after the gateway; `haproxy -c` when installed.
  deploy/systemd/      `systemd-analyze verify` (warnings count as failures) and the hardening,
                       state, ordering, reload and stop-timeout settings; the services' metrics on
                       loopback; env examples documented.

Usage: compose_static.py SOURCE_DIR   (LUNA_*_BIN point at the built binaries, optional)
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compose_lib import (LISTEN_VAR, METRICS_VAR, SERVICES, Failure, apt_packages, check, depends_on,  # noqa: E402
                         environment, exec_form, healthcheck_cmd, install_deps_packages, last,
                         load_compose, parse_dockerfile, ports_of, readme_env_tables, stage,
                         stage_chain, stage_env, volumes_of)

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../.."))
RUNTIME_PACKAGES = {"libgrpc++1.51", "libgrpc29", "libprotobuf32", "libabsl20220623", "libre2-9", "libc-ares2",
                    "libspdlog1.10", "libfmt9", "libssl3", "zlib1g", "libmimalloc2.0", "ca-certificates"}
# Always in debian:bookworm-slim.
BASE_PACKAGES = {"libc6", "libstdc++6", "libgcc-s1", "zlib1g"}
STATE_VARS = {"authsvc": ["KEYS_FILE"], "usagesvc": ["USAGE_DATA_DIR"], "fallbacksvc": ["FALLBACK_STATE_FILE"],
              "gateway": ["USAGE_SPOOL_FILE"]}
BINS = {s: os.environ.get(f"LUNA_{s.upper()}_BIN") for s in SERVICES}
BINS = {s: os.path.abspath(p) if p else None for s, p in BINS.items()}

results = []


def step(name):
    def wrap(fn):
        results.append((name, fn))
        return fn
    return wrap


def port_of(addr):
    return addr.rsplit(":", 1)[1]


def inside(path, directory):
    return path == directory or path.startswith(directory.rstrip("/") + "/")


state = {}


@step("docker-compose config resolves the file (no daemon)")
def t_load():
    compose, how = load_compose(ROOT, {})
    state["compose"], state["how"] = compose, how
    print(f"  resolved with {how}")
    check(set(compose["services"]) == set(SERVICES) | {"lb"},
          f"services are {sorted(compose['services'])}, expected {sorted(SERVICES)} + lb")
    custom, _ = load_compose(ROOT, {"LUNA_REGISTRY": "registry.invalid:5000/", "LUNA_TAG": "9.9.9",
                                    "UPSTREAM_URL": "https://upstream.invalid", "ADMIN_KEY": "sk-admin-x",
                                    "LUNA_HTTP_PORT": "18180"})
    state["custom"] = custom
    for s in SERVICES:
        check(compose["services"][s].get("image") == f"luna/{s}:latest",
              f"{s}: default image {compose['services'][s].get('image')!r}, expected luna/{s}:latest")
        check(custom["services"][s].get("image") == f"registry.invalid:5000/luna/{s}:9.9.9",
              f"{s}: LUNA_REGISTRY/LUNA_TAG do not make the image name: {custom['services'][s].get('image')}")
        env = environment(custom["services"][s])
        if "UPSTREAM_URL" in env:
            check(env["UPSTREAM_URL"] == "https://upstream.invalid", f"{s}: UPSTREAM_URL is not passed through")
    check(environment(custom["services"]["authsvc"]).get("ADMIN_KEY") == "sk-admin-x", "ADMIN_KEY is not passed through")


@step("only the load balancer publishes a port, 8180")
def t_ports():
    c = state["compose"]
    for name, svc in c["services"].items():
        check(svc.get("network_mode") != "host", f"{name}: network_mode host publishes everything")
        if name != "lb":
            check(not ports_of(svc), f"{name} publishes {ports_of(svc)}: only lb may")
    check(ports_of(c["services"]["lb"]) == [("8180", "8180")], f"lb publishes {ports_of(c['services']['lb'])}")
    check(ports_of(state["custom"]["services"]["lb"]) == [("18180", "8180")], "LUNA_HTTP_PORT does not move it")
    lb_img = c["services"]["lb"]["image"]
    check("/" not in lb_img.split(":")[0], f"lb image {lb_img} is not an official (library) image")
    for s in ("gateway",):
        check("container_name" not in c["services"][s] and "hostname" not in c["services"][s],
              f"{s} sets container_name/hostname: it could not be scaled")
    # The services' metrics ports: on all interfaces inside the container, exposed to the compose
    # network (for a Prometheus there), distinct from the gRPC port, never published.
    for s, var in METRICS_VAR.items():
        svc = c["services"][s]
        addr = environment(svc).get(var)
        check(addr and addr.startswith("0.0.0.0:"), f"{s}: {var}={addr!r}, expected 0.0.0.0:<port>")
        mport = port_of(addr)
        check(mport != port_of(environment(svc)[LISTEN_VAR[s]]), f"{s}: metrics on the gRPC port")
        exposed = [str(p).split("/")[0] for p in svc.get("expose", []) or []]
        check(exposed == [mport], f"{s} exposes {exposed}, expected [{mport!r}] (its metrics port)")


@step("build targets exist as Dockerfile stages")
def t_build():
    c = state["compose"]
    stages = parse_dockerfile(os.path.join(ROOT, "deploy/Dockerfile"))
    state["stages"] = stages
    for s in SERVICES:
        b = c["services"][s].get("build") or {}
        check(os.path.normpath(b.get("context", "")) == ROOT, f"{s}: build context {b.get('context')}")
        check(b.get("dockerfile") == "deploy/Dockerfile", f"{s}: dockerfile {b.get('dockerfile')}")
        check(b.get("target") == s, f"{s}: target {b.get('target')}")
        st = stage(stages, b["target"])
        check(st["base"] == "runtime", f"stage {s} is FROM {st['base']}, expected runtime")


@step("health checks run each binary's own --probe on its port; restart; start order by health")
def t_health():
    c = state["compose"]
    for s in SERVICES:
        svc = c["services"][s]
        env = environment(svc)
        listen = env.get(LISTEN_VAR[s])
        check(listen, f"{s}: {LISTEN_VAR[s]} is not set")
        hc = healthcheck_cmd(svc)
        want = ["CMD", f"/usr/local/bin/{s}", "--probe", f"127.0.0.1:{port_of(listen)}"]
        check(hc == want, f"{s}: healthcheck {hc}, expected {want}")
        for k in ("interval", "timeout", "retries"):
            check(k in svc["healthcheck"], f"{s}: healthcheck without {k}")
    check(healthcheck_cmd(c["services"]["lb"]), "lb has no healthcheck")
    for name, svc in c["services"].items():
        check(svc.get("restart") == "unless-stopped", f"{name}: restart {svc.get('restart')!r}")
        for dep, cond in depends_on(svc).items():
            check(dep in c["services"], f"{name} depends on unknown {dep}")
            check(cond == "service_healthy", f"{name} -> {dep}: condition {cond}, expected service_healthy")
    want = {"authsvc": set(), "usagesvc": {"authsvc"}, "fallbacksvc": {"authsvc"},
            "gateway": {"authsvc", "usagesvc", "fallbacksvc"}, "lb": {"gateway"}}
    for name, deps in want.items():
        check(set(depends_on(c["services"][name])) == deps,
              f"{name} depends on {sorted(depends_on(c['services'][name]))}, expected {sorted(deps)}")
    # Internal addresses by service name, at the port that service listens on.
    listen_port = {s: port_of(environment(c["services"][s])[LISTEN_VAR[s]]) for s in SERVICES}
    for s in SERVICES:
        for k, v in environment(c["services"][s]).items():
            if k.endswith("_ADDR"):
                host, port = v.rsplit(":", 1)
                check(host in SERVICES and listen_port[host] == port,
                      f"{s}: {k}={v} is not <service>:<its port> ({listen_port})")
    gw = environment(c["services"]["gateway"])
    grace = int(gw.get("SHUTDOWN_GRACE_SECONDS", "30"))
    sgp = str(c["services"]["gateway"].get("stop_grace_period", "10s"))
    m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", sgp)
    check(m is not None, f"gateway stop_grace_period {sgp}")
    secs = int(m.group(1) or 0) * 60 + int(m.group(2) or 0)
    check(secs > grace, f"gateway stop_grace_period {sgp} is not longer than SHUTDOWN_GRACE_SECONDS {grace}")


@step("each service's state on a volume of its own; fallback config read-only")
def t_volumes():
    c = state["compose"]
    declared = set((c.get("volumes") or {}).keys())
    owners = {}
    for s in SERVICES:
        env = environment(c["services"][s])
        vols = volumes_of(c["services"][s])
        named = [v for v in vols if v["type"] == "volume"]
        check(len(named) == 1, f"{s}: {len(named)} named volumes, expected one: {vols}")
        v = named[0]
        check(v["source"] in declared, f"{s}: volume {v['source']} is not declared at the top level")
        check(not v["read_only"], f"{s}: its state volume is read-only")
        check(v["source"] not in owners, f"{s} shares volume {v['source']} with {owners.get(v['source'])}")
        owners[v["source"]] = s
        for var in STATE_VARS[s]:
            check(var in env and inside(env[var], v["target"]),
                  f"{s}: {var}={env.get(var)} is not on its volume ({v['target']})")
    check("{hostname}" in environment(c["services"]["gateway"])["USAGE_SPOOL_FILE"],
          "gateway: USAGE_SPOOL_FILE has no {hostname}: scaled replicas would share one spool file")
    fb_env = environment(c["services"]["fallbacksvc"])
    binds = [v for v in volumes_of(c["services"]["fallbacksvc"]) if v["type"] == "bind"]
    cfg = [v for v in binds if v["target"] == fb_env.get("FALLBACK_CONFIG")]
    check(len(cfg) == 1, f"fallbacksvc: FALLBACK_CONFIG {fb_env.get('FALLBACK_CONFIG')} is not a bind mount: {binds}")
    check(cfg[0]["read_only"], "fallbacksvc: the fallback config is not mounted read-only")
    check(cfg[0]["source"] == os.path.join(ROOT, "fallback.json"),
          f"fallbacksvc: the fallback config comes from {cfg[0]['source']}, expected ./fallback.json")
    lbv = volumes_of(c["services"]["lb"])
    check(any(v["type"] == "bind" and v["read_only"] and v["source"] == os.path.join(ROOT, "deploy/haproxy.cfg")
              for v in lbv), f"lb does not mount deploy/haproxy.cfg read-only: {lbv}")


@step("every variable compose sets is documented for its binary (README.md)")
def t_documented():
    tables = readme_env_tables(os.path.join(ROOT, "README.md"))
    state["tables"] = tables
    for s in SERVICES:
        check(s in tables and tables[s], f"README.md documents no variables for {s}")
        for k in environment(state["compose"]["services"][s]):
            check(k in tables[s], f"{s}: compose sets {k}, which README.md's {s} table does not document")


@step("Dockerfile: build stage, runtime stage, one stage per service")
def t_dockerfile():
    stages = state["stages"]
    build = stage(stages, "build")
    check(build["base"] == "debian:bookworm", f"build stage is FROM {build['base']}")
    pkgs, norec = apt_packages(build)
    check(norec, "build stage: apt-get install without --no-install-recommends")
    # Plus Node.js and npm (install-deps.sh adds them when missing): they bundle the dashboard's page.
    want = install_deps_packages(os.path.join(ROOT, "deploy/install-deps.sh")) + ["nodejs", "npm"]
    check(sorted(pkgs) == sorted(want),
          f"build stage packages differ from deploy/install-deps.sh's PACKAGES: "
          f"missing {sorted(set(want) - set(pkgs))}, extra {sorted(set(pkgs) - set(want))}")
    runs = " ".join(a for k, a in build["instr"] if k == "RUN")
    check(re.search(r"(deploy/build\.sh\s+\S+\s+Release|cmake\s.*-DCMAKE_BUILD_TYPE=Release)", runs),
          "build stage does not build Release")
    check("-DLUNA_BUILD_TESTS=OFF" in runs, "build stage does not build with -DLUNA_BUILD_TESTS=OFF")

    rt = stage(stages, "runtime")
    check(rt["base"] == "debian:bookworm-slim", f"runtime stage is FROM {rt['base']}")
    rpkgs, rnorec = apt_packages(rt)
    check(rnorec, "runtime stage: apt-get install without --no-install-recommends")
    dev = [p for p in rpkgs if p.endswith("-dev") or p in ("build-essential", "g++", "gcc", "cmake", "ccache")]
    check(not dev, f"runtime stage installs build packages: {dev}")
    check(set(rpkgs) == RUNTIME_PACKAGES, f"runtime packages {sorted(rpkgs)}, expected {sorted(RUNTIME_PACKAGES)}")
    state["runtime_pkgs"] = set(rpkgs)

    c = state["compose"]
    for s in SERVICES:
        chain = stage_chain(stages, s)
        st = chain[-1]
        copies = [a for k, a in st["instr"] if k == "COPY"]
        check(copies == [f"--from=build /out/{s} /usr/local/bin/{s}"], f"stage {s} copies {copies}")
        user = last(chain, "USER")
        check(user is not None, f"stage {s} has no USER")
        uid = user.split(":")[0]
        check(uid not in ("root", "0") and (not uid.isdigit() or int(uid) >= 1000), f"stage {s} runs as {user}")
        check(exec_form(last(chain, "ENTRYPOINT") or "") == [f"/usr/local/bin/{s}"], f"stage {s}: ENTRYPOINT")
        env = environment(c["services"][s])
        ports = [port_of(env[LISTEN_VAR[s]])] + ([port_of(env[METRICS_VAR[s]])] if s in METRICS_VAR else [])
        check((last([st], "EXPOSE") or "").split() == ports,
              f"stage {s}: EXPOSE {last([st], 'EXPOSE')}, expected {' '.join(ports)}")
        hc = last([st], "HEALTHCHECK") or ""
        m = re.search(r"CMD\s+(\[.*\])", hc)
        check(m and exec_form(m.group(1)) == healthcheck_cmd(c["services"][s])[1:],
              f"stage {s}: HEALTHCHECK {hc!r} differs from compose's")
        # The image's defaults agree with compose, and its state directory belongs to the user.
        ienv = stage_env(chain)
        for var in STATE_VARS[s] + [LISTEN_VAR[s]] + ([METRICS_VAR[s]] if s in METRICS_VAR else []):
            check(ienv.get(var) == env.get(var), f"stage {s}: ENV {var}={ienv.get(var)} but compose says {env.get(var)}")
        vol = [v for v in volumes_of(c["services"][s]) if v["type"] == "volume"][0]
        runs = " ".join(a for k, a in st["instr"] if k == "RUN")
        check(re.search(rf"install -d -o {uid} -g \S+ -m 07\d\d {re.escape(vol['target'])}\b", runs),
              f"stage {s}: {vol['target']} is not created owned by {uid}")


@step("the built binaries need no library outside the runtime stage's packages")
def t_libraries():
    if os.environ.get("LUNA_STATIC_NO_BINS") == "1":
        print("  skipped: a sanitizer build (its binaries need libasan and libubsan; the image's are built without)")
        return
    if not all(BINS.values()) or not shutil.which("ldd") or not shutil.which("dpkg"):
        print("  skipped: LUNA_*_BIN, ldd or dpkg not available")
        return
    allowed = state["runtime_pkgs"] | BASE_PACKAGES
    needed = {}
    for s, path in BINS.items():
        r = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"ldd {path}: {r.stderr}")
        for m in re.finditer(r"=>\s+(/\S+)", r.stdout):
            needed.setdefault(m.group(1), set()).add(s)
    # Debian's merged /usr: dpkg knows a library under /lib or /usr/lib, not always both.
    def candidates(lib):
        out = {lib, os.path.realpath(lib)}
        for p in list(out):
            out.add(p[4:] if p.startswith("/usr/lib/") else "/usr" + p if p.startswith("/lib/") else p)
        return out
    all_paths = sorted(set().union(*(candidates(l) for l in needed)))
    d = subprocess.run(["dpkg", "-S"] + all_paths, capture_output=True, text=True, timeout=120)
    owner = {}
    for line in d.stdout.splitlines():
        pkgs, _, p = line.partition(": ")
        owner[p.strip()] = pkgs.split(":")[0].split(",")[0].strip()
    for lib, users in sorted(needed.items()):
        pkgs = {owner[c] for c in candidates(lib) if c in owner}
        check(pkgs, f"{sorted(users)}: {lib} belongs to no Debian package")
        check(pkgs & allowed, f"{sorted(users)} load {lib} from {sorted(pkgs)}, which the runtime stage does not install")
    print(f"  {len(needed)} shared libraries of the 4 binaries, all from the runtime packages or the base image")


@step(".dockerignore keeps build trees, state, node_modules, .git and the operator's files out")
def t_dockerignore():
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        lines = {l.strip() for l in f if l.strip() and not l.startswith("#")}
    for want in (".git", "build*/", ".state/", "**/node_modules", ".env", "keys.json", "fallback.json"):
        check(want in lines, f".dockerignore lacks {want}")


def dockerignore_regexes():
    """.dockerignore's patterns as (regex, exclude) pairs, Docker's way: matched against the path
    from the context root and each of its parent directories; `**` crosses directories; `!` re-includes."""
    out = []
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        for line in f:
            p = line.strip()
            if not p or p.startswith("#"):
                continue
            exclude = not p.startswith("!")
            p = p.lstrip("!").strip("/")
            rx, i = "", 0
            while i < len(p):
                if p.startswith("**/", i):
                    rx, i = rx + "(?:.*/)?", i + 3
                elif p.startswith("**", i):
                    rx, i = rx + ".*", i + 2
                elif p[i] == "*":
                    rx, i = rx + "[^/]*", i + 1
                elif p[i] == "?":
                    rx, i = rx + "[^/]", i + 1
                else:
                    rx, i = rx + re.escape(p[i]), i + 1
            out.append((re.compile(rx + "$"), exclude))
    return out


def ignored(rel, rules):
    parts = rel.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for rx, exclude in rules:
        if any(rx.match(p) for p in prefixes):
            result = exclude
    return result


@step("the Docker build context (after .dockerignore) configures Release and has every source")
def t_context():
    cmake, ninja = shutil.which("cmake"), shutil.which("ninja")
    if not cmake or not ninja:
        print("  skipped: cmake or ninja not installed")
        return
    rules = dockerignore_regexes()
    tmp = tempfile.mkdtemp(prefix="luna-context-")
    try:
        ctx = os.path.join(tmp, "src")
        count = 0
        for dirpath, dirnames, filenames in os.walk(ROOT):
            rel_dir = os.path.relpath(dirpath, ROOT)
            rel_dir = "" if rel_dir == "." else rel_dir + "/"
            dirnames[:] = [d for d in dirnames if not ignored(rel_dir + d, rules)]
            for fn in filenames:
                rel = rel_dir + fn
                if ignored(rel, rules):
                    continue
                os.makedirs(os.path.join(ctx, rel_dir), exist_ok=True)
                shutil.copy2(os.path.join(dirpath, fn), os.path.join(ctx, rel), follow_symlinks=False)
                count += 1
        for gone in ("tests", "build", ".git", "keys.json", ".env"):
            check(not os.path.exists(os.path.join(ctx, gone)), f"{gone} is in the build context")
        # The same configure as the build stage (deploy/build.sh's), then a dry run that fails on any
        # missing source.
        r = subprocess.run([cmake, "-S", ctx, "-B", os.path.join(tmp, "build"), "-G", "Ninja",
                            "-DCMAKE_BUILD_TYPE=Release", "-DLUNA_BUILD_TESTS=OFF", "-DLUNA_BUILD_BENCH=OFF"],
                           capture_output=True, text=True, timeout=180)
        check(r.returncode == 0, f"cmake configure of the build context failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
        r = subprocess.run([ninja, "-C", os.path.join(tmp, "build"), "-n"] +
                           [f"{s}/{s}" for s in SERVICES], capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, f"ninja -n in the build context failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
        print(f"  {count} files in the context; configure and ninja -n of the four binaries pass")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@step("deploy/haproxy.cfg: DNS re-resolution of `gateway`, /health checks, streaming, timeouts")
def t_haproxy():
    path = os.path.join(ROOT, "deploy/haproxy.cfg")
    with open(path) as f:
        text = "\n".join(l.split("#", 1)[0].rstrip() for l in f)
    check(re.search(r"^resolvers\s+(\S+)", text, re.M), "no resolvers section")
    resolvers = re.search(r"^resolvers\s+(\S+)", text, re.M).group(1)
    check(re.search(r"nameserver\s+\S+\s+127\.0\.0\.11:53", text), "resolvers do not ask Docker's DNS (127.0.0.11)")
    check(re.search(r"^\s*bind\s+(\*|0\.0\.0\.0)?:8180\s*$", text, re.M), "no bind on :8180")
    check(re.search(r"server-template\s+\S+\s+\d+\s+gateway:8180\b", text), "no server-template for gateway:8180")
    check(re.search(rf"resolvers\s+{re.escape(resolvers)}\b.*init-addr\s+none", text)
          or re.search(rf"init-addr\s+none.*resolvers\s+{re.escape(resolvers)}\b", text),
          "gateway servers are not resolved at run time (resolvers ... init-addr none)")
    check(re.search(r"option\s+httpchk", text) and re.search(r"uri\s+/health\b", text), "no /health check")
    check(not re.search(r"^\s*(compression|option\s+http-buffer-request|filter\s+cache)", text, re.M),
          "compression or buffering would hold streams back")
    upstream_timeout = int(environment(state["compose"]["services"]["gateway"]).get("UPSTREAM_TIMEOUT_SECONDS", 600))
    for which in ("server", "client"):
        m = re.search(rf"timeout\s+{which}\s+(\d+)(s|m|h)?\b", text)
        check(m, f"no timeout {which}")
        secs = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 0.001}[m.group(2)]
        check(secs > upstream_timeout, f"timeout {which} {secs}s is not longer than UPSTREAM_TIMEOUT_SECONDS")
    lbhc = " ".join(healthcheck_cmd(state["compose"]["services"]["lb"]))
    m = re.search(r"127\.0\.0\.1:(\d+)(/\S*)", lbhc)
    check(m and re.search(rf"bind\s+127\.0\.0\.1:{m.group(1)}\b", text) and f"monitor-uri {m.group(2)}" in text,
          f"lb healthcheck {lbhc} does not match a monitor-uri frontend")
    exe = shutil.which("haproxy")
    if exe:
        r = subprocess.run([exe, "-c", "-f", path], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"haproxy -c: {r.stdout}{r.stderr}")
        print("  haproxy -c: valid")
    else:
        print("  haproxy not installed: structural checks only")


def unit_settings(path):
    sections, cur = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            m = re.fullmatch(r"\[(\w+)\]", line)
            if m:
                cur = m.group(1)
                sections.setdefault(cur, {})
                continue
            check(cur is not None and "=" in line, f"{path}: bad line {line!r}")
            k, _, v = line.partition("=")
            sections[cur].setdefault(k.strip(), []).append(v.strip())
    return sections


@step("deploy/systemd: units verify and are hardened; env examples documented")
def t_systemd():
    d = os.path.join(ROOT, "deploy/systemd")
    tables = state["tables"]
    verify = shutil.which("systemd-analyze")
    tmp = tempfile.mkdtemp(prefix="luna-units-")
    try:
        for s in SERVICES:
            unit = os.path.join(d, f"luna-{s}.service")
            check(os.path.isfile(unit), f"missing {unit}")
            u = unit_settings(unit)
            for sec in ("Unit", "Service", "Install"):
                check(sec in u, f"{unit}: no [{sec}]")
            sv = u["Service"]
            one = lambda k: (sv.get(k) or [None])[-1]  # noqa: E731
            check(one("ExecStart") == f"/usr/local/bin/{s}", f"{s}: ExecStart {one('ExecStart')}")
            check(one("User") and one("User") != "root", f"{s}: no dedicated User")
            check(one("StateDirectory") == f"luna/{s}", f"{s}: StateDirectory {one('StateDirectory')}")
            check(sv.get("ReadWritePaths") == [f"/var/lib/luna/{s}"], f"{s}: ReadWritePaths {sv.get('ReadWritePaths')}")
            for k, v in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                         ("Restart", "on-failure")):
                check(one(k) == v, f"{s}: {k}={one(k)}, expected {v}")
            check(f"-/etc/luna/{s}.env" in sv.get("EnvironmentFile", []), f"{s}: no EnvironmentFile=-/etc/luna/{s}.env")
            env = dict(e.split("=", 1) for e in sv.get("Environment", []))
            for k in env:
                check(k in tables[s], f"{s}.service sets {k}, undocumented for {s}")
            for var in STATE_VARS[s]:
                check(inside(env.get(var, ""), f"/var/lib/luna/{s}"), f"{s}.service: {var} not in its StateDirectory")
            if s in METRICS_VAR:
                check(env.get(METRICS_VAR[s], "").startswith("127.0.0.1:"),
                      f"{s}.service: {METRICS_VAR[s]}={env.get(METRICS_VAR[s])!r}, expected a loopback address")
            check(one("WantedBy") is None and "multi-user.target" in u["Install"].get("WantedBy", []),
                  f"{s}: not WantedBy=multi-user.target")
            example = os.path.join(d, f"{s}.env.example")
            check(os.path.isfile(example), f"missing {example}")
            with open(example) as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        k = line.split("=", 1)[0]
                        check(k in tables[s], f"{example}: {k} is not documented for {s}")
            state.setdefault("units", {})[s] = u
            # A copy with the native binary so verify can check ExecStart.
            with open(unit) as f:
                text = f.read()
            text = text.replace(f"/usr/local/bin/{s}", BINS[s] or "/bin/true")
            with open(os.path.join(tmp, f"luna-{s}.service"), "w") as f:
                f.write(text)
        units = state["units"]
        after = " ".join(units["gateway"]["Unit"].get("After", []))
        for s in ("authsvc", "usagesvc", "fallbacksvc"):
            check(f"luna-{s}.service" in after, f"gateway is not ordered after luna-{s}.service")
        check("luna-authsvc.service" in " ".join(units["usagesvc"]["Unit"].get("After", [])), "usagesvc not after authsvc")
        reload = (units["fallbacksvc"]["Service"].get("ExecReload") or [""])[-1]
        check(re.search(r"kill\s+(-HUP|-s\s*HUP|--signal\s+HUP)\s+\$MAINPID", reload), f"fallbacksvc ExecReload {reload!r}")
        stop = (units["gateway"]["Service"].get("TimeoutStopSec") or ["90s"])[-1]
        check(int(stop.rstrip("s")) > 30, f"gateway TimeoutStopSec {stop} not above SHUTDOWN_GRACE_SECONDS (30)")
        if verify:
            r = subprocess.run([verify, "verify", "--man=no"] + sorted(
                os.path.join(tmp, n) for n in os.listdir(tmp)), capture_output=True, text=True, timeout=120)
            out = (r.stdout + r.stderr).strip()
            check(r.returncode == 0 and not re.search(r"luna-|Unknown|Failed|ignoring", out),
                  f"systemd-analyze verify ({r.returncode}):\n{out}")
            print("  systemd-analyze verify: clean")
        else:
            print("  systemd-analyze not installed: structural checks only")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    failed = 0
    t0 = time.time()
    for name, fn in results:
        try:
            fn()
            print(f"ok    {name}")
        except Failure as e:
            failed += 1
            print(f"FAIL  {name}\n      {e}")
        except KeyError as e:
            failed += 1
            print(f"FAIL  {name}\n      missing {e} (an earlier step failed?)")
    print(f"{len(results) - failed}/{len(results)} passed in {time.time() - t0:.1f} s ({state.get('how', '?')})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
