"""The ``costlaw`` command line: registers the commands of ``costlaw.commands.COMMANDS`` and runs one.

Errors the user can cause (``CostlawError``, and ``OSError`` about a path they gave: missing, exists, permission,
is/is not a directory, read-only) print one line and exit with status 2. Anything else is a bug and keeps its
traceback."""
from __future__ import annotations

import errno
import importlib
import sys
import warnings

from .commands import COMMANDS
from .commands.options import Parser, UsageError
from .errors import CostlawError, CostlawWarning

PATH_ERRNOS = frozenset({errno.ENOENT, errno.EEXIST, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR,
                         errno.EROFS, errno.ENAMETOOLONG, errno.ELOOP})
"""OSErrors that are about the user's paths, not about costlaw."""

__all__ = ["PATH_ERRNOS", "UsageError", "build_parser", "main"]


def build_parser() -> Parser:
    """The ``costlaw`` parser with every command of ``COMMANDS``; each sets ``run`` as its handler."""
    from . import __version__
    parser = Parser(prog="costlaw", description="Compute-constrained data selection: fits, frontiers, plans.")
    parser.add_argument("--version", action="version", version=f"costlaw {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        module.add_parser(sub).set_defaults(handler=module.run)
    return parser


def _one_line_warnings(show):
    """A ``warnings.showwarning`` that prints costlaw's own warnings as one line (``costlaw: warning: ...``) and
    leaves the rest to ``show``."""
    def showwarning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, CostlawWarning):
            print(f"costlaw: warning: {message}", file=sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)
    return showwarning


def main(argv=None) -> int:
    """Run ``costlaw ARGV``; returns the exit status."""
    with warnings.catch_warnings():
        warnings.simplefilter("default", CostlawWarning)  # each once per command (and again in the next one)
        warnings.showwarning = _one_line_warnings(warnings.showwarning)
        return _run(argv)


def _run(argv) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except UsageError as err:
        print(str(err), file=sys.stderr)
    except CostlawError as err:
        print(f"costlaw: error: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
    except OSError as err:
        if err.errno not in PATH_ERRNOS or err.filename is None:
            raise
        where = f"{err.filename}" + (f" -> {err.filename2}" if err.filename2 else "")
        print(f"costlaw: error: {err.strerror or type(err).__name__}: {where}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
