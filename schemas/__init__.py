"""creditflow wire contracts: topic names and the event models producers and consumers share.

Imports only pydantic and the standard library: external producers depend on this package.
"""
