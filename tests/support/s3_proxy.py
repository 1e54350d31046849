#!/usr/bin/env python3
"""A recording HTTP proxy in front of a real S3 server, for tests.

Usage: s3_proxy.py UPSTREAM_URL LOG_FILE [CUT_SUBSTRING]
Prints "listening PORT" once it accepts connections. Every request is forwarded unchanged
(path-style S3, so the signature stays valid) and logged as "METHOD PATH RANGE" in arrival
order. If CUT_SUBSTRING is given, the first GET whose path contains it gets the full headers
but only half of its body, then the connection is closed (a reset mid-download). With
SLOWDOWN=N in the environment, the first N requests are answered `503 SlowDown` (throttling)
without reaching the server.

Fault injection (environment):
  FAULT_RATE=0.1   each request fails with this probability, one of: 500 InternalError,
                   503 SlowDown, the connection reset before an answer, or (GETs) a body
                   cut short after the headers; failures before forwarding never reach S3
  FAULT_SEED=N     seed of the fault choices (reproducible runs)
  FAULT_ALWAYS=1   every request answers 500 InternalError (a store that is down)
  LATENCY_MS=30    every request waits this long before it is forwarded (a WAN's round
                   trip; for request-counting benchmarks)"""
import random
import socket
import time
import os
import http.client
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

upstream = urllib.parse.urlparse(sys.argv[1])
log = open(sys.argv[2], "a", buffering=1)
cut = sys.argv[3] if len(sys.argv) > 3 else None
lock = threading.Lock()
state = {"cut_done": False, "slowdown": int(os.environ.get("SLOWDOWN", "0"))}
fault_rate = float(os.environ.get("FAULT_RATE", "0"))
fault_always = os.environ.get("FAULT_ALWAYS") == "1"
latency = float(os.environ.get("LATENCY_MS", "0")) / 1000
rng = random.Random(int(os.environ.get("FAULT_SEED", "1")))


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def error(self, status, reason, code):
        msg = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(msg)))
        self.end_headers()
        self.wfile.write(msg)

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if latency:
            time.sleep(latency)
        with lock:
            throttle = state["slowdown"] > 0
            state["slowdown"] -= throttle
            fault = None
            if fault_always:
                fault = "500"
            elif fault_rate and rng.random() < fault_rate:
                fault = rng.choice(["500", "503", "reset", "truncate"])
            log.write(f"{self.command} {self.path} {self.headers.get('Range', '-')}{' THROTTLED' if throttle else ''}{' FAULT ' + fault if fault else ''}\n")
        if throttle or fault == "503":
            self.error(503, "Slow Down", "SlowDown")
            return
        if fault == "500":
            self.error(500, "Internal Server Error", "InternalError")
            return
        if fault == "reset":
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            return
        with lock:
            do_cut = self.command == "GET" and cut and cut in self.path and not state["cut_done"]
            if do_cut:
                state["cut_done"] = True
        do_cut = do_cut or (fault == "truncate" and self.command == "GET")
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        conn.request(self.command, self.path, body=body, headers=dict(self.headers))
        resp = conn.getresponse()
        data = resp.read()
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if do_cut and len(data) > 1:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
