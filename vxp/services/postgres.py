"""PostgreSQL: the full stack's lakeFS KV store, run from the OS packages' binaries.

Nothing is downloaded: "installing" means finding the highest major version under
``/usr/lib/postgresql/<major>/bin`` (Debian's layout). vxp runs its own server on its own data
directory, never the system service. PostgreSQL refuses to run as root, so when vxp runs as root,
``initdb`` and the server run as the OS user ``postgres`` that the package creates.

:meth:`Postgres.settings` exports, for ``vxp env``:

- ``VXP_POSTGRES_DSN``: a ``postgresql://`` URL of the ``lakefs`` database, with credentials;
- ``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``: the same for ``psql`` and
  other libpq clients.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from vxp.errors import VxpError
from vxp.services.base import Component, Context, LaunchSpec

if TYPE_CHECKING:
    import psycopg

PACKAGES = Path("/usr/lib/postgresql")
SUPERUSER = "vxp"
DATABASE = "lakefs"
# the OS user the Debian package creates; used only when vxp itself runs as root
OS_USER = "postgres"
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


def _searchable(info: os.stat_result, uid: int, gids: set[int]) -> bool:
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid in gids:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def _open_path(path: Path, user: pwd.struct_passwd, home_root: Path) -> None:
    """Make every directory above ``path`` searchable by ``user``.

    The installation's home is kept 0700, so it gets the user's group and ``g+x``; a directory
    outside the home is the administrator's to change, so refuse with a clear error instead.
    """
    gids = set(os.getgrouplist(user.pw_name, user.pw_gid))
    for parent in reversed(path.resolve().parents):
        info = parent.stat()
        if _searchable(info, user.pw_uid, gids):
            continue
        if parent != home_root and home_root not in parent.parents:
            raise VxpError(
                f"PostgreSQL runs as the OS user `{user.pw_name}` (it refuses to run as root), "
                f"and that user cannot enter {parent}",
                hint="run vxp as a non-root user, or point VXP_HOME to a directory that "
                f"`{user.pw_name}` can reach (e.g. under /var/lib or /srv)",
            )
        os.chown(parent, -1, user.pw_gid)
        parent.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXGRP)


class Postgres(Component):
    name = "postgres"
    # the OS packages' major version, e.g. "15"
    version = _BINDIR.parent.name if _BINDIR is not None else "none"
    ports: ClassVar[dict[str, int | None]] = {"postgres": 5432}

    def bindir(self) -> Path:
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

    def _socket_dir(self, ctx: Context) -> Path:
        return ctx.run_dir(self.name) / "sockets"

    def installed(self, ctx: Context) -> bool:
        return _BINDIR is not None and importlib.util.find_spec("psycopg") is not None

    def install(self, ctx: Context, force: bool = False) -> None:
        self.bindir()
        # psycopg comes with the `full` extra; the embedded stack never imports it
        if importlib.util.find_spec("psycopg") is None:
            raise VxpError(
                "the full stack needs the PostgreSQL driver psycopg",
                hint="pip install 'vxp[full]'",
            )

    def prepare(self, ctx: Context) -> None:
        bindir = self.bindir()
        data = ctx.data_dir(self.name)
        sockets = self._socket_dir(ctx)
        sockets.mkdir(exist_ok=True)
        user = self._os_user()
        for directory in (data, sockets):
            if user is not None:
                _open_path(directory, user, ctx.home.root)
                os.chown(directory, user.pw_uid, user.pw_gid)
            # PostgreSQL refuses a data directory that others can read
            directory.chmod(0o700)
        if not (data / "PG_VERSION").exists():
            self._initdb(ctx, bindir, data, user)
        self._write(data / "vxp.conf", CONFIG.format(sockets=sockets), user)
        main = data / "postgresql.conf"
        if INCLUDE not in main.read_text():
            self._write(main, main.read_text() + "\n" + INCLUDE, user)

    def _initdb(
        self, ctx: Context, bindir: Path, data: Path, user: pwd.struct_passwd | None
    ) -> None:
        # the password goes through a file, never the command line (visible in `ps`)
        fd, name = tempfile.mkstemp(dir=ctx.run_dir(self.name), prefix="pwfile-")
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
        user = self._os_user()
        data = ctx.data_dir(self.name)
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
        import psycopg

        try:
            with self._connect(ctx, "postgres") as conn:
                row = conn.execute("SELECT 1").fetchone()
        except psycopg.Error:
            return False
        return row == (1,)

    def after_start(self, ctx: Context) -> None:
        with self._connect(ctx, "postgres") as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if exists is None:
                # CREATE DATABASE cannot take parameters; both names are constants
                conn.execute(f"CREATE DATABASE {DATABASE} OWNER {SUPERUSER}")

    def settings(self, ctx: Context) -> dict[str, str]:
        port = str(ctx.ports["postgres"])
        password = ctx.secrets["postgres_password"]
        return {
            "VXP_POSTGRES_DSN": (
                f"postgresql://{SUPERUSER}:{quote(password, safe='')}@127.0.0.1:{port}/{DATABASE}"
            ),
            "PGHOST": "127.0.0.1",
            "PGPORT": port,
            "PGUSER": SUPERUSER,
            "PGPASSWORD": password,
            "PGDATABASE": DATABASE,
        }
