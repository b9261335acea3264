"""A user-mode hart on the Wasm tier, in each address mode, for tests that build IR
blocks by hand and drive the dispatcher directly."""

from __future__ import annotations

import pytest

from engine.linux_user.execution import ExecutionOptions, create_process_image
from engine.target.riscv.cpu import RiscvCpu, TierConfig


@pytest.fixture(params=["wasm64", "wasm32"])
def cpu(request: pytest.FixtureRequest) -> RiscvCpu:
    options = ExecutionOptions(TierConfig(tier="wasm"), request.param)
    _space, cpu = create_process_image(64 << 20, options)
    return cpu
