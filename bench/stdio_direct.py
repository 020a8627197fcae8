#!/usr/bin/env python3
"""Latency of `tools/call echo` straight over the sample server's stdio, one call at a time.

Usage: stdio_direct.py ORCH_BINARY [CALLS]. Prints p50_us and p99_us.
"""
import json
import subprocess
import sys
import time

orch, calls = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20000
p = subprocess.Popen([orch, "sample-server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def rpc(message):
    p.stdin.write((json.dumps(message) + "\n").encode())
    p.stdin.flush()
    return p.stdout.readline()


rpc({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
line = '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"benchmark"}}}\n'
samples = []
for i in range(1, calls + 1):
    data = (line % i).encode()
    start = time.perf_counter_ns()
    p.stdin.write(data)
    p.stdin.flush()
    p.stdout.readline()
    samples.append(time.perf_counter_ns() - start)
p.stdin.close()
p.wait()
samples.sort()
print("p50_us %d" % (samples[len(samples) // 2] // 1000))
print("p99_us %d" % (samples[len(samples) * 99 // 100] // 1000))
