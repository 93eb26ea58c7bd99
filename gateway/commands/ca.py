"""``sekimori ca``: the organisation CA of the upload gate (``init`` creates or imports it,
``export`` writes its certificate for rollout to clients)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.config import ConfigError, load_config
from gateway.proxy import ca


def register(sub: Any) -> None:
    p = sub.add_parser("ca", help="create, import or export the upload gate's CA certificate")
    where = argparse.ArgumentParser(add_help=False)
    group = where.add_mutually_exclusive_group()
    group.add_argument(
        "--config", metavar="FILE", help="the gateway's config file (uses its proxy.ca folder)"
    )
    group.add_argument("--dir", metavar="DIR", help="the CA folder (default: var/proxy-ca)")
    actions = p.add_subparsers(dest="ca_command", required=True, metavar="ACTION")

    init = actions.add_parser("init", parents=[where], help="create the CA, or import the company's own")
    init.add_argument("--organisation", default="Sekimori", help="O= of a new CA (your company)")
    init.add_argument("--name", default="Sekimori upload gate CA", help="CN= of a new CA")
    init.add_argument("--years", type=int, default=10, help="validity of a new CA (default 10)")
    init.add_argument(
        "--key-type", choices=("rsa", "ec"), default="rsa", help="RSA 2048 (default) or EC P-256"
    )
    init.add_argument("--import-cert", metavar="FILE", help="the company CA's certificate (PEM or DER)")
    init.add_argument("--import-key", metavar="FILE", help="its unencrypted private key (PEM)")
    init.add_argument(
        "--force", action="store_true", help="replace an existing CA (clients must trust the new one)"
    )
    init.set_defaults(func=_init)

    exp = actions.add_parser("export", parents=[where], help="write the CA certificate (no key) for clients")
    exp.add_argument("--format", choices=("pem", "der", "p12"), default="pem", help="pem (default), der, p12")
    exp.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    exp.set_defaults(func=_export)


def ca_folder(args: argparse.Namespace) -> Path:
    """The CA folder named by ``--dir``, by the config's ``proxy.ca``, or ``var/proxy-ca``."""
    if args.dir:
        return Path(args.dir)
    if args.config:
        config = load_config(args.config)
        if config.proxy is not None and config.proxy.ca is not None:
            return config.proxy.ca
        return config.store.path / "proxy-ca"
    return Path("var") / "proxy-ca"


def _init(args: argparse.Namespace) -> int:
    try:
        folder = ca_folder(args)
        if bool(args.import_cert) != bool(args.import_key):
            print("sekimori: --import-cert and --import-key go together", file=sys.stderr)
            return 2
        if args.import_cert:
            key_pem, cert = ca.import_ca(
                Path(args.import_key).read_bytes(), Path(args.import_cert).read_bytes()
            )
        else:
            key_pem, cert = ca.create_ca(
                organisation=args.organisation,
                common_name=args.name,
                years=args.years,
                key_type=args.key_type,
            )
        found = ca.write_ca(folder, key_pem, cert, force=args.force)
    except ConfigError as exc:
        print(f"sekimori: {exc}", file=sys.stderr)
        return 2
    except (ca.CAError, OSError) as exc:
        print(f"sekimori: {exc}", file=sys.stderr)
        return 1
    print(f"CA in {folder}: {found}")
    print("Deploy its certificate to every client: sekimori ca export --format der (see README)")
    return 0


def _export(args: argparse.Namespace) -> int:
    try:
        data = ca.export(ca_folder(args), args.format)
    except ConfigError as exc:
        print(f"sekimori: {exc}", file=sys.stderr)
        return 2
    except (ca.CAError, OSError) as exc:
        print(f"sekimori: {exc}", file=sys.stderr)
        return 1
    if args.out:
        Path(args.out).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0
