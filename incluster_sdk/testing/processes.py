"""Supervising etcd and kube-apiserver for the local cluster: their PKI files, free loopback ports, start-up,
health, stop, and etcd compaction.

Nothing here speaks the Kubernetes API: whether kube-apiserver is healthy is asked of the caller (a function
that does ``GET /healthz`` as the admin), so this module needs no credentials beyond writing them to disk.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from .binaries import Binaries
from .errors import ClusterError
from .pki import CertificateAuthority, rsa_signing_key

AUDIENCE = "https://kubernetes.default.svc"
"""The service-account issuer and the audience of every token the API server issues and accepts."""
SERVING_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
"""DNS names the serving certificate is valid for: loopback, and the in-cluster service names."""
SERVING_IPS = ("127.0.0.1", "::1", "10.0.0.1")
"""IP addresses the serving certificate is valid for: loopback, and the ``kubernetes`` Service's cluster IP
(the first of ``--service-cluster-ip-range=10.0.0.0/24``)."""
_POLL = 0.2  # start-up steps take seconds, a health check about a millisecond


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago (the kernel's pick; another process may take it).

    :returns: the port number.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # PR_SET_PDEATHSIG: the server dies with the test process even on SIGKILL: no orphans.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


@dataclass
class Process:
    """One supervised server: its command line and log file, and the running process if any.

    :param name: the server's name, for error messages (``etcd``, ``kube-apiserver``).
    :param args: the command line, the executable first.
    :param log_path: the file its stdout and stderr are appended to.
    :param proc: the running process; None until :meth:`start`, and after :meth:`stop`.
    """

    name: str
    args: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process, its output appended to the log.

        On Linux it is killed (``PR_SET_PDEATHSIG``) when the thread that started it ends, so with this process
        even on SIGKILL: start it from a thread that lives as long as the server should.

        :raises OSError: if the executable cannot be run.
        """
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if os.name == "posix" else None,
        )
        log.close()

    def alive(self) -> bool:
        """Whether the process was started and has not exited.

        :returns: True if it runs.
        """
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0, *, kill: bool = False) -> None:
        """Stop the process, if started: SIGTERM, then SIGKILL if it still runs after ``timeout``.

        :param timeout: seconds to wait after SIGTERM; default 10 s (our choice: time for a graceful stop on a
            loaded machine, without stalling a test run).
        :param kill: SIGKILL at once (a crash, no graceful close).
        """
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
            self.proc.wait()
        elif self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log_tail(self, lines: int = 30) -> str:
        """The end of the log, for error messages.

        :param lines: how many lines, at most; default 30.
        :returns: those lines, or ``"(no log)"`` if the log cannot be read.
        """
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Poll ``ready()`` every 0.2 s until it is true.

        :param ready: called as ``ready() -> bool``, e.g. a health check.
        :param timeout: seconds to wait.
        :raises ~incluster_sdk.testing.errors.ClusterError: with the log's end, if the process exits first or
            ``timeout`` seconds pass.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ClusterError(f"{self.name} exited during start-up. Last log lines:\n{self.log_tail()}")
            if ready():
                return
            time.sleep(_POLL)
        raise ClusterError(f"{self.name} not healthy after {timeout:.0f}s. Last log lines:\n{self.log_tail()}")


@dataclass
class ControlPlane:
    """etcd and kube-apiserver on free loopback ports, sharing a work dir that holds their PKI, data and logs.

    :param workdir: the work dir: ``pki/``, ``etcd/`` (data), ``etcd.log``, ``kube-apiserver.log``.
    :param ca: the cluster's CA.
    :param api_port: kube-apiserver's HTTPS port on 127.0.0.1.
    :param etcd_port: etcd's client port (plain HTTP) on 127.0.0.1.
    :param etcd: the etcd process.
    :param apiserver: the kube-apiserver process.
    """

    workdir: Path
    ca: CertificateAuthority
    api_port: int
    etcd_port: int
    etcd: Process
    apiserver: Process

    @classmethod
    def prepare(cls, workdir: Path, binaries: Binaries, admin_token: str) -> ControlPlane:
        """Write a fresh CA, the serving certificate, the service-account signing key and the static token file
        (``admin_token`` in group system:masters) under ``workdir/pki``, pick ports; start nothing.

        :param workdir: the work dir, created if missing.
        :param binaries: the etcd and kube-apiserver executables.
        :param admin_token: the admin's static token, written into ``pki/tokens.csv``.
        :returns: the prepared control plane.
        """
        pki = workdir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        ca = CertificateAuthority.create()
        serving = ca.issue("kube-apiserver", dns=SERVING_NAMES, ips=SERVING_IPS)
        sa_key = rsa_signing_key()
        for name, data in {
            "ca.crt": ca.cert_pem,
            "ca.key": ca.key_pem,
            "apiserver.crt": serving.cert_pem,
            "apiserver.key": serving.key_pem,
            "sa.pub": sa_key.cert_pem,
            "sa.key": sa_key.key_pem,
            "tokens.csv": f"{admin_token},admin,admin-uid,system:masters\n".encode(),
        }.items():
            (pki / name).write_bytes(data)
            (pki / name).chmod(0o600)
        etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
        etcd = Process("etcd", _etcd_args(binaries, workdir, etcd_port, etcd_peer), workdir / "etcd.log")
        apiserver = Process(
            "kube-apiserver", _apiserver_args(binaries, workdir, etcd_port, api_port), workdir / "kube-apiserver.log"
        )
        return cls(workdir, ca, api_port, etcd_port, etcd, apiserver)

    @property
    def ca_file(self) -> Path:
        """The CA certificate's file (``<workdir>/pki/ca.crt``, PEM)."""
        return self.workdir / "pki" / "ca.crt"

    def start(self, apiserver_healthy: Callable[[], bool], timeout: float) -> None:
        """Start etcd, then kube-apiserver, each waited for until healthy.

        :param apiserver_healthy: called as ``apiserver_healthy() -> bool`` (a ``GET /healthz`` as the admin).
        :param timeout: seconds to wait for each.
        :raises ~incluster_sdk.testing.errors.ClusterError: if one exits or is not healthy in time.
        """
        self.etcd.start()
        self.etcd.wait_until(self.etcd_healthy, timeout)
        self.start_apiserver(apiserver_healthy, timeout)

    def start_apiserver(self, healthy: Callable[[], bool], timeout: float) -> None:
        """(Re)start kube-apiserver on the same port (unless it runs) and wait until ``healthy()``.

        :param healthy: called as ``healthy() -> bool``.
        :param timeout: seconds to wait.
        :raises ~incluster_sdk.testing.errors.ClusterError: if it exits or is not healthy in time.
        """
        if not self.apiserver.alive():
            self.apiserver.start()
        self.apiserver.wait_until(healthy, timeout)

    def stop_apiserver(self, *, kill: bool = False) -> None:
        """Stop kube-apiserver alone (see :meth:`Process.stop`).

        :param kill: SIGKILL at once instead of SIGTERM.
        """
        self.apiserver.stop(kill=kill)

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd (SIGTERM, then SIGKILL after 10 s); stopping again does nothing."""
        self.apiserver.stop()
        self.etcd.stop()

    def etcd_healthy(self) -> bool:
        """Whether etcd answers ``GET /health`` with 200 within 2 s.

        :returns: True if it does.
        """
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.etcd_port, timeout=2)
            try:
                conn.request("GET", "/health")
                return conn.getresponse().status == 200
            finally:
                conn.close()
        except OSError:
            return False

    def compact_etcd(self) -> int:
        """Compact etcd history to its current revision (physically), over etcd's JSON gateway.

        :returns: the revision compacted to.
        :raises OSError: if etcd cannot be reached (10 s timeout).
        """
        conn = http.client.HTTPConnection("127.0.0.1", self.etcd_port, timeout=10)
        try:
            conn.request("POST", "/v3/kv/range", body=orjson.dumps({"key": "AA=="}))
            revision = int(orjson.loads(conn.getresponse().read())["header"]["revision"])
            conn.request("POST", "/v3/kv/compaction", body=orjson.dumps({"revision": revision, "physical": True}))
            conn.getresponse().read()
        finally:
            conn.close()
        return revision


def _etcd_args(binaries: Binaries, workdir: Path, port: int, peer_port: int) -> list[str]:
    client, peer = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{peer_port}"
    return [
        str(binaries.etcd),
        *("--data-dir", str(workdir / "etcd"), "--name", "incluster-sdk"),
        *("--listen-client-urls", client, "--advertise-client-urls", client),
        *("--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer),
        *("--initial-cluster", f"incluster-sdk={peer}"),
        *("--log-level", "warn", "--logger", "zap"),
    ]


def _apiserver_args(binaries: Binaries, workdir: Path, etcd_port: int, api_port: int) -> list[str]:
    pki = workdir / "pki"
    return [
        str(binaries.kube_apiserver),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1",
        f"--secure-port={api_port}",
        "--advertise-address=127.0.0.1",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--token-auth-file={pki / 'tokens.csv'}",
        "--authorization-mode=RBAC",
        f"--service-account-issuer={AUDIENCE}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--api-audiences={AUDIENCE}",
        "--service-cluster-ip-range=10.0.0.0/24",
        f"--cert-dir={workdir / 'certs'}",
        "--endpoint-reconciler-type=none",
        "--enable-admission-plugins=NamespaceLifecycle",
        "--disable-admission-plugins=ServiceAccount",
        "--insecure-port=0",
        "--profiling=false",
        "--v=1",
    ]
