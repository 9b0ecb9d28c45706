"""The course in a real browser: the widgets of notebooks 01, 03 and 04 driven in JupyterLab, and
the built book opened page by page.

One JupyterLab server (free local port, a token, no browser of its own) serves shortened copies of
the notebooks: every cell up to and including the widget's cell, so the widget is built as a
student builds it, and nothing after it. One cell is added just before the widget's cell: it
switches the inline figures to SVG with text kept as text, so that the test can read the titles
the widget's code writes (probabilities, class names, IoU) instead of guessing from pixels.

Chromium is Debian's ``/usr/bin/chromium`` (``$CAM_CHROMIUM`` to point elsewhere), driven by
Playwright's Python API through ``executable_path``; Playwright never downloads a browser here.
Without chromium the tests are skipped; ``.ci/run`` installs it, so they run in CI.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM = Path(os.environ.get("CAM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]

# The code cell that builds each notebook's widget, found by a line of its source.
WIDGET_CELLS = {
    "01_toy_cam.ipynb": "widgets.interactive(redraw",
    "03_cam_on_imagenet.ipynb": "photo_box = widgets.Dropdown(",
    "04_cam_to_boxes.ipynb": "slider = widgets.FloatSlider(",
}
SVG_CELL = """\
# Added by tests/test_browser.py: figures as SVG with their text kept as text, so titles can be read
%config InlineBackend.figure_formats = ["svg"]
%config InlineBackend.print_figure_kwargs = {"bbox_inches": "tight"}
import matplotlib

matplotlib.rcParams["svg.fonttype"] = "none"
"""
# Notebook 01's toy features: F_k = mean of f_k over the 4 x 4 grid = 11/16, 18/16, 18/16 (the
# notebook prints these fractions in a checked cell).
TOY_F = (11 / 16, 18 / 16, 18 / 16)
TOY_W = {"w11": 0.3, "w21": 0.5, "w31": 0.1, "w12": 0.4, "w22": 0.6, "w32": 0.8}
TOY_LABELS = {
    "w11": "Dog w_1",
    "w21": "Dog w_2",
    "w31": "Dog w_3",
    "w12": "Cat w_1",
    "w22": "Cat w_2",
    "w32": "Cat w_3",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shortened_notebook(name: str) -> dict:
    """The notebook's cells up to its widget cell, outputs cleared, the SVG cell before it."""
    nb = json.loads((NOTEBOOKS / name).read_text())
    marker = WIDGET_CELLS[name]
    at = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and marker in "".join(cell["source"])
    ]
    assert len(at) == 1, f"{name}: expected one cell containing {marker!r}, found {len(at)}"
    cells = nb["cells"][: at[0] + 1]
    for cell in cells:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    svg = {"cell_type": "code", "metadata": {}, "source": SVG_CELL, "outputs": []}
    svg["execution_count"] = None
    nb["cells"] = [*cells[:-1], svg, cells[-1]]
    nb["metadata"].pop("widgets", None)  # no saved widget state: only live widgets count
    return nb


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.is_file():
        pytest.skip(
            f"no chromium at {CHROMIUM}: apt-get install chromium (or set CAM_CHROMIUM) to run"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, browser) -> Iterator[tuple[str, str]]:
    """A JupyterLab server on a free port with a token; yields (base URL, token)."""
    root = tmp_path_factory.mktemp("lab")
    for name in WIDGET_CELLS:
        (root / name).write_text(json.dumps(shortened_notebook(name)))
    settings = root / ".settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    news = root / ".settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port, token = free_port(), secrets.token_hex(16)
    env = os.environ | {
        "JUPYTER_CONFIG_DIR": str(root / ".config"),
        "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(root / ".settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / ".workspaces"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    log = open(root / "jupyterlab.log", "w")  # noqa: SIM115 - closed below
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--allow-root",  # CI runs as root
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        "JupyterLab did not start:\n" + (root / "jupyterlab.log").read_text()
                    )
                time.sleep(0.5)
        yield url, token
    finally:
        stop_group(proc)
        log.close()


def stop_group(proc: subprocess.Popen) -> None:
    """End a process started in its own session and every process it started (kernels)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
            if sig == signal.SIGTERM:
                time.sleep(1)  # kernels shut down with the server; whatever is left gets SIGKILL
        except subprocess.TimeoutExpired:
            pass


def console_error(errors: list[str], origin: str, message) -> None:
    """Keep a console error, except a resource from elsewhere (the Colab badge) not loading
    on an offline machine, and the favicon that the browser asks every site for."""
    where = (message.location or {}).get("url", "")
    failed = "Failed to load resource" in message.text
    excused = failed and (not where.startswith(origin) or where == f"{origin}/favicon.ico")
    if message.type == "error" and not excused:
        errors.append(f"console error: {message.text} ({where})")


class Notebook:
    """A notebook opened in JupyterLab, run top to bottom, with helpers for its last cell."""

    def __init__(self, browser, lab: tuple[str, str], name: str):
        url, token = lab
        self.name = name
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("console", partial(console_error, self.errors, url))
        workspace = name.split("_")[0]
        self.page.goto(f"{url}/lab/workspaces/nb{workspace}/tree/{name}?reset&token={token}")
        self.page.wait_for_function(
            """() => {
                const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                return w && w.sessionContext && w.sessionContext.session
                    && w.sessionContext.session.kernel
                    && w.sessionContext.kernelDisplayStatus === "idle";
            }""",
            timeout=90_000,
        )

    def run_all(self, timeout_s: float = 150) -> None:
        self.page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        self.page.wait_for_function(
            """() => {
                const w = window.jupyterapp.shell.currentWidget;
                const cells = w.content.model.cells;
                for (let i = 0; i < cells.length; i++) {
                    const c = cells.get(i);
                    if (c.type === "code" && c.executionCount === null) return false;
                }
                return w.sessionContext.kernelDisplayStatus === "idle";
            }""",
            timeout=timeout_s * 1000,
        )
        self.assert_no_errors()

    def assert_no_errors(self) -> None:
        shown = self.page.evaluate(
            """() => Array.from(document.querySelectorAll(
                '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"],'
                + ' .jp-OutputArea-output.jp-OutputArea-executeResult .jp-RenderedText'
                + '[data-mime-type="application/vnd.jupyter.stderr"]'))
                .map(e => e.innerText)
                .concat(Array.from(document.querySelectorAll('.jupyter-widgets, .jp-Cell'))
                    .map(e => e.innerText)
                    .filter(t => t.includes("Error displaying widget")))"""
        )
        tracebacks = [t for t in shown if re.search(r"Traceback|Error\b|Exception", t)]
        assert not tracebacks, f"{self.name}: errors shown in the page:\n" + "\n".join(tracebacks)
        assert not self.errors, f"{self.name}: errors in the page:\n" + "\n".join(self.errors)
        assert self.page.locator(".jp-Dialog").count() == 0, f"{self.name}: a dialog opened"

    @property
    def widget_cell(self):
        return self.page.locator(".jp-Notebook .jp-CodeCell").last

    def cell_text(self, marker: str) -> str:
        """The printed output of the code cell whose source contains ``marker``."""
        return self.page.evaluate(
            """(marker) => {
                for (const cell of document.querySelectorAll('.jp-Notebook .jp-CodeCell')) {
                    const src = cell.querySelector('.jp-InputArea-editor').innerText;
                    if (src.includes(marker))
                        return cell.querySelector('.jp-OutputArea').innerText;
                }
                return null;
            }""",
            marker,
        )

    def figure(self) -> str:
        """The SVG source of the figure shown in the widget's cell ('' while there is none)."""
        src = self.page.evaluate(
            """() => {
                const cells = document.querySelectorAll('.jp-Notebook .jp-CodeCell');
                const img = cells[cells.length - 1].querySelector('.jp-OutputArea img');
                return img ? img.getAttribute('src') : '';
            }"""
        )
        prefix = "data:image/svg+xml,"
        return urllib.parse.unquote(src[len(prefix) :]) if src.startswith(prefix) else ""

    def wait_figure(self, check, what: str, timeout_s: float = 60) -> str:
        """Wait until ``check(svg)`` returns None (no complaint) for the widget's figure; fail
        with its last complaint otherwise. Returns the figure's SVG."""
        deadline, complaint = time.monotonic() + timeout_s, "no figure"
        while time.monotonic() < deadline:
            svg = self.figure()
            if svg and (complaint := check(svg)) is None:
                return svg
            time.sleep(0.1)
        shown = self.widget_cell.locator(".jp-OutputArea").inner_text()
        screenshot(self.page, f"failed_{self.name}.png")
        raise AssertionError(
            f"{self.name}, {what}: {complaint} (after {timeout_s} s); the cell shows:\n{shown}"
        )

    def slider(self, description: str):
        sliders = self.widget_cell.locator(".widget-slider").filter(has_text=description)
        assert sliders.count() == 1, f"{self.name}: no single slider labelled {description!r}"
        return sliders

    def type_into_slider(self, description: str, value: str) -> None:
        """Set a slider as a student does by editing its readout, then Enter."""
        readout = self.slider(description).locator(".widget-readout")
        readout.fill(value)  # focuses the readout and replaces its text, keys stay inside it
        assert readout.evaluate("e => document.activeElement === e"), "readout not focused"
        readout.press("Enter")

    def press_on_slider(self, description: str, key: str, times: int) -> float:
        """Move a slider's handle with the keyboard; return the readout it then shows."""
        handle = self.slider(description).locator(".noUi-handle, .ui-slider-handle").first
        handle.focus()
        for _ in range(times):
            handle.press(key)
        return self.readout(description)

    def readout(self, description: str) -> float:
        """The value a slider's readout shows (d3-format writes minus as U+2212)."""
        text = self.slider(description).locator(".widget-readout").inner_text()
        return float(text.strip().replace("\u2212", "-"))

    def close(self) -> None:
        try:
            self.page.evaluate(
                "window.jupyterapp.shell.currentWidget.sessionContext.shutdown()"
            )  # frees the kernel's memory for the next notebook
        finally:
            self.page.close()


def svg_texts(svg: str) -> list[str]:
    """The text elements of a matplotlib SVG (svg.fonttype 'none'), in drawing order."""
    tree = ET.fromstring(svg)
    return ["".join(e.itertext()) for e in tree.iter("{http://www.w3.org/2000/svg}text")]


def toy_expectation(w: dict[str, float]) -> dict[str, tuple[float, float]]:
    """S_c = sum_k w_k^c F_k and P_c = softmax(S)_c for the toy, by hand."""
    s = {
        "Dog": sum(w[f"w{k}1"] * TOY_F[k - 1] for k in (1, 2, 3)),
        "Cat": sum(w[f"w{k}2"] * TOY_F[k - 1] for k in (1, 2, 3)),
    }
    z = sum(math.exp(v) for v in s.values())
    return {c: (v, math.exp(v) / z) for c, v in s.items()}


def toy_titles(svg: str) -> dict[str, tuple[float, float]]:
    found = {}
    for text in svg_texts(svg):
        m = re.fullmatch(r"(Dog|Cat): S=(-?\d+\.\d\d), P=(\d\.\d\d)", text)
        if m:
            found[m[1]] = (float(m[2]), float(m[3]))
    return found


def toy_check(w: dict[str, float]):
    """A figure check: the titles show S_c and P_c of the weights ``w`` (to two decimals)."""
    expected = toy_expectation(w)

    def check(svg: str) -> str | None:
        shown = toy_titles(svg)
        if set(shown) != {"Dog", "Cat"}:
            return f"no titles 'Dog: S=..., P=...' in {svg_texts(svg)}"
        for c in ("Dog", "Cat"):
            for what, a, b in zip("SP", shown[c], expected[c], strict=True):
                if abs(a - b) > 0.005 + 1e-9:
                    return f"{c}: {what} shown {a}, expected {b:.4f} for the weights {w}"
        return None

    return check


def test_notebook_01_weight_sliders(browser, lab):
    nb = Notebook(browser, lab, "01_toy_cam.ipynb")
    try:
        nb.run_all()
        w = dict(TOY_W)
        svg = nb.wait_figure(toy_check(w), "the notes' weights")
        assert toy_titles(svg) == {"Dog": (0.88, 0.28), "Cat": (1.85, 0.72)}
        # each of the six sliders, moved by typing into its readout
        for name, value in [
            ("w11", 0.9),  # the notebook's "ears" weights: Dog now weights unit 1 most
            ("w21", -0.5),
            ("w31", 1.0),
            ("w12", -1.0),
            ("w22", 0.25),
            ("w32", 0.0),
        ]:
            nb.type_into_slider(TOY_LABELS[name], f"{value}")
            w[name] = value
            assert nb.readout(TOY_LABELS[name]) == pytest.approx(value)
            nb.wait_figure(toy_check(w), f"{TOY_LABELS[name]} set to {value}")
        # and one moved by its handle with the keyboard, one step (0.05) at a time
        shown = nb.press_on_slider(TOY_LABELS["w32"], "ArrowRight", 3)
        assert shown == pytest.approx(0.15), f"readout after three steps: {shown}"
        w["w32"] = 0.15
        nb.wait_figure(toy_check(w), "Cat w_3 moved three steps right")
        nb.assert_no_errors()
    finally:
        nb.close()


def title_check(expected: str, other_than: str = ""):
    """A figure check: the figure's last text (its axes' title) is ``expected``, and the figure
    is not ``other_than`` (a picture that must change)."""

    def check(svg: str) -> str | None:
        texts = svg_texts(svg)
        if not texts or texts[-1] != expected:
            return f"title {texts[-1:] or 'none'}, expected {expected!r}"
        if other_than and picture(svg) == picture(other_than):
            return "the picture did not change"
        return None

    return check


def picture(svg: str) -> list[str]:
    """The raster images inside a matplotlib SVG (overlay, labels), without its metadata."""
    images = re.findall(r'<image[^>]*?href="([^"]+)"', svg)
    assert images, "no raster image in the figure"
    return images


def screenshot(page, name: str) -> None:
    """Save a screenshot when $CAM_SCREENSHOTS names a folder (for looking at, not checked)."""
    folder = os.environ.get("CAM_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=False)


def test_notebook_03_photo_class_overlay_viewer(browser, lab):
    nb = Notebook(browser, lab, "03_cam_on_imagenet.ipynb")
    try:
        nb.run_all()
        # what the notebook printed before the viewer: each photo's three best classes with P
        printed = nb.cell_text("names = list_samples()")
        best3 = {}
        for line in printed.strip().splitlines():
            name, rest = line.split(maxsplit=1)
            best3[name] = re.findall(r"(.+?) (\d\.\d\d)(?:, |$)", rest)
        assert {"china", "coffee"} <= set(best3) and len(best3["coffee"]) == 3, printed
        cell = nb.widget_cell
        photo_box, class_box = cell.locator("select").nth(0), cell.locator("select").nth(1)

        def class_labels() -> list[str]:
            options = class_box.locator("option").all_inner_texts()
            return [o.replace("\xa0", " ").strip() for o in options]  # ipywidgets: no-break spaces

        first = best3["china"][0][0]
        svg = nb.wait_figure(title_check(f"china: {first}"), "the viewer as built")
        assert photo_box.input_value() == "china"
        assert len(class_labels()) == 10
        assert class_labels()[:3] == [f"{c} ({p})" for c, p in best3["china"]]

        # the class dropdown: the title names the chosen class, the map changes
        class_box.select_option(index=3)
        chosen = class_labels()[3].rsplit(" (", 1)[0]
        svg = nb.wait_figure(title_check(f"china: {chosen}", svg), "class set to the 4th")

        # the overlay slider, typed and then moved by keyboard: same title, another blend
        nb.type_into_slider("overlay", "0.9")
        assert nb.readout("overlay") == pytest.approx(0.9)
        svg = nb.wait_figure(title_check(f"china: {chosen}", svg), "overlay set to 0.9")
        assert nb.press_on_slider("overlay", "ArrowLeft", 2) == pytest.approx(0.8)
        svg = nb.wait_figure(title_check(f"china: {chosen}", svg), "overlay moved to 0.8")
        screenshot(nb.page, "03_overlay_moved.png")

        # the photo dropdown: the class list becomes the new photo's ten best, its best chosen
        photo_box.select_option("coffee")
        best = best3["coffee"][0][0]
        svg = nb.wait_figure(title_check(f"coffee: {best}", svg), "photo set to coffee")
        assert class_labels()[:3] == [f"{c} ({p})" for c, p in best3["coffee"]]
        assert class_box.evaluate("e => e.selectedIndex") == 0
        nb.assert_no_errors()
        screenshot(nb.page, "03_photo_changed.png")
    finally:
        nb.close()


@functools.cache
def coffee_cam():
    """Notebook 04's map, computed here with camutils as its code does: the top-1 CAM of the
    coffee photo upsampled to the 224 x 224 input, with the network's preprocessing."""
    from camutils.cam import upsample_cams
    from camutils.models import load_model
    from camutils.samples import load_sample

    model = load_model(device="cpu")
    photo = load_sample("coffee")
    top = model.top_cams(model.preprocess.batch([photo], "cpu"), k=5)
    return upsample_cams(top.cams[:, :1], (224, 224)), photo, model.preprocess


def threshold_titles(t: float) -> tuple[str, str]:
    """Notebook 04's titles at threshold ``t``: the number of components of M_c >= t max M_c,
    and the IoU with the hand-drawn cup of the largest one's box, mapped to the photo."""
    import torch

    from camutils.boxes import (
        boxes_to_original,
        connected_components,
        largest_component_boxes,
        threshold_masks,
    )
    from camutils.metrics import box_iou

    m, photo, preprocess = coffee_cam()
    n = int(connected_components(threshold_masks(m, t))[0, 0].max())
    box = largest_component_boxes(m, t)[:, 0]
    size = torch.tensor([[photo.height, photo.width]])
    truth = torch.tensor([[173, 18, 408, 307]])  # the cup, as drawn in the notebook
    iou = box_iou(boxes_to_original(box, size, preprocess), truth)
    return (
        f"{n} component{'s' * (n != 1)}, the largest boxed",
        f"kept box (red) vs truth (green): IoU {iou.item():.2f}",
    )


def threshold_check(t: float, other_than: str = ""):
    expected = threshold_titles(t)

    def check(svg: str) -> str | None:
        texts = svg_texts(svg)
        if not set(expected) <= set(texts):
            return f"titles {texts}, expected {expected} at t = {t}"
        if other_than and picture(svg) == picture(other_than):
            return "the picture did not change"
        return None

    return check


def test_notebook_04_threshold_slider(browser, lab):
    nb = Notebook(browser, lab, "04_cam_to_boxes.ipynb")
    try:
        nb.run_all()
        svg = nb.wait_figure(threshold_check(0.2), "the slider as built (t = 0.2)")
        assert nb.readout("t") == pytest.approx(0.2)
        for t in (0.5, 0.85):
            nb.type_into_slider("t", f"{t}")
            assert nb.readout("t") == pytest.approx(t)
            svg = nb.wait_figure(threshold_check(t, svg), f"t set to {t}")
        # by keyboard: continuous_update=False, so the figure follows the released handle
        assert nb.press_on_slider("t", "ArrowLeft", 3) == pytest.approx(0.7)
        nb.wait_figure(threshold_check(0.7, svg), "t moved three steps left")
        nb.assert_no_errors()
    finally:
        nb.close()


# --- the book ---------------------------------------------------------------------------------


class Links(HTMLParser):
    """The hrefs, image sources and element ids of an HTML page."""

    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])
        if tag in ("img", "script") and a.get("src"):
            self.hrefs.append(a["src"])
        if tag == "link" and a.get("href"):
            self.hrefs.append(a["href"])


@pytest.fixture(scope="module")
def book(tmp_path_factory, browser) -> Iterator[str]:
    """The book built by its one command into a temporary folder, served on a free port."""
    out = tmp_path_factory.mktemp("book") / "html"
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "book.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"the book did not build:\n{run.stdout}\n{run.stderr}"
    print(f"book built in {time.monotonic() - started:.1f} s")
    server = ThreadingHTTPServer(
        ("127.0.0.1", free_port()), partial(QuietHandler, directory=str(out))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


def crawl(base: str) -> dict[str, Links]:
    """Every page of the site reachable from its landing page, parsed; fails on a link to a
    page or file that is not there, or to an anchor that the page does not have."""
    pages: dict[str, Links] = {}
    todo, fragments, missing, files = [(f"{base}/index.html", "")], [], [], {}
    while todo:
        url, referrer = todo.pop()
        if url in pages:
            continue
        try:
            with urllib.request.urlopen(url) as reply:
                parsed = Links()
                parsed.feed(reply.read().decode())
        except urllib.error.HTTPError as e:
            missing.append(f"{referrer}: {url} ({e.code})")
            continue
        pages[url] = parsed
        for href in parsed.hrefs:
            target = urllib.parse.urljoin(url, href)
            if not target.startswith(base + "/"):
                continue  # another site (Colab, GitHub, the paper): not checked offline
            path, _, fragment = target.partition("#")
            path = path.split("?")[0]
            if path.endswith("/"):
                path += "index.html"
            if path.endswith(".html"):
                todo.append((path, url))
                if fragment:
                    fragments.append((url, path, urllib.parse.unquote(fragment)))
            elif path not in files:
                try:
                    urllib.request.urlopen(urllib.request.Request(path, method="HEAD")).close()
                    files[path] = True
                except urllib.error.HTTPError as e:
                    files[path] = False
                    missing.append(f"{url}: {href} ({e.code})")
    for page, path, fragment in fragments:
        if path in pages and fragment not in pages[path].ids:
            missing.append(f"{page}: {path}#{fragment} (no such anchor)")
    assert not missing, "broken internal links:\n" + "\n".join(sorted(set(missing)))
    return pages


def has_figures(notebook: Path) -> bool:
    """Whether a notebook's committed outputs hold an image."""
    cells = json.loads(notebook.read_text())["cells"]
    return any(
        mime.startswith("image/")
        for cell in cells
        for output in cell.get("outputs", [])
        for mime in output.get("data", {})
    )


def test_book_links_math_figures_badges_search(browser, book):
    pages = crawl(book)  # the link check covers every page, genindex and search included
    course = [
        u for u in pages if "/notebooks/" in u or u.endswith(("/README.html", "/README.ko.html"))
    ]
    english = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    korean = sorted(p.stem for p in (NOTEBOOKS / "ko").glob("*.ipynb"))
    for stem in english:
        assert f"{book}/notebooks/{stem}.html" in pages, f"{stem} is not in the book"
    for stem in korean:
        assert f"{book}/notebooks/ko/{stem}.html" in pages, f"ko/{stem} is not in the book"
    assert f"{book}/notebooks/GLOSSARY.html" in pages

    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("console", partial(console_error, errors, book))
    try:
        for url in sorted(course) + [f"{book}/index.html"]:
            page.goto(url)
            page.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000
            )
            page.evaluate("() => MathJax.startup.promise")
            state = page.evaluate(
                """() => {
                    const math = Array.from(document.querySelectorAll('.math'));
                    const article = document.querySelector('article') || document.body;
                    const copy = article.cloneNode(true);
                    copy.querySelectorAll('pre, code, mjx-container, script, .math')
                        .forEach(e => e.remove());
                    const images = Array.from(document.querySelectorAll('article img'))
                        .filter(i => i.src.startsWith(location.origin));
                    return {
                        math: math.length,
                        typeset: math.filter(e => e.querySelector('mjx-container')).length,
                        errors: document.querySelectorAll('mjx-merror').length,
                        text: copy.innerText,
                        images: images.length,
                        broken: images.filter(i => !(i.complete && i.naturalWidth > 0))
                            .map(i => i.src),
                        badges: Array.from(document.querySelectorAll(
                            'a[href^="https://colab.research.google.com/github/"]'))
                            .map(a => a.href),
                    };
                }"""
            )
            name = url[len(book) :]
            if name == "/notebooks/01_toy_cam.html":
                screenshot(page, "book_page.png")
            assert state["math"] > 0, f"{name}: no math on the page"
            assert state["typeset"] == state["math"], f"{name}: math left untypeset"
            assert state["errors"] == 0, f"{name}: MathJax could not typeset a formula"
            raw = re.findall(r"\$[^$\n]*\\[A-Za-z]+[^$\n]*\$|\\\(|\\\[", state["text"])
            assert not raw, f"{name}: raw TeX left in the text: {raw[:3]}"
            assert not state["broken"], f"{name}: images that do not load: {state['broken']}"
            if "/notebooks/" in url and "GLOSSARY" not in url:
                stem = url.rsplit("/", 1)[1].removesuffix(".html")
                source = NOTEBOOKS / ("ko" if "/ko/" in url else "") / f"{stem}.ipynb"
                if has_figures(source):
                    assert state["images"] > 0, f"{name}: the notebook's figures are missing"
                assert any(b.endswith(f"/notebooks/{stem}.ipynb") for b in state["badges"]) or any(
                    b.endswith(f"/notebooks/ko/{stem}.ipynb") for b in state["badges"]
                ), f"{name}: no Colab badge for {stem}.ipynb: {state['badges']}"

        # search: the built-in index finds the pages that teach a term
        page.goto(f"{book}/search.html?q=activation")
        page.wait_for_selector("ul.search li a", timeout=30_000)
        found = page.eval_on_selector_all("ul.search li a", "as => as.map(a => a.href)")
        assert any("/notebooks/01_toy_cam.html" in f for f in found), found
        assert not errors, "errors in the book's pages:\n" + "\n".join(errors)
    finally:
        page.close()
