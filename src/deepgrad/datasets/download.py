"""The data cache: files downloaded once from their original source, checked by SHA-256, kept.

Every loader of a public data set reads its files through :func:`cached_file`. The cache
folder is, in order of precedence: the loader's ``data_dir=`` (or ``cache_dir=``)
argument, the ``DEEPGRAD_DATA`` environment variable, then ``~/.deepgrad/datasets``.
Each data set keeps its files in a sub-folder of its own (``mnist/``, ``sst2/``, ...).
A file is used only when its SHA-256 equals the published one: a missing file is
downloaded (when allowed) from each mirror in turn, a file with another digest is an
error that names it, never used silently. Offline, files placed there by hand work too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request

DEFAULT_DATA_DIR = os.path.join("~", ".deepgrad", "datasets")
DATA_DIR_VARIABLE = "DEEPGRAD_DATA"
_DOWNLOAD_TIMEOUT_S = 60


class DownloadError(OSError):
    """A data set file could not be downloaded from any mirror, or arrived with the wrong digest."""


def data_home(data_dir=None) -> str:
    """The cache folder: ``data_dir`` if given, else ``$DEEPGRAD_DATA``, else ``~/.deepgrad/datasets``."""
    folder = data_dir if data_dir is not None else os.environ.get(DATA_DIR_VARIABLE) or DEFAULT_DATA_DIR
    return os.path.expanduser(os.fspath(folder))


def sha256_of(path) -> str:
    """The SHA-256 hex digest of the file at ``path`` (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url, destination) -> None:
    """Copy the bytes at ``url`` into the file ``destination`` (the only network access)."""
    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response, open(destination, "wb") as out:
        shutil.copyfileobj(response, out, length=1 << 20)


def download(filename, target, sha256, mirrors) -> None:
    """Fetch ``filename`` from each mirror (a URL prefix) in turn until one gives ``sha256``; save it as ``target``."""
    partial = target + ".part"
    failures = []
    for mirror in mirrors:
        url = mirror + filename
        try:
            _fetch(url, partial)
        except OSError as err:  # URLError, timeouts and HTTP errors are OSErrors
            failures.append(f"{url}: {err}")
            continue
        digest = sha256_of(partial)
        if digest == sha256:
            os.replace(partial, target)
            return
        failures.append(f"{url}: SHA-256 {digest} differs from the expected {sha256}")
    if os.path.exists(partial):
        os.unlink(partial)
    raise DownloadError(f"could not download {filename}: " + "; ".join(failures)
                        + f". Place the file in {os.path.dirname(target)} by hand (SHA-256 {sha256}).")


def cached_file(folder, filename, sha256, mirrors, download_missing=True) -> str:
    """The path of ``folder/filename`` once its SHA-256 is ``sha256``, downloading it from ``mirrors`` if needed.

    A cached file with another digest is downloaded again when ``download_missing``,
    else it is a ``ValueError`` naming the file; a missing file without
    ``download_missing`` is a ``FileNotFoundError`` saying where to put it.
    """
    path = os.path.join(folder, filename)
    if os.path.exists(path):
        if sha256_of(path) == sha256:
            return path
        if not download_missing:
            raise ValueError(f"{path} does not have the expected SHA-256 {sha256} (corrupt or "
                             "a different file); delete it, or pass download=True to fetch it again.")
    elif not download_missing:
        raise FileNotFoundError(f"{path} is not cached; pass download=True to fetch it from "
                                f"{mirrors[0]}, or place the file there by hand.")
    os.makedirs(folder, exist_ok=True)
    download(filename, path, sha256, mirrors)
    return path
