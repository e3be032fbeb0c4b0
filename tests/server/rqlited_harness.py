"""Real rqlited processes on 127.0.0.1 for tests: free ports, a temporary data directory, bounded
waits, and cleanup of every process started (by PID), also when a test fails."""
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse


_handed_out = set()


def free_port():
    """A port free now, below the kernel's ephemeral range (32768-60999 on Linux): a node that is
    killed and restarted needs its ports back, and an ephemeral port may meanwhile become the
    source port of some outgoing connection (another node reconnecting, a client)."""
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(20000, 32000)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port in 20000-32000")


def wait_for(fn, timeout=20.0, what="condition"):
    """Polls fn every 50 ms until it returns something true (returned), or fails the test."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class Node:
    def __init__(self, binary, data_dir=None, extra=None, node_id="1"):
        self.binary = binary
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="rqlited-test-")
        self.http_port = free_port()
        self.raft_port = free_port()
        self.node_id = node_id
        self.extra = extra or []
        self.proc = None
        self.log_path = os.path.join(tempfile.gettempdir(), "rqlited-%d.log" % self.http_port)

    @property
    def http_addr(self):
        return "127.0.0.1:%d" % self.http_port

    def args(self):
        return [self.binary, "-node-id", self.node_id, "-http-addr", self.http_addr,
                "-raft-addr", "127.0.0.1:%d" % self.raft_port] + self.extra + [self.data_dir]

    def start(self, wait_ready=True):
        if getattr(self, "log", None) is not None:
            self.log.close()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=self.log, stderr=self.log)
        if wait_ready:
            try:
                self.wait_ready()
            except Exception:
                self.kill9()  # never leave a process behind, even when the test gives up
                raise
        return self

    def wait_ready(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("rqlited exited with %s: %s" % (self.proc.returncode, self.log_tail()))
            try:
                st, _, body = self.request("GET", "/readyz", timeout=1.0)
                if st == 200:
                    return
                last = body
            except OSError as e:
                last = str(e)
            time.sleep(0.05)
        raise RuntimeError("rqlited not ready after %.0fs (%s): %s" % (timeout, last, self.log_tail()))

    def log_tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""

    def request(self, method, path, body=None, content_type=None, timeout=10.0, headers=None, raw=False):
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        try:
            h = dict(headers or {})
            if content_type:
                h["Content-Type"] = content_type
            if isinstance(body, str):
                body = body.encode()
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data if raw else data.decode(errors="replace")
        finally:
            conn.close()

    def execute(self, stmts, params="", **kw):
        return self.request("POST", "/db/execute" + params, json.dumps(stmts), "application/json", **kw)

    def query(self, sql, params=""):
        sep = "&" if params else "?"
        p = params + sep + "q=" + urllib.parse.quote(sql) if params else "?q=" + urllib.parse.quote(sql)
        return self.request("GET", "/db/query" + p)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=timeout)

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def cleanup(self):
        self.kill9()
        if os.environ.get("RQ_KEEP_LOGS"):
            print("---- %s log:\n%s" % (self.node_id, self.log_tail()))
        if hasattr(self, "log"):
            self.log.close()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        try:
            os.unlink(self.log_path)
        except OSError:
            pass


class OneNodeCase(unittest.TestCase):
    """A test class sharing one rqlited (started before its first test, killed after its last).
    The runner sets OneNodeCase.RQLITED; a subclass may set EXTRA flags."""

    RQLITED = None
    EXTRA = []

    @classmethod
    def setUpClass(cls):
        cls.n = Node(OneNodeCase.RQLITED, extra=list(cls.EXTRA))
        try:
            cls.n.start()
        except Exception:
            cls.n.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.n.cleanup()

    def post(self, path, body, ctype="application/json", **kw):
        return self.n.request("POST", path, body if isinstance(body, str) else json.dumps(body), ctype, **kw)

    def assertBody(self, resp, status, body):
        st, headers, got = resp
        self.assertEqual((st, got), (status, body))
        return headers
