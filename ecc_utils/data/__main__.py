"""``python -m ecc_utils.data [DEST]``: the pinned ECD and JDDC samples into DEST (`download.main`)."""

from ecc_utils.data.download import main

raise SystemExit(main())
