"""Sub-commands of the ``sekimori`` CLI: each module with ``register(subparsers)`` is one (see :mod:`gateway.cli`)."""
