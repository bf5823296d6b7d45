"""Shared helpers of the deployment tests: the resolved compose file, the Dockerfile's stages, the
variables the README documents per binary, the project's package list.

The compose file is resolved by Debian's `docker-compose config` (1.29: it parses, validates and
interpolates the file without a Docker daemon). Without docker-compose it is parsed with
python3-yaml and interpolated here (${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, $$),
which is enough for this file; the tests say which one they used.
"""

import os
import re
import shutil
import subprocess
import tempfile

import yaml

SERVICES = ("authsvc", "usagesvc", "fallbacksvc", "gateway")
# The variable that holds each service's own listen address.
LISTEN_VAR = {
    "authsvc": "AUTHSVC_LISTEN",
    "usagesvc": "USAGESVC_LISTEN",
    "fallbacksvc": "FALLBACKSVC_LISTEN",
    "gateway": "GATEWAY_LISTEN",
}
# The variable of each gRPC service's metrics endpoint (GET /metrics, GET /health); the gateway
# serves its /metrics on its own port.
METRICS_VAR = {
    "authsvc": "AUTHSVC_METRICS_LISTEN",
    "usagesvc": "USAGESVC_METRICS_LISTEN",
    "fallbacksvc": "FALLBACKSVC_METRICS_LISTEN",
}


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


# ---------------------------------------------------------------------------------------------
# compose

_VAR = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def _interpolate_str(s, env):
    def repl(m):
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3)
        value = env.get(name)
        if op == ":-":
            return value if value else arg
        if op == "-":
            return value if value is not None else arg
        if op in (":?", "?"):
            if (op == ":?" and not value) or value is None:
                raise Failure(f"compose: required variable {name} is missing: {arg}")
            return value
        return value or ""

    return _VAR.sub(repl, s)


def _interpolate(obj, env):
    if isinstance(obj, str):
        return _interpolate_str(obj, env)
    if isinstance(obj, list):
        return [_interpolate(x, env) for x in obj]
    if isinstance(obj, dict):
        return {k: _interpolate(v, env) for k, v in obj.items()}
    return obj


def _resolve_path(root, p):
    if p.startswith("/"):
        return p
    return os.path.normpath(os.path.join(root, p))


def load_compose(root, variables, force_yaml=False):
    """Returns (compose dict, how) with `variables` as the only interpolation environment (an
    operator's `.env` in the repository is ignored)."""
    path = os.path.join(root, "docker-compose.yml")
    exe = shutil.which("docker-compose")
    if exe and not force_yaml and os.environ.get("LUNA_COMPOSE_PARSER") != "yaml":
        with tempfile.NamedTemporaryFile("w", suffix=".env") as empty_env:
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.gettempdir()}
            env.update(variables)
            # No Docker daemon is needed for `config`; make sure none is contacted.
            env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
            r = subprocess.run([exe, "-f", path, "--project-directory", root, "--env-file", empty_env.name,
                                "config"], env=env, capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"docker-compose config failed ({r.returncode}):\n{r.stderr}")
        return yaml.safe_load(r.stdout), "docker-compose config (" + _compose_version(exe) + ")"
    with open(path) as f:
        data = yaml.safe_load(f)
    data = _interpolate(data, dict(variables))
    for svc in data.get("services", {}).values():
        b = svc.get("build")
        if isinstance(b, dict) and "context" in b:
            b["context"] = _resolve_path(root, b["context"])
        vols = []
        for v in svc.get("volumes", []) or []:
            if isinstance(v, dict) and v.get("type") == "bind":
                v = dict(v, source=_resolve_path(root, v["source"]))
            elif isinstance(v, str):
                parts = v.split(":")
                if parts[0].startswith((".", "/")):
                    parts[0] = _resolve_path(root, parts[0])
                v = ":".join(parts)
            vols.append(v)
        if vols:
            svc["volumes"] = vols
    return data, "python3-yaml (without docker-compose)"


def _compose_version(exe):
    try:
        r = subprocess.run([exe, "version", "--short"], capture_output=True, text=True, timeout=30)
        return "docker-compose " + r.stdout.strip()
    except Exception:  # noqa: BLE001
        return "docker-compose"


def volumes_of(svc):
    """A service's mounts as dicts {type, source, target, read_only}."""
    out = []
    for v in svc.get("volumes", []) or []:
        if isinstance(v, dict):
            out.append({"type": v.get("type", "volume"), "source": v.get("source"), "target": v["target"],
                        "read_only": bool(v.get("read_only", False))})
            continue
        parts = v.split(":")
        if len(parts) == 1:
            out.append({"type": "volume", "source": None, "target": parts[0], "read_only": False})
            continue
        src, target = parts[0], parts[1]
        mode = parts[2] if len(parts) > 2 else "rw"
        kind = "bind" if src.startswith(("/", ".", "~")) else "volume"
        out.append({"type": kind, "source": src, "target": target, "read_only": "ro" in mode.split(",")})
    return out


def ports_of(svc):
    """Published ports as (published, target) pairs."""
    out = []
    for p in svc.get("ports", []) or []:
        if isinstance(p, dict):
            out.append((str(p.get("published", "")), str(p["target"])))
        else:
            parts = str(p).split(":")
            out.append((parts[-2] if len(parts) > 1 else "", parts[-1].split("/")[0]))
    return out


def depends_on(svc):
    d = svc.get("depends_on") or {}
    if isinstance(d, list):
        return {name: "service_started" for name in d}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in d.items()}


def environment(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        out = {}
        for item in env:
            k, _, v = item.partition("=")
            out[k] = v
        return out
    return {k: "" if v is None else str(v) for k, v in env.items()}


def healthcheck_cmd(svc):
    test = (svc.get("healthcheck") or {}).get("test")
    if isinstance(test, str):
        return ["CMD-SHELL", test]
    return list(test or [])


def start_order(compose, names):
    order, seen = [], set()

    def visit(n, stack):
        check(n not in stack, f"depends_on has a cycle through {n}")
        if n in seen:
            return
        for dep in depends_on(compose["services"][n]):
            if dep in names:
                visit(dep, stack | {n})
        seen.add(n)
        order.append(n)

    for n in names:
        visit(n, frozenset())
    return order


# ---------------------------------------------------------------------------------------------
# Dockerfile

def parse_dockerfile(path):
    """Returns [{name, base, instr: [(KEYWORD, args)]}] in file order."""
    with open(path) as f:
        raw = f.read().split("\n")
    logical, cur = [], ""
    for line in raw:
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue  # a comment inside a continued instruction
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        logical.append(cur.strip())
        cur = ""
    stages = []
    for ins in logical:
        kw, _, args = ins.partition(" ")
        kw = kw.upper()
        if kw == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", args.strip(), re.I)
            check(m is not None, f"Dockerfile: cannot parse FROM {args}")
            stages.append({"name": m.group(2), "base": m.group(1), "instr": []})
        elif stages:
            stages[-1]["instr"].append((kw, args.strip()))
    return stages


def stage(stages, name):
    for s in stages:
        if s["name"] == name:
            return s
    raise Failure(f"Dockerfile has no stage {name!r} (stages: {[s['name'] for s in stages]})")


def stage_chain(stages, name):
    """The stage and the stages it is built FROM, base first."""
    chain = []
    s = stage(stages, name)
    while True:
        chain.insert(0, s)
        names = [x["name"] for x in stages]
        if s["base"] in names:
            s = stage(stages, s["base"])
        else:
            return chain


def apt_packages(st):
    """Packages an `apt-get install` of the stage names, and whether all used --no-install-recommends."""
    pkgs, norec = [], True
    for kw, args in st["instr"]:
        if kw != "RUN":
            continue
        for m in re.finditer(r"apt-get\s+install\s+([^&;|]*)", args):
            words = m.group(1).split()
            norec = norec and "--no-install-recommends" in words
            pkgs += [w for w in words if not w.startswith("-")]
    return pkgs, norec


def stage_env(chain):
    """ENV of a stage and its bases (later ones win)."""
    env = {}
    for st in chain:
        for kw, args in st["instr"]:
            if kw != "ENV":
                continue
            for m in re.finditer(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)', args):
                env[m.group(1)] = m.group(2).strip('"')
    return env


def last(chain, keyword):
    val = None
    for st in chain:
        for kw, args in st["instr"]:
            if kw == keyword:
                val = args
    return val


def exec_form(args):
    """["a", "b"] of an exec-form instruction argument, else None."""
    import json
    try:
        v = json.loads(args)
        return v if isinstance(v, list) else None
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# the project's documents

def readme_env_tables(readme_path):
    """{binary: set of variable names} from README.md's "## Configuration" tables."""
    with open(readme_path) as f:
        text = f.read()
    start = text.find("## Configuration")
    check(start >= 0, "README.md has no '## Configuration' section")
    end = text.find("\n## ", start + 5)
    section = text[start:end if end > 0 else len(text)]
    out, cur = {}, None
    for line in section.split("\n"):
        m = re.match(r"###\s+(\S+)", line)
        if m:
            cur = m.group(1)
            out[cur] = set()
            continue
        m = re.match(r"\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", line)
        if m and cur:
            out[cur].add(m.group(1))
    return out


def install_deps_packages(path):
    """The unconditional PACKAGES=( ... ) list of deploy/install-deps.sh."""
    with open(path) as f:
        text = f.read()
    m = re.search(r"^PACKAGES=\(\s*(.*?)\)", text, re.S | re.M)
    check(m is not None, f"{path}: no PACKAGES=( ... ) list")
    return [w for w in m.group(1).split() if not w.startswith("#")]
