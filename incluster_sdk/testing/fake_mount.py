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
FILES = ("token", "ca.crt", "namespace")

# A parseable CA certificate for mounts that never talk TLS. Its private key was discarded at creation.
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


class FakeServiceAccountMount:
    """A kubelet-style projected service-account volume in a directory of your choice."""

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
        self.path.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = str(port)
        self._contents: dict[str, bytes] = {"token": handed_out(token).encode(), "ca.crt": ca}
        if namespace is not None:
            self._contents["namespace"] = namespace.encode()
        self.generation = 0
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
        """Swap in new contents atomically, as kubelet does when it refreshes the projected token."""
        if token is not None:
            self._contents["token"] = handed_out(token).encode()
        if ca is not None:
            self._contents["ca.crt"] = ca
        if namespace is not None:
            self._contents["namespace"] = namespace.encode()
        self._publish()

    # -- what kubelet never does, for torn-write tests ------------------------------------------------
    def current_data_dir(self) -> Path:
        return self.path / os.readlink(self.path / DATA_LINK)

    def write_in_place(self, name: str, data: bytes) -> None:
        """Overwrite one file inside the live data dir without a swap (a torn or careless write)."""
        (self.current_data_dir() / name).write_bytes(data)

    def remove(self, name: str) -> None:
        """Delete one file from the live data dir, leaving a dangling ``name`` symlink."""
        (self.current_data_dir() / name).unlink()
        self._contents.pop(name, None)

    # -- the pod's environment ------------------------------------------------------------------------
    @property
    def env(self) -> Mapping[str, str]:
        """Env vars a pod would have, plus the SDK's override pointing at this directory."""
        return {HOST_ENV: self.host, PORT_ENV: self.port, SERVICE_ACCOUNT_DIR_ENV: str(self.path)}

    @contextmanager
    def activated(self) -> Iterator[FakeServiceAccountMount]:
        """Set :attr:`env` in ``os.environ`` for the duration (and hide KUBECONFIG), then restore."""
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
