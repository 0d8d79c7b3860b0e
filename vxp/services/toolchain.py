"""Builds and downloads through the ecosystems' own channels: Go modules, npm, Maven artifacts.

Registry locations are never hard-coded: ``go`` uses its configured module proxy (GOPROXY),
``npm`` its configured registry and ``mvn`` its configured repositories (Maven Central unless the
user's settings say otherwise).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from vxp.core.errors import VxpError


def require_tool(tool: str, purpose: str, hint: str) -> str:
    """The path of ``tool`` on ``PATH``.

    Args:
        purpose: what it is needed for, completing "it is needed to …".
        hint: how to install it.

    Raises:
        VxpError: ``tool`` is not on ``PATH``.
    """
    path = shutil.which(tool)
    if path is None:
        raise VxpError(f"`{tool}` was not found on PATH; it is needed to {purpose}", hint=hint)
    return path


def run_with_progress(
    argv: list[str],
    label: str,
    console: Console,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> None:
    """Run a long command, showing a spinner with elapsed time and its latest output line.

    On failure, raise with the command's last lines so the cause is visible without a log hunt.

    Args:
        env: variables added to this process's environment.

    Raises:
        VxpError: the command exited non-zero (the message holds its last 25 output lines).
        OSError: the command cannot be run (not found, not executable).
    """
    tail: deque[str] = deque(maxlen=25)
    start = time.monotonic()
    full_env = {**os.environ, **(env or {})}
    with console.status(f"{label} …") as status:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                tail.append(line)
                elapsed = time.monotonic() - start
                status.update(f"{label} … {elapsed:4.0f}s  [dim]{line[-90:]}[/dim]")
        code = proc.wait()
    elapsed = time.monotonic() - start
    if code != 0:
        raise VxpError(
            f"{label} failed (exit {code}) after {elapsed:.0f}s:\n" + "\n".join(tail),
        )
    console.print(f"[green]✓[/green] {label} ({elapsed:.0f}s)")


def go_build_module(
    module: str,
    version: str,
    package: str,
    output: Path,
    console: Console,
    work: Path,
    ldflags: str = "",
    before_build: Callable[[Path], None] | None = None,
) -> None:
    """Download a Go module at ``version`` and build ``package`` inside it into ``output``.

    Building inside the downloaded module (rather than ``go install module@version``) honours the
    module's own ``replace`` directives, which ``go install`` refuses. ``before_build``, if given,
    is called with the writable copy of the module (under ``work``) before ``go build``, to
    generate files the build embeds (the module cache itself is read-only). The copy is removed
    afterwards. ``go`` uses its configured module proxy (GOPROXY).

    Raises:
        VxpError: ``go`` is missing, the download or the build fails, or ``before_build`` raised it.
        OSError: the copy of the module cannot be made.
    """
    go = require_tool(
        "go", f"build {module}", "install Go 1.24 or newer (Debian: apt install golang-go)"
    )
    env = {"GOFLAGS": "-mod=mod", "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"}
    listing = subprocess.run(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=work,
    )
    if listing.returncode != 0:
        raise VxpError(
            f"could not download Go module {module}@{version}:\n{listing.stdout}{listing.stderr}",
            hint="check network access to your Go module proxy (GOPROXY)",
        )
    source_dir = Path(json.loads(listing.stdout)["Dir"])
    src = work / "src"
    if src.exists():
        shutil.rmtree(src)
    # the module cache is read-only; build in a writable copy
    shutil.copytree(source_dir, src)
    for path in [src, *src.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    if before_build is not None:
        before_build(src)
    output.parent.mkdir(parents=True, exist_ok=True)
    run_with_progress(
        [go, "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(output), package],
        f"building {module.rsplit('/', 1)[-1]} {version} from its Go module",
        console,
        cwd=src,
        env=env,
    )
    shutil.rmtree(src)


def npm_build(
    project: Path, label: str, console: Console, env: dict[str, str] | None = None
) -> None:
    """Install the locked dependencies of the npm ``project`` folder, then run its ``build`` script.

    ``npm ci`` installs exactly ``package-lock.json`` from npm's configured registry (through its
    own cache, ``~/.npm``). Packages' install scripts are not run (``--ignore-scripts``): the ones
    a front-end build needs (esbuild, swc) only check for their platform package, which npm
    installs anyway, and a script could otherwise reach hosts other than the registry. Audit and
    funding calls are skipped. ``npm run build`` then works offline; ``env`` is added to its
    environment.

    Raises:
        VxpError: ``npm`` is missing or either step fails (with its last output lines).
    """
    npm = require_tool(
        "npm",
        f"build {label}",
        "install Node.js 20.19 or newer, with npm",
    )
    run_with_progress(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        f"installing the npm packages of {label}",
        console,
        cwd=project,
    )
    run_with_progress([npm, "run", "build"], f"building {label}", console, cwd=project, env=env)


def go_install(module_at_version: str, package: str, output: Path, console: Console) -> None:
    """``go install`` a module without replace directives, then move the binary to ``output``.

    Args:
        module_at_version: ``module@version``; only the version part is used, with ``package``.

    Raises:
        VxpError: ``go`` is missing or the build fails.
        OSError: the binary cannot be moved to ``output``.
    """
    go = require_tool(
        "go", f"build {module_at_version}", "install Go 1.24 or newer (apt install golang-go)"
    )
    gobin = output.parent / ".gobin"
    run_with_progress(
        [go, "install", "-trimpath", f"{package}@{module_at_version.split('@', 1)[1]}"],
        f"building {package.rsplit('/', 1)[-1]} from its Go module",
        console,
        env={"GOBIN": str(gobin), "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"},
    )
    built = next(gobin.iterdir())
    output.parent.mkdir(parents=True, exist_ok=True)
    built.replace(output)
    shutil.rmtree(gobin)


def maven_fetch(artifact: str, dest: Path, console: Console) -> Path:
    """Fetch ``group:artifact:version:packaging[:classifier]`` from Maven's configured repositories.

    Maven downloads into a private local repository under ``dest``, removed afterwards, so the
    archive lives only in vxp's cache.

    Returns:
        The path of the downloaded file inside ``dest``.

    Raises:
        VxpError: ``mvn`` is missing, the download fails, or the file is not where Maven said.
    """
    mvn = require_tool(
        "mvn",
        f"download {artifact} from Maven Central",
        "install Maven and a Java runtime (Debian: apt install maven)",
    )
    dest.mkdir(parents=True, exist_ok=True)
    run_with_progress(
        [
            mvn,
            "--batch-mode",
            "--no-transfer-progress",
            "dependency:copy",
            f"-Dartifact={artifact}",
            f"-DoutputDirectory={dest}",
            "-Dmdep.useBaseVersion=true",
            # a private local repository, removed afterwards: the archive lives only in our cache
            f"-Dmaven.repo.local={dest / '.m2'}",
        ],
        f"downloading {artifact}",
        console,
        cwd=dest,
    )
    parts = artifact.split(":")
    name = f"{parts[1]}-{parts[2]}" + (f"-{parts[4]}" if len(parts) > 4 else "") + f".{parts[3]}"
    path = dest / name
    shutil.rmtree(dest / ".m2", ignore_errors=True)
    if not path.is_file():
        raise VxpError(f"Maven reported success but {path} is missing")
    return path
