"""``python -m ecc_utils.train``: see `ecc_utils.train.run`."""

from ecc_utils.train.run import main

raise SystemExit(main())
