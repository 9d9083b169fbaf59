"""Run the examples of examples/ as notebooks in a Jupyter kernel, on their quick settings.

Each example is one source: a script in the Jupyter "percent" format (``# %%`` cells).
:func:`run_example` converts it with jupytext to a notebook in memory and executes it
with nbclient in an ipykernel, with ``DEEPGRAD_EXAMPLE_QUICK=1`` (the examples' short
setting) in the kernel's environment. A first cell, not part of the example, sets
``sys.argv`` to the options a test passes (``--output DIR``; in a kernel ``sys.argv`` is
the kernel's own) and makes deepgrad's downloader fail instead of reaching the network.

When jupytext, nbclient or ipykernel is missing, :func:`run_example` runs the script in a
subprocess instead, with the same first lines; :func:`notebook_support_missing` says which.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
QUICK_VARIABLE = "DEEPGRAD_EXAMPLE_QUICK"
NO_NETWORK = "the test suite does not download data sets"
NOTEBOOK_PACKAGES = ("jupytext", "nbformat", "nbclient", "ipykernel")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def example_names():
    """Every example script, by file name: new examples are picked up without editing a test."""
    return sorted(path.name for path in EXAMPLES.glob("*.py"))


def notebook_support_missing():
    """The packages needed to run a notebook that are not installed (empty when all are)."""
    return [name for name in NOTEBOOK_PACKAGES if importlib.util.find_spec(name) is None]


@dataclass
class ExampleRun:
    """What a run left: exit status (0, or 1 when a cell raised), printed text, and every cell output.

    ``stdout`` is the text a reader sees, in order: printed lines and the plain-text form of
    displayed objects (a model summary shown as a table in Jupyter is also text here).
    """

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    outputs: list = field(default_factory=list)  # nbformat output dicts of every code cell (kernel runs)

    def data(self, mime):
        """The rich outputs of type ``mime`` (``"text/html"``, ``"image/png"``) in order."""
        return [output["data"][mime] for output in self.outputs if mime in output.get("data", {})]

    @property
    def needs_data(self):
        """Whether it failed only because a data set was not in the cache."""
        return self.returncode != 0 and NO_NETWORK in self.stderr


def prelude(argv):
    """The first cell: the example's command-line options, and a downloader that refuses to download."""
    return (f"import sys\nsys.argv = {list(map(str, argv))!r}\n"
            "import deepgrad.datasets.download as _download\n\n\n"
            "def _no_network(url, destination):\n"
            f"    raise OSError({NO_NETWORK + ' (set DEEPGRAD_DATA to the verified copies)'!r})\n\n\n"
            "_download._fetch = _no_network\n"
            "del _download, _no_network\n")


def kernel_environment(quick=True):
    """The test process's environment, deepgrad's source importable, inline plots (no MPLBACKEND)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.pop("MPLBACKEND", None)  # the kernel picks matplotlib's inline backend
    if quick:
        env[QUICK_VARIABLE] = "1"
    return env


def execute_notebook(notebook, cwd, env=None, timeout=600):
    """Execute ``notebook`` (nbformat) in a fresh ipykernel in the folder ``cwd``; an :class:`ExampleRun`."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    client = NotebookClient(notebook, timeout=timeout, startup_timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}},
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])  # not its warning about TCP
    start = time.perf_counter()
    try:
        client.execute(env=env if env is not None else kernel_environment())
        returncode, error = 0, ""
    except CellExecutionError as err:
        returncode, error = 1, _ANSI.sub("", str(err))
    seconds = time.perf_counter() - start
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    streams = {"stdout": [], "stderr": []}
    for output in outputs:
        if output.get("output_type") == "stream":
            streams[output["name"]].append(output["text"])
        elif "text/plain" in output.get("data", {}) and "image/png" not in output["data"]:
            streams["stdout"].append(output["data"]["text/plain"] + "\n")  # a displayed object (model.summary())
    return ExampleRun(returncode, "".join(streams["stdout"]), "".join(streams["stderr"]) + error, seconds, outputs)


def example_notebook(name, argv=()):
    """The example ``name`` as an nbformat notebook, the :func:`prelude` cell first."""
    import jupytext
    import nbformat

    path = EXAMPLES / name
    notebook = jupytext.read(path, fmt="py:percent")
    notebook.cells.insert(0, nbformat.v4.new_code_cell(prelude([str(path), *argv])))
    return notebook


def run_example(name, *argv, timeout=600):
    """Run ``examples/name`` on its quick setting with the options ``argv``: in a kernel, else as a script.

    The working folder is a fresh temporary one, so an example's default output folder goes there.
    """
    with tempfile.TemporaryDirectory(prefix="example_") as cwd:
        if not notebook_support_missing():
            return execute_notebook(example_notebook(name, argv), cwd, timeout=timeout)
        env = kernel_environment()
        env["MPLBACKEND"] = "Agg"
        path = str(EXAMPLES / name)
        code = prelude([path, *argv]) + f"import runpy\nrunpy.run_path({path!r}, run_name='__main__')\n"
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True,
                                timeout=timeout)
        return ExampleRun(result.returncode, result.stdout, result.stderr, time.perf_counter() - start)
