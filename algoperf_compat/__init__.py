"""Compatibility layer with the official ``algoperf`` package (optional).

Import the AlgoPerf spec only as ``from algoperf_compat import spec``: it is
``algoperf.spec`` itself when the official package is installed (so enums and
exceptions are the very objects the official runner compares against), and an
equivalent local definition otherwise.
"""

from algoperf_compat.spec import HAVE_ALGOPERF  # noqa: F401
from algoperf_compat import spec  # noqa: F401
