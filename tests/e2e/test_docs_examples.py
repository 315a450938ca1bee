# pytest passes fixtures as positional parameters; several per test is the point here.
"""Every example of the README, CONTRIBUTING.md and the docs pages runs as written, with only names
and URLs substituted.

The tests read the pages (:data:`PAGES`), take their fenced code blocks and apply one substitution
table (:data:`PLACEHOLDERS`): the placeholder names and URLs (``my-function``,
``https://proxy.example:3129``, ``"AKIA..."``...) become a function on the local Lambda endpoint, a
real proxy.py, a real key. Nothing else is changed: a page edit is tested as written, and a new
block, a new shell example or a new placeholder without a test fails
:func:`test_every_docs_block_is_covered`. MyST directives (```` ```{name} ````: tables generated
from the code, included example DAGs, the toctree) are not examples; the DAGs they include run in
``test_example_dags.py``. The getting-started page runs from the built wheel in ``test_release.py``.

* Shell examples (the command line section) run with ``bash -eo pipefail`` in a folder holding the
  files they name (``event.json``, ``order.json``, ``ctx.json``, ``proxy-ca.pem``), in a clean
  environment such as a user's shell has: AWS keys, a region and ``AWS_ENDPOINT_URL`` pointing at
  the local endpoint (moto's server running real handler code), ``lambda-ue`` and ``jq`` on PATH.
  The role-and-proxy example runs against moto with IAM enforced (the keys may only assume the
  role, only the role may invoke) through a TLS proxy.py with basic authentication verified with
  a trustme CA; with a wrong password it must exit 11.
* Python snippets run under ``airflow dags test``: the README's DAG as it is; the deferrable
  snippet and the command line page's ``BashOperator`` line inside one DAG (the only lines added
  are the DAG around them). The ``KubernetesPodOperator`` line's command runs as the shell command
  it is. The output document's example is compared with a real one, key by key.
* Blocks that are not examples of the package (set-up commands, the layout) are checked for what
  they claim: the scripts and paths they name exist and parse.

``jq``: the README's shell examples use it, as users do. It comes from the Debian package ``jq``,
which ``scripts/bootstrap.sh`` installs where it is missing and apt-get can (root); without it the
shell tests fail saying so.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_lambda_ue.testing.dag_runner import AirflowEnv
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from airflow_provider_lambda_ue.testing.processes import free_port
from tests.support.document_shape import DOCUMENT_KEYS, STATUS_SUCCESS
from tests.support.fake_servers import subprocess_environment
from tests.support.local_lambda import (
    ACCOUNT,
    RAISE_HANDLER,
    SLEEP_HANDLER,
    create_iam_role,
    new_function,
    unique_function_name,
)
from tests.support.proxies import ProxyFactory, ProxyInfo
from tests.support.servers import process_group

pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parents[2]
#: The pages whose blocks are examples, relative to the repository.
PAGES = ("README.md", "CONTRIBUTING.md", *sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md")))
VENV_BIN = Path(sys.executable).parent
RUN_TIMEOUT = 600

REGION = "us-east-1"
ENV_SECRET = "readme-env-secret-Xq7Lm2Rt"
CONN_SECRET = "readme/conn+secret-9Vw4Kd"
PROXY_USER = "me"  # the README's proxy user, as written
PROXY_PASSWORD = "readme-pr0xy:p@ss/%41"
WRONG_PROXY_PASSWORD = "not-the-proxy-password"
HELLO = "hello from the README's function"


#: The one substitution table: each placeholder of the README and the value key that replaces it.
#: Applied in this order (longer placeholders first, so ``"AKIA..."`` is not taken for ``...``).
PLACEHOLDERS: tuple[tuple[str, str], ...] = (
    ('"AKIA..."', '"{access_key}"'),
    ('"password": "..."', '"password": "{conn_secret}"'),
    ("LAMBDA_UE_PROXY_PASSWORD=...", "LAMBDA_UE_PROXY_PASSWORD={proxy_password}"),
    ("https://proxy.example:3129", "{proxy_url}"),
    ("--function-name f --compact ...", "--function-name {function} --compact"),
    (
        "lambda-ue invoke ... > /airflow/xcom/return.json",
        "lambda-ue invoke --function-name {function} > {xcom}",
    ),
    ("/opt/airflow/payloads", "{payloads}"),
    ('function_name="etl"', 'function_name="{etl}"'),
    ("my-function", "{function}"),
)

# The function behind ``my-function``: prints a line (the log tail), records each execution (an
# Event invocation answers before it runs) and returns what it saw.
README_HANDLER = f"""
import json, os


def handler(event, context):
    print({HELLO!r})
    cc = context.client_context
    seen = {{
        "event": event,
        "custom": cc.custom if cc else None,
        "version": context.function_version,
        "where": os.environ.get("WHERE"),
    }}
    with open(os.environ["RECORD_FILE"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps(seen) + "\\n")
    return seen
"""


# ---------------------------------------------------------------------------------------------
# Reading the README
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """A fenced code block: its page, the section it is in, its language, its text and position."""

    page: str
    section: str
    index: int  # its place among the section's blocks
    language: str
    text: str
    line: int

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.page, self.section, self.index)


def page_text(page: str) -> str:
    return (REPO / page).read_text(encoding="utf-8")


def all_blocks() -> list[Block]:
    """Every example block of every page (MyST directives are not examples)."""
    return [b for page in PAGES for b in page_blocks(page) if not b.language.startswith("{")]


def page_blocks(page: str, text: str | None = None) -> list[Block]:
    """Every fenced block of a page, in order."""
    blocks: list[Block] = []
    section, counts = "", dict[str, int]()
    lines = (page_text(page) if text is None else text).splitlines()
    i = 0
    while i < len(lines):
        heading = re.match(r"^#{1,6} (.+)$", lines[i])
        fence = re.match(r"^```(\S*)(?:\s.*)?$", lines[i])
        if heading:
            section = heading.group(1).strip()
        elif fence:
            start = i
            i += 1
            body: list[str] = []
            while i < len(lines) and lines[i].rstrip() != "```":
                body.append(lines[i])
                i += 1
            assert i < len(lines), f"{page} line {start + 1}: the block is never closed"
            index = counts.get(section, 0)
            counts[section] = index + 1
            blocks.append(Block(page, section, index, fence.group(1), "\n".join(body) + "\n", start + 1))
        i += 1
    return blocks


def block(page: str, section: str, index: int = 0) -> Block:
    [found] = [b for b in page_blocks(page) if b.key == (page, section, index)]
    return found


def shell_examples(text: str) -> dict[str, str]:
    """A shell block's examples: its paragraphs, each titled by its first (comment) line."""
    examples = {}
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        title = paragraph.splitlines()[0]
        assert title.startswith("# "), f"a README shell example without a comment line: {paragraph!r}"
        examples[title[2:]] = paragraph + "\n"
    return examples


def inline_code(text: str, starts_with: str) -> str:
    """The one inline code span of ``text`` (a page) starting with ``starts_with``."""
    [span] = [s for s in re.findall(r"`([^`\n]+)`", text) if s.startswith(starts_with)]
    return span


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Apply :data:`PLACEHOLDERS`; fails on a placeholder whose value the run did not give."""
    for placeholder, replacement in PLACEHOLDERS:
        if placeholder in text:
            text = text.replace(placeholder, replacement.format_map(values))
    # A placeholder this table does not know would be sent as is: fail instead.
    assert "..." not in text, f"an unknown placeholder is left:\n{text}"
    return text


# ---------------------------------------------------------------------------------------------
# Running shell examples
# ---------------------------------------------------------------------------------------------


@dataclass(repr=False)
class ShellRun:
    script: str
    returncode: int
    stdout: str
    stderr: str

    def documents(self) -> list[dict[str, Any]]:
        """Every JSON document on stdout, in order (an example may print several)."""
        decoder, found, text = json.JSONDecoder(), [], self.stdout.strip()
        while text:
            document, end = decoder.raw_decode(text)
            found.append(document)
            text = text[end:].strip()
        return found

    @property
    def document(self) -> dict[str, Any]:
        [document] = self.documents()
        assert set(document) == set(DOCUMENT_KEYS), self
        assert document["exit_code"] == self.returncode, self
        return document

    def __repr__(self) -> str:  # what an assertion message shows
        return (
            f"$ {self.script}\nexit code {self.returncode}\n--- stdout ---\n{self.stdout}\n"
            f"--- stderr ---\n{self.stderr[-6000:]}"
        )


@dataclass
class Shell:
    """A user's shell: a clean environment, a working folder with the files the examples name."""

    cwd: Path
    env: dict[str, str]
    secrets: list[str] = field(default_factory=list)

    def run(self, script: str, env: Mapping[str, str] | None = None, *, strict: bool = True) -> ShellRun:
        """
        Run ``script`` with bash.

        :param strict: ``-e -o pipefail``: an example of several commands stops at the first that
            fails, and a pipeline fails when any part does. Off for a script that reads ``$?`` itself.
        """
        completed = subprocess.run(
            ["bash", *(["-eo", "pipefail"] if strict else []), "-c", script],
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        run = ShellRun(script, completed.returncode, completed.stdout, completed.stderr)
        for secret in self.secrets:
            for form in {secret, quote(secret, safe="")}:
                assert form not in run.stdout + run.stderr, f"a secret leaked:\n{run}"
        return run

    def run_all(
        self, scripts: Sequence[tuple[str, Mapping[str, str] | None]], *, strict: bool = True
    ) -> list[ShellRun]:
        """Run concurrently: each run mostly waits on Airflow's import or on the endpoint."""
        with ThreadPoolExecutor(max_workers=min(4, len(scripts))) as pool:
            return list(pool.map(lambda item: self.run(*item, strict=strict), scripts))


def wait_for_record(path: Path, wanted: Callable[[dict[str, Any]], bool], timeout: float = 60) -> list[Any]:
    """The executions the README's function recorded that ``wanted`` picks, once there is one."""
    deadline = time.monotonic() + timeout
    found: list[Any] = []
    while time.monotonic() < deadline and not found:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        found = [record for record in map(json.loads, lines) if wanted(record)]
        time.sleep(0.1)
    return found


@dataclass
class Functions:
    """The functions standing in for the README's names, on the shared local endpoint."""

    good: str
    failing: str
    slow: str
    record_file: Path


@pytest.fixture(scope="module")
def functions(local_lambda: LocalLambda, tmp_path_factory: pytest.TempPathFactory) -> Functions:
    record_file = tmp_path_factory.mktemp("readme-records") / "executions.jsonl"
    good = unique_function_name("readme")
    env = {"RECORD_FILE": str(record_file), "WHERE": REGION}
    local_lambda.create_function(good, README_HANDLER, timeout=30, environment=env, publish=True)
    local_lambda.client("lambda").create_alias(FunctionName=good, Name="prod", FunctionVersion="1")
    # The connection example's region: the same name there, telling its region apart.
    other_region = local_lambda.client("lambda", region_name="eu-west-1")
    other_region.create_function(
        FunctionName=good,
        Runtime="python3.11",
        Role=local_lambda.ensure_role(),
        Handler="handler.handler",
        Code={"ZipFile": _zip(README_HANDLER)},
        Timeout=30,
        Environment={"Variables": {**env, "WHERE": "eu-west-1"}},
    )
    failing = new_function(local_lambda, "readme-fails", RAISE_HANDLER, timeout=30)
    # Slower than the command line's default 60 s read timeout.
    slow = new_function(
        local_lambda, "readme-slow", SLEEP_HANDLER, timeout=120, environment={"SLEEP_SECONDS": "75"}
    )
    return Functions(good, failing, slow, record_file)


def _zip(source: str) -> bytes:
    from airflow_provider_lambda_ue.testing.local_lambda import zip_handler

    return zip_handler(source)


@pytest.fixture
def shell(local_lambda: LocalLambda, tmp_path: Path, ca_bundle: str) -> Shell:
    assert shutil.which("jq"), (
        "the README's shell examples need jq: apt-get install jq (scripts/bootstrap.sh does)"
    )
    work = tmp_path / "work"
    work.mkdir()
    (work / "event.json").write_text(json.dumps({"source": "event.json"}), encoding="utf-8")
    (work / "order.json").write_text(json.dumps({"order": {"id": 42, "items": ["a", "b"]}}), encoding="utf-8")
    (work / "ctx.json").write_text(json.dumps({"custom": {"caller": "shell"}}), encoding="utf-8")
    shutil.copy(ca_bundle, work / "proxy-ca.pem")
    env = subprocess_environment(
        tmp_path / "airflow-home",
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": ENV_SECRET,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": local_lambda.url,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        },
    )
    return Shell(work, env, [ENV_SECRET, CONN_SECRET, PROXY_PASSWORD, WRONG_PROXY_PASSWORD])


def values(functions: Functions, **more: str) -> dict[str, str]:
    return {
        "function": functions.good,
        "access_key": "AKIAREADMEEXAMPLE001",
        "conn_secret": CONN_SECRET,
        "proxy_password": PROXY_PASSWORD,
        **more,
    }


# ---------------------------------------------------------------------------------------------
# Coverage: every block and every shell example has its test
# ---------------------------------------------------------------------------------------------

CLI_PAGE = "docs/cli.md"
GETTING_STARTED = "docs/getting-started.md"
#: The release check, which runs the getting-started page from the built wheel.
RELEASE_TEST = "tests/e2e/test_release.py::test_getting_started_from_the_built_wheel"

#: Every example block, by (page, section, index), and the test that runs or checks it: a test of
#: this module, or ``path::test`` of another.
BLOCKS = {
    ("README.md", "airflow-provider-lambda-ue", 0): "test_setup_commands_name_existing_scripts",
    ("README.md", "Install", 0): "test_install_line_names_the_distribution_and_its_extras",
    ("README.md", "Usage", 0): "test_usage_dag",
    ("CONTRIBUTING.md", "Contributing", 0): "test_setup_commands_name_existing_scripts",
    ("CONTRIBUTING.md", "A live Airflow: the demo's live mode and the live tests", 0): "test_live_demo",
    ("CONTRIBUTING.md", "Benchmarks", 0): "test_setup_commands_name_existing_scripts",
    ("CONTRIBUTING.md", "Layout", 0): "test_layout_names_existing_paths",
    ("docs/full-log.md", "The complete log", 0): "test_full_log_example",
    ("docs/deferrable.md", "Deferrable mode", 0): "test_deferrable_snippet_and_bash_operator",
    (CLI_PAGE, "The command line", 0): "test_command_line_examples",
    (CLI_PAGE, "Output and exit code", 0): "test_shell_script_case_example",
    ("docs/exit-codes.md", "The output document", 0): "test_output_document_example",
    (GETTING_STARTED, "Install", 0): RELEASE_TEST,
    (GETTING_STARTED, "A function on a local endpoint", 0): RELEASE_TEST,
    (GETTING_STARTED, "Invoke it from the shell", 0): RELEASE_TEST,
    (GETTING_STARTED, "Run it in Airflow", 0): RELEASE_TEST,
    (GETTING_STARTED, "Run it in Airflow", 1): RELEASE_TEST,
    (GETTING_STARTED, "Run it in Airflow", 2): RELEASE_TEST,
    (GETTING_STARTED, "Run it in Airflow", 3): RELEASE_TEST,
}

#: The command-line examples (by their comment line) that test_command_line_examples runs.
CLI_EXAMPLES = {
    "Synchronous; the function's log tail is decoded onto stderr",
    "Payload / client context from a file (@path) or stdin (@-)",
    "Just the function's answer",
    "Credentials from an Airflow connection (the JSON form needs no URL-encoding of the secret)",
    "A function error that should not fail the step: exit 0 with result.function_error set",
    # Run by test_role_through_authenticating_tls_proxy (its own IAM-enforcing endpoint).
    "Assume a role, through an authenticating TLS proxy (STS goes through it too)",
}
ROLE_PROXY_EXAMPLE = "Assume a role, through an authenticating TLS proxy (STS goes through it too)"


def _test_exists(reference: str) -> bool:
    path, _, name = reference.rpartition("::")
    source = (REPO / path).read_text(encoding="utf-8") if path else Path(__file__).read_text(encoding="utf-8")
    return f"def {name}(" in source


def test_every_docs_block_is_covered() -> None:
    blocks = all_blocks()
    found = {b.key for b in blocks}
    assert found == set(BLOCKS), (
        f"blocks without a test: {sorted(found - set(BLOCKS))}; "
        f"tests of blocks no longer there: {sorted(set(BLOCKS) - found)}"
    )
    missing = [reference for reference in set(BLOCKS.values()) if not _test_exists(reference)]
    assert not missing, missing
    assert set(shell_examples(block(CLI_PAGE, "The command line").text)) == CLI_EXAMPLES
    # Every entry of the substitution table is still needed by some example.
    examples = "".join(b.text for b in blocks) + "".join(page_text(page) for page in PAGES)
    unused = [placeholder for placeholder, _ in PLACEHOLDERS if placeholder not in examples]
    assert not unused, f"placeholders the pages no longer have: {unused}"


def test_page_parser_finds_blocks_and_examples() -> None:
    """The harness itself, on a small page: sections, indices, examples, substitution."""
    sample = "# T\n\n```bash\n# one\na\n\n# two\nb\n```\n\n## S\n\n```python\nx = 1\n```\n\n```\nplain\n```\n"
    blocks = page_blocks("p.md", sample)
    assert [(b.key, b.language) for b in blocks] == [
        (("p.md", "T", 0), "bash"),
        (("p.md", "S", 0), "python"),
        (("p.md", "S", 1), ""),
    ]
    assert shell_examples(blocks[0].text) == {"one": "# one\na\n", "two": "# two\nb\n"}
    assert substitute("lambda-ue --function-name my-function", {"function": "fn-1"}) == (
        "lambda-ue --function-name fn-1"
    )
    with pytest.raises(KeyError):
        substitute("--proxy https://proxy.example:3129", {})
    with pytest.raises(AssertionError, match="placeholder"):
        substitute("--payload ...", {})


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------


def test_command_line_examples(shell: Shell, functions: Functions) -> None:
    examples = shell_examples(block(CLI_PAGE, "The command line").text)
    good = values(functions)
    runs = dict(
        zip(
            ["tail", "files", "answer", "connection", "function_error"],
            shell.run_all(
                [
                    (
                        substitute(
                            examples["Synchronous; the function's log tail is decoded onto stderr"], good
                        ),
                        None,
                    ),
                    (
                        substitute(
                            examples["Payload / client context from a file (@path) or stdin (@-)"], good
                        ),
                        None,
                    ),
                    (substitute(examples["Just the function's answer"], good), None),
                    (
                        substitute(
                            examples[
                                "Credentials from an Airflow connection "
                                "(the JSON form needs no URL-encoding of the secret)"
                            ],
                            good,
                        ),
                        # The environment's keys are not the connection's: the connection is used.
                        {"AWS_ACCESS_KEY_ID": "AKIANOTTHECONNECTION", "AWS_DEFAULT_REGION": REGION},
                    ),
                    (
                        substitute(
                            examples[
                                "A function error that should not fail the step: "
                                "exit 0 with result.function_error set"
                            ],
                            values(functions, function=functions.failing),
                        ),
                        None,
                    ),
                ]
            ),
            strict=True,
        )
    )
    for run in runs.values():
        assert run.returncode == 0, run

    tail = runs["tail"].document
    assert tail["status_description"] == STATUS_SUCCESS
    assert json.loads(tail["result"]["payload"])["event"] == {"key": "value"}
    assert f"| {HELLO}" in runs["tail"].stderr  # decoded onto stderr, line by line
    assert HELLO in base64.b64decode(tail["result"]["log_result"]).decode()

    event, piped = runs["files"].documents()
    assert (event["exit_code"], event["result"]["status_code"]) == (0, 202)
    assert event["invocation"]["fields"]["function_name"] == f"{functions.good}:prod"
    answer = json.loads(piped["result"]["payload"])
    assert answer["event"] == {"id": 42, "items": ["a", "b"]}  # jq -c .order order.json
    assert answer["custom"] == {"caller": "shell"}  # ctx.json
    # The Event invocation answered at once; the function then really ran, as version 1 (prod).
    executed = wait_for_record(functions.record_file, lambda seen: seen["event"] == {"source": "event.json"})
    assert executed and executed[0]["version"] == "1", executed

    # Only the function's answer: the payload text, nothing else.
    assert json.loads(runs["answer"].stdout)["event"] == {}

    connection = runs["connection"].document
    assert json.loads(connection["result"]["payload"])["where"] == "eu-west-1"  # the connection's region
    fields = connection["invocation"]["fields"]
    # The connection's keys (masked); the region field stays as given (not given: None).
    assert (fields["credentials_user"], fields["credentials_password"]) == ("****", "****")

    failed = runs["function_error"].document
    assert failed["result"]["function_error"] == "Unhandled"
    assert failed["status_description"] == STATUS_SUCCESS


def test_full_log_example(shell: Shell, functions: Functions) -> None:
    """The Event invocation's whole log, START to REPORT, on stderr (Logs at ``AWS_ENDPOINT_URL``)."""
    run = shell.run(substitute(block("docs/full-log.md", "The complete log").text, values(functions)))
    assert run.returncode == 0, run
    document = run.document
    assert document["result"]["status_code"] == 202
    request_id = document["result"]["request_id"]
    lines = [line for line in run.stderr.splitlines() if line.startswith("INFO | ")]
    assert lines[0] == f"INFO | START RequestId: {request_id} Version: $LATEST"
    assert f"INFO | {HELLO}" in lines
    assert f"INFO | END RequestId: {request_id}" in lines
    assert lines[-1].startswith(f"INFO | REPORT RequestId: {request_id}\t")
    assert "End of the complete log" in run.stderr
    assert HELLO not in run.stdout


def test_kubernetes_pod_operator_command(shell: Shell, functions: Functions) -> None:
    line = inline_code(page_text(CLI_PAGE), "lambda-ue invoke ... > /airflow/xcom/")
    xcom = shell.cwd / "airflow" / "xcom" / "return.json"
    xcom.parent.mkdir(parents=True)
    run = shell.run(substitute(line, values(functions, xcom=str(xcom))))
    assert run.returncode == 0, run
    assert run.stdout == ""  # all of it went to the file the pod's sidecar reads
    document = json.loads(xcom.read_text(encoding="utf-8"))
    assert document["exit_code"] == 0 and document["status_description"] == STATUS_SUCCESS


GREETING_HANDLER = """
def handler(event, context):
    print(f"hello, {event['name']}")
    return {"greeting": f"hello, {event['name']}"}
"""


def _same_shape(example: Any, real: Any, path: str = "") -> None:
    """The same keys in the same order at every level; values of the same JSON type (or null)."""
    if isinstance(example, dict):
        assert isinstance(real, dict) and list(example) == list(real), (path, list(example), list(real))
        for key in example:
            _same_shape(example[key], real[key], f"{path}.{key}")
    else:
        assert example is None or real is None or type(example) is type(real), (path, example, real)


def test_output_document_example(shell: Shell, local_lambda: LocalLambda) -> None:
    """The exit codes page's document is a real one: a synchronous invocation through a connection."""
    example = json.loads(block("docs/exit-codes.md", "The output document").text)
    name = new_function(local_lambda, "docs-document", GREETING_HANDLER, timeout=30)
    fields = example["invocation"]["fields"]
    connection = json.dumps(
        {"conn_type": "aws", "login": "AKIADOCSEXAMPLE00001", "password": CONN_SECRET, "extra": {}}
    )
    run = shell.run(
        f"lambda-ue invoke --aws-conn-id docs --function-name {name} --region {fields['region']} "
        f"--payload '{fields['payload_script']}' --log-type {fields['log_type']}",
        {"AIRFLOW_CONN_DOCS": connection},
    )
    assert run.returncode == 0, run
    real = run.document
    _same_shape(example, real)
    # What does not vary between runs is as the page shows it.
    volatile = {"function_name"}
    assert {k: v for k, v in real["invocation"]["fields"].items() if k not in volatile} == {
        k: v for k, v in fields.items() if k not in volatile
    }
    for key in ("status_code", "payload", "executed_version", "function_error"):
        assert real["result"][key] == example["result"][key], key
    assert {k: real[k] for k in ("exit_code", "status_description", "changed")} == {
        k: example[k] for k in ("exit_code", "status_description", "changed")
    }
    assert real["invocation"]["extension"] == example["invocation"]["extension"]


@pytest.fixture
def iam_endpoint(
    local_lambda_iam: LocalLambda, tmp_path: Path
) -> Iterator[tuple[LocalLambda, str, dict[str, str]]]:
    """An endpoint enforcing IAM: the user may only assume ``invoker``; only the role may invoke."""
    server = local_lambda_iam
    name = new_function(
        server, "readme-role", README_HANDLER, environment={"RECORD_FILE": str(tmp_path / "role.jsonl")}
    )
    role_arn = create_iam_role(
        server, "invoker", assumers=["readme-assumer"], actions=["lambda:InvokeFunction"]
    )
    assert role_arn == f"arn:aws:iam::{ACCOUNT}:role/invoker"  # the README's ARN, as written
    user = server.create_iam_user("readme-assumer", ["sts:AssumeRole"])
    server.enable_iam_enforcement()
    yield (
        server,
        name,
        {
            "AWS_ACCESS_KEY_ID": user["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": user["aws_secret_access_key"],
            "AWS_ENDPOINT_URL": server.url,
        },
    )


def test_role_through_authenticating_tls_proxy(
    shell: Shell,
    functions: Functions,
    iam_endpoint: tuple[LocalLambda, str, dict[str, str]],
    proxy_factory: ProxyFactory,
) -> None:
    """The issue's example: exit 0 through a TLS proxy with basic auth; a wrong password exits 11."""
    server, name, user_env = iam_endpoint
    proxy: ProxyInfo = proxy_factory(tls=True, auth=(PROXY_USER, PROXY_PASSWORD))
    shell.secrets.append(user_env["AWS_SECRET_ACCESS_KEY"])
    example = shell_examples(block(CLI_PAGE, "The command line").text)[ROLE_PROXY_EXAMPLE]
    right = substitute(example, values(functions, function=name, proxy_url=proxy.url))
    wrong = substitute(
        example, values(functions, function=name, proxy_url=proxy.url, proxy_password=WRONG_PROXY_PASSWORD)
    )
    without_role = right.replace(f" --role-arn arn:aws:iam::{ACCOUNT}:role/invoker", "")
    assert without_role != right

    ok, refused, direct = shell.run_all([(right, user_env), (wrong, user_env), (without_role, user_env)])

    assert ok.returncode == 0, ok
    document = ok.document
    assert document["status_description"] == STATUS_SUCCESS
    assert json.loads(document["result"]["payload"])["event"] == {}
    fields = document["invocation"]["fields"]
    assert (fields["role_based_access"], fields["role_arn"]) == (True, f"arn:aws:iam::{ACCOUNT}:role/invoker")
    assert (fields["use_proxy"], fields["proxy"], fields["proxy_type"]) == (
        True,
        proxy.url,
        "HTTPS with Credentials",
    )
    assert (fields["proxy_credentials_user"], fields["proxy_credentials_password"]) == ("****", "****")

    assert refused.returncode == 11, refused
    assert refused.document["status_description"] == (
        f"CONNECTION_ERROR: ProxyConnectionError: Failed to connect to proxy URL {proxy.url}"
    )
    assert refused.document["result"]["status_code"] is None

    # The user's own keys may not invoke: the success above is the assumed role's.
    assert direct.returncode == 3, direct

    # STS and Lambda both went through the proxy (one connection each, relayed upstream), and the
    # wrong password got no further than the proxy.
    relayed = proxy.wait_for_connections(3, timeout=30)
    targets = [entry.target for entry in relayed]
    assert any(target.endswith(f":{server.port}/") for target in targets), targets  # STS
    assert sum(f"/functions/{name}/invocations" in target for target in targets) == 2, targets
    assert proxy.wait_for_rejected(1), proxy.access_log()


# ---------------------------------------------------------------------------------------------
# The shell script
# ---------------------------------------------------------------------------------------------


def test_shell_script_case_example(shell: Shell, functions: Functions) -> None:
    script = block(CLI_PAGE, "Output and exit code").text
    ok, failing, slow = shell.run_all(
        [
            (substitute(script, values(functions)), None),
            (substitute(script, values(functions, function=functions.failing)), None),
            (substitute(script, values(functions, function=functions.slow)), None),
        ],
        # As a script runs it: under -e the failing assignment would end it before the case.
        strict=False,
    )
    assert ok.returncode == 0, ok
    assert json.loads(ok.stdout)["event"] == {"source": "event.json"}  # 0) the function's answer
    assert failing.returncode == 1, failing  # *) the status description on stderr
    # jq's output, not lambda-ue's own "INFO ..." status line.
    assert failing.stderr.splitlines()[-1].startswith("FAIL: Function error (Unhandled): ValueError"), failing
    assert slow.returncode == 21, slow  # 21) no answer within the default 60 s
    assert slow.stderr.splitlines()[-1] == (
        "no answer in time; the function may still be running and is never re-sent"
    ), slow


# ---------------------------------------------------------------------------------------------
# Python snippets under airflow dags test
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def readme_dags(
    airflow_env: AirflowEnv, local_lambda: LocalLambda, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AirflowEnv, Path, dict[str, str]]]:
    """An Airflow home whose DAG folder holds the README's Python snippets (two runs: a fork server)."""
    root = tmp_path_factory.mktemp("readme-dags")
    (root / "dags").mkdir()
    (root / "payloads").mkdir()
    env = airflow_env.clone(root / "home", root / "dags")
    extra = {
        # The deployment's connection and the shell environment a BashOperator's command sees.
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": CONN_SECRET,
                "extra": {"region_name": REGION, "endpoint_url": local_lambda.url},
            }
        ),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": ENV_SECRET,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": local_lambda.url,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    with env.forking():
        yield env, root, extra


def assert_no_secret(text: str) -> None:
    for secret in (CONN_SECRET, ENV_SECRET):
        assert secret not in text and quote(secret, safe="") not in text


def test_usage_dag(readme_dags: tuple[AirflowEnv, Path, dict[str, str]], functions: Functions) -> None:
    env, root, extra = readme_dags
    snippet = block("README.md", "Usage").text
    (root / "payloads" / "payload.json").write_text('{"run": "{{ run_id }}"}\n', encoding="utf-8")
    dag_file = root / "dags" / "readme_usage.py"
    dag_file.write_text(
        substitute(snippet, values(functions, payloads=str(root / "payloads"))), encoding="utf-8"
    )

    result = env.dags_test("lambda_example", extra)

    assert result.returncode == 0 and result.run_state == "success", result.output[-6000:]
    document = result.xcom("invoke")
    assert document["exit_code"] == 0
    answer = json.loads(document["result"]["payload"])
    assert answer["event"] == {"run": result.run_id}  # payload.json rendered by Jinja
    assert answer["version"] == "1"  # my-function:prod
    assert document["invocation"]["fields"]["wait_for_completion_timeout"] == 300
    assert f"| {HELLO}" in result.output  # the log tail, decoded into the task log
    mapped = {
        index: json.loads(result.xcom("each", index)["result"]["payload"])["event"] for index in range(3)
    }
    assert mapped == {0: {"n": 1}, 1: {"n": 2}, 2: {"n": 3}}
    assert_no_secret(result.output + json.dumps(list(result.xcoms.values())))


def test_deferrable_snippet_and_bash_operator(
    readme_dags: tuple[AirflowEnv, Path, dict[str, str]], functions: Functions
) -> None:
    env, root, extra = readme_dags
    deferrable = block("docs/deferrable.md", "Deferrable mode").text
    bash_operator = inline_code(page_text(CLI_PAGE), "BashOperator(")
    given = values(functions, etl=functions.good)
    # The only lines added: the DAG around the two snippets.
    source = (
        "from airflow.providers.standard.operators.bash import BashOperator\n"
        "from airflow.sdk import DAG\n\n"
        "from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator\n\n"
        'with DAG("readme_snippets", schedule=None):\n'
        + textwrap.indent(substitute(deferrable, given), "    ")
        + textwrap.indent(substitute(bash_operator, given), "    ")
        + "\n"
    )
    (root / "dags" / "readme_snippets.py").write_text(source, encoding="utf-8")

    result = env.dags_test("readme_snippets", extra, timeout=600)

    assert result.returncode == 0 and result.run_state == "success", result.output[-6000:]
    long_job = result.xcom("long_job")
    assert long_job["exit_code"] == 0
    assert long_job["invocation"]["fields"]["wait_for_completion_timeout"] == 900
    assert "Deferring the invocation" in result.output  # it waited in the trigger
    assert "running trigger in line" in result.output
    [bash_task] = [task for task, _ in result.task_states if task != "long_job"]
    # BashOperator pushes the last line of stdout: with --compact, the whole document.
    pushed = result.xcom(bash_task)
    pushed = json.loads(pushed) if isinstance(pushed, str) else pushed
    assert pushed["exit_code"] == 0 and pushed["status_description"] == STATUS_SUCCESS
    assert pushed["invocation"]["fields"]["function_name"] == functions.good
    assert_no_secret(result.output + json.dumps(list(result.xcoms.values())))


# ---------------------------------------------------------------------------------------------
# Blocks that are not examples of the package
# ---------------------------------------------------------------------------------------------


def _commands(text: str) -> list[list[str]]:
    return [line.split("#", 1)[0].split() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def test_setup_commands_name_existing_scripts() -> None:
    """The set-up commands (run by CI itself: .ci/run is scripts/test.sh) name real, parsable scripts."""
    commands = [
        command
        for key in (
            ("README.md", "airflow-provider-lambda-ue"),
            ("CONTRIBUTING.md", "Contributing"),
            ("CONTRIBUTING.md", "Benchmarks"),
        )
        for command in _commands(block(*key).text)
    ]
    assert commands
    for command in commands:
        program, script = command[0], command[1]
        assert program in ("bash", ".venv/bin/python"), command
        path = REPO / script
        assert path.is_file(), f"{script} does not exist"
        checker = (
            ["bash", "-n", str(path)]
            if program == "bash"
            else [sys.executable, "-m", "py_compile", str(path)]
        )
        subprocess.run(checker, check=True, capture_output=True, timeout=60)
        for option in command[2:]:
            assert option in path.read_text(encoding="utf-8"), f"{script} has no option {option}"
    # The README opens with the demo and the whole suite, which CI runs.
    readme = _commands(block("README.md", "airflow-provider-lambda-ue").text)
    assert readme[:2] == [["bash", "scripts/demo.sh"], ["bash", "scripts/test.sh"]]
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_install_line_names_the_distribution_and_its_extras() -> None:
    """The README's install line: this distribution, with extras it declares."""
    from importlib.metadata import metadata

    (line,) = block("README.md", "Install").text.splitlines()
    found = re.fullmatch(r'pip install "([\w-]+)\[([\w,]+)\]"', line)
    assert found, line
    declared = metadata(found.group(1)).get_all("Provides-Extra") or []
    assert found.group(1) == "airflow-provider-lambda-ue"
    assert set(found.group(2).split(",")) <= set(declared), declared


def test_layout_names_existing_paths() -> None:
    layout = block("CONTRIBUTING.md", "Layout").text
    current: Path | None = None
    named = 0
    for line in layout.splitlines():
        entry = line.split()[0] if line.strip() else ""
        if not entry or not re.fullmatch(r"[\w./-]+", entry):
            continue  # a continued description
        if not line.startswith(" "):
            current = REPO / entry
            assert current.exists(), entry
        else:
            assert current is not None and (current / entry).exists(), f"{current}/{entry}"
        named += 1
    assert named >= 15


def test_live_demo() -> None:
    """
    ``bash scripts/demo.sh --live`` as written (only the port substituted, so CI needs no free 8080).

    It must bring up the web UI, run the triggered example DAGs to success, and on Ctrl-C (SIGINT
    to the process group, as a terminal sends it) stop every process it started.
    """
    import signal
    import urllib.request

    (command,) = _commands(
        block("CONTRIBUTING.md", "A live Airflow: the demo's live mode and the live tests").text
    )
    assert command == ["bash", "scripts/demo.sh", "--live"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_", "LAMBDA_UE_"))}
    lines: list[str] = []
    with process_group([*command, "--port", str(free_port())], REPO, env) as process:
        assert process.stdout is not None
        url = None
        states: dict[str, str] = {}
        deadline = time.monotonic() + RUN_TIMEOUT
        while len(states) < 4 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Airflow web UI:" in line:
                url = line.split("Airflow web UI:", 1)[1].strip()
            found = re.fullmatch(r"(example_lambda_\w+) (\S+): (\w+)\n", line)
            if found:
                states[found.group(1)] = found.group(3)
        output = "".join(lines)
        assert url, output
        assert len(states) == 4 and set(states.values()) == {"success"}, output
        with urllib.request.urlopen(url, timeout=30) as answer:
            assert answer.status == 200
            assert "<title>Airflow" in answer.read().decode()
        os.killpg(process.pid, signal.SIGINT)
        rest, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output + rest
        assert "stopping Airflow and the local endpoint" in rest
        # Nothing of the process group is left: api-server, scheduler, workers, the endpoint.
        leftovers = subprocess.run(
            ["pgrep", "-g", str(process.pid)], check=False, capture_output=True, text=True
        )
        assert leftovers.stdout.strip() == "", leftovers.stdout
