"""The docs site as a reader gets it: built once with ``mkdocs build --strict`` (as CI does) and no warning at
all, then its HTML is checked: code highlighted at build time, Sphinx roles and raised exception types rendered
as links, no placeholder links, nothing loaded from another host, and every public name in the API reference.
Also what the install section promises: the package is found by ``mypy --strict`` from an app's directory, and
it logs nothing unless the app configures logging."""

from __future__ import annotations

import html
import importlib
import os
import re
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The public packages whose ``__all__`` the reference must cover.
PUBLIC_PACKAGES = [
    "incluster_sdk",
    "incluster_sdk.watch",
    "incluster_sdk.rbac",
    "incluster_sdk.leader",
    "incluster_sdk.testing",
    "incluster_sdk.controller",
]
#: A Sphinx ``~`` target left as text (``~incluster_sdk.errors.ApiError``, ``~.ApiError``).
TILDE_AS_TEXT = re.compile(r"~(?:incluster_sdk\b|\.\w)")
ROLE_AS_TEXT = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|exc|mod|obj|const):(?:`|<code>)")
CODE_BLOCK = re.compile(r'<div class="language-(?:python|bash|console|yaml)[^"]*highlight">(.*?)</div>', re.S)
OUTSIDE = re.compile(r"^(?:https?:)?//", re.I)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    # No --quiet: it sets mkdocs' logger to ERROR, which drops warnings (griffe's about a malformed field, a
    # broken link) before --strict counts them (docs/hooks.py's on_config undoes that for scripts/test.sh).
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines() if "WARNING" in line]
    assert warnings == [], "\n".join(warnings)
    return out


def pages(site: Path) -> Iterator[tuple[str, str]]:
    for page in sorted(site.rglob("*.html")):
        yield str(page.relative_to(site)), page.read_text()


class Loads(HTMLParser):
    """What a browser fetches by itself when it shows the page (not the links a reader may follow)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("script", "img", "iframe", "audio", "video", "source", "embed") and found.get("src"):
            self.urls.append(f"<{tag} src> {found['src']}")
        if tag == "link" and found.get("href") and found.get("rel") not in ("canonical", "alternate", "prev", "next"):
            self.urls.append(f"<link rel={found.get('rel')}> {found['href']}")
        if tag == "object" and found.get("data"):
            self.urls.append(f"<object data> {found['data']}")


def test_code_blocks_are_highlighted_at_build_time(site: Path) -> None:
    """Pygments' token spans are in the HTML: no JavaScript highlighter is needed, so code is coloured
    offline too."""
    blocks = 0
    for name, text in pages(site):
        for block in CODE_BLOCK.findall(text):
            blocks += 1
            assert '<span class="' in block, f"{name}: a code block without Pygments spans: {block[:200]}"
    assert blocks >= 30
    informers = (site / "informers" / "index.html").read_text()
    assert '<span class="kn">import</span>' in informers  # a Python keyword token, as Pygments names it


def test_sync_and_asyncio_samples_are_tabs(site: Path) -> None:
    for page in ("informers", "leader-election"):
        text = (site / page / "index.html").read_text()
        assert 'class="tabbed-set tabbed-alternate"' in text, page
        assert "asyncio (kubernetes_asyncio)" in text


def test_no_sphinx_role_is_shown_as_text(site: Path) -> None:
    for name, text in pages(site):
        found = ROLE_AS_TEXT.search(text)
        assert found is None, f"{name}: {text[max(0, found.start() - 80) : found.end() + 80]}"
    reference = (site / "reference" / "index.html").read_text()
    assert reference.count('class="autorefs autorefs-internal"') >= 200  # roles became links


def _text(page: str) -> str:
    """What a reader sees of a page: its HTML without tags."""
    return html.unescape(re.sub(r"<[^>]*>", "", page))


def _section(reference: str, anchor: str, title: str) -> str:
    """The HTML of one section (``Raises``, ``Parameters``...) of the entry with the heading ``anchor``."""
    start = reference.index(f'id="{anchor}"')
    following = re.compile(r'<h\d id="').search(reference, start + 1)
    entry = reference[start : following.start() if following else len(reference)]
    found = re.search(rf'doc-section-title">{title}:</span>.*?</table>', entry, re.S)
    assert found, f"{anchor}: no {title} section"
    return found.group(0)


def test_raised_exceptions_are_cross_references(site: Path) -> None:
    """``:raises ~incluster_sdk.errors.ApiError:`` shows ``ApiError`` linked to its entry, not the field's text;
    a bare name (``NeedError``) is looked up from the object's scope and linked too."""
    for name, text in pages(site):
        found = TILDE_AS_TEXT.search(_text(text))
        assert found is None, f"{name}: {_text(text)[max(0, found.start() - 80) : found.end() + 80]}"
    reference = (site / "reference" / "index.html").read_text()
    for anchor, raised, target in [
        ("incluster_sdk.config.load_config", "KubeconfigError", "incluster_sdk.errors.KubeconfigError"),
        (
            "incluster_sdk.watch.informer.Informer.start",
            "PermissionDeniedError",
            "incluster_sdk.errors.PermissionDeniedError",
        ),
        ("incluster_sdk.rbac.needs.parse_need", "NeedError", "incluster_sdk.rbac.vocabulary.NeedError"),
    ]:
        raises = _section(reference, anchor, "Raises")
        assert re.search(rf'<a [^>]*href="#{re.escape(target)}"[^>]*>{raised}</a>', raises), f"{anchor}: {raises}"


def test_delegated_methods_are_methods(site: Path) -> None:
    """``LocalCluster.grant = delegate("accounts", Accounts.grant)`` is documented as the method it is: the
    target's signature, parameters and docstring."""
    reference = (site / "reference" / "index.html").read_text()
    for name, parameter in [("request", "content_type"), ("grant", "service_account"), ("mint_token", "ttl")]:
        anchor = f"incluster_sdk.testing.cluster.LocalCluster.{name}"
        heading = reference[
            reference.index(f'id="{anchor}"') : reference.index("</h", reference.index(f'id="{anchor}"'))
        ]
        assert "doc-symbol-method" in heading, heading
        assert f"<code>{parameter}</code>" in _section(reference, anchor, "Parameters"), anchor


def test_no_module_all_is_rendered(site: Path) -> None:
    reference = (site / "reference" / "index.html").read_text()
    assert re.findall(r'id="[\w.]+\.__all__"', reference) == []


def test_no_placeholder_links(site: Path) -> None:
    for name, text in pages(site):
        assert "example.invalid" not in text, name


def test_nothing_is_loaded_from_another_host(site: Path) -> None:
    """No web fonts, no CDN scripts or styles: a page viewed with no network looks the same."""
    for name, text in pages(site):
        parser = Loads()
        parser.feed(text)
        outside = [url for url in parser.urls if OUTSIDE.search(url.split(" ", 1)[1])]
        assert outside == [], name
        assert "fonts.googleapis.com" not in text and "fonts.gstatic.com" not in text, name
        # Material fetches mermaid.js from a CDN when a page has a mermaid diagram.
        assert 'class="mermaid"' not in text, name
    for css in site.rglob("*.css"):
        text = css.read_text()
        imports = re.findall(r"@import\s+(?:url\()?\s*['\"]?([^'\");\s]+)", text)
        urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", text)
        assert [u for u in imports + urls if OUTSIDE.search(u)] == [], css.name


def test_every_public_name_is_in_the_reference(site: Path) -> None:
    """Each name of each public package's ``__all__`` has an entry (a heading anchor) in the reference."""
    reference = (site / "reference" / "index.html").read_text()
    anchors = set(re.findall(r'id="(incluster_sdk\.[\w.]+)"', reference))
    missing = []
    for package in PUBLIC_PACKAGES:
        module = importlib.import_module(package)
        for name in getattr(module, "__all__", None) or []:
            target = getattr(module, name)
            home = getattr(target, "__module__", None) if callable(target) else None
            if home is not None:  # a class or function: documented where it is defined
                found = f"{home}.{name}" in anchors
            else:  # a constant: somewhere under its name
                found = any(anchor.endswith(f".{name}") for anchor in anchors)
            if not found:
                missing.append(f"{package}.{name}")
    assert missing == []


def test_reference_signatures(site: Path) -> None:
    """Annotated signatures; private parameters left out; the informers show what a user calls."""
    reference = (site / "reference" / "index.html").read_text()

    def signature(anchor: str) -> str:
        start = reference.index("doc-signature", reference.index(f'id="{anchor}"'))
        return re.sub(r"<[^>]+>", "", reference[start : reference.index("</pre>", start)])

    assert "_incluster_retry" not in signature("incluster_sdk.client.ApiClient.call_api")
    assert "config: Config" in signature("incluster_sdk.config.load_config") or "Config" in signature(
        "incluster_sdk.client.api_client"
    )
    for informer in ("incluster_sdk.watch.informer.Informer", "incluster_sdk.watch.aio.AsyncInformer"):
        assert "resource: Resource" in signature(informer), informer
        for member in ("wait_for_sync", "store", "add_handler", "start", "stop"):
            assert f'id="{informer}.{member}"' in reference, f"{informer}.{member}"


def _stale_editable_install() -> bool:
    """An editable install made with setuptools' import hook, i.e. before pyproject.toml's package-dir."""
    purelib = Path(sysconfig.get_paths()["purelib"])
    return any(purelib.glob("__editable___incluster_sdk_*_finder.py"))


def test_mypy_finds_the_installed_package(tmp_path: Path) -> None:
    """An app outside the repository, checked with ``mypy --strict``, sees incluster_sdk's types (also with
    the editable install scripts/test.sh makes)."""
    assert 'package-dir = { "" = "." }' in (ROOT / "pyproject.toml").read_text()
    if _stale_editable_install():
        pytest.skip("incluster_sdk was installed editable before pyproject.toml set package-dir: reinstall it")
    app = tmp_path / "app.py"
    app.write_text(
        textwrap.dedent(
            """\
            import incluster_sdk
            from incluster_sdk.watch import PODS, Informer


            def namespace_of(cfg: incluster_sdk.Config) -> str:
                return cfg.namespace


            def informer(cfg: incluster_sdk.Config) -> Informer:
                return Informer(incluster_sdk.api_client(cfg), PODS, namespace=cfg.namespace)
            """
        )
    )
    wrong = tmp_path / "wrong.py"
    wrong.write_text("import incluster_sdk\n\nnamespace: int = incluster_sdk.load_config().namespace\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    command = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--config-file", os.devnull]
    proc = subprocess.run(
        [*command, "app.py", "wrong.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    # app.py passes; the package's real types reach the app, so wrong.py's str assigned to an int is caught.
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and errors[0].startswith("wrong.py:3:") and "[assignment]" in errors[0], proc.stdout


def test_the_package_logs_nothing_unless_the_app_configures_logging() -> None:
    """A NullHandler on the package logger (the logging HOWTO's advice for libraries): without one, a warning
    would reach stderr through logging's last-resort handler in an app that configured no logging."""
    code = (
        "import logging, incluster_sdk\n"
        "assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger('incluster_sdk').handlers)\n"
        "logging.getLogger('incluster_sdk.config').warning('a warning')\n"
        "logging.basicConfig()\n"
        "logging.getLogger('incluster_sdk.config').warning('configured')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "WARNING:incluster_sdk.config:configured\n"
