"""The built-in segment schemes, one module each (``SCHEME = Scheme(...)``); the registry lists this folder.

A new built-in scheme is one more module here; see :mod:`shopseg.segment._registry` for the contract.
"""
