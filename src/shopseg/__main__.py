"""``python -m shopseg``: the command line (the service starts runs this way, with its own interpreter)."""

from shopseg.cli import main

main()
