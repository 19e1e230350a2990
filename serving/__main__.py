"""`python -m serving`: a drop-in for tensorflow_model_server."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from serving.server import main  # noqa: E402

sys.exit(main())
