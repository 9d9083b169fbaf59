"""tools/check_imports.py finds import cycles, function-level and relative ones included."""

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "check_imports.py"
spec = importlib.util.spec_from_file_location("check_imports", TOOL)
check_imports = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_imports)


def make_package(root, files):
    for name, text in files.items():
        path = root / "deepgrad" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


BASE = {
    "__init__.py": "from .tensor import Tensor\n",
    "tensor.py": "class Tensor: pass\n# the method-attachment cycle\nfrom .ops import shape\n",
    "ops/__init__.py": "",
    "ops/shape.py": "from ..tensor import Tensor\n",
    "layers.py": "from .tensor import Tensor\n",
    "models.py": "from . import layers\n",
}


def test_only_the_commented_tensor_ops_cycle_passes(tmp_path, capsys):
    root = make_package(tmp_path, BASE)
    assert check_imports.main([str(root)]) == 0
    assert "no cycle other than tensor <-> ops" in capsys.readouterr().out


def test_a_function_level_relative_import_upwards_is_a_cycle(tmp_path, capsys):
    files = dict(BASE, **{"layers.py": "from .tensor import Tensor\ndef f():\n    from .models import g\n"})
    root = make_package(tmp_path, files)
    assert check_imports.main([str(root)]) == 1
    out = capsys.readouterr().out
    assert "deepgrad.layers -> deepgrad.models -> deepgrad.layers" in out


def test_type_checking_imports_do_not_count(tmp_path):
    layers = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .models import g\n"
    root = make_package(tmp_path, dict(BASE, **{"layers.py": layers}))
    assert check_imports.main([str(root)]) == 0


def test_the_allowed_cycle_must_be_commented(tmp_path, capsys):
    files = dict(BASE, **{"tensor.py": "class Tensor: pass\nfrom .ops import shape\n"})
    assert check_imports.main([str(make_package(tmp_path, files))]) == 1
    assert "method-attachment cycle" in capsys.readouterr().out
