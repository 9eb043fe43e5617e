"""One KME in its own process, for the SIGKILL test: ``python -m tests.kms.kme_process CONFIG``.

Serves like ``python -m euroqci.kms.app`` and feeds its links with the fixed test blocks
at every start (a feed that replays from the beginning after a restart: used chunks must
stay used); 16,000 chunks per link outlast the test's load even on a fast machine.
"""

from __future__ import annotations

import sys

from euroqci.kms.app import serve
from euroqci.kms.settings import Settings
from tests.kms.conftest import seed_links

if __name__ == "__main__":
    serve(Settings(config_file=sys.argv[1]), services=[seed_links(n=16000)])
