import subprocess
import sys

from deepgrad.cli import _demo_tensor_mlp, main


def test_tensor_mlp_demo_reaches_95_percent(capsys):
    accuracy = _demo_tensor_mlp(epochs=30, seed=0)
    assert accuracy >= 0.95
    out = capsys.readouterr().out
    assert "epoch  30/30" in out and "test accuracy" in out


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2


def test_python_m_deepgrad_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "deepgrad", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "demo" in result.stdout
