"""Tools around the models: gradient checks (and, as they land: summary, checkpoints, plots)."""

from minicnn.utils.gradcheck import GradcheckResult, gradcheck
from minicnn.utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from minicnn.utils.summary import Summary, summary
