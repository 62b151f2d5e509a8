"""`ndc docs serve`: every load's Data Docs over HTTP, where the Dagster UI's links point, rendered
from the load's stored validation result on the first request (quality/docs_server.py).

The main CLI loads this group lazily (LAZY_GROUPS in orchestration/cli.py): only `ndc docs …` and `ndc --help` import it.
"""

from __future__ import annotations

import click

from quality.publish import DEFAULT_DOCS_PORT


@click.group()
def docs() -> None:
    """Great Expectations Data Docs of every load."""


@docs.command(short_help="Serve every load's Data Docs over HTTP, rendered on first request.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_DOCS_PORT,
    show_default=True,
    help="Port to listen on (0: any free port; the line printed at start names it).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
def serve(port: int, host: str) -> None:
    """Serve the Data Docs of every load, from the local folder or S3 (NDC_* / AWS_* settings).

    Each load's `data_docs` link in the Dagster UI is http://<NDC_DOCS_URL>/<page>; NDC_DOCS_URL
    defaults to this command's default address, so with it running the links open. A load stores
    only its validation result: the first request for one of its pages renders them (a few
    seconds) and keeps them in the docs root. The warehouse's data is only read.
    """
    import threading

    from quality.docs_server import DocsStore, make_server
    from quality.publish import data_docs_root
    from quality.render import import_renderer
    from warehouse.s3 import check
    from warehouse.storage import StorageSettings
    from warehouse.store_errors import StorageError

    settings = StorageSettings.from_env()
    root = data_docs_root(settings)
    try:
        if settings.is_s3:
            check(settings)  # wrong keys or endpoint: one line now, not a 500 per page later
        store = DocsStore(root, settings)
        server = make_server(store, host, port)
    except StorageError as error:
        raise click.ClickException(str(error)) from error
    except OSError as error:  # e.g. the port is taken
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror or error}") from error
    # GE's import (seconds) while nobody is waiting: the first page opened renders without it.
    threading.Thread(target=import_renderer, name="ndc-docs-import", daemon=True).start()
    bound_host, bound_port = server.server_address[:2]
    click.echo(f"Data Docs of {root} on http://{bound_host}:{bound_port}/ (rendered on first request; Ctrl+C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
