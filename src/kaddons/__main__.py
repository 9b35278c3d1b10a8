"""``python -m kaddons``: the same as the ``kaddons`` command."""

from kaddons.cli.app import main

main()
