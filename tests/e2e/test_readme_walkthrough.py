"""The README's walk-through, run as written against a running local stack, in bash with curl.

Every command of the ```bash block under "## Walk-through" runs in order; each answer is checked
against its ``# →`` line: the status written before it (else a 2xx), and its text, where ``…``
stands for anything and spacing is free. The stack listens on free ports: the README's
``http://127.0.0.1:8000`` and ``:8001`` are replaced by them, in the commands and in the answers.

A step that only reads (no ``-X``) is asked again until its answer matches, as a reader who waits
"a moment" would, bounded in time. A step written for "a minute or so later" waits for the
reminder (30 s ahead) and for the webhook retries (5 s, then 30 s): this test does not wait that
long; it checks that step's status and its answer's fields. The retry schedule itself is checked by
tests/flows/test_flow_webhook_failures.py.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from local.config import LocalSettings
from local.stack import Endpoints, LocalStack
from tests.support.clocks import pinned_for_the_module

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
README_API, README_SANDBOX = "http://127.0.0.1:8000", "http://127.0.0.1:8001"
STEP_TIMEOUT_S = 10.0
LATER = "a minute or so later"

pinned_clock = pinned_for_the_module()


@dataclass
class Step:
    commands: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    answer: list[str] = field(default_factory=list)

    @property
    def script(self) -> str:
        return "\n".join(self.commands)

    @property
    def reads_only(self) -> bool:
        return " -X " not in self.script and not re.search(r"^\w+=", self.script, re.M)

    @property
    def later(self) -> bool:
        return any(LATER in comment for comment in self.comments)


def walkthrough() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Walk-through\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"^```bash\n(.*?)^```$", section, re.S | re.M).group(1)


def steps(block: str) -> list[Step]:
    """Commands up to their ``# →`` answer (with its indented ``#`` continuation lines)."""
    found, step = [], Step()
    for line in block.splitlines():
        if step.answer and not re.match(r"#\s{2,}\S", line):
            found, step = [*found, step], Step()
        if line.startswith("# →"):
            step.answer.append(line.removeprefix("# →").strip())
        elif step.answer:
            step.answer.append(line.removeprefix("#").strip())
        elif line.startswith("#"):
            step.comments.append(line)
        elif line.strip():
            step.commands.append(line)
    assert step.answer or not step.commands, f"commands with no answer: {step.commands}"
    return [*found, step] if step.answer else found


def assigned_names(block: str) -> list[str]:
    """The shell variables the walk-through sets (they carry from one step to the next)."""
    exports = "\n".join(re.findall(r"^export (.*)", block, re.M))
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", block, re.M)
    return sorted({*names, *re.findall(r"\b([A-Z][A-Z0-9_]*)=", exports)})


def expected(answer: list[str]) -> tuple[int | None, str]:
    """The status written before an answer, if any, and the answer's JSON text (prose after it,
    such as "; a moment later …", is the README's comment)."""
    text = " ".join(answer)
    status = re.match(r"(\d{3})\s+", text)
    text = text[status.end() :] if status else text
    depth, in_string = 0, False
    for end, char in enumerate(text):
        if char == '"':
            in_string = not in_string
        elif not in_string and char in "{[":
            depth += 1
        elif not in_string and char in "}]":
            depth -= 1
            if depth == 0:
                return (int(status.group(1)) if status else None), text[: end + 1]
    raise AssertionError(f"no JSON in the answer {text!r}")


def matches(pattern: str, answer: str) -> bool:
    """``answer`` is ``pattern`` where each ``…`` stands for anything; whitespace is ignored."""
    parts = [re.escape(part) for part in re.sub(r"\s+", "", pattern).split("…")]
    return re.fullmatch(".*?".join(parts), re.sub(r"\s+", "", answer), re.S) is not None


def items(pattern: str) -> list[str]:
    """The elements of the ``"items"`` list of an answer as the README writes it."""
    text = pattern[pattern.index('"items":[') + len('"items":[') :]
    found, depth, start, in_string = [], 0, 0, False
    for at, char in enumerate(text):
        if char == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif char in "{[":
            depth += 1
        elif char in "}]" and depth == 0:
            return [*found, text[start:at].strip()]
        elif char in "}]":
            depth -= 1
        elif char == "," and depth == 0:
            found, start = [*found, text[start:at].strip()], at + 1
    raise AssertionError(f"no items in {pattern!r}")


def test_the_walkthrough_parses_into_answered_steps():
    found = steps(walkthrough())
    assert len(found) >= 10
    assert all(step.commands and step.answer for step in found)
    assert any(step.later for step in found)
    assert {"API", "SUBMSG_KEY", "SANDBOX", "HOOK", "WHK", "SEND_AT"} <= set(
        assigned_names(walkthrough())
    )
    assert expected(['201 {"id":"msg_…","status":"queued"}: queued with a delay']) == (
        201,
        '{"id":"msg_…","status":"queued"}',
    )
    assert items('{"items":[{"a":[1,2]}, {"b":"]"}],"next_cursor":null}') == [
        '{"a":[1,2]}',
        '{"b":"]"}',
    ]
    assert matches('{"a": "x…", "b": [1, …]}', '{"a":"xyz","b":[1,2,3]}')
    assert not matches('{"a":"x…","b":[1,…]}', '{"a":"y","b":[1,2]}')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def stack() -> Iterator[Endpoints]:
    settings = LocalSettings(
        port=free_port(), aws_port=free_port(), sandbox_port=free_port(), wechat_api_base=None
    )
    with LocalStack(settings) as endpoints:
        yield endpoints


class Shell:
    """Each step in its own bash; the walk-through's variables carry over in a file. ``curl``
    writes each answer's status to stderr, one a line; the answer itself is untouched."""

    def __init__(self, folder: Path, names: list[str], stack: Endpoints) -> None:
        self.state = folder / "state.sh"
        self.state.write_text("")
        self.names = names
        self.stack = stack
        # python3 is the one the stack runs on: it reads the test's clock, as the stack does
        bin_folder = str(Path(sys.executable).parent)
        self.env = {**os.environ, "PATH": os.pathsep.join([bin_folder, os.environ["PATH"]])}

    def localised(self, text: str) -> str:
        return text.replace(README_API, self.stack.api).replace(README_SANDBOX, self.stack.sandbox)

    def run(self, step: Step) -> tuple[list[int], str]:
        script = "\n".join(
            [
                "curl() { command curl -w '%{stderr}%{http_code}\\n' \"$@\"; }",
                f". {self.state}",
                self.localised(step.script),
                f"declare -p {' '.join(self.names)} > {self.state} 2>/dev/null || true",
            ]
        )
        done = subprocess.run(
            ["bash", "-c", script],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=STEP_TIMEOUT_S,
            check=False,
        )
        assert done.returncode == 0, (step.script, done.stderr)
        statuses = [int(line) for line in done.stderr.split() if re.fullmatch(r"\d{3}", line)]
        return statuses, done.stdout


def test_every_command_of_the_walkthrough_answers_as_the_readme_says(stack, tmp_path):
    block = walkthrough()
    shell = Shell(tmp_path, assigned_names(block), stack)
    for step in steps(block):
        status, pattern = expected(step.answer)
        pattern = shell.localised(pattern)
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            statuses, answer = shell.run(step)
            assert statuses, step.script
            if status is not None:
                assert statuses[-1] == status, (step.script, statuses, answer)
            else:
                assert all(200 <= code < 300 for code in statuses), (step.script, statuses)
            if step.later:
                # the reminder and the webhook's retries come later than this test waits: the
                # answer has the fields the README shows, and the oldest item it lists (the one
                # the earlier steps made) is there already, as the README shows it
                assert set(json.loads(answer)) == set(json.loads(re.sub(r"\[.*\]", "[]", pattern)))
                oldest = items(pattern)[-1]
                if any(matches(oldest, json.dumps(item)) for item in json.loads(answer)["items"]):
                    break
            if matches(pattern, answer):
                break
            assert step.reads_only and time.monotonic() < deadline, (
                f"{step.script}\nanswered {answer}\nthe README says {pattern}"
            )
            time.sleep(0.2)
