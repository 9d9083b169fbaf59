"""Build hook: a wheel carries the example notebooks that ``deepgrad demo CHAPTER`` runs.

The examples live once, in examples/ (jupytext percent-format scripts that open as
notebooks). Building a wheel copies them into the package as ``deepgrad/examples/``, so an
installed deepgrad runs its chapters without the source repository; an editable install
(``pip install -e .``, what ``make`` does) reads examples/ in place. Everything else is
configured in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithExamples(build_py):
    """``build_py`` that also copies examples/*.py into the built package as ``deepgrad/examples/``."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "deepgrad" / "examples"
        self.mkpath(str(target))
        for script in sorted(Path(__file__).resolve().parent.joinpath("examples").glob("*.py")):
            self.copy_file(str(script), str(target / script.name))


if __name__ == "__main__":
    setup(cmdclass={"build_py": BuildPyWithExamples})
