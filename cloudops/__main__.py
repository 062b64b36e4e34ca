"""``python -m cloudops``: the same as the ``cloudops`` command."""

from cloudops.cli import main

main()
