"""Data Docs open styled in headless Chromium with no network but 127.0.0.1 (Debian `chromium`).

The link a load records (http://<docs URL>/<validation page>) is opened from `ndc docs serve`,
which renders the page from the load's stored result on that first request, with every other
host sent to a dead proxy and unresolvable. A copy of the page with a tiny
inline probe reports computed styles and what the scripts did; the same probe on GE's raw page
(CDN links) is the control that shows the check fails when CSS and JS are missing. Screenshots
of both are kept in tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from quality.docs import build_data_docs, result_from_document
from quality.publish import publish_validation
from tests.fixtures.validation import payment_document
from tests.test_data_docs_offline import _get, _serve
from warehouse.storage import StorageSettings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("chromium") is None, reason="headless Chromium absent: apt-get install chromium"
    ),
]

ARTIFACTS = Path(__file__).parent / "artifacts"
BOOTSTRAP_FONT = "-apple-system"  # the head of Bootstrap 4's body font stack; a browser's default is serif

# Read after the load event's task: jQuery 3 runs ready handlers (bootstrap-table's auto-init)
# asynchronously, so on a fast load `load` can fire before them (virtual time makes the wait free).
PROBE = """<script>
window.addEventListener('load', function () { setTimeout(probe, 500); });
function probe() {
  var out = {}, nav = document.querySelector('.navbar'), icon = document.querySelector('.fas');
  out.font = getComputedStyle(document.body).fontFamily;
  out.navbar = nav ? getComputedStyle(nav).display : null;
  out.jquery = typeof window.jQuery;
  out.tables = document.querySelectorAll('.bootstrap-table').length;
  out.icon = icon ? getComputedStyle(icon, '::before').fontFamily : null;
  document.fonts.ready.then(function () {
    out.iconLoaded = document.fonts.check('900 16px "Font Awesome 6 Free"');
    var pre = document.createElement('pre');
    pre.id = 'ndc-probe';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  });
}
</script>"""


def _chromium(url: str, profile: Path, *extra: str) -> str:
    """Run headless Chromium on `url` with only 127.0.0.1 reachable; its stdout."""
    command = [
        "chromium",
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        f"--user-data-dir={profile}",
        # Every host but 127.0.0.1 goes to a proxy that is not there, and resolves to nothing.
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--virtual-time-budget=15000",  # let scripts run and fonts load before the dump / shot
        "--window-size=1280,1000",
        *extra,
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _probe(url: str, profile: Path) -> dict:
    dom = _chromium(url, profile, "--dump-dom")
    found = re.search(r'<pre id="ndc-probe">(.*?)</pre>', dom, re.S)
    assert found, f"the probe did not report: {dom[-1500:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def _with_probe(page: Path) -> str:
    """A copy of `page` beside it (same relative links) with the probe; its file name."""
    probe = page.with_name(f"probe-{page.name}")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", f"{PROBE}</body>"), encoding="utf-8")
    return probe.name


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    base = tmp_path_factory.mktemp("chromium")
    settings = StorageSettings(warehouse_uri=str(base / "warehouse"))
    document = payment_document("run-chromium")
    docs = publish_validation(document, settings, "run-chromium", name="welfare.payments")
    # GE's page as rendered, CDN links and all: what an air-gapped browser got before.
    raw_index = build_data_docs([result_from_document(document)], base / "data_docs" / "raw-ge")
    raw_page = next((raw_index.parent / "validations").rglob("*.html"))
    server = _serve({"NDC_WAREHOUSE_URI": str(base / "warehouse")})
    url = next(server)
    assert _get(docs.url(url))[0] == 200  # the first request renders the site (the probe goes beside it)
    yield base, docs, url, raw_page
    server.close()


def test_the_ui_link_opens_styled_with_no_network(served):
    base, docs, url, _ = served
    link = docs.url(url)  # the data_docs link a load records, with NDC_DOCS_URL = this server
    page = Path(docs.location)
    probe_url = link.rsplit("/", 1)[0] + "/" + _with_probe(page)
    seen = _probe(probe_url, base / "profile")
    assert seen["font"].startswith(BOOTSTRAP_FONT), seen  # bootstrap.min.css applied
    assert seen["navbar"] == "flex", seen  # .navbar laid out by Bootstrap
    assert seen["jquery"] == "function" and seen["tables"] > 0, seen  # jQuery + bootstrap-table ran
    assert seen["icon"] == '"Font Awesome 6 Free"' and seen["iconLoaded"] is True, seen

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "data_docs_validation_page.png"
    shot.unlink(missing_ok=True)
    _chromium(link, base / "profile", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_same_check_fails_on_ges_raw_page(served):
    """The control: GE's own page, CDN links kept, renders unstyled here, and the probe says so."""
    base, _, url, raw_page = served
    folder = raw_page.parent.relative_to(base / "data_docs").as_posix()
    seen = _probe(f"{url}/{folder}/{_with_probe(raw_page)}", base / "profile-raw")
    assert not seen["font"].startswith(BOOTSTRAP_FONT), seen
    assert seen["jquery"] == "undefined" and seen["tables"] == 0, seen
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "data_docs_raw_ge_page_offline.png"
    shot.unlink(missing_ok=True)
    _chromium(f"{url}/{folder}/{raw_page.name}", base / "profile-raw", f"--screenshot={shot}")
    assert shot.is_file()
