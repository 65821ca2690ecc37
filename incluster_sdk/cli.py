"""The ``incluster-sdk`` command (also ``python -m incluster_sdk``).

incluster-sdk doctor [--can list,watch:pods ...] [--json]
incluster-sdk rbac --namespace shop --sa pod-counter list,watch:pods get:configmaps/my-config
incluster-sdk whoami [--json]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import orjson

from . import __version__
from .errors import InclusterSDKError

#: Exit codes: 0 all good, 1 a check failed or the server said no, 2 bad usage (argparse's own).
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_NEED_HELP = (
    "VERBS:RESOURCE[.GROUP][/NAME], e.g. list,watch:pods get:configmaps/my-config get:leases.coordination.k8s.io"
)


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, else KUBECONFIG/~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--in-cluster", action="store_true", default=None, help="insist on in-cluster config")
    parser.add_argument("--service-account-dir", help="service-account mount (default: the standard path)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incluster-sdk", description="Kubernetes in-cluster SDK tools.")
    parser.add_argument("--version", action="version", version=f"incluster-sdk {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    doctor = sub.add_parser("doctor", help="check config, mount, token, CA, API server, identity, permissions")
    _config_args(doctor)
    doctor.add_argument("--namespace", help="namespace for --can checks (default: the config's namespace)")
    doctor.add_argument("--can", action="append", default=[], metavar="NEED", help=f"check a permission: {_NEED_HELP}")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")

    rbac = sub.add_parser("rbac", help="print ServiceAccount, Role and binding manifests for what the app needs")
    rbac.add_argument("needs", nargs="+", metavar="NEED", help=_NEED_HELP)
    rbac.add_argument("--namespace", "-n", required=True, help="the app's namespace")
    rbac.add_argument("--sa", required=True, help="the ServiceAccount name")
    rbac.add_argument("--name", help="Role/binding name (default: the ServiceAccount name)")
    rbac.add_argument("--cluster-wide", action="store_true", help="ClusterRole + ClusterRoleBinding")
    rbac.add_argument(
        "--group", action="store_true", help="bind every ServiceAccount of the namespace (system:serviceaccounts:NS)"
    )
    rbac.add_argument("--no-service-account", action="store_true", help="omit the ServiceAccount manifest")

    who = sub.add_parser("whoami", help="the identity the API server sees")
    _config_args(who)
    who.add_argument("--json", action="store_true")
    return parser


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import run_doctor
    from .rbac.needs import parse_needs

    report = run_doctor(
        kubeconfig=args.kubeconfig,
        context=args.context,
        in_cluster=args.in_cluster,
        sa_dir=args.service_account_dir,
        namespace=args.namespace,
        can=parse_needs(args.can),
    )
    print(report.to_json() if args.json else report.to_text())
    return EXIT_OK if report.ok else EXIT_FAILED


def _rbac(args: argparse.Namespace) -> int:
    from .rbac.needs import manifests, parse_needs, to_yaml

    docs = manifests(
        parse_needs(args.needs),
        namespace=args.namespace,
        service_account=args.sa,
        name=args.name,
        cluster_wide=args.cluster_wide,
        subject_group=args.group,
        include_service_account=not args.no_service_account,
    )
    sys.stdout.write(to_yaml(docs))
    return EXIT_OK


def _whoami(args: argparse.Namespace) -> int:
    from .client import api_client
    from .config import load_config
    from .rbac.review import whoami

    cfg = load_config(
        kubeconfig=args.kubeconfig,
        context=args.context,
        in_cluster=args.in_cluster,
        service_account_dir=args.service_account_dir,
    )
    try:
        me = whoami(api_client(cfg))
    finally:
        cfg.close()
    expires = me.expires_at.isoformat() if me.expires_at else None
    if args.json:
        bound = me.claims.bound_object if me.claims else None
        doc = {
            "username": me.username,
            "groups": list(me.groups),
            "source": me.source,
            "expiresAt": expires,
            "boundObject": bound,
        }
        print(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    else:
        print(
            f"{me}\n  groups: {', '.join(me.groups) or '-'}\n  source: {me.source}\n  token expires: {expires or '-'}"
        )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"doctor": _doctor, "rbac": _rbac, "whoami": _whoami}[args.command](args)
    except InclusterSDKError as exc:  # our errors say what to do: print them, no traceback
        print(f"incluster-sdk {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
