"""``python -m euroqci``: the command line."""

from euroqci.cli import main

raise SystemExit(main())
