"""Shared fixtures: where the shared golden files and data live."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
GOLDEN = SHARED / "golden"
DATA = SHARED / "data"


def golden_cases() -> list[Path]:
    """The old program's checkpoints (none in a clone without ../shared: their tests are skipped)."""
    if not GOLDEN.is_dir():
        return []
    return sorted(p for p in GOLDEN.iterdir() if (p / "checkpoint.bin").exists())


@pytest.fixture(params=golden_cases(), ids=lambda p: p.name)
def golden_case(request: pytest.FixtureRequest) -> tuple[Path, dict]:
    case: Path = request.param
    return case, json.loads((case / "expected.json").read_text())


@pytest.fixture
def without_package(monkeypatch: pytest.MonkeyPatch):
    """`hide("matplotlib")`: rnnpy's imports of that optional package fail, as if it were not installed."""
    import importlib

    real = importlib.import_module

    def hide(package: str) -> None:
        def import_module(name: str, *args: object) -> object:
            if name.split(".")[0] == package:
                raise ImportError(f"No module named {name!r}")
            return real(name, *args)

        monkeypatch.setattr(importlib, "import_module", import_module)

    return hide
