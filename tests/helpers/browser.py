"""Headless Chromium for the tests that render the HTML report."""

import os
import shutil
import subprocess

import pytest


def chromium_or_skip() -> str:
    """Returns the browser's path; skips the test where it is missing, fails it in CI (where
    .ci/run installs it)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed")
    return browser


def rendered_dom(page) -> subprocess.CompletedProcess:
    """Renders a local HTML file headless; returns the run, its DOM on stdout and the console on stderr."""
    rendered = subprocess.run(
        [chromium_or_skip(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    return rendered
