"""whoami without a cluster: the fallback chain (SelfSubjectReview, client certificate, token claims, TokenReview)
with made-up answers, what a config presents, the two drivers, no token anywhere it could be seen, the CLI with
the API server down, and the one statement of the config precedence."""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

import incluster_sdk
import incluster_sdk.config
from incluster_sdk._secret import Secret
from incluster_sdk.cli import main
from incluster_sdk.config import PRECEDENCE_SUMMARY, Config
from incluster_sdk.credentials import Credentials
from incluster_sdk.doctor import run_doctor
from incluster_sdk.errors import ApiError
from incluster_sdk.rbac import Identity, async_whoami, whoami
from incluster_sdk.rbac.review import (
    TOKEN_REVIEW_PATH,
    Answer,
    Post,
    Presented,
    identify,
    presented,
)
from incluster_sdk.testing.pki import CertificateAuthority
from incluster_sdk.tls import ClientCertificate, TLSConfig
from incluster_sdk.tokens import decode_claims
from tests.support.cli import run_cli
from tests.support.fake_apiserver import FakeApiServer, Seen
from tests.support.secrets_seen import remember

from .test_clients import pod_mount

ROOT = Path(__file__).resolve().parents[1]
OPAQUE = remember("opaque-whoami-token-0123456789abcdefghij")
SSR_404 = "SelfSubjectReview: not served by this server (Kubernetes < 1.26)"
TOKEN_OPAQUE = "token: not a ServiceAccount JWT (an opaque token)"
REVIEW_403 = (
    "TokenReview: forbidden (needs create on tokenreviews.authentication.k8s.io, e.g. the ClusterRole"
    " system:auth-delegator)"
)


def jwt(payload: dict[str, Any]) -> str:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    return remember(f"{part({'alg': 'RS256'})}.{part(payload)}.c2lnbmF0dXJlLW9mLXRoZS13aG9hbWktdGVzdA")


SA_JWT = jwt(
    {
        "iss": "https://kubernetes.default.svc",
        "sub": "system:serviceaccount:shop:app",
        "kubernetes.io": {"namespace": "shop", "serviceaccount": {"name": "app", "uid": "1"}},
    }
)
OIDC_JWT = jwt({"iss": "https://accounts.example", "sub": "alice@example.com", "exp": 4102444800})


def token(value: str) -> Presented:
    return Presented(claims=decode_claims(value), bearer=Secret(value), credentials="inline token")


def reviewed(username: str, *groups: str, echo: str = OPAQUE) -> tuple[int, dict[str, Any]]:
    """A TokenReview answer as kube-apiserver gives it: the spec (with the token) comes back too."""
    user = {"username": username, "uid": "u-1", "groups": list(groups)}
    return 201, {"kind": "TokenReview", "spec": {"token": echo}, "status": {"authenticated": True, "user": user}}


def answers(
    ssr: int | tuple[int, dict[str, Any]] = 404, review: tuple[int, dict[str, Any]] = (404, {})
) -> Callable[[Post], Answer]:
    def answer(post: Post) -> Answer:
        if "selfsubjectreviews" in post.path:
            status, body = ssr if isinstance(ssr, tuple) else (ssr, {"kind": "Status", "code": ssr})
        else:
            assert post.path == TOKEN_REVIEW_PATH
            status, body = review
        return status, orjson.dumps(body)

    return answer


def run(me: Presented, answer: Callable[[Post], Answer]) -> tuple[Identity, list[Post]]:
    """The flow, driven by hand: what it asked, and what it concluded."""
    posts: list[Post] = []
    flow = identify(me)
    request = next(flow)
    while True:
        posts.append(request)
        try:
            request = flow.send(answer(request))
        except StopIteration as done:
            return done.value, posts


# -- the chain, branch by branch ------------------------------------------------------------------------------
def test_selfsubjectreview_answers_first_and_alone() -> None:
    user = {"username": "system:serviceaccount:shop:app", "groups": ["system:serviceaccounts"], "uid": "u"}
    me, posts = run(token(OPAQUE), answers(ssr=(201, {"status": {"userInfo": user}})))
    assert (me.username, me.source, me.reasons) == ("system:serviceaccount:shop:app", "SelfSubjectReview", ())
    assert [p.path for p in posts] == ["/apis/authentication.k8s.io/v1/selfsubjectreviews"]


def test_a_serviceaccount_token_answers_from_its_claims_without_a_tokenreview() -> None:
    me, posts = run(token(SA_JWT), answers(ssr=404))
    assert me.username == "system:serviceaccount:shop:app" and me.source == "token claims"
    assert me.groups == ("system:serviceaccounts", "system:serviceaccounts:shop", "system:authenticated")
    assert me.reasons == (SSR_404,)
    assert len(posts) == 3 and TOKEN_REVIEW_PATH not in [p.path for p in posts]


def test_an_opaque_token_is_named_by_a_tokenreview_of_itself() -> None:
    me, posts = run(token(OPAQUE), answers(review=reviewed("admin", "system:masters", "system:authenticated")))
    assert (me.username, me.uid, me.source) == ("admin", "u-1", "TokenReview")
    assert me.groups == ("system:masters", "system:authenticated")
    assert me.reasons == (SSR_404, TOKEN_OPAQUE)
    assert str(me) == "admin"
    review = posts[-1]
    assert review.path == TOKEN_REVIEW_PATH
    assert review.body == {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": OPAQUE}}
    assert OPAQUE not in repr(review) and OPAQUE not in repr(me)


def test_a_forbidden_tokenreview_is_a_reason_not_an_error() -> None:
    me, _ = run(token(OPAQUE), answers(review=(403, {"kind": "Status", "code": 403, "message": "forbidden"})))
    assert me.username is None and me.source is None
    assert me.reasons == (SSR_404, TOKEN_OPAQUE, REVIEW_403)
    assert str(me) == f"unknown identity ({SSR_404}; {TOKEN_OPAQUE}; {REVIEW_403})"


@pytest.mark.parametrize(
    ("review", "reason"),
    [
        ((404, {}), "TokenReview: not served by this server"),
        ((500, {"message": f"webhook failed for {OPAQUE}"}), "TokenReview: HTTP 500: webhook failed for <redacted>"),
        (
            (201, {"spec": {"token": OPAQUE}, "status": {"authenticated": False, "error": f"{OPAQUE} is invalid"}}),
            "TokenReview: the server does not accept this client's token: <redacted> is invalid",
        ),
        ((201, {"status": {"authenticated": True, "user": {}}}), "the server does not accept this client's token"),
    ],
)
def test_every_tokenreview_failure_says_why_and_never_repeats_the_token(
    review: tuple[int, dict[str, Any]], reason: str
) -> None:
    me, _ = run(token(OPAQUE), answers(review=review))
    assert me.username is None and reason in me.reasons[-1]
    assert OPAQUE not in str(me) and OPAQUE not in repr(me)


def test_selfsubjectreview_403_is_told_apart_from_404() -> None:
    me, _ = run(token(OPAQUE), answers(ssr=403, review=(403, {})))
    assert me.reasons[0] == (
        "SelfSubjectReview: not served by this server (Kubernetes < 1.26) or not allowed (HTTP 403)"
    )


def test_other_selfsubjectreview_errors_are_errors() -> None:
    with pytest.raises(ApiError, match="HTTP 401"):
        run(token(OPAQUE), answers(ssr=401))


def test_a_jwt_that_is_not_a_serviceaccounts_goes_to_tokenreview() -> None:
    me, posts = run(token(OIDC_JWT), answers(review=reviewed("alice@example.com", "devs", echo=OIDC_JWT)))
    assert me.reasons[1] == "token: a JWT, but not a ServiceAccount's (issuer https://accounts.example)"
    assert me.source == "TokenReview" and me.username == "alice@example.com"
    assert me.expires_at is not None  # the token's own expiry still shows
    assert posts[-1].body["spec"]["token"] == OIDC_JWT


def certificate(common_name: str, organization: str | None = None) -> bytes:
    return CertificateAuthority.create().issue(common_name, client=True, organization=organization).cert_pem


def test_a_client_certificate_names_user_and_groups_as_the_x509_authenticator_does() -> None:
    me, posts = run(Presented(certificate=certificate("alice", "devs")), answers())
    assert (me.username, me.groups, me.source) == ("alice", ("devs", "system:authenticated"), "client certificate")
    assert me.reasons == (SSR_404,) and len(posts) == 3  # no token: no TokenReview


def test_a_client_certificate_beats_a_token_as_on_the_server() -> None:
    me, posts = run(Presented(decode_claims(SA_JWT), Secret(SA_JWT), certificate("alice")), answers())
    assert me.username == "alice" and me.source == "client certificate" and len(posts) == 3


def organization_only() -> bytes:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "devs")])
    now = dt.datetime.now(dt.timezone.utc)
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    builder = builder.serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def test_a_certificate_without_a_common_name_is_a_reason_and_the_token_is_tried() -> None:
    me, _ = run(Presented(decode_claims(SA_JWT), Secret(SA_JWT), organization_only()), answers())
    assert me.source == "token claims"
    assert "client certificate: its subject has no common name (CN)" in me.reasons[1]


def test_a_certificate_that_cannot_be_read_is_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----"
    me, _ = run(Presented(certificate=broken), answers())
    assert me.reasons[1] == "client certificate: does not parse as an X.509 certificate"
    pem = certificate("alice")
    monkeypatch.setitem(sys.modules, "cryptography", None)  # not installed: the reason says what to install
    me, _ = run(Presented(certificate=pem), answers())
    assert me.username is None and "needs the 'cryptography' package" in me.reasons[1]


def test_no_credentials_at_all_says_so() -> None:
    me, posts = run(Presented(), answers())
    assert me.reasons == (SSR_404, "token: none (no credentials)") and len(posts) == 3


def test_unreadable_certificate_is_a_reason() -> None:
    me, _ = run(Presented(certificate_problem="client certificate: /x cannot be read (No such file)"), answers())
    assert me.reasons[1] == "client certificate: /x cannot be read (No such file)"


# -- what a config presents -------------------------------------------------------------------------------------
def kubeconfig(tmp_path: Path, user: dict[str, Any], server: str = "https://127.0.0.1:1", ca: bytes = b"") -> Path:
    ca = ca or CertificateAuthority.create().cert_pem
    cluster = {"server": server, "certificate-authority-data": base64.b64encode(ca).decode()}
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(doc))
    return path


def test_presented_by_a_kubeconfig_token(tmp_path: Path, isolated_env: Path) -> None:
    cfg = incluster_sdk.load_config(kubeconfig=kubeconfig(tmp_path, {"token": OPAQUE}))
    me = presented(cfg)
    assert me.bearer is not None and me.bearer.reveal() == OPAQUE and me.certificate is None
    assert OPAQUE not in repr(me) and OPAQUE not in str(me)


def test_presented_by_a_kubeconfig_client_certificate_keeps_the_certificate_not_the_key(
    tmp_path: Path, isolated_env: Path
) -> None:
    pair = CertificateAuthority.create().issue("alice", client=True, organization="devs")
    user = {
        "client-certificate-data": base64.b64encode(pair.cert_pem).decode(),
        "client-key-data": base64.b64encode(pair.key_pem).decode(),
    }
    me = presented(incluster_sdk.load_config(kubeconfig=kubeconfig(tmp_path, user)))
    assert me.bearer is None and me.certificate == pair.cert_pem.strip()
    who, _ = run(me, answers())
    assert (who.username, who.source) == ("alice", "client certificate")
    assert who.reasons == (SSR_404,)


def test_presented_by_a_plugin_certificate_file_that_holds_the_key_first(tmp_path: Path) -> None:
    pair = CertificateAuthority.create().issue("bob", client=True)
    rotating = ClientCertificate(where="test plugin")
    rotating.update(pair.cert_pem, pair.key_pem)  # one file, key first, as exec plugins' pairs are stored
    cfg = Config(
        host="https://127.0.0.1:1",
        credentials=Credentials(),
        tls=TLSConfig(client_certificate=rotating),
        namespace="default",
        kind="kubeconfig",
        source="test",
        reason="test",
        namespace_source="test",
    )
    me = presented(cfg)
    assert me.certificate == pair.cert_pem.strip() and b"PRIVATE KEY" not in (me.certificate or b"")
    rotating.path.unlink()  # type: ignore[union-attr]
    assert "cannot be read" in (presented(cfg).certificate_problem or "")


# -- the drivers, against a fake API server ---------------------------------------------------------------------
def fake_server(review: tuple[int, dict[str, Any]]) -> Callable[[Seen], tuple[int, Any]]:
    def respond(seen: Seen) -> tuple[int, Any]:
        if seen.path == "/version":
            return 200, {"gitVersion": "v1.20.2"}
        if "selfsubjectreviews" in seen.path:
            return 404, {"kind": "Status", "code": 404}
        if seen.path == TOKEN_REVIEW_PATH:
            return review
        return 404, {}

    return respond


def test_sync_and_async_drivers_send_the_tokenreview_with_this_clients_token(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pod_mount(tmp_path, fake_apiserver, monkeypatch, token=OPAQUE)
    fake_apiserver.respond = fake_server(reviewed("system:serviceaccount:ns:app", "system:authenticated"))
    with caplog.at_level(logging.DEBUG):
        me = whoami(incluster_sdk.api_client())
        again = _run_async(incluster_sdk.load_config())
    for who in (me, again):
        assert (who.username, who.source) == ("system:serviceaccount:ns:app", "TokenReview")
        assert who.reasons == (SSR_404, TOKEN_OPAQUE)
    reviews = [s for s in fake_apiserver.seen if s.path == TOKEN_REVIEW_PATH]
    assert len(reviews) == 2 and all(s.method == "POST" for s in reviews)
    assert all(s.headers["authorization"] == f"Bearer {OPAQUE}" for s in reviews)
    assert OPAQUE not in caplog.text


def _run_async(cfg: Config) -> Identity:
    import asyncio

    async def go() -> Identity:
        async with incluster_sdk.AsyncApiClient(cfg) as client:
            return await async_whoami(client)

    return asyncio.run(go())


# -- the CLI and the doctor ---------------------------------------------------------------------------------
def test_cli_whoami_json_and_text_carry_source_and_reasons(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pod_mount(tmp_path, fake_apiserver, monkeypatch, token=OPAQUE)
    fake_apiserver.respond = fake_server((403, {"kind": "Status", "code": 403}))
    assert main(["whoami", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["username"] is None and doc["source"] is None
    assert doc["reasons"] == [SSR_404, TOKEN_OPAQUE, REVIEW_403]
    assert main(["whoami"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:3] == ["unknown identity", "  groups: -", "  source: -"]
    assert f"  why unknown:\n    {SSR_404}\n    {TOKEN_OPAQUE}\n    {REVIEW_403}\n" in out
    assert OPAQUE not in out


def test_doctor_names_the_reasons_of_an_unknown_identity(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod_mount(tmp_path, fake_apiserver, monkeypatch, token=OPAQUE)
    fake_apiserver.respond = fake_server((403, {"kind": "Status", "code": 403}))
    check = next(c for c in run_doctor().checks if c.name == "identity")
    assert (check.status, check.detail) == ("warn", "unknown identity")
    assert check.hint.splitlines()[1:] == [f"- {SSR_404}", f"- {TOKEN_OPAQUE}", f"- {REVIEW_403}"]


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_whoami_with_the_api_server_down_fails_at_once_in_one_line(tmp_path: Path, isolated_env: Path) -> None:
    path = kubeconfig(tmp_path, {"token": OPAQUE}, server=f"https://127.0.0.1:{unused_port()}")
    started = time.monotonic()
    proc = run_cli("whoami", "--kubeconfig", str(path), timeout=120)
    elapsed = time.monotonic() - started
    # about 1 s, interpreter start included; before, it retried silently for 30 s and then printed a traceback
    assert elapsed < 10, elapsed
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "Connection refused" in lines[0] and OPAQUE not in proc.stderr
    reach = next(c for c in run_doctor(kubeconfig=str(path)).checks if c.name == "API server")  # the same check
    assert lines[0] == f"incluster-sdk whoami: API server: {reach.detail}. {reach.hint}"


# -- the one statement of the config precedence ----------------------------------------------------------------
def _steps() -> list[tuple[str, str]]:
    steps = [tuple(step.split(" -> ")) for step in PRECEDENCE_SUMMARY.split("; ")]
    assert all(len(s) == 2 for s in steps), PRECEDENCE_SUMMARY
    return [(cond, source) for cond, source in steps]


def _key(condition: str) -> str:
    """What a step is about: its first word, "KUBERNETES_SERVICE_HOST/_PORT" shortened to its first name."""
    return re.sub(r"/_\w+$", "", condition.split()[0])


def test_precedence_summary_agrees_with_the_table_in_docs_config_md() -> None:
    section = (ROOT / "docs" / "config.md").read_text().split("## Which source wins", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip().replace("`", "") for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if re.match(r"\|\s*\d+\s*\|", line)
    ]
    deciding = [row for row in rows if "NoConfigError" not in row[2]]  # the last row: nothing matched
    assert len(deciding) == len(_steps()) == len(rows) - 1
    for i, (condition, source) in enumerate(_steps()):
        first = next(j for j, row in enumerate(deciding) if _key(condition) in row[1])
        assert first == i, f"{condition!r} is row {first + 1} of the table, step {i + 1} of PRECEDENCE_SUMMARY"
        assert source == deciding[i][2]


def test_precedence_summary_agrees_with_the_config_module_docstring() -> None:
    items = re.findall(r"^(\d)\. (.*)$", incluster_sdk.config.__doc__ or "", re.M)
    texts = [text.replace("``", "") for _, text in items if "NoConfigError" not in text]
    assert len(texts) == len(_steps())
    for i, (condition, source) in enumerate(_steps()):
        first = next(j for j, text in enumerate(texts) if _key(condition) in text)
        assert first == i, f"{condition!r} is item {first + 1} of the docstring, step {i + 1} of PRECEDENCE_SUMMARY"
        assert source.split()[0] in texts[i]


@pytest.mark.parametrize("command", ["doctor", "rbac", "whoami"])
def test_every_command_that_loads_config_shows_the_precedence(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    shown = "".join(capsys.readouterr().out.split())  # argparse wraps lines, even at hyphens
    if command == "rbac" and "--kubeconfig" not in shown:
        pytest.skip("rbac does not load a config")
    assert "".join(PRECEDENCE_SUMMARY.split()) in shown
    assert "default:in-cluster,elseKUBECONFIG" not in shown  # the old, contradicting statement


# -- the doctor reports what the server answers, never raises it --------------------------------------------
def doctor_server(
    version: tuple[int, dict[str, Any]] = (200, {"gitVersion": "v1.30.2"}),
    ssr: tuple[int, dict[str, Any]] = (404, {"kind": "Status", "code": 404}),
    ssar: tuple[int, dict[str, Any]] = (201, {"status": {"allowed": True}}),
) -> Callable[[Seen], tuple[int, Any]]:
    def respond(seen: Seen) -> tuple[int, Any]:
        if seen.path == "/version":
            return version
        if "selfsubjectreviews" in seen.path:
            return ssr
        if "selfsubjectaccessreviews" in seen.path:
            return ssar
        return 404, {"kind": "Status", "code": 404}  # discovery too: the doctor then uses the built-in table

    return respond


def status(code: int, message: str) -> tuple[int, dict[str, Any]]:
    return code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code}


def test_doctor_reports_errors_of_whoami_and_access_reviews_instead_of_raising(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding: an error status from SelfSubjectReview, or from an access review of a --can check, escaped
    run_doctor as ApiError (and the CLI printed a traceback). Each is a check with the status, the server's
    message and a hint."""
    pod_mount(tmp_path, fake_apiserver, monkeypatch, token=SA_JWT)
    fake_apiserver.respond = doctor_server(
        ssr=status(500, "Internal error occurred: etcd is down"),
        ssar=status(403, 'selfsubjectaccessreviews.authorization.k8s.io is forbidden: User "x" cannot create'),
    )
    report = run_doctor(can=["list,watch:pods"])
    checks = {c.name: c for c in report.checks}
    identity = checks["identity"]
    assert identity.status == "warn"  # the identity is unknown, as when no method can tell
    assert identity.detail == (
        "could not be determined: POST /apis/authentication.k8s.io/v1/selfsubjectreviews: HTTP 500:"
        " Internal error occurred: etcd is down"
    )
    assert "in trouble (500)" in identity.hint and "/readyz?verbose" in identity.hint
    can = checks["can list,watch:pods"]
    assert can.status == "fail" and not report.ok
    assert can.detail.startswith(
        "could not be checked: POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews: HTTP 403:"
        " selfsubjectaccessreviews.authorization.k8s.io is forbidden"
    )
    assert "system:basic-user" in can.hint and "selfsubjectaccessreviews.authorization.k8s.io" in can.hint
    # the CLI prints the report and exits 1
    assert main(["doctor", "--can", "list,watch:pods"]) == 1
    out = capsys.readouterr().out
    assert "[WARN] identity: could not be determined:" in out and "[FAIL] can list,watch:pods: could not" in out
    assert out.rstrip().endswith("some checks FAILED: see the hints above") and SA_JWT not in out


def test_doctor_fails_the_identity_on_a_rejected_token(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod_mount(tmp_path, fake_apiserver, monkeypatch, token=SA_JWT)
    fake_apiserver.respond = doctor_server(ssr=status(401, "Unauthorized"), ssar=status(401, "Unauthorized"))
    report = run_doctor(can=["get:configmaps"])
    checks = {c.name: c for c in report.checks}
    assert checks["identity"].status == "fail" and "HTTP 401: Unauthorized" in checks["identity"].detail
    assert "does not accept this client's credentials" in checks["identity"].hint
    assert checks["can get:configmaps"].status == "fail"
    assert "does not accept this client's credentials" in checks["can get:configmaps"].hint
    assert not report.ok


@pytest.mark.parametrize(
    ("answer", "detail", "hint"),
    [
        (status(401, "Unauthorized"), "HTTP 401: Unauthorized", "expired, was issued for another audience"),
        (status(403, 'forbidden: User "x" cannot get path "/version"'), "HTTP 403: forbidden", "reachable"),
        (status(503, "etcd unavailable"), "HTTP 503: etcd unavailable", "in trouble (503)"),
        (status(429, "too many requests"), "HTTP 429", "throttling"),
        ((200, ["not", "a", "version"]), "not a JSON object", "not a Kubernetes API server's answer"),
    ],
)
def test_the_api_server_check_gives_the_hint_of_the_status(
    tmp_path: Path,
    fake_apiserver: FakeApiServer,
    monkeypatch: pytest.MonkeyPatch,
    answer: tuple[int, Any],
    detail: str,
    hint: str,
) -> None:
    """Finding: every non-200 answer got the network hint ("check the address... NetworkPolicies"), a 401
    for a rejected token and a 403 included: the server was reached, so the hint must fit the status."""
    pod_mount(tmp_path, fake_apiserver, monkeypatch, token=SA_JWT)
    fake_apiserver.respond = doctor_server(version=answer)
    report = run_doctor()
    reach = report.checks[-1]
    assert reach.name == "API server" and reach.status == "fail", report.to_text()
    assert detail in reach.detail and hint in reach.hint
    assert "NetworkPolicies" not in reach.hint


def test_the_api_server_check_keeps_the_network_hint_for_no_connection(tmp_path: Path, isolated_env: Path) -> None:
    path = kubeconfig(tmp_path, {"token": OPAQUE}, server=f"https://127.0.0.1:{unused_port()}")
    reach = next(c for c in run_doctor(kubeconfig=str(path)).checks if c.name == "API server")
    assert reach.status == "fail" and "Connection refused" in reach.detail
    assert reach.hint == "Check the address, that the API server is up, and NetworkPolicies/egress to it."


def test_doctor_gives_the_fix_for_a_denied_need_when_the_identity_is_unknown(
    tmp_path: Path, fake_apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding: with an unknown identity, the fix's placeholder ServiceAccount was refused by manifests()
    (NeedError out of run_doctor; the informer preflight skipped the denial)."""
    pod_mount(tmp_path, fake_apiserver, monkeypatch, token=OPAQUE)  # no SelfSubjectReview, no TokenReview
    fake_apiserver.respond = doctor_server(ssar=(201, {"status": {"allowed": False}}))
    report = run_doctor(can=["watch:pods"])
    checks = {c.name: c for c in report.checks}
    assert checks["identity"].status == "warn" and checks["can watch:pods"].status == "fail"
    assert "name: YOUR-SERVICE-ACCOUNT" in checks["can watch:pods"].hint
