"""Indexing: peak search on a measured profile, lattice search, extinction analysis.

The layer stands between ``patterns`` (profiles, grids, wavelengths) and ``classify`` (the
answer joined with the network). Its results are the typed dataclasses of
:mod:`xrdsym.indexing.results`.
"""
