"""End-to-end: the built `orch serve` on a loopback port, driven over HTTP."""
import json
import secrets
import os
import shutil
import signal
import socket
import tempfile
import time
import unittest

from orchserver import OrchServer, sha256

ADMIN = "orch_" + secrets.token_urlsafe(32)
MEMBER = "orch_" + secrets.token_urlsafe(32)
NEWCOMER = "orch_" + secrets.token_urlsafe(32)


def policy(extra_users=None, audit="audit.jsonl"):
    users = {
        "ada": {"admin": True, "keys": [{"id": "k", "sha256": sha256(ADMIN)}]},
        "max": {"keys": [{"id": "k", "sha256": sha256(MEMBER)}]},
    }
    users.update(extra_users or {})
    return {
        "version": 1,
        "gateway": {"audit": audit, "publicURL": "https://orch.example.com"},
        "roles": {"admin": {"allow": ["*"]}, "member": {"allow": ["notes:read_*"]}},
        "orgs": {"acme": {
            "members": {name: ("admin" if name == "ada" else "member") for name in users},
            "servers": {"notes": {"command": "orch", "args": ["sample-server"]},
                        "vault": {"url": "https://vault.example.com/mcp", "headers": {"Authorization": "Bearer ${env:VAULT_TOKEN:-vault-secret-value}"}}},
        }},
        "users": users,
    }


class GatewayEndToEnd(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="orch-e2e-")
        self.path = os.path.join(self.folder, "orch.json")
        self.write(policy())
        self.server = OrchServer(self.path)

    def tearDown(self):
        self.server.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def write(self, document):
        temp = self.path + ".tmp"
        with open(temp, "w") as f:
            json.dump(document, f, indent=2)
        os.replace(temp, self.path)

    def audit_records(self, name="audit.jsonl"):
        path = os.path.join(self.folder, name)
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def test_a_host_the_gateway_does_not_answer_to_is_refused(self):
        # DNS rebinding: a page whose own name points at 127.0.0.1 sends that name as Host.
        status, _, body = self.server.request("/api/v1/me", token=MEMBER, headers={"Host": "rebind.attacker.example"})
        self.assertEqual(status, 400, body)
        self.assertIn("does not answer to host rebind.attacker.example", body["error"]["message"])
        status, _, body = self.server.request("/metrics", headers={"Host": "rebind.attacker.example:8080"})
        self.assertEqual(status, 400, body)
        # The publicURL's host, localhost and IP addresses are answered.
        for host in ["orch.example.com", "localhost", "127.0.0.1"]:
            status, _, body = self.server.request("/api/v1/me", token=MEMBER, headers={"Host": host})
            self.assertEqual(status, 200, "%s: %s" % (host, body))

    def test_a_busy_port_is_said_plainly(self):
        import subprocess
        from orchserver import ORCH
        port = self.server.base.rsplit(":", 1)[1]
        second = subprocess.run([ORCH, "serve", self.path, "--listen", "127.0.0.1:" + port],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(second.returncode, 2, second.stderr)
        self.assertIn("orch: cannot listen on 127.0.0.1:%s: address in use (use --listen HOST:PORT)" % port, second.stderr)

    def test_health_and_readiness_need_no_token(self):
        status, _, body = self.server.request("/healthz")
        self.assertEqual((status, body), (200, {"status": "ok"}))
        status, _, body = self.server.request("/readyz")
        self.assertEqual(status, 200)
        self.assertEqual(body["status"], "ready")
        self.assertTrue(body["policy"].startswith("sha256:"))

    def test_authentication_and_the_rest_api(self):
        status, headers, body = self.server.request("/api/v1/me")
        self.assertEqual(status, 401)
        self.assertEqual(headers["WWW-Authenticate"], 'Bearer realm="orch"')
        self.assertEqual(body["error"]["code"], "unauthorized")

        status, _, body = self.server.request("/api/v1/me", token=MEMBER)
        self.assertEqual(status, 200)
        self.assertEqual(body["user"], "max")
        self.assertEqual(body["orgs"], [{"org": "acme", "roles": ["member"]}])

        status, _, body = self.server.request("/api/v1/servers", token=MEMBER)
        self.assertEqual([s["id"] for s in body["servers"]], ["acme/notes"])
        self.assertEqual(body["servers"][0]["endpoints"]["streamableHttp"], "https://orch.example.com/orgs/acme/servers/notes/mcp")

        status, _, text = self.server.request("/api/v1/servers", token=ADMIN)
        self.assertNotIn("vault-secret-value", json.dumps(text))
        self.assertNotIn("vault.example.com", json.dumps(text))

        self.assertEqual(self.server.request("/api/v1/policy", token=MEMBER)[0], 403)
        status, _, body = self.server.request("/api/v1/policy", token=ADMIN)
        self.assertEqual(status, 200)
        self.assertEqual(body["counts"]["users"], 2)

        status, _, text = self.server.request("/metrics")
        self.assertEqual(status, 200)
        self.assertIn("orch_policy_info{digest=", text)

        records = self.audit_records()
        self.assertTrue(any(r["reason"] == "missing bearer token" for r in records))
        self.assertTrue(any(r["status"] == 403 and r["user"] == "max" for r in records))
        for raw in open(os.path.join(self.folder, "audit.jsonl")):
            self.assertNotIn(MEMBER, raw)
            self.assertNotIn(sha256(MEMBER), raw)

    def test_file_change_is_reloaded_and_a_broken_file_keeps_the_running_policy(self):
        self.assertEqual(self.server.request("/api/v1/me", token=NEWCOMER)[0], 401)
        self.write(policy({"nia": {"keys": [{"id": "k", "sha256": sha256(NEWCOMER)}]}}))
        self.assertTrue(self.server.wait_until(lambda: self.server.request("/api/v1/me", token=NEWCOMER)[0] == 200))

        with open(self.path, "w") as f:
            f.write('{"version": 1, "users": {')
        self.assertTrue(self.server.wait_until(
            lambda: self.server.request("/api/v1/policy", token=ADMIN)[2]["lastReload"]["ok"] is False))
        status, _, body = self.server.request("/api/v1/policy", token=ADMIN)
        self.assertEqual(body["counts"]["users"], 3)
        self.assertEqual(body["lastReload"]["diagnostics"][0]["line"], 1)
        self.assertEqual(self.server.request("/api/v1/me", token=NEWCOMER)[0], 200)

        self.write(policy())
        self.assertTrue(self.server.wait_until(lambda: self.server.request("/api/v1/me", token=NEWCOMER)[0] == 401))

    def test_sighup_reloads_and_reopens_the_audit_log(self):
        self.server.request("/api/v1/me")
        self.assertEqual(len(self.audit_records()), 1)
        os.rename(os.path.join(self.folder, "audit.jsonl"), os.path.join(self.folder, "audit.jsonl.1"))
        self.server.signal(signal.SIGHUP)
        self.server.wait_for_log("SIGHUP")
        self.server.request("/api/v1/me")
        self.assertTrue(self.server.wait_until(lambda: len(self.audit_records()) == 1))
        self.assertEqual(len(self.audit_records("audit.jsonl.1")), 1)

    def test_sigterm_stops_cleanly(self):
        self.server.signal(signal.SIGTERM)
        self.assertEqual(self.server.process.wait(timeout=15), 0)


if __name__ == "__main__":
    unittest.main()


class ConnectionBounds(unittest.TestCase):
    """Idle and slow sockets cannot hold the gateway: a bound per client address, and a deadline
    for a new connection's first request head."""

    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="orch-e2e-conn-")
        self.path = os.path.join(self.folder, "orch.json")
        document = policy()
        document["gateway"]["limits"] = {"maxConnectionsPerClient": 3, "requestHeadSeconds": 1}
        with open(self.path, "w") as f:
            json.dump(document, f)
        self.server = OrchServer(self.path)
        host, port = self.server.base[len("http://"):].split(":")
        self.address = (host, int(port))
        self.sockets = []

    def tearDown(self):
        for s in self.sockets:
            s.close()
        self.server.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def connect(self):
        s = socket.create_connection(self.address, timeout=5)
        self.sockets.append(s)
        return s

    def closed_within(self, s, seconds):
        """True when the server closes `s` (EOF or reset) within `seconds`."""
        s.settimeout(seconds)
        started = time.monotonic()
        try:
            while time.monotonic() - started < seconds:
                if s.recv(4096) == b"":
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        return False

    def assert_dribbled_head_is_cut(self, s, message):
        """Sends a request head a byte every 0.1 s: the gateway must close `s` within about
        requestHeadSeconds (1 s here), long before the head is complete."""
        started = time.monotonic()
        closed = False
        for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 40:
            try:
                s.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.1)
            if time.monotonic() - started > 4:
                break
        self.assertTrue(closed or self.closed_within(s, 2), message)
        self.assertLess(time.monotonic() - started, 4.5)

    def test_a_client_address_holds_at_most_its_connections(self):
        idle = [self.connect() for _ in range(3)]
        extra = self.connect()
        self.assertTrue(self.closed_within(extra, 2), "a 4th connection from the address was kept open")
        for s in idle:
            self.assertTrue(self.closed_within(s, 5), "an idle connection outlived requestHeadSeconds")
        # Their slots are free again.
        status, _, body = self.server.request("/healthz")
        self.assertEqual(status, 200, body)
        _, _, metrics = self.server.request("/metrics")
        self.assertIn('orch_connections_refused_total{reason="per_client"}', metrics)
        self.assertIn('orch_connections_refused_total{reason="request_head_timeout"}', metrics)

    def test_a_request_head_sent_slowly_is_cut_off(self):
        self.assert_dribbled_head_is_cut(self.connect(), "a slowloris head held its connection")

    def test_a_request_in_time_is_served_and_may_take_longer_than_the_deadline(self):
        s = self.connect()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.settimeout(5)
        self.assertIn(b"200 OK", s.recv(4096))

    def test_a_kept_alive_connection_gets_the_same_deadline_for_its_next_head(self):
        s = self.connect()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.settimeout(5)
        self.assertIn(b"200 OK", s.recv(4096))
        # The next head, dribbled: cut off like a first one.
        self.assert_dribbled_head_is_cut(s, "a slow second head held its connection")
