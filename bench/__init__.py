"""End-to-end benchmark of the worker on the real stack (docs/performance.md).

Not part of the installed package and not collected by the test suite (testpaths = tests).
"""
