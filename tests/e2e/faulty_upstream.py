"""A misbehaving MCP server on stdio (newline-delimited JSON-RPC), stdlib only, for test_faults.py.

    python3 faulty_upstream.py MODE [MARKER]

MARKER is ignored: the tests pass a unique one so that they can find this process in /proc.

Modes:
  normal           a well-behaved server: initialize, tools/list (one tool `work`), tools/call, ping
  silent           never answers anything (exits when stdin ends)
  crash-init       exits at once when it gets initialize
  slow-drip        answers initialize normally; the reply to tools/call comes one byte every 50 ms
  huge-line        on tools/call writes a 17 MiB line
  no-newline       on tools/call writes its reply without the newline, and keeps running
  crash-mid-reply  on tools/call writes half of its reply, then exits
  ignore-eof       ignores SIGTERM; after stdin ends it sleeps forever
  grandchild       at start forks `sleep 600` (which keeps running), writes its pid to the file
                   named by $FAULT_PIDFILE, then serves normally (and exits when stdin ends)
  flood            on tools/call sends notifications/message as fast as it can, forever; the
                   bytes written so far go to the file named by $FAULT_COUNTFILE (every 100 ms)

Every mode that answers initialize echoes the client's protocolVersion, with capabilities
{"tools": {}}.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

MODES = ("normal", "silent", "crash-init", "slow-drip", "huge-line", "no-newline", "crash-mid-reply",
         "ignore-eof", "grandchild", "flood")

OUT = sys.stdout.buffer


def log(text):
    """A line on stderr (the gateway logs it with the server's name)."""
    try:
        sys.stderr.write("faulty_upstream: %s\n" % text)
        sys.stderr.flush()
    except OSError:
        pass


def encode(message):
    return json.dumps(message, separators=(",", ":")).encode()


def write(data):
    OUT.write(data)
    OUT.flush()


def send(message):
    write(encode(message) + b"\n")


def result(request_id, value):
    return {"jsonrpc": "2.0", "id": request_id, "result": value}


def initialize_result(request_id, params):
    return result(request_id, {
        "protocolVersion": params.get("protocolVersion", "2025-06-18"),
        "capabilities": {"tools": {}},
        "serverInfo": {"name": "faulty-upstream", "version": "1.0"},
    })


TOOL = {"name": "work", "description": "does some work",
        "inputSchema": {"type": "object", "properties": {}}}


def call_result(request_id, text="worked"):
    return result(request_id, {"content": [{"type": "text", "text": text}], "isError": False})


def start_counter(counter):
    """Writes counter[0] (bytes written) to $FAULT_COUNTFILE every 100 ms, from a thread, so the
    count keeps being reported while the main thread is blocked in a write."""
    path = os.environ.get("FAULT_COUNTFILE")
    if not path:
        return

    def report():
        while True:
            temp = path + ".tmp"
            with open(temp, "w") as f:
                f.write(str(counter[0]))
            os.replace(temp, path)
            time.sleep(0.1)

    threading.Thread(target=report, daemon=True).start()


def flood():
    line = encode({"jsonrpc": "2.0", "method": "notifications/message",
                   "params": {"level": "info", "logger": "flood", "data": "x" * 200}}) + b"\n"
    chunk = line * 64
    counter = [0]
    start_counter(counter)
    while True:
        write(chunk)
        counter[0] += len(chunk)


def on_tools_call(mode, request_id):
    if mode == "slow-drip":
        data = encode(call_result(request_id, "slow " * 20)) + b"\n"
        for i in range(len(data)):
            write(data[i:i + 1])
            time.sleep(0.05)
    elif mode == "huge-line":
        send(call_result(request_id, "h" * (17 << 20)))
    elif mode == "no-newline":
        write(encode(call_result(request_id)))
    elif mode == "crash-mid-reply":
        data = encode(call_result(request_id, "half " * 40))
        write(data[:len(data) // 2])
        log("crashing in the middle of a reply")
        os._exit(1)
    elif mode == "flood":
        flood()
    else:
        send(call_result(request_id))


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "normal"
    if mode not in MODES:
        log("unknown mode %r" % mode)
        return 2
    if mode == "ignore-eof":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode == "grandchild":
        child = subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        path = os.environ.get("FAULT_PIDFILE")
        if path:
            with open(path + ".tmp", "w") as f:
                f.write(str(child.pid))
            os.replace(path + ".tmp", path)
    log("started in mode %s" % mode)

    for raw in sys.stdin.buffer:
        if not raw.strip():
            continue
        try:
            message = json.loads(raw)
        except ValueError:
            log("not JSON: %r" % raw[:200])
            continue
        if not isinstance(message, dict) or "method" not in message or "id" not in message:
            continue  # notifications and responses
        if mode == "silent":
            continue
        request_id, method = message["id"], message["method"]
        params = message.get("params") or {}
        if method == "initialize":
            if mode == "crash-init":
                log("crashing at initialize")
                os._exit(3)
            send(initialize_result(request_id, params))
        elif method == "tools/list":
            send(result(request_id, {"tools": [TOOL]}))
        elif method == "tools/call":
            on_tools_call(mode, request_id)
        elif method == "ping":
            send(result(request_id, {}))
        else:
            send({"jsonrpc": "2.0", "id": request_id,
                  "error": {"code": -32601, "message": "method not found: %s" % method}})

    log("stdin ended")
    if mode == "ignore-eof":
        while True:
            time.sleep(3600)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        os._exit(1)
