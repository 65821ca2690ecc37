"""A client-go 1.20 oracle for kubeconfig loading: what kubectl's loader resolves for a kubeconfig set.

The oracle is ``scripts/kubeconfig-oracle/main.go``, built by ``bash scripts/install-kube-binaries.sh`` against
the client-go vendored in Debian's kubernetes 1.20.2 source tree (the tree kube-apiserver is built from) and
cached beside kube-apiserver. It is one persistent process: one JSON request per line on stdin, one JSON answer
per line on stdout. :class:`ClientGoOracle` drives it. The contract, shared with the adapter that maps
incluster_sdk's loader to the same shape:

# The normalized "resolution" of a kubeconfig set (shared by the client-go oracle and our adapter)

A request names one kubeconfig set to load the way kubectl does:
  {"cwd": "/abs/dir",                 # the process's working directory while loading (relative paths!)
   "kubeconfig": ["a", "sub/b"] | null,   # the KUBECONFIG list, in order, entries may be relative to cwd
   "explicit": "path" | null,         # an explicit --kubeconfig path (exactly one of kubeconfig/explicit is set)
   "context": "" | "name"}            # a --context override ("" = none)

The answer is one JSON object, either
  {"ok": false, "error": "<client-go's message>", "stage": "load" | "client" | "transport"}
or
  {"ok": true,
   "context": "<context name used>",
   "namespace": "<namespace kubectl would use: the context's, else 'default'>",
   "host": "<base URL requests go to: scheme://host[:port][/path], no trailing slash>",
   "server_name": "<tls-server-name or ''>",
   "insecure": true|false,
   "ca_sha256": "<hex sha256 of the CA bytes that would be used (data, else file content)>" | null,
   "cert_sha256": "<hex sha256 of the static client certificate bytes>" | null,
   "key_sha256": "<hex sha256 of the static client key bytes>" | null,
   "token_sha256": "<hex sha256 of the static bearer token string>" | null,
   "token_file": "<absolute path of the bearer token file>" | null,
   "username": "<basic auth user>" | null,
   "password_sha256": "<hex>" | null,
   "exec": null | {"command": "<as it will be run: absolute if it had a path separator, else bare>",
                   "args": [...], "env": [["NAME","value"], ...], "apiVersion": "...",
                   "installHint": "<as it would be shown>", "provideClusterInfo": bool,
                   "interactiveMode": "<or ''>",
                   "cluster": null | {<the ExecCredential spec.cluster JSON client-go would pass:
                                       server, tls-server-name, insecure-skip-tls-verify,
                                       certificate-authority-data (base64), proxy-url, config>}},
   "exec_used": true|false,            # would requests call the plugin (client-go: exec set and no token auth)
   "proxy_url": "<url>" | null}

Details of this oracle (client-go 1.20.2) beyond the contract:

- ``kubeconfig`` becomes the loading rules' precedence list as given (kubectl would split ``KUBECONFIG`` on
  ``os.pathsep`` and drop repeated entries first; repeats change nothing, so the caller splits). An empty list
  loads nothing (it does not fall back to ``~/.kube/config``). ``explicit`` is ``--kubeconfig``.
- Loading uses ``ClientConfigLoadingRules`` with no default file, no migration rules and no in-cluster
  fallback (``KUBERNETES_SERVICE_HOST``/``PORT`` are unset in the oracle), and ``ConfigOverrides`` with only
  ``CurrentContext``. kubectl itself also sets ``ClusterDefaults`` (server ``http://localhost:8080``), which
  only matters for a cluster without ``server``; the oracle does not.
- Stages: ``"load"``: loading, merging and validating the files (``ClientConfig()``, ``Namespace()``);
  ``"client"``: building the REST client's base URL (e.g. a path on a scheme-less server); ``"transport"``:
  building the transport (TLS files read, certificate/key pair, CA with insecure, exec authenticator). The
  oracle also answers ``"request"`` for a malformed request (bad ``cwd``, both or neither source set).
- ``username``, ``token_file``, ``password_sha256`` and ``token_sha256`` are null when empty.
  ``password_sha256`` is the password client-go sends: null without a username (``HasBasicAuth``).
  ``token_sha256`` is the token client-go will send: ``token``, else the content of ``tokenFile`` (read once
  at load). ``cert_sha256``/``key_sha256``/``ca_sha256`` hash the data, else the file's content.
- client-go reads credentials only for a TLS server (``https://``, or a scheme-less server given a CA, client
  certificate or insecure flag): for an ``http://`` server all of ``ca``/``cert``/``key``/``token``/``exec``
  are null, whatever the file says.
- ``exec.interactiveMode`` is always ``""`` (client-go 1.20 predates it, and
  ``client.authentication.k8s.io/v1``). ``exec.cluster`` is ``spec.cluster`` of the ExecCredential encoded
  in the plugin's apiVersion (null for v1alpha1, which has no such field); ``certificate-authority-data`` is
  base64.
- The oracle never sends a request and never runs a plugin.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

KUBE_VERSION = "1.20.2"
ORACLE_ENV = "INCLUSTER_SDK_KUBECONFIG_ORACLE"
CACHE_ENV = "INCLUSTER_SDK_CACHE"
INSTALL_COMMAND = "bash scripts/install-kube-binaries.sh"


class OracleError(RuntimeError):
    """The oracle process failed (died, timed out, or answered something that is not JSON)."""


class OracleNotFound(OracleError):
    """The oracle binary is not installed; the message names the command that builds it."""


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "incluster-sdk")


def find_oracle_binary() -> Path:
    """``$INCLUSTER_SDK_KUBECONFIG_ORACLE``, else the one the install script caches beside kube-apiserver."""
    explicit = os.environ.get(ORACLE_ENV)
    candidate = Path(explicit) if explicit else cache_dir() / f"kubernetes-{KUBE_VERSION}" / "kubeconfig-oracle"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    if explicit:  # named, but not there: say so rather than look elsewhere
        raise OracleNotFound(f"{ORACLE_ENV}={explicit} is not an executable file.")
    raise OracleNotFound(
        f"kubeconfig-oracle not found (looked at {ORACLE_ENV}, {candidate}). "
        f"Build it with: {INSTALL_COMMAND}  (from the incluster_sdk repository; Debian packages only), "
        f"or point {ORACLE_ENV} at your own binary."
    )


class ClientGoOracle:
    """One oracle process, started lazily and restarted when it has died.

    ``timeout`` bounds each answer; on a timeout the process is killed (the next call starts a new one).
    The process is also replaced every ``max_requests`` answers: client-go caches every transport and exec
    authenticator it builds, so a long-lived oracle only grows.
    """

    def __init__(self, binary: Path | None = None, *, timeout: float = 30.0, max_requests: int = 2000) -> None:
        self.binary = binary if binary is not None else find_oracle_binary()
        self.timeout = timeout
        self.max_requests = max_requests
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._buffer = b""
        self._served = 0

    def __enter__(self) -> ClientGoOracle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def resolve(
        self,
        *,
        cwd: str | os.PathLike[str],
        kubeconfig: Sequence[str | os.PathLike[str]] | None = None,
        explicit: str | os.PathLike[str] | None = None,
        context: str = "",
    ) -> dict[str, Any]:
        """client-go's answer for one kubeconfig set (see the module docstring for its shape)."""
        if (kubeconfig is None) == (explicit is None):
            raise ValueError("exactly one of kubeconfig and explicit must be given")
        request = {
            "cwd": os.path.abspath(cwd),  # the oracle changes directory per request: relative would drift
            "kubeconfig": None if kubeconfig is None else [os.fspath(p) for p in kubeconfig],
            "explicit": None if explicit is None else os.fspath(explicit),
            "context": context,
        }
        line = json.dumps(request).encode() + b"\n"
        with self._lock:
            for attempt in range(2):
                proc = self._ensure_started()
                assert proc.stdin is not None
                try:
                    proc.stdin.write(line)
                    proc.stdin.flush()
                    break
                except OSError as exc:  # died before this request (not reaped yet): once more with a new process
                    if attempt:
                        raise self._fail(f"could not send the request: {exc}") from exc
                    self._stop(kill=True)
            # Dying while answering is this request's doing: reported, not retried (the next call restarts).
            answer_line = self._read_line(proc)
            self._served += 1
        try:
            answer = json.loads(answer_line)
        except ValueError as exc:
            raise OracleError(f"oracle answered something that is not JSON: {answer_line[:500]!r}") from exc
        if not isinstance(answer, dict):
            raise OracleError(f"oracle answered a non-object: {answer!r}")
        return answer

    def close(self) -> None:
        with self._lock:
            self._stop()

    # -- process handling -------------------------------------------------------------------------------------
    def _ensure_started(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and (self._proc.poll() is not None or self._served >= self.max_requests):
            self._stop()
        if self._proc is None:
            env = {
                k: v
                for k, v in os.environ.items()
                if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBERNETES_MASTER")
            }
            # klog warnings go here (a pipe nobody reads could fill and block the oracle); shown when it fails.
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process, closed in _stop
            self._proc = subprocess.Popen(
                [os.fspath(self.binary)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=env,
                cwd="/",
            )
            self._buffer = b""
            self._served = 0
        return self._proc

    def _read_line(self, proc: subprocess.Popen[bytes]) -> bytes:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + self.timeout
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise self._fail(f"no answer within {self.timeout} s")
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise self._fail("the oracle exited")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _fail(self, what: str) -> OracleError:
        stderr = self._stderr_tail()
        self._stop(kill=True)
        return OracleError(f"{what} ({self.binary}); its stderr ends with:\n{stderr}")

    def _stderr_tail(self, limit: int = 4000) -> str:
        if self._stderr is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            self._stderr.flush()
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - limit))
            return self._stderr.read().decode(errors="replace")
        return ""

    def _stop(self, *, kill: bool = False) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if kill:
                proc.kill()
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # EOF: the oracle exits
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._buffer = b""
