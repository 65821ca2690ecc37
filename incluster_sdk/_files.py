"""Reading small config files with errors that name the file and the fix.

Contents are never echoed in a message: a token file's bytes must not reach a log or traceback.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from .errors import ConfigError

if TYPE_CHECKING:
    from typing_extensions import Unpack

#: Kubeconfigs, tokens and CA bundles are kilobytes; a larger "config file" is a mistake (or /proc noise).
MAX_CONFIG_FILE_BYTES = 64 * 2**20


def read_file_bytes(
    path: Path,
    *,
    what: str,
    fix: str,
    error: type[ConfigError] = ConfigError,
    allow_empty: bool = False,
) -> bytes:
    """Read ``path`` or raise ``error`` saying which file (``what``), what is wrong, and ``fix``."""

    def fail(problem: str) -> ConfigError:
        return error(f"{what} {path} {problem}. {fix}")

    try:
        # Checked before opening: a FIFO would block the open forever, /dev/zero would never end.
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
            raise fail("is not a regular file")
        if info.st_size > MAX_CONFIG_FILE_BYTES:
            raise fail(f"is larger than {MAX_CONFIG_FILE_BYTES // 2**20} MiB, too large for a config file")
        data = path.read_bytes()
    except FileNotFoundError:
        if path.is_symlink():
            target = os.readlink(path)
            raise fail(f"is a dangling symlink (points to {target!r}, which does not exist)") from None
        raise fail("does not exist") from None
    except IsADirectoryError:
        raise fail("is a directory, not a file") from None
    except PermissionError:
        raise fail(f"is not readable by this process (uid {os.getuid()})") from None
    except OSError as exc:
        raise fail(f"could not be read ({exc.strerror or type(exc).__name__})") from None
    except (ValueError, UnicodeError):  # an embedded NUL, or a name the file system cannot encode
        raise error(f"{what} {path!r} is not a valid file name. {fix}") from None
    if not allow_empty and not data.strip():
        raise fail("is empty")
    return data


class ReadOptions(TypedDict, total=False):
    """:func:`read_file_bytes`'s optional keywords, as :func:`read_file_text` passes them on."""

    error: type[ConfigError]
    allow_empty: bool


def read_file_text(path: Path, *, what: str, fix: str, **options: Unpack[ReadOptions]) -> str:
    """:func:`read_file_bytes`, decoded as UTF-8 (or the same kind of error, saying it is not UTF-8 text)."""
    data = read_file_bytes(path, what=what, fix=fix, **options)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise options.get("error", ConfigError)(f"{what} {path} is not UTF-8 text. {fix}") from None
