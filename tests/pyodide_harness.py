"""Run Python code inside Pyodide (Node.js) from a test, with the project importable there."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "tests" / "host" / "run_in_pyodide.mjs"


def node_modules_ready() -> bool:
    return (ROOT / "packaging" / "node" / "node_modules" / "pyodide").is_dir()


def require_node(node: str = "node") -> str:
    """The node binary, after making sure the pinned npm packages are installed."""
    from wasmemu_images.node_setup import ensure_node_modules

    if shutil.which("node") is None:
        pytest.fail("Node.js is not installed; scripts/bootstrap installs it")
    ensure_node_modules(quiet=True)
    return node


def run_in_pyodide(code: str, scratch: Path, *, node: str = "node", timeout: int = 300) -> str:
    """stdout of `code` run by Pyodide; fails the test with Pyodide's stderr if it raises."""
    require_node(node)
    (scratch / "check.py").write_text(textwrap.dedent(code))
    result = subprocess.run(
        [node, str(RUNNER), str(ROOT), str(scratch), "check.py"],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"Pyodide run failed:\n{result.stderr[-3000:]}")
    return result.stdout
