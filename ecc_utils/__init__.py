"""ecc_utils: the logic behind the ECC paper companion, one module per pipeline stage.

Notebooks import these modules and stay thin; tests test them directly.
"""

__version__ = "0.1.0"
