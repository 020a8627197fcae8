"""Starts the built `orch serve` on a free loopback port for end-to-end tests."""
import hashlib
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ORCH = os.environ.get("ORCH_BIN", os.path.join(ROOT, ".build", "debug", "orch"))


def sha256(token):
    return hashlib.sha256(token.encode()).hexdigest()


class ProcessOutput:
    """Collects a subprocess's output streams line by line (on threads, so its pipes never fill)
    and waits for a line matching a pattern."""

    def __init__(self, process, streams):
        self.process = process
        self.streams = streams
        self.lines = queue.Queue()
        self.log = []
        self._threads = [threading.Thread(target=self._drain, args=(stream,), daemon=True) for stream in streams]
        for thread in self._threads:
            thread.start()

    def _drain(self, stream):
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def collect(self):
        """Moves whatever has arrived into `log`, without waiting; returns `log`."""
        while True:
            try:
                self.log.append(self.lines.get_nowait())
            except queue.Empty:
                return self.log

    def wait_for(self, pattern, timeout=15):
        """The first line, old or new, matching `pattern`; AssertionError after `timeout`."""
        deadline = time.time() + timeout
        for line in self.log:
            if re.search(pattern, line):
                return line
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.log.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError("no output line matching %r; output so far:\n%s" % (pattern, "\n".join(self.log)))

    def close(self):
        """After the process ended: join the readers and close the pipes."""
        for thread, stream in zip(self._threads, self.streams):
            thread.join(timeout=5)
            if not thread.is_alive() and not stream.closed:
                stream.close()


class OrchServer:
    """`orch serve FILE --listen 127.0.0.1:0`, its stderr collected line by line."""

    def __init__(self, config_path, env=None):
        self.config_path = config_path
        full_env = dict(os.environ, ORCH_BIN=ORCH, **(env or {}))
        self.process = subprocess.Popen(
            [ORCH, "serve", config_path, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, text=True)
        self.output = ProcessOutput(self.process, (self.process.stdout, self.process.stderr))
        try:
            line = self.wait_for_log(r"orch is serving .* on http://([0-9.]+):(\d+)")
        except BaseException:
            self.stop()  # never leave a half-started gateway behind
            raise
        match = re.search(r"on http://([0-9.]+):(\d+)", line)
        self.base = "http://%s:%s" % (match.group(1), match.group(2))

    @property
    def log(self):
        return self.output.log

    def wait_for_log(self, pattern, timeout=15):
        return self.output.wait_for(pattern, timeout)

    def request(self, path, token=None, method="GET", headers=None, body=None):
        """(status, headers, parsed JSON or text)."""
        request = urllib.request.Request(self.base + path, method=method, data=body)
        if token:
            request.add_header("Authorization", "Bearer " + token)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, response_headers, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, response_headers, raw = error.code, error.headers, error.read()
        text = raw.decode()
        try:
            return status, response_headers, json.loads(text)
        except ValueError:
            return status, response_headers, text

    def wait_until(self, condition, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return condition()

    def signal(self, sig):
        self.process.send_signal(sig)

    def wait_for_exit(self, timeout):
        """(exit status, seconds waited), or (None, timeout) if still running after `timeout`."""
        started = time.time()
        try:
            return self.process.wait(timeout=timeout), time.time() - started
        except subprocess.TimeoutExpired:
            return None, timeout

    def child_pids(self):
        """The pids of the gateway's direct children (its stdio upstream processes)."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                pids.append(int(entry))
        return pids

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.output.close()
