"""The release check: the distributions as built, installed into a clean venv, doing what the docs say.

``uv build`` makes the sdist and, from it, the wheel; ``twine check --strict`` reads their metadata;
both must carry LICENSE and ``py.typed``. Then the getting-started page (docs/getting-started.md)
runs as a user runs it, block after block in one shell, in an empty folder and an environment
with nothing of this checkout's (no ``AIRFLOW_*``, ``AWS_*`` or ``LAMBDA_UE_*`` variable, no
``.venv`` on PATH): a new venv, the built wheel installed into it, the local Lambda endpoint from
it, ``lambda-ue invoke``, ``airflow providers list``, the page's DAG under ``airflow dags test``.

What is substituted, and nothing else: ``python3`` by this interpreter (the same Python the
dependencies are cached for), the install line's distribution name by the built wheel and its
``pip install`` by ``uv pip install`` (the same requirement; uv resolves Airflow's tree from its
cache in seconds where pip takes minutes), and the endpoint's port by a free one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import airflow_provider_lambda_ue
from airflow_provider_lambda_ue.testing.processes import free_port
from tests.support.servers import process_group

pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "getting-started.md"
DISTRIBUTION = "airflow-provider-lambda-ue"
VERSION = airflow_provider_lambda_ue.__version__
PORT = "4566"


def _uv() -> str:
    uv = Path(sys.executable).with_name("uv")
    return str(uv) if uv.exists() else shutil.which("uv") or "uv"


def _blocks(text: str) -> list[tuple[str, str]]:
    """The page's fenced blocks, in order: (language, text)."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.M | re.S)]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built from this checkout as a release would be."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [_uv(), "build", "--quiet", "--out-dir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def test_distributions_carry_license_metadata_and_types(dist: Path) -> None:
    wheel = next(dist.glob("*.whl"))
    sdist = next(dist.glob("*.tar.gz"))
    assert wheel.name == f"airflow_provider_lambda_ue-{VERSION}-py3-none-any.whl"
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    license_text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "airflow_provider_lambda_ue/py.typed" in names
        [licensed] = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(licensed).decode() == license_text
        [meta] = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(meta).decode()
    with tarfile.open(sdist) as archive:
        root = f"airflow_provider_lambda_ue-{VERSION}"
        members = archive.getnames()
        assert f"{root}/LICENSE" in members
        assert f"{root}/airflow_provider_lambda_ue/py.typed" in members
    assert f"Version: {VERSION}" in metadata
    assert "License-Expression: Apache-2.0" in metadata
    urls = dict(
        line.removeprefix("Project-URL: ").split(", ", 1)
        for line in metadata.splitlines()
        if line.startswith("Project-URL: ")
    )
    assert set(urls) == {"Documentation", "Source", "Changelog", "Issues"}, urls
    assert all(url.startswith("https://") for url in urls.values()), urls


def _script(page: str, wheel: Path, port: str) -> str:
    """The page's blocks as one shell script; each block's output in ``out/<n>.out``."""
    parts = ["set -eo pipefail"]
    python_blocks = 0
    for number, (language, text) in enumerate(_blocks(page)):
        if language == "python":
            # "Save this DAG as dags/hello_lambda.py": the page's only Python block.
            python_blocks += 1
            parts.append(f"cat > dags/hello_lambda.py <<'DAG'\n{text}DAG")
            continue
        assert language == "bash", language
        command = (
            text.replace("python3 -m venv", f"{sys._base_executable} -m venv")  # type: ignore[attr-defined]
            .replace(f'pip install "{DISTRIBUTION}[', f'uv pip install --quiet "{wheel}[')
            .replace(PORT, port)
        )
        parts.append(f"{{\n{command}}} > out/{number}.out 2> out/{number}.err")
    assert python_blocks == 1
    return "\n".join(parts) + "\n"


@pytest.mark.proves(
    "AWS_ENDPOINT_URL",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "--port",
    "--functions",
    "--payload",
    "--log-type",
)
def test_getting_started_from_the_built_wheel(dist: Path, tmp_path: Path) -> None:
    """
    docs/getting-started.md, from an empty folder, with the wheel: a green task.

    The environment points Lambda at nothing but what the page exports: ``AWS_ENDPOINT_URL``
    reaches the local endpoint (without it botocore would call AWS), ``AIRFLOW__CORE__DAGS_FOLDER``
    finds the page's DAG, ``--port`` and ``--functions`` serve ``hello``, ``--payload`` and
    ``--log-type`` shape the invocation.
    """
    wheel = next(dist.glob("*.whl"))
    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "uv").symlink_to(_uv())
    port = str(free_port())
    page = PAGE.read_text(encoding="utf-8")
    assert PORT in page and f'pip install "{DISTRIBUTION}[' in page
    env = {
        "PATH": f"{tools}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", str(tmp_path)),  # uv's cache
        "LANG": "C.UTF-8",
        "NO_PROXY": "*",
    }
    # The machine's own way to the package index (its CAs, index and cache settings): a user's
    # shell has them too, and they say nothing of this checkout.
    env.update(
        (name, value)
        for name, value in os.environ.items()
        if name.startswith(("UV_", "PIP_", "SSL_CERT_")) or name in ("REQUESTS_CA_BUNDLE", "TMPDIR")
    )
    # The endpoint the page starts in the background is stopped by its own `kill %1`, and by
    # process_group when the script ends early.
    with process_group(["bash", "-c", _script(page, wheel, port)], work, env) as process:
        output, _ = process.communicate(timeout=840)
    outputs = {
        int(path.stem): path.read_text(encoding="utf-8") + (work / "out" / f"{path.stem}.err").read_text()
        for path in (work / "out").glob("*.out")
    }
    report = f"exit {process.returncode}\n{output}\n" + "\n".join(
        f"--- block {n} ---\n{text[-4000:]}" for n, text in sorted(outputs.items())
    )
    assert process.returncode == 0, report

    venv = work / "lambda-ue-venv"
    [site] = list(venv.glob("lib/python*/site-packages"))
    installed = site / "airflow_provider_lambda_ue" / "__init__.py"
    assert installed.is_file() and not installed.is_symlink(), report  # the wheel, not this checkout
    assert not list(site.glob("*.pth")) or all(
        str(REPO) not in pth.read_text(encoding="utf-8") for pth in site.glob("*.pth")
    )

    blocks = [language for language, _ in _blocks(page)]
    numbers = [n for n, language in enumerate(blocks) if language == "bash"]
    _install, _endpoint, invoke, airflow_home, dags_test, _stop = numbers
    document = json.loads((work / "out" / f"{invoke}.out").read_text(encoding="utf-8"))
    assert document["exit_code"] == 0, report
    assert json.loads(document["result"]["payload"]) == {"greeting": "hello, shell"}
    assert document["invocation"]["version"] == VERSION
    assert "| hello, shell" in (work / "out" / f"{invoke}.err").read_text(encoding="utf-8")

    providers = (work / "out" / f"{airflow_home}.out").read_text(encoding="utf-8")
    assert re.search(rf"^{DISTRIBUTION}\s.*\s{re.escape(VERSION)}\s*$", providers, re.M), providers

    dag_output = outputs[dags_test]
    assert "DagRun Finished: dag_id=hello_lambda" in dag_output and "state=success" in dag_output, report
    assert "| hello, manual__" in dag_output, report
    assert "Lambda answered 200 (executed version $LATEST, request id " in dag_output, report
    with sqlite3.connect(work / "airflow" / "airflow.db") as db:
        [(value,)] = db.execute(
            "SELECT value FROM xcom"
            " WHERE dag_id = 'hello_lambda' AND task_id = 'hello' AND key = 'return_value'"
        ).fetchall()
    pushed = json.loads(value)
    pushed = json.loads(pushed) if isinstance(pushed, str) else pushed
    assert pushed["exit_code"] == 0
    assert json.loads(pushed["result"]["payload"])["greeting"].startswith("hello, manual__")
