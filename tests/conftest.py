"""Shared test helpers."""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"

DTYPES = [np.float32, np.float64]


def require(module: str):
    """Import an optional tool: skip with a reason locally, fail in CI (``CI=true``) if missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = f"optional dependency {module!r} is not installed ({exc})"
        if IN_CI:
            pytest.fail(message + "; CI installs it, so its absence is an error there")
        pytest.skip(message)


@pytest.fixture(params=DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    return request.param
