"""fileio.atomic_write keeps the nature of the file it replaces: mode, symlink, read-only, no stale leftovers."""

import json
import os
import stat
import subprocess
import sys

import pytest

from deepgrad.fileio import atomic_write
from deepgrad.tuner.trial import write_json


def _save(path, text="new"):
    with atomic_write(path, "w") as stream:
        stream.write(text)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600, 0o755])
def test_existing_mode_is_kept(tmp_path, mode):
    path = tmp_path / "m.deepgrad"
    path.write_text("old")
    os.chmod(path, mode)
    _save(path)
    assert path.read_text() == "new"
    assert _mode(path) == mode


def test_new_file_gets_the_umask_default(tmp_path):
    old = os.umask(0o022)
    try:
        _save(tmp_path / "a.json")
        os.umask(0o077)
        _save(tmp_path / "b.json")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.json") == 0o644
    assert _mode(tmp_path / "b.json") == 0o600


def test_saving_through_a_symlink_replaces_its_target(tmp_path):
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "model-v2.deepgrad"
    target.write_text("old")
    os.chmod(target, 0o640)
    link = tmp_path / "current.deepgrad"
    link.symlink_to(target)
    _save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new"
    assert _mode(target) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current.deepgrad", "store"]
    assert [p.name for p in (tmp_path / "store").iterdir()] == ["model-v2.deepgrad"]


def test_a_read_only_file_is_refused(tmp_path):
    path = tmp_path / "m.deepgrad"
    path.write_text("old")
    os.chmod(path, 0o444)
    with pytest.raises(PermissionError, match="read-only.*chmod u\\+w"):
        _save(path)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.deepgrad"]


def test_a_folder_is_not_replaced(tmp_path):
    (tmp_path / "m.deepgrad").mkdir()
    with pytest.raises(IsADirectoryError, match="not a regular file"):
        _save(tmp_path / "m.deepgrad")


def test_temporaries_of_a_killed_save_are_removed_by_the_next_save(tmp_path):
    path = tmp_path / "m.deepgrad"
    path.write_text("old")
    killed = subprocess.run(
        [sys.executable, "-c",
         "import os, signal, sys\n"
         "from deepgrad.fileio import atomic_write\n"
         "with atomic_write(sys.argv[1], 'w') as stream:\n"
         "    stream.write('half'); stream.flush(); os.kill(os.getpid(), signal.SIGKILL)\n", str(path)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, check=False)
    assert killed.returncode == -9
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "m.deepgrad"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".m.deepgrad.deepgrad-")
    # a save in progress in a live process, and another file's leftover, are not touched
    live = tmp_path / f".m.deepgrad.deepgrad-{os.getppid()}-abc.tmp"
    live.write_text("busy")
    other = tmp_path / ".other.deepgrad.deepgrad-999999999-abc.tmp"
    other.write_text("x")
    assert path.read_text() == "old"
    _save(path)
    assert path.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.deepgrad", live.name, other.name])


def test_tuner_state_is_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "oracle.json"
    write_json(str(path), {"a": 1})
    os.chmod(path, 0o644)

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", explode)
    with pytest.raises(OSError, match="disk full"):
        write_json(str(path), {"a": 2})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["oracle.json"]
    write_json(str(path), {"a": 3})
    assert json.loads(path.read_text()) == {"a": 3} and _mode(path) == 0o644
