"""`python3 -m bench.catalog [options]`, and `python3 -m bench.catalog --echo PORT` (the bare
ASGI echo server the live-server phases start as their HTTP baseline)."""

import sys

from bench.catalog.echo import serve_echo
from bench.catalog.report import main

if len(sys.argv) == 3 and sys.argv[1] == "--echo":
    serve_echo(int(sys.argv[2]))
else:
    raise SystemExit(main())
