"""Every shell command of README.md and docs/*.md, run against a small demo: a broken example fails CI.

Each command of a fenced shell block (```bash, ```sh, ```shell, ```console, or an unlabelled block
whose first line is a command) is one test, named `README.md:L<line>: <command>`. It runs in bash
from the repository root, `uv run X` as the environment's own `X` (the same entry points), against
one small demo made once per module in a temporary folder; it must exit 0 and print something.
`export` lines before a command in its block are its environment. docs/storage.md runs on the
session's SeaweedFS (the `seaweedfs` fixture of tests/conftest.py), whose address and keys replace the doc's example
values. The YAML and JSON of docs/adding-a-source.md are run by tests/test_adding_a_source.py.

A command this test cannot run must be listed in NOT_RUN with the reason; any other command that
is not an `ndc` / `python` / `export` line fails, so the docs cannot rot unnoticed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
DOCS: tuple[str, ...] = ("README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")))
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
# `VAR=value ` prefixes, then the program.
ENV_PREFIX = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*")
RUNNABLE_PROGRAMS = {"ndc", "python", "export"}
COMMAND_START = re.compile(ENV_PREFIX.pattern + r"(?:uv run |\$ )?(?:ndc|python|export|pytest|dagster)\b")
S3_DOCS = {"docs/storage.md"}  # run against the session's SeaweedFS instead of a local folder

# The demo every command runs against: small, so the module takes minutes, not an hour.
DEMO_CITIZENS = "400"
DEMO_SEED = "3"

NOT_RUN: dict[str, str] = {
    "uv run pytest": "the test suite itself (a test that runs it would recurse)",
    "uv run pytest tests/test_connectors_sql.py tests/test_connectors_sql_kind.py "
    "tests/test_connectors_files.py tests/test_connectors_rest.py": "tests, run by the suite itself",
    "uv run pytest tests/test_connectors_postgres.py": "tests, run by the suite itself",
    "uv run pytest tests/test_connectors_mariadb.py": "tests, run by the suite itself",
    "uv run pytest tests/test_storage_*.py tests/test_s3_end_to_end.py tests/test_data_docs_publish.py": (
        "tests, run by the suite itself"
    ),
    "uv run python bench/bench_connectors.py": "a benchmark (~1.5 min); speed is measured by bench/, not by tests",
    "uv run --group bench python -m bench": "the benchmark harness (every method, 3 rounds at 1M rows); speed is measured by bench/, not by tests",
    "uv run --group bench python -m bench --rows 200000 --rounds 3": "the benchmark harness; speed is measured by bench/, not by tests",
    "uv run --group bench python -m bench --rows 200000 --reuse-table --profile": "a profile of the benchmark's sync; not a test",
    "DAGSTER_HOME=$PWD/.ndc/dagster uv run dagster dev": "a long-running server (the Dagster UI)",
    "uv run ndc docs serve": (
        "a long-running server (Data Docs); tests/test_data_docs_offline.py runs it on a free port"
    ),
    "uv run ndc storage down": "would stop the session's SeaweedFS, which other test modules share",
}


# ---- reading the docs -------------------------------------------------------------------------


@dataclass(frozen=True)
class DocCommand:
    """One command line of a doc's shell block, with the `export` lines before it in that block."""

    doc: str
    line: int
    text: str  # comment and continuations removed
    exports: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.doc}:L{self.line}: {self.text}"


def strip_comment(line: str) -> str:
    """`line` without a trailing `# comment` (a `#` outside quotes, at the start or after a space)."""
    quote: str | None = None
    escaped = False
    for at, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (at == 0 or line[at - 1].isspace()):
            return line[:at].rstrip()
    return line.rstrip()


def command_lines(block: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """(first line number, command) for each command of a block: `\\` continuations joined, comments
    and blank lines dropped, a `$ ` prompt removed."""
    pending: list[str] = []
    start = 0
    for number, raw in block:
        text = strip_comment(raw).strip()
        if not pending:
            start = number
            text = text.removeprefix("$ ")
        if text.endswith("\\"):
            pending.append(text[:-1].strip())
            continue
        joined = " ".join(part for part in [*pending, text] if part)
        pending = []
        if joined:
            yield start, joined
    if pending:
        yield start, " ".join(pending)


def shell_blocks(text: str) -> Iterator[list[tuple[int, str]]]:
    """The (line number, line) lists of every fenced block that holds shell commands."""
    language: str | None = None
    block: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fence = re.match(r"^\s*```\s*([\w+-]*)", line)
        if fence and language is None:
            language, block = fence.group(1).lower(), []
        elif fence:
            first = next((body.strip() for _, body in block if body.strip()), "")
            if language in SHELL_LANGUAGES or (language == "" and COMMAND_START.match(first)):
                yield block
            language = None
        elif language is not None:
            block.append((number, line))


def doc_commands(doc: str, text: str) -> list[DocCommand]:
    commands = []
    for block in shell_blocks(text):
        exports: list[str] = []
        for number, command in command_lines(block):
            commands.append(DocCommand(doc, number, command, tuple(exports)))
            if command.startswith("export "):
                exports.append(command)
    return commands


def all_doc_commands() -> list[DocCommand]:
    return [command for doc in DOCS for command in doc_commands(doc, (ROOT / doc).read_text(encoding="utf-8"))]


# ---- running them -----------------------------------------------------------------------------


def program(command: str) -> str:
    """The program a command line runs: `ndc`, `python`, `export`, … (after `VAR=` and `uv run`)."""
    rest = ENV_PREFIX.sub("", command)
    rest = rest.removeprefix("uv run ")
    return rest.split(maxsplit=1)[0] if rest.strip() else ""


def as_test_demo(command: str) -> str:
    """`ndc demo …` on the module's small population: `--citizens N` becomes 400, `--seed 3` added.

    The docs' default (100,000 citizens) or a million would take the test minutes to hours; the
    flags are otherwise the doc's own.
    """
    words = shlex.split(command)
    if "demo" not in words or words[words.index("demo") - 1] != "ndc":
        return command
    for flag, value in (("--citizens", DEMO_CITIZENS), ("--seed", DEMO_SEED)):
        if flag in words:
            words[words.index(flag) + 1] = value
        else:
            words += [flag, value]
    return shlex.join(words)


def script_for(command: DocCommand, overridden: frozenset[str]) -> str:
    """The bash script that runs `command`: its block's exports (those the environment does not
    override), then the command with `uv run` dropped (the environment's bin/ is first on PATH)."""
    exports = [line for line in command.exports if export_name(line) not in overridden]
    line = as_test_demo(command.text.replace("uv run ", ""))
    if command.text.startswith("export "):
        line = f'{line}\nprintenv {export_name(command.text)}'  # the value the export computed
    return "set -e\n" + "\n".join([*exports, line]) + "\n"


def export_name(line: str) -> str:
    return line.removeprefix("export ").split("=", 1)[0].strip()


@dataclass
class DocEnvironment:
    """Environment variables for a doc's commands, and the demo they all read (made once)."""

    env: dict[str, str]
    overridden: frozenset[str] = frozenset()  # doc exports whose value the environment replaces
    demo_script: str | None = None
    results: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)

    def run(self, script: str) -> subprocess.CompletedProcess[str]:
        if script in self.results:  # the demo: once per environment
            return self.results[script]
        result = subprocess.run(
            ["bash", "-c", script], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=600
        )
        if "ndc demo" in script:
            self.results[script] = result
        return result

    def ensure_demo(self) -> None:
        assert self.demo_script is not None, "no `ndc demo` command in the docs this environment serves"
        made = self.run(self.demo_script)
        assert made.returncode == 0, f"the demo failed:\n{made.stdout}\n{made.stderr}"


def clean_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any NDC_ / AWS_ setting of the developer's, plus `extra`,
    with the virtual environment's bin/ (ndc, python) first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NDC_", "AWS_", "DAGSTER_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env | dict(extra)


def demo_settings(root: Path) -> dict[str, str]:
    return {
        "NDC_DEMO_DIR": str(root / "demo"),
        "NDC_WAREHOUSE_URI": str(root / "warehouse"),
        "DAGSTER_HOME": str(root / "dagster"),
        "NDC_SEAWEEDFS_DIR": str(root / "seaweedfs"),
        "NDC_TODAY": "2026-11-01",
        # A real-length key: the demo key is for the demo's own marked warehouse only.
        "NDC_PSEUDONYM_KEY": "docs-test-key-0123456789-0123456789-0123456789",
    }


def first_demo_script(docs: set[str], environment: DocEnvironment) -> str:
    demos = [c for c in all_doc_commands() if c.doc in docs and program(c.text) == "ndc" and " demo" in c.text]
    assert demos, f"no `ndc demo` command in {sorted(docs)}"
    return script_for(demos[0], environment.overridden)


@pytest.fixture(scope="module")
def local_env(tmp_path_factory: pytest.TempPathFactory) -> DocEnvironment:
    environment = DocEnvironment(clean_environment(demo_settings(tmp_path_factory.mktemp("docs-local"))))
    environment.demo_script = first_demo_script(set(DOCS) - S3_DOCS, environment)
    return environment


@pytest.fixture(scope="module")
def s3_env(seaweedfs, seaweedfs_server, tmp_path_factory: pytest.TempPathFactory) -> DocEnvironment:
    """The S3 walkthrough on the session's SeaweedFS: its address and keys replace the doc's
    example values, under a prefix of its own in the session's bucket."""
    s3 = {
        "NDC_S3_ENDPOINT": seaweedfs.endpoint_url,
        "NDC_WAREHOUSE_URI": f"{seaweedfs.warehouse_uri}/docs-{uuid.uuid4().hex[:8]}",
        "AWS_REGION": seaweedfs.region,
        "AWS_ACCESS_KEY_ID": seaweedfs.access_key_id,
        "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_access_key,
        "NDC_SEAWEEDFS_DIR": str(seaweedfs_server.state_dir),
    }
    root = tmp_path_factory.mktemp("docs-s3")
    environment = DocEnvironment(clean_environment(demo_settings(root) | s3), overridden=frozenset(s3))
    environment.demo_script = first_demo_script(S3_DOCS, environment)
    return environment


def is_plain_export(command: str) -> bool:
    """`export NAME=value` with nothing to run: only the environment of its block's later commands."""
    return program(command) == "export" and "$(" not in command


COMMANDS = all_doc_commands()
RUN = [command for command in COMMANDS if not is_plain_export(command.text)]


@pytest.mark.parametrize("command", RUN, ids=[c.id for c in RUN])
def test_doc_command_runs(command: DocCommand, request: pytest.FixtureRequest) -> None:
    if command.text in NOT_RUN:
        pytest.skip(NOT_RUN[command.text])
    runs = program(command.text)
    assert runs in RUNNABLE_PROGRAMS, (
        f"{command.id}: this test does not know how to run `{runs}`: make the example an `ndc` or "
        "`python` command, or list it in NOT_RUN with the reason"
    )
    environment: DocEnvironment = request.getfixturevalue("s3_env" if command.doc in S3_DOCS else "local_env")
    script = script_for(command, environment.overridden)
    if runs == "ndc":
        environment.ensure_demo()
    result = environment.run(script)
    assert result.returncode == 0, f"{command.id}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"
    # An `export` must compute a value (a failing `$(…)` leaves it empty, and `export` exits 0);
    # a command may print its summary on stderr (rich's status lines), its data on stdout.
    printed = result.stdout if runs == "export" else result.stdout + result.stderr
    assert printed.strip(), f"{command.id}: printed nothing\n{result.stderr}"


# ---- the reader itself ------------------------------------------------------------------------


def test_commands_are_found_in_the_readme_and_the_docs() -> None:
    docs_with_commands = {command.doc for command in COMMANDS}
    assert {"README.md", "docs/storage.md", "docs/sql.md"} <= docs_with_commands
    assert any(command.text == "uv run ndc tables --json" for command in COMMANDS)


def test_every_command_listed_as_not_run_is_still_in_the_docs() -> None:
    texts = {command.text for command in COMMANDS}
    assert set(NOT_RUN) - texts == set()


def test_continuations_comments_prompts_and_exports_are_read() -> None:
    text = "\n".join(
        [
            "```console",
            "$ export A=1   # set it",
            "# a whole-line comment",
            'uv run ndc sql "SELECT 1 # not a comment" \\',
            "  --role restricted   # a comment",
            "```",
            "```",
            "not a command",
            "```",
            "```yaml",
            "ndc: not a command either",
            "```",
        ]
    )
    commands = doc_commands("x.md", text)
    assert [(c.line, c.text, c.exports) for c in commands] == [
        (2, "export A=1", ()),
        (4, 'uv run ndc sql "SELECT 1 # not a comment" --role restricted', ("export A=1",)),
    ]


def test_demo_commands_run_on_the_small_population() -> None:
    assert as_test_demo("ndc demo --citizens 1000000") == "ndc demo --citizens 400 --seed 3"
    assert as_test_demo("ndc demo --reuse-sources") == "ndc demo --reuse-sources --citizens 400 --seed 3"
    assert as_test_demo("ndc tables") == "ndc tables"
    assert program("DAGSTER_HOME=$PWD/x uv run dagster dev") == "dagster"
