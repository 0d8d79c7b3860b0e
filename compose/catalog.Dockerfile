# The vxp Iceberg REST catalog (catalog/, `vxp catalog serve`) for compose/docker-compose.yml.
# Build context: the repository root (the compose file sets it; ../.dockerignore keeps it small):
#
#   docker compose build catalog                     # from compose/
#   docker build -f compose/catalog.Dockerfile .     # or by hand, from the repository root
#
# Configured entirely by VXP_CATALOG_* variables (see docker-compose.yml and
# docs/reference/catalog.md); it keeps no state of its own.

# Python 3.11: pyproject's minimum and Debian 12's Python, which the tests run on. Like
# postgres:15-bookworm, the tag follows upstream's patch (security) releases: rebuild with
# `docker compose build --pull catalog` to pick them up.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# only what `pip install .` packages (pyproject's packages.find), so unrelated changes in the
# repository do not invalidate the install layer
WORKDIR /src
COPY pyproject.toml README.md ./
COPY vxp ./vxp
COPY vxp_client ./vxp_client
COPY catalog ./catalog
COPY ingestion ./ingestion
COPY hooks ./hooks
# the base install only (no [full]: no Trino client, JDK or PostgreSQL driver)
RUN pip install . \
 && rm -rf /src/build /src/*.egg-info

# never run as root; no login shell, a home for libraries that want one
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/vxp \
      --shell /usr/sbin/nologin vxp
USER vxp
WORKDIR /home/vxp

EXPOSE 8181
# every interface of the container; compose publishes the port on VXP_BIND_ADDRESS only
ENTRYPOINT ["vxp", "catalog", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8181"]
