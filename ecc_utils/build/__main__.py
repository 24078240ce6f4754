"""``python -m ecc_utils.build --profile quick``: the pipeline's command line (`pipeline.main`)."""

import sys

from ecc_utils.build.pipeline import main

sys.exit(main())
