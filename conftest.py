"""pytest configuration for the repository root: doctests over adamlib.

``make test`` runs ``--doctest-modules`` over the ``adamlib`` package (see ``testpaths`` in
pyproject.toml), so every docstring example is executed. A module whose optional extra is not
installed (SymPy for ``adamlib.symbolic``) is left out of the collection instead of failing
at import.
"""

from __future__ import annotations

import importlib.util

EXTRAS = {"adamlib/symbolic.py": "sympy"}

collect_ignore = [path for path, module in EXTRAS.items() if importlib.util.find_spec(module) is None]
