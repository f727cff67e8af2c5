"""The README's example runs and does what it says."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_readme_example_runs_and_converges():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    namespace = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    np.testing.assert_allclose(namespace["w"].get_value(), [1.0, -2.0, 0.5], atol=0.05)
    assert list(namespace["updates"].state) == ["w.adam.m", "w.adam.v", "adam.step"]
    assert callable(namespace["opt"])
    assert namespace["w"] in namespace["more_updates"]


def test_readme_names_install_and_test_commands():
    text = README.read_text()
    assert 'pip install -e ".[test]"' in text
    assert "python -m pytest -n 2" in text
