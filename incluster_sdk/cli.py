"""The ``incluster-sdk`` command (also ``python -m incluster_sdk``).

incluster-sdk doctor [--can list,watch:pods ...] [--json]
incluster-sdk rbac --namespace shop --sa pod-counter list,watch:pods get:configmaps/my-config
incluster-sdk whoami [--json]
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

from ._version import __version__
from .errors import InclusterSDKError

if TYPE_CHECKING:
    from .client import ApiClient
    from .config import Config

#: Exit codes: 0 all good, 1 a check failed or the server said no, 2 bad usage (argparse's own).
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_NEED_HELP = (
    "VERBS:TYPE[/NAME] [--subresource=SUB] as kubectl auth can-i takes them, e.g. list,watch:pods"
    " get,list,watch:configmaps/app-config get:pods --subresource=log get,create,update:leases.coordination.k8s.io"
)


def _config_args(parser: argparse.ArgumentParser) -> None:
    from .config import PRECEDENCE_SUMMARY

    group = parser.add_argument_group(
        "config",
        "Which config is used, first match wins (the flags are load_config's arguments of the same names): "
        f"{PRECEDENCE_SUMMARY}.",
    )
    group.add_argument("--kubeconfig", help="use this kubeconfig file (kubeconfig=)")
    group.add_argument("--context", help="use this kubeconfig context (context=)")
    group.add_argument(
        "--in-cluster", action="store_true", default=None, help="in-cluster config only (in_cluster=True)"
    )
    group.add_argument("--service-account-dir", help="service-account mount (default: the standard path)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incluster-sdk", description="Kubernetes in-cluster SDK tools.")
    parser.add_argument("--version", action="version", version=f"incluster-sdk {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more to stderr: -v INFO, -vv DEBUG (default: the SDK's warnings only)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    doctor = sub.add_parser(
        "doctor",
        help="check config, mount, token, CA, API server, identity, permissions",
        description="Check every step from 'am I in a pod?' to 'may I watch pods?', each with a verdict and a"
        " hint. Exits 1 when a check fails. Never prints a credential.",
    )
    _config_args(doctor)
    doctor.add_argument("--namespace", help="namespace for --can checks (default: the config's namespace)")
    doctor.add_argument(
        "--can",
        action="append",
        default=[],
        metavar="NEED",
        help=f"check a permission (repeat for several): {_NEED_HELP}",
    )
    doctor.add_argument("--json", action="store_true", help="machine-readable output")

    rbac = sub.add_parser(
        "rbac",
        help="print ServiceAccount, Role and binding manifests for what the app needs",
        description="Print the least-privilege RBAC manifests for NEEDs: namespaced ones in a Role and"
        " RoleBinding, cluster-scoped ones in a ClusterRole and ClusterRoleBinding. NEEDs are checked against"
        " the built-in table of standard kinds, or against the server's discovery with --discover.",
    )
    rbac.add_argument("needs", nargs="+", metavar="NEED", help=_NEED_HELP)
    rbac.add_argument("--namespace", "-n", required=True, help="the app's namespace")
    rbac.add_argument("--sa", required=True, help="the ServiceAccount name")
    rbac.add_argument("--name", help="Role/binding name (default: the ServiceAccount name)")
    rbac.add_argument("--cluster-wide", action="store_true", help="ClusterRole + ClusterRoleBinding")
    rbac.add_argument(
        "--group", action="store_true", help="bind every ServiceAccount of the namespace (system:serviceaccounts:NS)"
    )
    rbac.add_argument("--no-service-account", action="store_true", help="omit the ServiceAccount manifest")
    rbac.add_argument("--json", action="store_true", help="print a v1 List (kubectl apply -f - takes it too)")
    rbac.add_argument(
        "--discover", action="store_true", help="check NEEDs against the server's discovery (custom resources too)"
    )
    _config_args(rbac)

    who = sub.add_parser(
        "whoami",
        help="the identity the API server sees",
        description="Print the identity the API server sees for this config, and where the answer came from"
        " (SelfSubjectReview, client certificate, token claims or TokenReview); when none can tell, why.",
    )
    _config_args(who)
    who.add_argument("--json", action="store_true", help="machine-readable output (with reasons and source)")
    return parser


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import run_doctor

    report = run_doctor(
        kubeconfig=args.kubeconfig,
        context=args.context,
        in_cluster=args.in_cluster,
        sa_dir=args.service_account_dir,
        namespace=args.namespace,
        can=args.can,
    )
    print(report.to_json() if args.json else report.to_text())
    return EXIT_OK if report.ok else EXIT_FAILED


def _rbac(args: argparse.Namespace) -> int:
    from .discovery import ResourceCatalog
    from .rbac.manifests import manifests, to_yaml
    from .rbac.needs import NeedWarning, parse_needs

    catalog: ResourceCatalog | None = None
    if args.discover:
        from .discovery import discover

        cfg, client = _connect(args)
        try:
            catalog = discover(client)
        finally:
            cfg.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NeedWarning)
        needs = parse_needs(args.needs, catalog)
        docs = manifests(
            needs,
            namespace=args.namespace,
            service_account=args.sa,
            name=args.name,
            cluster_wide=args.cluster_wide,
            subject_group=args.group,
            include_service_account=not args.no_service_account,
        )
    notes = [str(w.message) for w in caught if issubclass(w.category, NeedWarning)]
    for note in notes:
        print(f"incluster-sdk rbac: WARNING: {note}", file=sys.stderr)
    if args.json:
        listing = {"apiVersion": "v1", "kind": "List", "items": docs}
        print(orjson.dumps(listing, option=orjson.OPT_INDENT_2).decode())
    else:
        sys.stdout.write("".join(f"# WARNING: {note}\n" for note in notes) + to_yaml(docs))
    return EXIT_OK


def _connect(args: argparse.Namespace) -> tuple[Config, ApiClient]:
    """The config the flags choose and a client that has just reached the API server (the doctor's check: no
    retries, a timeout); raises :class:`Unreachable` with the doctor's one-line diagnosis otherwise."""
    from .client import api_client
    from .config import load_config
    from .doctor import reach_api_server

    cfg = load_config(
        kubeconfig=args.kubeconfig,
        context=args.context,
        in_cluster=args.in_cluster,
        service_account_dir=args.service_account_dir,
    )
    client = api_client(cfg)
    reached = reach_api_server(cfg, client)
    if reached.status == "fail":
        cfg.close()
        raise Unreachable(f"{reached.name}: {reached.detail}. {' '.join(reached.hint.split())}")
    return cfg, client


class Unreachable(InclusterSDKError):
    """The API server did not answer the reachability check; the message is the doctor's diagnosis."""


def _whoami(args: argparse.Namespace) -> int:
    from .rbac.review import whoami

    cfg, client = _connect(args)
    try:
        me = whoami(client)
    finally:
        cfg.close()
    expires = me.expires_at.isoformat() if me.expires_at else None
    if args.json:
        bound = me.claims.bound_object if me.claims else None
        doc = {
            "username": me.username,
            "groups": list(me.groups),
            "uid": me.uid,
            "source": me.source,
            "reasons": list(me.reasons),
            "expiresAt": expires,
            "boundObject": bound,
        }
        print(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    else:
        lines = [
            me.username or "unknown identity",
            f"  groups: {', '.join(me.groups) or '-'}",
            f"  source: {me.source or '-'}",
            f"  token expires: {expires or '-'}",
        ]
        if me.reasons:  # why nothing could tell, or what was tried before the source that did
            lines += ["  why unknown:" if me.username is None else "  also tried:", *(f"    {r}" for r in me.reasons)]
        print("\n".join(lines))
    return EXIT_OK


def attach_subresources(argv: Sequence[str]) -> list[str]:
    """kubectl's order, ``get:pods --subresource=log``: join each ``--subresource`` to the need before it."""
    out: list[str] = []
    args = list(argv)

    def after_need() -> bool:  # the previous word is a need, not the value of an option such as --context
        if not out or ":" not in out[-1] or out[-1].startswith("-"):
            return False
        return len(out) < 2 or out[-2] not in _VALUE_OPTIONS

    while args:
        arg = args.pop(0)
        if arg == "--subresource" and args and after_need():
            out[-1] += f" --subresource={args.pop(0)}"
        elif arg.startswith("--subresource=") and after_need():
            out[-1] += f" {arg}"
        else:
            out.append(arg)
    return out


#: Options whose next word is their value (``--can``'s value is a need, so it is not here).
_VALUE_OPTIONS = frozenset(
    {"--kubeconfig", "--context", "--service-account-dir", "--namespace", "-n", "--sa", "--name"}
)


def main(argv: Sequence[str] | None = None) -> int:
    from .rbac.needs import NeedError

    args = _parser().parse_args(attach_subresources(sys.argv[1:] if argv is None else argv))
    # The package logs through a NullHandler only (a library leaves handlers to its app); this command is the app
    # here, so the SDK's warnings (a plain-http server, a defaulted namespace, a skipped preflight) reach stderr.
    logger = logging.getLogger("incluster_sdk")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"incluster-sdk {args.command}: %(levelname)s: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel((logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)])
    try:
        return {"doctor": _doctor, "rbac": _rbac, "whoami": _whoami}[args.command](args)
    except NeedError as exc:  # a need that cannot be right: a usage error, with the fix in the message
        print(f"incluster-sdk {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except InclusterSDKError as exc:  # our errors say what to do: print them, no traceback
        print(f"incluster-sdk {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
