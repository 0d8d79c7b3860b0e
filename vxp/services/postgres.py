"""PostgreSQL: the full stack's lakeFS KV store, run from the OS packages' binaries.

Nothing is downloaded: "installing" means finding the highest major version under
``/usr/lib/postgresql/<major>/bin`` (Debian's layout). vxp runs its own server on its own data
directory, never the system service. PostgreSQL refuses to run as root, so when vxp runs as root,
``initdb`` and the server run as the OS user ``postgres`` that the package creates.

:meth:`Postgres.settings` exports, for ``vxp env``, only ``VXP_POSTGRES_DSN``: a
``postgresql://`` URL of the ``lakefs`` database, with credentials (``psql "$VXP_POSTGRES_DSN"``).
No ``PG*`` names: ``eval "$(vxp env)"`` must never replace a user's own.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from vxp.core.errors import VxpError
from vxp.core.settings import Key
from vxp.services.base import Component, Context, LaunchSpec

if TYPE_CHECKING:
    import psycopg

PACKAGES = Path("/usr/lib/postgresql")
SUPERUSER = "vxp"
DATABASE = "lakefs"
# the OS user the Debian package creates; used only when vxp itself runs as root
OS_USER = "postgres"
# as root, the server's files live here (see Postgres.server_dir)
ROOT_RUNTIME = Path("/var/lib/vxp")
# included from postgresql.conf and rewritten by every prepare, so changed defaults take effect
CONFIG = """\
# written by vxp on every start; edit postgresql.conf (after the include) to override
listen_addresses = '127.0.0.1'
unix_socket_directories = '{sockets}'
# a small footprint: lakeFS' KV store is the only client
shared_buffers = 64MB
work_mem = 4MB
maintenance_work_mem = 32MB
effective_cache_size = 256MB
max_wal_size = 256MB
max_connections = 100
"""
INCLUDE = "include_if_exists = 'vxp.conf'\n"


def _find_bindir() -> Path | None:
    """The bin directory of the highest PostgreSQL major version installed from OS packages."""
    found = [
        bindir
        for bindir in PACKAGES.glob("*/bin")
        if bindir.parent.name.isdigit()
        and (bindir / "postgres").is_file()
        and (bindir / "initdb").is_file()
    ]
    return max(found, key=lambda bindir: int(bindir.parent.name), default=None)


# looked up once, so the version shown and the binaries run always agree
_BINDIR = _find_bindir()


class Postgres(Component):
    """PostgreSQL from the OS packages, on a data directory of its own; lakeFS's KV store.

    ``version`` is the major version found under ``/usr/lib/postgresql``, or ``none``.
    """

    name = "postgres"
    # the OS packages' major version, e.g. "15"
    version = _BINDIR.parent.name if _BINDIR is not None else "none"
    ports: ClassVar[dict[str, int | None]] = {"postgres": 5432}

    def bindir(self) -> Path:
        """The bin directory of the highest PostgreSQL major version installed.

        Raises:
            VxpError: no PostgreSQL is installed from the OS packages.
        """
        if _BINDIR is None:
            raise VxpError(
                f"PostgreSQL was not found under {PACKAGES}; the full stack needs it",
                hint="apt install postgresql",
            )
        return _BINDIR

    def _os_user(self) -> pwd.struct_passwd | None:
        """The account the server runs as, or None for vxp's own user."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(OS_USER)
        except KeyError as error:
            raise VxpError(
                f"vxp runs as root, PostgreSQL refuses to, and the OS user `{OS_USER}` is missing",
                hint="apt install postgresql (it creates that user), or run vxp as a non-root user",
            ) from error

    def server_dir(self, ctx: Context) -> Path:
        """The directory holding the cluster (``data/``) and its sockets (``sockets/``).

        Normally ``$VXP_HOME/data/postgres``. As root, the server runs as ``postgres``, which
        cannot enter a private (0700) home such as /root/.vxp; rather than loosen the home's
        permissions, the files live under /var/lib/vxp/<installation id>, owned by ``postgres``,
        and ``$VXP_HOME/data/postgres`` is a symlink to them.

        Raises:
            VxpError: vxp runs as root and the OS user ``postgres`` is missing.
            OSError: a directory cannot be made, handed over or linked.
        """
        link = ctx.home.data / self.name
        user = self._os_user()
        if user is None:
            link.mkdir(parents=True, exist_ok=True)
            return link
        target = ROOT_RUNTIME / hashlib.sha256(str(ctx.home.root).encode()).hexdigest()[:16]
        target.mkdir(parents=True, exist_ok=True)
        ROOT_RUNTIME.chmod(0o755)
        os.chown(target, user.pw_uid, user.pw_gid)
        target.chmod(0o700)
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
        return target

    def _data_dir(self, ctx: Context) -> Path:
        return self.server_dir(ctx) / "data"

    def _socket_dir(self, ctx: Context) -> Path:
        return self.server_dir(ctx) / "sockets"

    def installed(self, ctx: Context) -> bool:
        """True when the server binaries and the ``psycopg`` driver are both there."""
        return _BINDIR is not None and importlib.util.find_spec("psycopg") is not None

    def install(self, ctx: Context, force: bool = False) -> None:
        """Check what cannot be installed here: the OS packages' server and the ``psycopg`` driver.

        Raises:
            VxpError: either is missing; the hint names the package.
        """
        self.bindir()
        # psycopg comes with the `full` extra; the embedded stack never imports it
        if importlib.util.find_spec("psycopg") is None:
            raise VxpError(
                "the full stack needs the PostgreSQL driver psycopg",
                hint="pip install 'vxp[full]'",
            )

    def prepare(self, ctx: Context) -> None:
        """Initialise the cluster once (``initdb``), then (re)write vxp's settings file it includes.

        Raises:
            VxpError: no server, ``initdb`` failed, the OS user is missing (as root), or the data
                directory is from another major version.
            OSError: a file or directory cannot be written.
        """
        bindir = self.bindir()
        data = self._data_dir(ctx)
        sockets = self._socket_dir(ctx)
        user = self._os_user()
        for directory in (data, sockets):
            directory.mkdir(exist_ok=True)
            if user is not None:
                os.chown(directory, user.pw_uid, user.pw_gid)
            # PostgreSQL refuses a data directory that others can read
            directory.chmod(0o700)
        marker = data / "PG_VERSION"
        if not marker.exists():
            self._initdb(ctx, bindir, data, user)
        elif (found := marker.read_text().strip()) != self.version:
            # an OS upgrade replaced the major version the cluster was created with
            raise VxpError(
                f"the PostgreSQL data in {data} is from version {found}, but the installed "
                f"server is version {self.version}",
                hint=f"upgrade the data with pg_upgrade (it needs postgresql-{found} installed "
                "alongside), or remove that directory to start empty, losing lakeFS' metadata",
            )
        self._write(data / "vxp.conf", CONFIG.format(sockets=sockets), user)
        main = data / "postgresql.conf"
        text = main.read_text()
        if INCLUDE not in text:
            self._write(main, text + "\n" + INCLUDE, user)

    def _initdb(
        self, ctx: Context, bindir: Path, data: Path, user: pwd.struct_passwd | None
    ) -> None:
        # the password goes through a file, never the command line (visible in `ps`)
        fd, name = tempfile.mkstemp(dir=self.server_dir(ctx), prefix="pwfile-")
        pwfile = Path(name)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(ctx.secrets["postgres_password"] + "\n")
            if user is not None:
                os.chown(pwfile, user.pw_uid, user.pw_gid)
            result = subprocess.run(
                [
                    str(bindir / "initdb"),
                    "--pgdata",
                    str(data),
                    "--username",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    # the C locale: sorting does not depend on the machine's installed locales
                    "--no-locale",
                ],
                capture_output=True,
                text=True,
                cwd=data,
                user=None if user is None else user.pw_uid,
                group=None if user is None else user.pw_gid,
                extra_groups=None if user is None else os.getgrouplist(user.pw_name, user.pw_gid),
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise VxpError(
                f"initdb failed (exit {result.returncode}) for {data}:\n"
                f"{result.stdout}{result.stderr}"
            )

    def _write(self, path: Path, text: str, user: pwd.struct_passwd | None) -> None:
        path.write_text(text)
        if user is not None:
            os.chown(path, user.pw_uid, user.pw_gid)

    def launch(self, ctx: Context) -> LaunchSpec:
        """``postgres -D <data> -p <port> -k <sockets> -h 127.0.0.1`` (as ``postgres`` if root).

        Raises:
            VxpError: no server is installed, or (as root) the OS user is missing.
        """
        user = self._os_user()
        data = self._data_dir(ctx)
        return LaunchSpec(
            argv=[
                str(self.bindir() / "postgres"),
                "-D",
                str(data),
                "-p",
                str(ctx.ports["postgres"]),
                "-k",
                str(self._socket_dir(ctx)),
                "-h",
                "127.0.0.1",
            ],
            cwd=data,
            user=None if user is None else user.pw_name,
        )

    def url(self, ctx: Context) -> str:
        """``postgresql://127.0.0.1:<port>`` (no credentials: see :meth:`settings`)."""
        return f"postgresql://127.0.0.1:{ctx.ports['postgres']}"

    def _connect(self, ctx: Context, dbname: str) -> psycopg.Connection[Any]:
        import psycopg  # checked by install()

        return psycopg.connect(
            host="127.0.0.1",
            port=ctx.ports["postgres"],
            user=SUPERUSER,
            password=ctx.secrets["postgres_password"],
            dbname=dbname,
            connect_timeout=2,
            autocommit=True,
        )

    def healthy(self, ctx: Context) -> bool:
        """True when ``SELECT 1`` runs as vxp's superuser (2 s connect timeout)."""
        import psycopg

        try:
            with self._connect(ctx, "postgres") as conn:
                row = conn.execute("SELECT 1").fetchone()
        except psycopg.Error:
            return False
        return row == (1,)

    def after_start(self, ctx: Context) -> None:
        """Create the ``lakefs`` database unless it exists.

        Raises:
            psycopg.Error: the server refused the connection or the statement.
        """
        with self._connect(ctx, "postgres") as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if exists is None:
                # CREATE DATABASE cannot take parameters; both names are constants
                conn.execute(f"CREATE DATABASE {DATABASE} OWNER {SUPERUSER}")

    def settings(self, ctx: Context) -> dict[str, str]:
        """``VXP_POSTGRES_DSN`` for ``vxp env``; never ``PG*``, which stay the user's."""
        port = str(ctx.ports["postgres"])
        password = ctx.secrets["postgres_password"]
        return {
            # only a VXP_ name: `eval "$(vxp env)"` must never replace a user's own PG* variables
            Key.POSTGRES_DSN: (
                f"postgresql://{SUPERUSER}:{quote(password, safe='')}@127.0.0.1:{port}/{DATABASE}"
            ),
        }
