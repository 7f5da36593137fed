"""Allocation drivers: how a shared cost is weighed over its consumers, one module per kind.

A kind (:class:`~aifinops.engine.drivers.kind.DriverKind`) declares the usage sums it weighs by and how it
turns them into weights; :mod:`~aifinops.engine.drivers.registry` lists the kinds. A new driver is one
module here, one row in the registry and its test: the rules, the engine and the store's driver reads
follow the registry.
"""
