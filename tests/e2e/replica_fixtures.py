"""Stdlib-only fixtures for the replica tests (test_replicas_sdk1.py, test_replicas_sdk2.py):
three `orch serve` replicas of one orch.json sharing a gateway.stateKey, behind a real nginx
(Debian's package; run.sh installs it when missing) started on a free port with its own config,
made from samples/nginx/round-robin.conf with the replicas' addresses put in.
"""
import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from orchserver import ORCH, ROOT, OrchServer, sha256

WAIT = 30
USER_TOKEN = "orch_" + secrets.token_urlsafe(32)     # bob: notes and browser in acme
OTHER_TOKEN = "orch_" + secrets.token_urlsafe(32)    # carol: notes in acme
STATE_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
SAMPLES = os.path.join(ROOT, "samples", "nginx")


def policy(limits=None, bob=True, slow_limits=None):
    """acme/notes (`orch sample-server`) for bob and carol, acme/browser (the same, marked
    "stateful": true) and acme/slow (the same, with `slow_limits`) for bob; `limits` are
    gateway.limits; the audit log on each replica's standard output."""
    sample = {"command": ORCH, "args": ["sample-server", "--session-tool"]}
    gateway = {"stateKey": "${env:ORCH_STATE_KEY}", "audit": "-"}
    if limits:
        gateway["limits"] = limits
    return {
        "version": 1,
        "gateway": gateway,
        "roles": {"member": {"allow": ["notes", "browser", "slow"]}, "reader": {"allow": ["notes"]}},
        "orgs": {"acme": {
            "members": {"bob": "member", "carol": "reader"},
            "servers": {"notes": sample, "browser": dict(sample, stateful=True), "slow": dict(sample, limits=slow_limits or {})},
        }},
        "users": {
            "bob": {"keys": [{"id": "laptop", "sha256": sha256(USER_TOKEN)}] if bob else []},
            "carol": {"keys": [{"id": "laptop", "sha256": sha256(OTHER_TOKEN)}]},
        },
    }


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_binary():
    for folder in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/sbin"]:
        candidate = os.path.join(folder, "nginx")
        if os.access(candidate, os.X_OK):
            return candidate
    raise AssertionError("no nginx binary (Debian: apt-get install nginx)")


class Nginx:
    """nginx in the foreground, with `sample` (a file of samples/nginx) as its only site: the
    sample's upstream servers replaced by `upstreams` and its `listen` by a free loopback port."""

    def __init__(self, sample, upstreams):
        self.folder = tempfile.mkdtemp(prefix="orch-e2e-nginx-")
        with open(os.path.join(SAMPLES, sample)) as f:
            site = f.read()
        servers = "".join("    server %s;\n" % address for address in upstreams)
        site, count = re.subn(r"(upstream \w+ \{\n(?:    hash [^\n]*\n)?)(?:    server [^\n]*\n)+", lambda m: m.group(1) + servers, site)
        assert count >= 1, "no upstream block in " + sample
        self.port = free_port()
        site, count = re.subn(r"listen 80;", "listen 127.0.0.1:%d;" % self.port, site)
        assert count == 1, "no listen 80 in " + sample
        with open(os.path.join(self.folder, "site.conf"), "w") as f:
            f.write(site)
        temp = {name: os.path.join(self.folder, name) for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for path in temp.values():
            os.mkdir(path)
        main = """
        %(user)s
        worker_processes 1;
        pid %(folder)s/nginx.pid;
        error_log %(folder)s/error.log warn;
        events { worker_connections 1024; }
        http {
            access_log %(folder)s/access.log;
            client_body_temp_path %(body)s;
            proxy_temp_path %(proxy)s;
            fastcgi_temp_path %(fastcgi)s;
            uwsgi_temp_path %(uwsgi)s;
            scgi_temp_path %(scgi)s;
            include %(folder)s/site.conf;
        }
        """ % dict(temp, folder=self.folder, user="user root;" if os.geteuid() == 0 else "")
        self.config = os.path.join(self.folder, "nginx.conf")
        with open(self.config, "w") as f:
            f.write(main)
        self.process = subprocess.Popen([nginx_binary(), "-p", self.folder, "-c", self.config, "-g", "daemon off;"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + WAIT
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("nginx did not start: %s\n%s" % (self.process.stderr.read().decode(), self.error_log()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        self.base = "http://127.0.0.1:%d" % self.port

    def error_log(self):
        try:
            with open(os.path.join(self.folder, "error.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stderr.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class Cluster:
    """`count` replicas of one orch.json, sharing STATE_KEY, behind nginx with `sample`."""

    def __init__(self, document=None, count=3, sample="round-robin.conf", state_keys=None):
        self.folder = tempfile.mkdtemp(prefix="orch-e2e-replicas-")
        self.path = os.path.join(self.folder, "orch.json")
        self.write(document or policy())
        self.replicas = []
        self.nginx = None
        try:
            for index in range(count):
                key = (state_keys or [STATE_KEY] * count)[index]
                self.replicas.append(OrchServer(self.path, env={"ORCH_STATE_KEY": key}))
            self.nginx = Nginx(sample, [r.base[len("http://"):] for r in self.replicas])
        except BaseException:
            self.close()
            raise
        self.base = self.nginx.base

    def write(self, document):
        temp = self.path + ".tmp"
        with open(temp, "w") as f:
            json.dump(document, f, indent=2)
        os.replace(temp, self.path)

    def url(self, server="notes", transport="mcp"):
        return "%s/orgs/acme/servers/%s/%s" % (self.base, server, transport)

    def audit(self, replica):
        """The audit records replica `replica` has written so far (its standard output)."""
        records = []
        for line in replica.output.collect():
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except ValueError:
                    pass
        return records

    def opener_of(self, session_id):
        """The replica whose audit log shows it opened `session_id` (not re-created it)."""
        for replica in self.replicas:
            for record in self.audit(replica):
                if record.get("session") == session_id and record.get("method") == "initialize" \
                        and record.get("decision") == "allow" and "re-created" not in record.get("reason", ""):
                    return replica
        return None

    def diagnostics(self):
        parts = []
        for index, replica in enumerate(self.replicas):
            parts.append("--- replica %d (%s):\n%s" % (index, replica.base, "\n".join(replica.output.collect()[-25:])))
        if self.nginx:
            parts.append("--- nginx error log:\n" + self.nginx.error_log()[-3000:])
        return "\n".join(parts)

    def close(self):
        try:
            if self.nginx:
                self.nginx.stop()
            for replica in self.replicas:
                replica.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def post(base_or_url, body, token=USER_TOKEN, session=None, path=""):
    """(status, headers, parsed JSON or text) of one JSON-RPC POST."""
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", "Authorization": "Bearer " + token}
    if session:
        headers["Mcp-Session-Id"] = session
    request = urllib.request.Request(base_or_url + path, method="POST", data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            status, response_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, response_headers, raw = error.code, error.headers, error.read()
    try:
        return status, response_headers, json.loads(raw.decode() or "null")
    except ValueError:
        return status, response_headers, raw.decode()


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}}


def call(name, arguments, id=2):
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
