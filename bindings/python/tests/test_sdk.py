"""This binding against the layer every SDK shares (aires_core::sdk): each
shared option is an `init` parameter, documented in the README with the
core's default and environment variable, and `metrics()` has every core
counter under its shared name."""

from __future__ import annotations

import inspect
import pathlib
import re

import aires
from aires import _native

README = (pathlib.Path(__file__).parents[1] / "README.md").read_text()


def _readme_row(name: str) -> str:
    for line in README.splitlines():
        if re.match(rf"^\| `{name}`[ |,]", line) or line.startswith(f"| `{name}`, "):
            return line
        if line.startswith("| `") and f"`{name}`" in line.split("|")[1]:
            return line
    raise AssertionError(f"no row for {name} in the README's configuration table")


def _renderings(unit: str, default: str) -> list[str]:
    """How the README may write the core's default for Python."""
    if default == "":
        return ["none", "None"]
    if unit == "Duration":
        seconds = int(default) / 1000
        return [f"| {seconds:g} |", f"| {seconds:g}, "]
    if unit == "Bytes":
        n = int(default)
        shown = [f"| {n} |"]
        if n % (1 << 20) == 0:
            shown += [f"{n >> 20} MiB"]
        return shown
    if unit == "Flag":
        return [default.capitalize()]
    return [f'`"{default}"`', f"`{default}`", f"| {default} |"]


def test_every_shared_option_is_a_parameter_documented_with_the_core_default():
    parameters = inspect.signature(aires.init).parameters
    for name, unit, default, env in _native._sdk_options():
        assert name in parameters, f"aires.init has no {name}"
        row = _readme_row(name)
        assert any(shown in row for shown in _renderings(unit, default)), (name, default, row)
        if env is not None:
            assert env in row, (name, env, row)


def test_metrics_have_every_core_counter_by_its_shared_name():
    names = set(_native._sdk_metric_names())
    assert set(aires.metrics()) == names | {"values_coerced"}
