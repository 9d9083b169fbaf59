"""Every example runs as a notebook in a Jupyter kernel (jupytext + nbclient), and deepgrad looks right there.

The examples are found by their file names (examples/*.py), so a new example is covered
without editing this file. An example with its own test in tests/test_examples.py (which
checks the figures it prints, through the same kernel run) runs there instead, once.
"""

import re

import pytest
from example_notebooks import (
    ROOT,
    example_names,
    execute_notebook,
    notebook_support_missing,
    prelude,
    run_example,
)

# the examples that tests/test_examples.py runs itself: `_run_quick("name.py", ...)`
CHECKED_ELSEWHERE = set(re.findall(r'_run_quick\(\s*"([\w.-]+\.py)"',
                                   (ROOT / "tests" / "test_examples.py").read_text(encoding="utf-8")))

needs_jupyter = pytest.mark.skipif(bool(notebook_support_missing()),
                                   reason=f"running notebooks needs {', '.join(notebook_support_missing())} "
                                          "(pip install -e '.[dev]')")


def test_examples_are_found_and_each_test_names_an_existing_example():
    names = example_names()
    assert "apparel_classifier.py" in names and "sentiment_sst2.py" in names
    assert CHECKED_ELSEWHERE, "tests/test_examples.py names no example: the pattern above no longer matches"
    missing = CHECKED_ELSEWHERE - set(names)
    assert not missing, f"tests/test_examples.py runs examples that do not exist: {sorted(missing)}"


@needs_jupyter
@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in example_names() if name not in CHECKED_ELSEWHERE] or [
    pytest.param(None, marks=pytest.mark.skip(reason="every example has its own test in tests/test_examples.py"))])
def test_example_runs_as_a_notebook(name, request, monkeypatch, tmp_path):
    try:
        request.getfixturevalue("shared_data")
        has_data = True
    except pytest.skip.Exception:  # examples on bundled or generated data still run; see needs_data below
        monkeypatch.setenv("DEEPGRAD_DATA", str(tmp_path / "empty-cache"))
        has_data = False
    run = run_example(name, "--output", str(tmp_path / "output"))
    if run.needs_data and not has_data:
        pytest.skip(f"{name} needs the real data sets (not available here)")
    assert run.returncode == 0, f"{name} failed in the kernel:\n{run.stderr[-3000:]}"
    assert run.stdout.strip(), f"{name} printed nothing"


# --------------------------------------------------------------------------- the kernel run itself

def _notebook(*sources):
    import nbformat

    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])


@needs_jupyter
@pytest.mark.slow
def test_quick_setting_arguments_and_failures_reach_the_kernel(tmp_path):
    """The environment variable and the options are the example's; a raising cell is a failure with its traceback."""
    notebook = _notebook(prelude(["example.py", "--output", "somewhere"]),
                         "import os, sys\nprint(os.environ['DEEPGRAD_EXAMPLE_QUICK'], sys.argv[1:])",
                         "import deepgrad.datasets.download as d\nd.download('f', 'f', '0' * 64, ['https://x/'])",
                         "print('never reached')")
    run = execute_notebook(notebook, tmp_path)
    assert "1 ['--output', 'somewhere']" in run.stdout
    assert run.returncode == 1 and "DownloadError" in run.stderr and run.needs_data
    assert "never reached" not in run.stdout


@needs_jupyter
@pytest.mark.slow
def test_a_notebook_shows_tables_progress_and_inline_plots(tmp_path):
    """model.summary() and History render as HTML tables, fit's progress bar draws, plots appear inline."""
    setup = ("import numpy as np\nimport deepgrad as dg\nfrom deepgrad import plot\n"
             "from deepgrad.layers import Dense, Input\nfrom deepgrad.models import Sequential\n"
             "dg.manual_seed(0)\nx = np.random.default_rng(0).normal(size=(64, 3)).astype('float32')\n"
             "y = (x[:, 0] > 0).astype('float32')\n"
             "model = Sequential([Input((3,)), Dense(4, activation='relu', name='hidden'), "
             "Dense(1, activation='sigmoid')], name='tiny')")
    notebook = _notebook(setup, "model.summary()",
                         "model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])\n"
                         "history = model.fit(x, y, epochs=2, batch_size=16, verbose=1)",
                         "history",
                         "plot.plot_history(history);")
    run = execute_notebook(notebook, tmp_path)
    assert run.returncode == 0, run.stderr
    summary_cell, fit_cell, history_cell, plot_cell = (notebook.cells[i].outputs for i in range(1, 5))
    # the summary: one rich output (HTML table, Keras' text as its plain form), no echo of the returned text
    assert [output["output_type"] for output in summary_cell] == ["display_data"]
    html = summary_cell[0]["data"]["text/html"]
    assert "<table" in html and "hidden (Dense)" in html and "Total params: 21" in html
    assert summary_cell[0]["data"]["text/plain"].startswith('Model: "tiny"\n┏')
    # the progress bar: Keras' epoch lines, and no warning about the notebook widgets
    printed = "".join(output.get("text", "") for output in fit_cell)
    assert "Epoch 2/2" in printed and "4/4" in printed and "accuracy:" in printed
    assert "Warning" not in printed and "IProgress" not in printed
    # History: a table of the metrics per epoch
    assert history_cell[0]["output_type"] == "execute_result"
    assert "<table" in history_cell[0]["data"]["text/html"] and "accuracy" in history_cell[0]["data"]["text/html"]
    # the plot, inline as a PNG
    assert any("image/png" in output.get("data", {}) for output in plot_cell)
    assert run.data("image/png")


def test_the_runner_falls_back_to_a_script_without_jupyter(monkeypatch, tmp_path):
    """Without the notebook packages the same prelude runs the example as a script."""
    import example_notebooks

    (tmp_path / "probe.py").write_text("# %%\nimport os, sys\n"
                                       "print(os.environ['DEEPGRAD_EXAMPLE_QUICK'], sys.argv[1:])\n")
    monkeypatch.setattr(example_notebooks, "EXAMPLES", tmp_path)
    monkeypatch.setattr(example_notebooks, "notebook_support_missing", lambda: ["nbclient"])
    run = example_notebooks.run_example("probe.py", "--output", "x")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "1 ['--output', 'x']\n"


# --------------------------------------------------------------------------- the same, without a kernel

def _tiny_model():
    import deepgrad as dg
    from deepgrad.layers import Dense, Input
    from deepgrad.models import Sequential

    dg.manual_seed(0)
    return Sequential([Input((3,)), Dense(4, name="hidden<b>"), Dense(1)], name="tiny")


def test_summary_prints_keras_text_outside_a_notebook(capsys):
    from deepgrad.models.summary import SummaryText, in_notebook

    model = _tiny_model()
    assert not in_notebook()
    text = model.summary()
    assert capsys.readouterr().out == text + "\n"
    assert isinstance(text, SummaryText) and text == model.summary(print_fn=lambda line: None)
    assert type(model.summary(print_fn=lambda line: None)) is str
    assert text.startswith('Model: "tiny"\n┏') and "Total params: 21 (84.00 B)" in text


def test_summary_in_a_notebook_displays_an_html_table(monkeypatch, capsys):
    from deepgrad.models import summary

    shown = []
    monkeypatch.setattr(summary, "in_notebook", lambda: True)
    monkeypatch.setattr(summary, "_display", shown.append)
    text = _tiny_model().summary()
    assert capsys.readouterr().out == ""  # displayed, not printed
    (table,) = shown
    assert repr(table) == text  # the plain form is Keras' text
    html = table._repr_html_()
    assert '<p><b>Model: &quot;tiny&quot;</b></p>' in html
    assert "<td style=\"text-align: left\">hidden&lt;b&gt; (Dense)</td>" in html  # names are escaped
    assert '<td style="text-align: right">16</td>' in html and "<p>Total params: 21 (84.00 B)</p>" in html
    assert html.count("<tr>") == 3  # header and two layers


def test_history_renders_as_an_html_table_of_epochs():
    from deepgrad.callbacks import History

    history = History()
    history.on_train_begin()
    for epoch, (loss, accuracy) in enumerate([(0.69314, 0.5), (0.25, 0.875)]):
        history.on_epoch_end(epoch, {"loss": loss, "accuracy": accuracy})
    html = history._repr_html_()
    assert "<b>History: 2 epochs</b>" in html
    assert '<th style="text-align: right">loss</th><th style="text-align: right">accuracy</th>' in html
    assert ('<tr><td style="text-align: right">2</td><td style="text-align: right">0.2500</td>'
            '<td style="text-align: right">0.8750</td></tr>') in html
    assert "<b>History: 0 epochs</b>" in History()._repr_html_()


def test_progress_bars_use_tqdm_auto():
    tqdm_auto = pytest.importorskip("tqdm.auto")
    from deepgrad import callbacks

    assert callbacks._tqdm_class() is tqdm_auto.tqdm


def test_plots_keep_the_inline_backend_in_a_kernel():
    """Without a display deepgrad.plot chooses Agg, except in a Jupyter kernel (inline figures)."""
    import os
    import subprocess
    import sys

    pytest.importorskip("matplotlib")
    probe = ("import sys, types\nsys.modules['ipykernel'] = types.ModuleType('ipykernel')\n"
             "import matplotlib\nchosen = []\nmatplotlib.use = chosen.append\n"
             "from deepgrad import plot\nplot._pyplot()\nprint(chosen)\n")
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    env["PYTHONPATH"] = str(ROOT / "src")
    printed = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert printed.stdout.strip() == "[]"  # (the old code chose Agg here, and no figure showed below its cell)
