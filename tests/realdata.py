"""Where the optional real-data tier looks: ``../shared/realdata`` beside the repository,
or the folder named by ``PORTRAITKIT_REALDATA``. Tests using it skip when it is absent."""

import os
from pathlib import Path

REALDATA = Path(os.environ.get("PORTRAITKIT_REALDATA", Path(__file__).resolve().parents[2] / "shared" / "realdata"))
