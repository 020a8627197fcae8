"""Fake remote MCP upstreams for test_faults.py: stdlib `http.server` servers on free loopback
ports, each recording every request it gets (method, path, headers, body).

  OtherOrigin       the origin a misbehaving upstream points at: it must never hear from the gateway
  RedirectUpstream  answers every request with 307 to the other origin
  LegacySSEUpstream legacy HTTP+SSE: its GET stream names an `endpoint` on the other origin
  PrettySSEUpstream Streamable HTTP answering requests as SSE whose `data:` is pretty-printed,
                    multi-line JSON (one `data:` line per line of `json.dumps(obj, indent=2)`)
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeServer:
    """A ThreadingHTTPServer on 127.0.0.1:0 serving `handle(handler)` for every request."""

    def __init__(self):
        self.records = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with fake.lock:
                    fake.records.append({"method": self.command, "path": self.path,
                                         "headers": dict(self.headers.items()),
                                         "body": body.decode("utf-8", "replace"),
                                         "at": time.time()})
                try:
                    fake.handle(self, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_OPTIONS = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.origin = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def handle(self, handler, body):
        reply(handler, 404, b"not here\n", "text/plain")

    def requests(self):
        with self.lock:
            return list(self.records)

    def stop(self):
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def reply(handler, status, body=b"", content_type="application/json", headers=None):
    handler.send_response(status)
    if body or status not in (202, 204):
        handler.send_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if body and handler.command != "HEAD":
        handler.wfile.write(body)
    handler.wfile.flush()


class OtherOrigin(FakeServer):
    """Records everything, answers 404: no request should ever get here."""


class RedirectUpstream(FakeServer):
    """Answers every request with 307 Temporary Redirect to `target`."""

    def __init__(self, target):
        self.target = target
        super().__init__()

    def handle(self, handler, body):
        reply(handler, 307, b"", "text/plain", {"Location": self.target})


class LegacySSEUpstream(FakeServer):
    """A legacy HTTP+SSE server whose GET stream's `endpoint` event is the absolute URL `endpoint`
    (on another origin). The stream stays open (with comments every 0.5 s) until the client or
    `stop()` ends it; POSTs get 202."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        super().__init__()

    def handle(self, handler, body):
        if handler.command != "GET":
            reply(handler, 202)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

        def chunk(data):
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            handler.wfile.flush()

        chunk(("event: endpoint\ndata: %s\n\n" % self.endpoint).encode())
        while not self.stopping.wait(0.5):
            chunk(b": ping\n\n")


def pretty_sse(message):
    """One SSE `message` event whose data is `json.dumps(message, indent=2)`, one `data:` line per
    line of it."""
    lines = json.dumps(message, indent=2).split("\n")
    return ("event: message\n" + "".join("data: %s\n" % line for line in lines) + "\n").encode()


class PrettySSEUpstream(FakeServer):
    """Streamable HTTP: requests are answered with `Content-Type: text/event-stream` and a
    pretty-printed, multi-line `data:` payload; notifications get 202; GET 405; DELETE 200."""

    SESSION = "fake-upstream-session-1"
    TOOL = {"name": "work", "description": "does\nsome work", "inputSchema": {"type": "object", "properties": {}}}

    def __init__(self):
        self.sent = []  # every message sent as an SSE reply, in order
        super().__init__()

    @staticmethod
    def call_result(request_id):
        return {"jsonrpc": "2.0", "id": request_id,
                "result": {"content": [{"type": "text", "text": "line one\nline two"}], "isError": False}}

    def handle(self, handler, body):
        if handler.command == "GET":
            reply(handler, 405, b"", "text/plain", {"Allow": "POST, DELETE"})
            return
        if handler.command == "DELETE":
            reply(handler, 200)
            return
        try:
            message = json.loads(body)
        except ValueError:
            reply(handler, 400, b'{"error":"bad json"}')
            return
        if "id" not in message or "method" not in message:
            reply(handler, 202)
            return
        request_id, method = message["id"], message["method"]
        headers = {}
        if method == "initialize":
            answer = {"jsonrpc": "2.0", "id": request_id, "result": {
                "protocolVersion": message.get("params", {}).get("protocolVersion", "2025-06-18"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "pretty-sse", "version": "1.0"}}}
            headers["Mcp-Session-Id"] = self.SESSION
        elif method == "tools/list":
            answer = {"jsonrpc": "2.0", "id": request_id, "result": {"tools": [self.TOOL]}}
        elif method == "tools/call":
            answer = self.call_result(request_id)
        else:
            answer = {"jsonrpc": "2.0", "id": request_id, "result": {}}
        self.sent.append(answer)
        headers["Cache-Control"] = "no-cache"
        reply(handler, 200, pretty_sse(answer), "text/event-stream", headers)
