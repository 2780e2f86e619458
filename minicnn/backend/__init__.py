"""The backend: the array helpers (``arrays.py``), the dispatcher that picks a kernel set for an
op (``dispatch.py``), the NumPy reference kernels (``reference.py``, the specification), the
contract the compiled sets share (``contract.py``, ``validate.py``) and the compiled sets
(``ckernels.py``: C; ``cuda.py``: CUDA). This package only re-exports the names its users import.
"""

import sys
import types

from minicnn.backend.arrays import (DEFAULT_WORKSPACE_LIMIT, get_array_module,
                                    get_workspace_limit, index_add, set_workspace_limit,
                                    warn_once)
from minicnn.backend.dispatch import (BACKENDS, get_backend, kernels_for, record, set_backend,
                                      trace, use)

__all__ = ["BACKENDS", "DEFAULT_WORKSPACE_LIMIT", "get_array_module", "get_backend",
           "get_workspace_limit", "index_add", "kernels_for", "record", "set_backend",
           "set_workspace_limit", "trace", "use", "warn_once"]


class _CallableModule(types.ModuleType):
    """Lets ``minicnn.backend`` be both this package and the context manager ``use``:
    ``with minicnn.backend("c"):``, the form the README and ``dispatch.py`` document."""

    def __call__(self, name):
        return use(name)


sys.modules[__name__].__class__ = _CallableModule
