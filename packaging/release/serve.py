#!/usr/bin/env python3
"""Serve this wasmemu release's browser page: `python3 serve.py [--port N] [--host ADDR]`.

Needs only Python 3.11+: the server is imported from the engine wheel next
to this file (a pure-Python wheel is a zip Python can import from), and
nothing is installed.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
wheels = sorted(HERE.glob("wasmemu-*-py3-none-any.whl"))
if len(wheels) != 1:
    sys.exit(f"serve.py: expected one wasmemu wheel in {HERE}; unpack the release again")
sys.path.insert(0, str(wheels[0]))

from wasmemu_images.web_server import main  # noqa: E402

sys.exit(main(["--root", str(HERE), *sys.argv[1:]]))
