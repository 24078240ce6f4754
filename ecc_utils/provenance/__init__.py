"""What a result was made from: content hashes of the code, parameters and inputs a pipeline
step reads (`fingerprints`), and the pinned versions of every installed package (`lockfile`,
also ``python -m ecc_utils.provenance.lockfile``). Imports nothing else of the package.
"""
