"""The ``countyos`` command line (Typer): a thin adapter over the service functions.

User errors print one line on stderr and exit with status 2; list, show and query commands take
``--json``. The CLI acts as the local operator (an admin, audited as ``cli:<os user>``) unless
``--as USER`` names a user whose permissions then apply.
"""

from countyos.cli.main import app, main

__all__ = ["app", "main"]
