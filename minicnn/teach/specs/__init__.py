"""What ``minicnn check`` runs for each exercise, one module an exercise.

Exercise NAME lives under the same file name in three trees:

    minicnn/teach/exercises/NAME.py   the skeleton a student fills in (shipped)
    minicnn/teach/specs/NAME.py       its spec: ``EXERCISE``, the cases, the reference (minicnn's
                                      own ops, never the solution) and the mistakes it
                                      recognises (shipped: the grader needs it)
    minicnn/teach/solutions/NAME.py   the solution (source tree only: not a package and not
                                      package data, so no wheel or pip install carries it)

The folder is the shipping boundary, so keeping solutions out of a student's install needs no
exclusion rule. ``_shared.py`` holds what several specs use (minicnn's autograd as the
reference, the convolution cases' geometry); a spec that builds on an earlier exercise imports
from that exercise's module (conv_im2col from conv_backward, avg_pool from max_pool).
"""

import importlib

from minicnn.teach.exercises import NAMES

EXERCISES = {name: importlib.import_module(f"minicnn.teach.specs.{name}").EXERCISE
             for name in NAMES}
