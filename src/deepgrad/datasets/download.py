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
import tarfile
import urllib.parse
import urllib.request
import zipfile

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
    return digest_of(path, "sha256")


def digest_of(path, algorithm="sha256") -> str:
    """The hex digest of the file at ``path`` by ``algorithm`` (a hashlib name), read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
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


def _hash_algorithm(file_hash, hash_algorithm):
    if hash_algorithm not in ("auto", "sha256", "md5"):
        raise ValueError(f"get_file: hash_algorithm must be 'auto', 'sha256' or 'md5', got {hash_algorithm!r}.")
    if hash_algorithm != "auto":
        return hash_algorithm
    return "sha256" if file_hash is None or len(file_hash) == 64 else "md5"


def _extract(path, folder) -> str:
    """Unpack the zip or tar archive at ``path`` into ``folder``; members that would land outside it are refused."""
    root = os.path.realpath(folder)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            _check_members(path, root, names)
            archive.extractall(folder)
    elif tarfile.is_tarfile(path):
        with tarfile.open(path) as archive:
            members = archive.getmembers()
            _check_members(path, root, [m.name for m in members])
            if any(m.issym() or m.islnk() or m.isdev() for m in members):
                raise ValueError(f"get_file: {path} holds links or device files; extract it by hand.")
            archive.extractall(folder)
    else:
        raise ValueError(f"get_file: cannot extract {path}: it is neither a zip nor a tar archive.")
    return folder


def _check_members(path, root, names):
    for name in names:
        target = os.path.realpath(os.path.join(root, name))
        if os.path.commonpath([root, target]) != root:
            raise ValueError(f"get_file: archive {path} has a member {name!r} outside its folder; refusing to extract.")


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """Download ``origin`` once into the cache and return its path: Keras' ``keras.utils.get_file``.

    The file is ``<cache>/<cache_subdir>/<fname>`` (``fname`` defaults to the URL's last
    part; the cache is ``cache_dir``, else ``$DEEPGRAD_DATA``, else ``~/.deepgrad/datasets``).
    With ``file_hash`` (SHA-256, or MD5 by ``hash_algorithm``; 'auto' picks by length) a
    cached file is used only when its digest matches (else it is fetched again) and a
    download with another digest is an error naming both digests. ``extract=True``
    (or ``untar``) unpacks a zip or tar archive beside it and returns that folder.
    """
    if origin is None:
        raise ValueError("get_file: give the URL to download as origin=.")
    fname = fname or os.path.basename(urllib.parse.urlparse(origin).path)
    if not fname or os.path.basename(fname) != fname:
        raise ValueError(f"get_file: fname must be a plain file name, got {fname!r}.")
    if archive_format not in ("auto", "tar", "zip", None):
        raise ValueError(f"get_file: archive_format must be 'auto', 'tar' or 'zip', got {archive_format!r}.")
    file_hash = file_hash or md5_hash
    algorithm = _hash_algorithm(file_hash, hash_algorithm)
    folder = os.path.join(data_home(cache_dir), cache_subdir)
    path = os.path.join(folder, fname)
    cached = os.path.exists(path) and not force_download
    if not (cached and (file_hash is None or digest_of(path, algorithm) == file_hash)):
        os.makedirs(folder, exist_ok=True)
        partial = path + ".part"
        try:
            _fetch(origin, partial)
        except OSError as err:
            raise DownloadError(f"could not download {origin}: {err}. Place {fname} in {folder} by hand.") from err
        digest = digest_of(partial, algorithm)
        if file_hash is not None and digest != file_hash:
            os.unlink(partial)
            raise DownloadError(f"{origin} arrived with {algorithm} {digest}, not the expected {file_hash}.")
        os.replace(partial, path)
    if extract or untar:
        return _extract(path, os.path.join(folder, fname.split(".")[0] + "_extracted"))
    return path
