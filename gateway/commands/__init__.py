"""Sub-commands of the ``sekimori`` CLI (see :data:`gateway.cli.COMMANDS`)."""
