"""End-to-end: schemathesis against the built `orch serve`, from the OpenAPI document the gateway
itself serves at /api/v1/openapi.json, with every check schemathesis has.

Runs (each a separate `schemathesis run`, each recorded to a VCR cassette):
  - admin:    an admin's bearer token (every route answers its 2xx);
  - member:   a member's token, scoped key (403 on /api/v1/policy, 404 on servers it does not reach);
  - no token: no Authorization header at all (401 with WWW-Authenticate everywhere but the open routes);
  - not ready: a gateway whose orch.json is missing, with the admin's token (503 before a policy loads).
Then every response body and header schemathesis saw is searched for the upstream secrets of
orch.json (in a server's env, headers and url, through ${env:...} and literally) and for the
token hashes, and no response may be a 5xx.

Run with the python of a venv that has schemathesis (test_openapi.sh sets one up). Loopback only.
"""
import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import yaml

from orchserver import OrchServer, sha256

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMATHESIS = os.path.join(os.path.dirname(sys.executable), "schemathesis")
# Test cases per operation and phase: with 12 operations and 4 runs, the suite takes about 25 s.
MAX_EXAMPLES = int(os.environ.get("ORCH_OPENAPI_MAX_EXAMPLES", "50"))

ADMIN = "orch_" + secrets.token_urlsafe(32)
MEMBER = "orch_" + secrets.token_urlsafe(32)

# Upstream secrets: none of them may ever reach a response.
ENV_SECRET = "envsecret" + secrets.token_hex(12)            # env, through ${env:OPENAPI_ENV_SECRET}
ENV_LITERAL = "envliteral" + secrets.token_hex(12)          # env, written in the file
HEADER_SECRET = "headersecret" + secrets.token_hex(12)      # headers, through ${env:OPENAPI_HEADER_SECRET}
HEADER_LITERAL = "headerliteral" + secrets.token_hex(12)    # headers, written in the file
URL_PATH_SECRET = "urlpathsecret" + secrets.token_hex(12)   # url path, written in the file
URL_QUERY_SECRET = "urlquerysecret" + secrets.token_hex(12)  # url query, through ${env:OPENAPI_URL_SECRET}
COMMAND_SECRET = "commandsecret" + secrets.token_hex(12)    # a command path that does not exist
SECRETS = {
    "env via ${env:}": ENV_SECRET, "env literal": ENV_LITERAL, "header via ${env:}": HEADER_SECRET,
    "header literal": HEADER_LITERAL, "url path": URL_PATH_SECRET, "url query via ${env:}": URL_QUERY_SECRET, "command path": COMMAND_SECRET,
    "admin token hash": sha256(ADMIN), "member token hash": sha256(MEMBER),
}


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def policy():
    return {
        "version": 1,
        "gateway": {"metrics": "admin"},  # /metrics answers 401 and 403 too, on loopback
        "roles": {
            "admin": {"allow": ["*"]},
            "reader": {"allow": ["notes:read_*", "notes:echo", "notes:prompts/*", "notes:resources/notes://*"]},
        },
        "orgs": {
            "acme": {
                "members": {"ada": "admin", "max": "reader"},
                "servers": {
                    "notes": {
                        "description": "orch sample-server",
                        "command": "${env:ORCH_BIN:-orch}", "args": ["sample-server"],
                        "env": {"NOTES_TOKEN": "${env:OPENAPI_ENV_SECRET}", "NOTES_LITERAL": ENV_LITERAL},
                    },
                    "vault": {
                        "url": "http://127.0.0.1:%d/%s/mcp?key=${env:OPENAPI_URL_SECRET}" % (closed_port(), URL_PATH_SECRET),
                        # Nothing listens there: the catalog lists the server in `errors` within 3 s.
                        "timeoutSeconds": 3,
                        "headers": {"Authorization": "Bearer ${env:OPENAPI_HEADER_SECRET}", "X-Vault-Key": HEADER_LITERAL},
                    },
                    # Cannot start: its entry in the catalogs' `errors` must not name the command.
                    "broken": {"command": "/nonexistent/%s/bin/mcp-server" % COMMAND_SECRET},
                },
            },
            "globex": {"members": {"ada": "admin"}, "servers": {"notes": {"command": "${env:ORCH_BIN:-orch}", "args": ["sample-server"]}}},
        },
        "users": {
            "ada": {"displayName": "Ada", "admin": True, "keys": [{"id": "laptop", "sha256": sha256(ADMIN)}]},
            "max": {"keys": [{"id": "ci", "sha256": sha256(MEMBER), "expires": "2099-01-01", "scope": ["acme/notes"]}]},
        },
    }


def schemathesis(name, base, folder, token=None, config=None, extra=()):
    """One `schemathesis run` against the served document; returns (exit status, cassette path)."""
    cassette = os.path.join(folder, "cassette-%s.yaml" % name.replace(" ", "-"))
    command = [SCHEMATHESIS]
    if config:
        path = os.path.join(folder, "schemathesis-%s.toml" % name.replace(" ", "-"))
        with open(path, "w") as f:
            f.write(config)
        command += ["--config-file", path]
    command += [
        "run", base + "/api/v1/openapi.json",
        # schemathesis leaves out the operation that served the document unless a filter names it.
        "--include-path-regex", "^/",
        "--checks", "all",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", os.environ.get("ORCH_OPENAPI_SEED", str(secrets.randbelow(2**31))),
        # One worker: with several, Python 3.11's ast.parse (which Hypothesis calls to describe
        # strategies) can fail across threads ("AST constructor recursion depth mismatch").
        "--workers", "1",
        "--request-timeout", "20",
        "--max-response-time", "10",
        "--generation-database", "none",
        "--report", "vcr", "--report-vcr-path", cassette,
        "--output-sanitize", "false",  # the cassette must keep bodies and headers as they were
        "--no-color",
    ]
    if token:
        command += ["--header", "Authorization: Bearer " + token]
    command += list(extra)
    started = time.time()
    run = subprocess.run(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print("-- schemathesis (%s): exit %d in %.1f s" % (name, run.returncode, time.time() - started))
    if run.returncode != 0:
        print("\n".join(line if len(line) <= 400 else line[:400] + " …" for line in run.stdout.splitlines()))
    else:
        print("\n".join(line for line in run.stdout.splitlines()[-6:] if line.strip()))
    return run.returncode, cassette


def interactions(cassette):
    """(request, status, headers, body text) for every response in a schemathesis VCR cassette."""
    with open(cassette) as f:
        data = yaml.safe_load(f)
    for interaction in data.get("http_interactions") or []:
        response = interaction.get("response")
        if not response:
            continue  # a request that got no response (schemathesis reports it as an error)
        body = response.get("body") or {}
        if "base64_string" in body:
            text = base64.b64decode(body["base64_string"]).decode("utf-8", "replace")
        else:
            text = body.get("string") or ""
        yield interaction["request"], int(response["status"]["code"]), response.get("headers") or {}, text


def check_cassette(name, cassette, expect_statuses, allowed_5xx=(), expect_texts=()):
    """No secret or token hash in any response, no 5xx (but `allowed_5xx`), and the expected
    statuses and body texts all seen."""
    problems = []
    seen = {}
    texts = set()
    count = 0
    for request, status, headers, body in interactions(cassette):
        count += 1
        where = "%s %s -> %d" % (request["method"], request["uri"], status)
        seen.setdefault(status, where)
        if status >= 500 and status not in allowed_5xx:
            problems.append("%s: a server error: %s" % (where, body[:300]))
        texts.update(text for text in expect_texts if text in body)
        header_text = json.dumps(headers)
        for label, secret in SECRETS.items():
            if secret in body or secret in header_text:
                problems.append("%s: the response holds the %s" % (where, label))
    print("-- %s: %d responses checked, statuses %s" % (name, count, sorted(seen)))
    if count < 20:
        problems.append("only %d responses recorded in %s" % (count, cassette))
    for status in expect_statuses:
        if status not in seen:
            problems.append("no %d response among %s" % (status, sorted(seen)))
    for text in expect_texts:
        if text not in texts:
            problems.append("no response body contains %s" % text)
    return problems


def main():
    folder = tempfile.mkdtemp(prefix="orch-openapi-")
    env = {"OPENAPI_ENV_SECRET": ENV_SECRET, "OPENAPI_HEADER_SECRET": HEADER_SECRET, "OPENAPI_URL_SECRET": URL_QUERY_SECRET}
    path = os.path.join(folder, "orch.json")
    with open(path, "w") as f:
        json.dump(policy(), f, indent=2)
    failures = []
    server = OrchServer(path, env=env)
    not_ready = OrchServer(os.path.join(folder, "absent.json"), env=env)  # no such file: not ready
    try:
        # The document is served without a token and is the one `orch openapi` prints.
        status, _, served = server.request("/api/v1/openapi.json")
        printed = json.loads(subprocess.run([server_binary(), "openapi"], stdout=subprocess.PIPE, check=True).stdout)
        if status != 200 or served != printed:
            failures.append("GET /api/v1/openapi.json without a token: %d, equal to `orch openapi`: %s" % (status, served == printed))
        # Before a policy loads, 503 is the documented answer of every authenticated route (and
        # /readyz), with or without a token: nothing can be authenticated yet, so the checks that
        # expect a 401 for a missing or wrong token do not apply.
        not_ready_config = '[checks.not_a_server_error]\nexpected-statuses = ["2xx", "3xx", "4xx", "503"]\n'
        not_ready_extra = ["--exclude-checks", "ignored_auth,missing_required_header"]
        runs = [
            ("admin", server, ADMIN, [200, 400, 401, 404, 405], None, ()),
            ("member", server, MEMBER, [200, 403, 404, 405], None, ()),
            ("no token", server, None, [200, 401, 405], None, ()),
            ("not ready", not_ready, ADMIN, [200, 503], not_ready_config, not_ready_extra),
        ]
        for name, target, token, statuses, config, extra in runs:
            code, cassette = schemathesis(name, target.base, folder, token, config, extra)
            if code != 0:
                failures.append("schemathesis (%s) found failures (exit %d)" % (name, code))
            if not os.path.exists(cassette):
                failures.append("schemathesis (%s) wrote no cassette" % name)
                continue
            allowed_5xx = (503,) if target is not_ready else ()
            # The admin's catalogs list the servers that fail, so their errors were searched too.
            texts = ('{"server":"acme/vault","message":', '{"server":"acme/broken","message":') if name == "admin" else ()
            failures += ["%s: %s" % (name, problem) for problem in check_cassette(name, cassette, statuses, allowed_5xx, texts)]
        for label, gateway in (("gateway", server), ("not-ready gateway", not_ready)):
            if gateway.process.poll() is not None:
                failures.append("the %s exited during the run" % label)
    finally:
        server.stop()
        not_ready.stop()
        if failures:
            print("-- gateway log (last 40 lines):\n" + "\n".join(server.log[-40:]))
        if os.environ.get("ORCH_OPENAPI_KEEP"):
            print("-- kept %s (orch.json, cassettes)" % folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("OK: the served OpenAPI document holds for every response schemathesis drew, and no response leaks a secret")
    return 0


def server_binary():
    from orchserver import ORCH
    return ORCH


if __name__ == "__main__":
    sys.exit(main())
