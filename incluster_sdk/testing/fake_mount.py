"""A fake service-account mount laid out exactly the way kubelet's AtomicWriter does it.

    sa_dir/
      ..2026_11_22_20_32_00.123456789/   token  ca.crt  namespace   (the real files)
      ..data -> ..2026_11_22_20_32_00.123456789
      token -> ..data/token      ca.crt -> ..data/ca.crt      namespace -> ..data/namespace

``rotate()`` writes a new timestamped directory, points a ``..data_tmp`` symlink at it and renames that over
``..data`` (atomic), then removes the old directory — so readers see either the old or the new set, and code
that watches the *file* instead of the directory misses the change, as it would in a real pod.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ..incluster import HOST_ENV, PORT_ENV, SERVICE_ACCOUNT_DIR_ENV
from .observers import handed_out

DATA_LINK = "..data"
"""The symlink to the live data directory, as kubelet names it."""
FILES = ("token", "ca.crt", "namespace")
"""The files of a service-account mount, each a symlink ``name -> ..data/name``."""

PLACEHOLDER_CA_PEM = b"""\
-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIUJik826ODpzzY6zkaDMFZ1aqFIMkwCgYIKoZIzj0EAwIw
NzE1MDMGA1UEAwwsaW5jbHVzdGVyLXNkayBwbGFjZWhvbGRlciBDQSAobm8ga2V5
IGV4aXN0cykwIBcNMjUwMTAxMDAwMDAwWhgPMjEyNDEyMDgwMDAwMDBaMDcxNTAz
BgNVBAMMLGluY2x1c3Rlci1zZGsgcGxhY2Vob2xkZXIgQ0EgKG5vIGtleSBleGlz
dHMpMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEaH19fuNUcnS4Fp1LTqk8ufwF
FQU8me2iZrbmbZzv50EjI4twniJJDGOTA/EwJkJS4AhNhvjjwcfsAnbcTP8nM6MT
MBEwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA0lngm3XkMClM
Os8yVjkDM0HtPbrB8zav+XSDjK1JPkACIDw+8WOSh+EVx8k6pbTRMNWhCzxxe9x1
z6ErI4vy8uFv
-----END CERTIFICATE-----
"""
"""A parseable CA certificate (PEM) for mounts that never talk TLS; its private key was discarded at creation."""


class FakeServiceAccountMount:
    """A kubelet-style projected service-account volume in a directory of your choice.

    The constructor writes the first generation at once: ``token``, ``ca.crt`` and ``namespace`` (mode 0644)
    in a timestamped directory (mode 0755), ``..data`` pointing at it, and one symlink per file through
    ``..data``, as in the module's layout above. :meth:`rotate` swaps in new contents atomically, as kubelet
    does; :meth:`write_in_place` and :meth:`remove` break the mount in ways kubelet never does. :attr:`env`
    and :meth:`activated` point the SDK at the directory. The object never shows the token (its ``repr``).

    :param directory: where to lay the mount out, created (with parents) if missing; files of an earlier
        mount there are replaced.
    :param token: the ``token`` file's contents (every token observer sees it:
        :func:`~incluster_sdk.testing.observers.observe_tokens`).
    :param ca: the ``ca.crt`` file's contents, PEM bytes; None: :data:`PLACEHOLDER_CA_PEM`, a valid
        certificate whose key nobody has (for tests that never talk TLS).
    :param namespace: the ``namespace`` file's contents; default ``"default"``, Kubernetes' default
        namespace; None: no ``namespace`` file (to test the fallback).
    :param host: ``KUBERNETES_SERVICE_HOST`` in :attr:`env`; default ``127.0.0.1`` (a local server).
    :param port: ``KUBERNETES_SERVICE_PORT`` in :attr:`env`; default 6443, kube-apiserver's default
        ``--secure-port``.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        token: str,
        ca: bytes | None = None,
        namespace: str | None = "default",
        host: str = "127.0.0.1",
        port: int | str = 6443,
    ) -> None:
        if ca is None:
            ca = PLACEHOLDER_CA_PEM
        self.path = Path(directory)
        """The mount's directory (``INCLUSTER_SDK_SERVICE_ACCOUNT_DIR`` in :attr:`env`)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = str(port)
        """``KUBERNETES_SERVICE_PORT`` in :attr:`env`, as a string."""
        self._contents: dict[str, bytes] = {"token": handed_out(token).encode(), "ca.crt": ca}
        if namespace is not None:
            self._contents["namespace"] = namespace.encode()
        self.generation = 0
        """How many times the contents were published: 1 after the constructor, one more per :meth:`rotate`."""
        self._publish()

    # -- what kubelet does ---------------------------------------------------------------------------
    def _publish(self) -> None:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("..%Y_%m_%d_%H_%M_%S.")
        new_dir = Path(tempfile.mkdtemp(prefix=stamp, dir=self.path))
        new_dir.chmod(0o755)
        for name, data in self._contents.items():
            (new_dir / name).write_bytes(data)
            (new_dir / name).chmod(0o644)
        old_target = os.readlink(self.path / DATA_LINK) if (self.path / DATA_LINK).is_symlink() else None
        for name in self._contents:
            link = self.path / name
            if not link.is_symlink():
                link.symlink_to(f"{DATA_LINK}/{name}")
        tmp_link = self.path / f"{DATA_LINK}_tmp"
        if tmp_link.is_symlink():
            tmp_link.unlink()
        tmp_link.symlink_to(new_dir.name)
        tmp_link.replace(self.path / DATA_LINK)  # rename(2): the atomic swap
        for name in FILES:  # a file dropped from the volume loses its user-visible link
            link = self.path / name
            if name not in self._contents and link.is_symlink():
                link.unlink()
        if old_target:
            shutil.rmtree(self.path / old_target, ignore_errors=True)
        self.generation += 1

    def rotate(self, *, token: str | None = None, ca: bytes | None = None, namespace: str | None = None) -> None:
        """Swap in new contents atomically, as kubelet does when it refreshes the projected token.

        Writes every file into a new timestamped directory, points ``..data_tmp`` at it and renames that over
        ``..data`` (``rename(2)``: readers see the old set or the new one, never a mix), then removes the old
        directory. The per-file symlinks are never touched, so code watching them for changes misses the
        rotation, as it would in a pod. A file taken out with :meth:`remove` stays out.

        :param token: the new ``token``; None: keep the current one.
        :param ca: the new ``ca.crt``, PEM bytes; None: keep the current one.
        :param namespace: the new ``namespace``; None: keep the current one.
        """
        if token is not None:
            self._contents["token"] = handed_out(token).encode()
        if ca is not None:
            self._contents["ca.crt"] = ca
        if namespace is not None:
            self._contents["namespace"] = namespace.encode()
        self._publish()

    # -- what kubelet never does, for torn-write tests ------------------------------------------------
    def current_data_dir(self) -> Path:
        """The live data directory, the one ``..data`` points at now (``<path>/..2026_11_22_20_32_00.xyz``).

        :returns: its path.
        """
        return self.path / os.readlink(self.path / DATA_LINK)

    def write_in_place(self, name: str, data: bytes) -> None:
        """Overwrite one file inside the live data directory, without a swap (a torn or careless write).

        The next :meth:`rotate` writes the contents the mount holds again, not these bytes.

        :param name: the file, e.g. ``"token"`` (created if missing, but without a symlink in :attr:`path`).
        :param data: its new contents.
        """
        (self.current_data_dir() / name).write_bytes(data)

    def remove(self, name: str) -> None:
        """Delete one file from the live data directory, leaving a dangling ``name`` symlink.

        The file stays out of later generations: the next :meth:`rotate` also removes its symlink.

        :param name: the file, e.g. ``"namespace"``.
        :raises FileNotFoundError: if the live data directory has no such file.
        """
        (self.current_data_dir() / name).unlink()
        self._contents.pop(name, None)

    # -- the pod's environment ------------------------------------------------------------------------
    @property
    def env(self) -> Mapping[str, str]:
        """The env vars a pod would have, plus the SDK's override pointing at this directory.

        ``{"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port,
        "INCLUSTER_SDK_SERVICE_ACCOUNT_DIR": str(path)}``; set them yourself (``monkeypatch.setenv``) or with
        :meth:`activated`.
        """
        return {HOST_ENV: self.host, PORT_ENV: self.port, SERVICE_ACCOUNT_DIR_ENV: str(self.path)}

    @contextmanager
    def activated(self) -> Iterator[FakeServiceAccountMount]:
        """Set :attr:`env` in ``os.environ`` and hide ``KUBECONFIG`` for the duration of a ``with`` block, then
        restore them.

        :returns: a context manager whose value is the mount itself (``with mount.activated():``).
        """
        saved = {k: os.environ.get(k) for k in (*self.env, "KUBECONFIG")}
        os.environ.update(self.env)
        os.environ.pop("KUBECONFIG", None)
        try:
            yield self
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def __repr__(self) -> str:  # never the token
        return f"<FakeServiceAccountMount {self.path} generation={self.generation}>"
