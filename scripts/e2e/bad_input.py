#!/usr/bin/env python3
"""Bad input against a running `muse serve` (start it with `--timeout 5` to see the slow client
cut): malformed JSON, wrong types, an unknown model, limits, empty messages, a 100 MB body, a
client that sends a byte per second, a client that disconnects mid-stream — each must get the
right 4xx (or be cut), and the server must stay up and answer normally afterwards.

    python scripts/e2e/bad_input.py --base http://127.0.0.1:8181
"""

import argparse
import http.client
import json
import socket
import sys
import time
import urllib.parse

MODEL = "SmolLM2-135M-Instruct.Q4_1"


def request(base, method, path, body=None, headers=None):
    u = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    conn.request(method, path, body, h)
    res = conn.getresponse()
    data = res.read()
    conn.close()
    return res.status, data


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        sys.exit(1)


def chat(**extra):
    b = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    b.update(extra)
    return json.dumps(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:8181")
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.base)
    cases = [
        ("malformed JSON", '{"model": ', 400, None),
        ("wrong type", chat(temperature="hot"), 422, "temperature"),
        ("unknown model", chat(model="gpt-17"), 404, "model"),
        ("n over the limit", chat(n=1000), 400, "n"),
        ("max_tokens over the limit", chat(max_tokens=10**9), 400, "max_tokens"),
        ("empty messages", chat(messages=[]), 400, "messages"),
        ("a message without role", chat(messages=[{"content": "hi"}]), 422, "messages[0]"),
        ("not an object", "[1, 2, 3]", 422, None),
    ]
    for name, body, status, param in cases:
        s, data = request(a.base, "POST", "/v1/chat/completions", body)
        err = json.loads(data).get("error", {})
        check(s == status and (param is None or err.get("param") == param), f"{name}: {s} {err.get('message')!r}")

    # 100 MB body: answered 413 once the limit is crossed; the server stops reading, so the
    # client may see its send fail — the answer is read either way.
    sock = socket.create_connection((u.hostname, u.port))
    size = 100 * 1024 * 1024
    sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode())
    t0, sent, chunk = time.time(), 0, b"a" * (1024 * 1024)
    try:
        while sent < size:
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    sock.settimeout(10)
    try:
        got = sock.recv(4096)
    except OSError:
        got = b""
    sock.close()
    line = got.split(b"\r\n")[0].decode(errors="replace")
    check(b" 413 " in got[:20], f"100 MB body: `{line}` after {sent >> 20} MiB sent, {time.time() - t0:.1f} s")

    # A byte per second: the request timeout cuts it (server started with --timeout 5).
    sock = socket.create_connection((u.hostname, u.port))
    body = chat().encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    sock.sendall(head.encode())
    sock.settimeout(1.5)
    t0, got = time.time(), b""
    for byte in body:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            break
        try:
            got = sock.recv(4096)
            if got:
                break
        except socket.timeout:
            pass
        if time.time() - t0 > 60:
            break
    sock.close()
    status_line = got.split(b"\r\n")[0].decode(errors="replace")
    check(b" 408 " in got[:20], f"slow client: `{status_line}` after {time.time() - t0:.1f} s")

    # Headers a byte per second: hyper's header timeout (10 s by default) closes the connection.
    sock = socket.create_connection((u.hostname, u.port))
    sock.settimeout(1.0)
    t0, closed = time.time(), False
    for byte in b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100:
        try:
            sock.sendall(bytes([byte]))
            if sock.recv(100) == b"":
                closed = True
                break
        except socket.timeout:
            pass
        except OSError:
            closed = True
            break
        if time.time() - t0 > 40:
            break
    sock.close()
    check(closed, f"slow headers: connection closed after {time.time() - t0:.1f} s")

    # A client that disconnects mid-stream: the server cancels and keeps serving.
    sock = socket.create_connection((u.hostname, u.port))
    body = chat(stream=True, max_tokens=500).encode()
    sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    first = sock.recv(4096)
    sock.close()
    check(b"200 OK" in first, "disconnecting client got a stream before leaving")

    s, data = request(a.base, "POST", "/v1/chat/completions", chat(max_tokens=8, temperature=0))
    check(s == 200 and json.loads(data)["choices"][0]["message"]["content"], "the server still answers normally")
    s, data = request(a.base, "GET", "/metrics")
    depth = [l for l in data.decode().splitlines() if l.startswith("muse_queue_depth")]
    check(s == 200 and depth == ["muse_queue_depth 0"], f"metrics: {depth}")
    print("all bad-input checks passed")


if __name__ == "__main__":
    main()
