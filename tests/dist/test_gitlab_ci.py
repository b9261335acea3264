""".gitlab-ci.yml: its stages are the pipeline the project promises, and every job calls
invoke tasks (and pytest selections) that exist, the way .ci/run does."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from invoke import Collection
from invoke.loader import FilesystemLoader

ROOT = Path(__file__).resolve().parents[2]
RESERVED = {"stages", "variables", "default", "include", "workflow", "image", "services",
            "cache", "before_script", "after_script"}  # fmt: skip
INVOKE_CALL = re.compile(r"(?:python3 -m invoke|\binvoke)\s+([a-z][a-z0-9-]*)((?:\s+[^;&|]*)?)")


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    return yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text())


@pytest.fixture(scope="module")
def tasks() -> Collection:
    module, _ = FilesystemLoader(start=str(ROOT)).load("tasks")
    return Collection.from_module(module)


def jobs(pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: job for name, job in pipeline.items() if name not in RESERVED}


def script_lines(job: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for key in ("before_script", "script", "after_script"):
        lines += job.get(key, [])
    return lines


def flags(task: Any) -> set[str]:
    """Every spelling of the task's options on a command line."""
    names = [name for argument in task.get_arguments() for name in argument.names]
    return {f"-{n}" if len(n) == 1 else f"--{n.replace('_', '-')}" for n in names}


def test_the_stages_run_test_images_build_boot_test_release(pipeline: dict[str, Any]) -> None:
    assert pipeline["stages"] == ["test", "images", "build", "boot-test", "release"]
    for name, job in jobs(pipeline).items():
        assert job["stage"] in [".pre", *pipeline["stages"]], name


def test_every_invoke_call_names_a_task_with_options_it_has(
    pipeline: dict[str, Any], tasks: Collection
) -> None:
    calls = 0
    for name, job in jobs(pipeline).items():
        for line in script_lines(job):
            for task_name, rest in INVOKE_CALL.findall(line):
                calls += 1
                assert task_name in tasks.task_names, f"{name}: no task '{task_name}'"
                known = flags(tasks[task_name])
                for word in shlex.split(rest.split("|")[0]):
                    if word.startswith("-"):
                        assert word.split("=")[0] in known, f"{name}: {task_name} has no {word}"
    assert calls >= 6


def test_the_test_job_runs_what_ci_runs(pipeline: dict[str, Any]) -> None:
    assert ".ci/run" in script_lines(jobs(pipeline)["test"])
    assert "invoke test" in (ROOT / ".ci" / "run").read_text()


def test_the_boot_matrix_covers_every_runner_and_selects_real_tests(
    pipeline: dict[str, Any],
) -> None:
    matrix = jobs(pipeline)["boot-test"]["parallel"]["matrix"]
    runners = {entry["RUNNER"] for entry in matrix}
    assert {
        "native-wasm64",
        "native-wasm32",
        "node20-wasm32",
        "node24-wasm64",
        "chromium",
    } <= runners
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    for entry in matrix:
        first_word = entry["SELECT"].split()[0]
        assert re.search(rf"def {re.escape(first_word)}\w*\(", sources), entry


def test_the_release_job_runs_only_for_tags_and_keeps_the_archive(
    pipeline: dict[str, Any],
) -> None:
    job = jobs(pipeline)["release"]
    assert job["rules"] == [{"if": "$CI_COMMIT_TAG"}]
    assert "dist/*.tar.gz" in job["artifacts"]["paths"]


def test_every_job_but_the_image_build_runs_in_the_build_image(pipeline: dict[str, Any]) -> None:
    assert pipeline["default"]["image"] == "$BUILD_IMAGE"
    for name, job in jobs(pipeline).items():
        assert "image" not in job or name == "build-image", name
    assert "WASMEMU_CACHE" in pipeline["variables"]
