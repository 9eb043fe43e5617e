"""``euroqci pki init DIR --kme ID... --sae SAE_ID@KME_ID...``: certificates for a KME network."""

from __future__ import annotations

import argparse

HELP = "create a CA, KME server certificates and SAE client certificates (mutual TLS)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = sub.add_parser("init", help="create or complete the PKI in DIR", description=HELP)
    init.add_argument("directory", metavar="DIR", help="output directory (created if missing)")
    init.add_argument("--kme", nargs="+", required=True, metavar="ID", help="KME IDs")
    init.add_argument(
        "--sae", nargs="*", default=[], metavar="SAE_ID@KME_ID", help="SAEs and their KME"
    )


def run(args: argparse.Namespace) -> int:
    from euroqci.errors import InvalidParameter
    from euroqci.kms.pki import init_pki

    saes = []
    for spec in args.sae:
        sae, sep, kme = spec.partition("@")
        if not sep or not sae or not kme:
            raise InvalidParameter("--sae", spec, "the form SAE_ID@KME_ID")
        saes.append((sae, kme))
    files = init_pki(args.directory, list(args.kme), saes)
    for name, paths in files.items():
        print(f"{name}\t{paths.cert}\t{paths.key}")
    return 0
