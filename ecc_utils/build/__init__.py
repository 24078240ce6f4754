"""The build: which notebook executions a profile needs (`plan`), whether each is up to date
(`provenance.fingerprints`, `saved_work`), and running them with papermill, then the book
(`pipeline`; the command line is ``python -m ecc_utils.build``). The top layer: it imports the
pages' helpers to name their inputs, nothing imports it.

No imports here: a notebook that imports one module of the build runs only that module's code.
"""
