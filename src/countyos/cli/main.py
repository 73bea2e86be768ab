"""The ``countyos`` Typer application: ``demo``, ``serve`` and the command groups."""

from __future__ import annotations

import sys

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from countyos.cli import datasets, lab, organisation
from countyos.cli.common import STATE, console, user_errors

app = typer.Typer(
    help="CountyOS 县域数字底座: the data hub, catalog and lab of a county.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(datasets.app, name="dataset")
app.add_typer(organisation.departments, name="department")
app.add_typer(organisation.townships, name="township")
app.add_typer(organisation.users_app, name="user")
app.add_typer(organisation.audit_app, name="audit")
app.add_typer(lab.app, name="lab")


@app.command()
def worker(once: bool = typer.Option(False, "--once", help="Do one round of work and exit.")) -> None:
    """Run the lab worker: builds twins and runs submitted jobs (the trusted zone)."""
    from countyos.lab.worker import run_once, serve_forever

    with user_errors():
        hub = STATE.hub()
        if once:
            console.print(f"handled {run_once(hub)} item(s)")
            return
        console.print("lab worker running (Ctrl-C to stop)")
        try:
            serve_forever(hub)
        except KeyboardInterrupt:
            pass


@app.callback()
def _global(
    acting_as: str = typer.Option(
        None, "--as", help="Act as this user (their permissions apply) instead of the local operator."
    ),
) -> None:
    STATE.acting_as = acting_as
    STATE._hub = None


@app.command()
def serve(
    host: str = typer.Option(None, "--host", help="Address to bind (default 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="Port (default 8000)."),
    no_worker: bool = typer.Option(False, "--no-worker", help="Don't start a lab worker process."),
) -> None:
    """Serve the API and the portal (and start a lab worker as a separate process)."""
    import subprocess

    import uvicorn

    from countyos.web.app import create_app

    with user_errors():
        hub = STATE.hub()
        host = host or hub.settings.web.host
        port = port or hub.settings.web.port
        app_ = create_app(hub=hub)
    console.print(f"CountyOS serving on [bold]http://{host}:{port}[/]  (API docs: /docs)")
    # The worker is the trusted zone: a separate process that alone opens private data for jobs.
    worker_process = None if no_worker else subprocess.Popen(
        [sys.executable, "-m", "countyos", "worker"])
    try:
        uvicorn.run(app_, host=host, port=port, log_level="info")
    finally:
        if worker_process is not None:
            worker_process.terminate()
            worker_process.wait(timeout=10)


@app.command()
def demo(
    scale: float = typer.Option(0.05, "--scale", help="Scale factor F (F = 1 ≈ 1,000,000 residents)."),
    seed: int = typer.Option(2026, "--seed", help="Random seed: same seed, same county."),
    no_serve: bool = typer.Option(False, "--no-serve", help="Only install; don't start the server."),
    host: str = typer.Option(None, "--host"),
    port: int = typer.Option(None, "--port"),
) -> None:
    """Generate the Demo County into COUNTYOS_HOME and serve it."""
    from countyos.demo.install import install_demo

    with user_errors():
        if not 0 < scale <= 10:
            from countyos.errors import InvalidInputError

            raise InvalidInputError(f"--scale must be in (0, 10], not {scale}")
        hub = STATE.hub()
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as progress:
            task = progress.add_task("示范县 Demo County", total=1.0)
            result = install_demo(
                hub, scale=scale, seed=seed,
                progress=lambda step, share: progress.update(task, description=step, completed=share),
            )
    if result.already_installed:
        console.print(f"Demo County already installed in {hub.settings.home} "
                      f"({len(result.datasets)} datasets)")
    else:
        console.print(f"Demo County installed in {hub.settings.home}: "
                      f"{', '.join(result.datasets)}", highlight=False)
    console.print(f"admin token: [bold]{result.admin_token}[/]", highlight=False)
    if not no_serve:
        serve(host=host, port=port, no_worker=False)


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``countyos`` script (and ``python -m countyos``)."""
    app(args=args if args is not None else sys.argv[1:], prog_name="countyos")
