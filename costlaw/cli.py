"""The ``costlaw`` command line: registers the commands of ``costlaw.commands.COMMANDS`` and runs one.

Errors the user can cause (``CostlawError``, and ``OSError`` about a path they gave: missing, exists, permission,
is/is not a directory, read-only) print one line and exit with status 2. Anything else is a bug and keeps its
traceback."""
from __future__ import annotations

import errno
import importlib
import os
import sys
import warnings

from .commands import COMMANDS
from .commands.options import Parser, UsageError
from .errors import CostlawError, CostlawWarning

PATH_ERRNOS = frozenset({errno.ENOENT, errno.EEXIST, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR,
                         errno.EROFS, errno.ENAMETOOLONG, errno.ELOOP})
"""OSErrors that are about the user's paths, not about costlaw."""

__all__ = ["PATH_ERRNOS", "SINGLE_THREADED", "UsageError", "build_parser", "command_of", "main"]

SINGLE_THREADED = frozenset({"plan", "ls"})
"""Commands that do no linear algebra worth a thread pool: numpy is loaded with one BLAS thread for them (unless
the user set the thread variables), because starting OpenBLAS's pool costs about 60 ms of CPU, a quarter of a plan."""
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def build_parser(only: str | None = None) -> Parser:
    """The ``costlaw`` parser with every command of ``COMMANDS`` (or, with ``only``, that one command: the others'
    modules are then not imported); each sets ``run`` as its handler."""
    from . import __version__
    parser = Parser(prog="costlaw", description="Compute-constrained data selection: fits, frontiers, plans.")
    parser.add_argument("--version", action="version", version=f"costlaw {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        if only is not None and name != only:
            continue
        module = importlib.import_module(module_name)
        module.add_parser(sub).set_defaults(handler=module.run)
    return parser


def command_of(argv) -> str | None:
    """The command ``argv`` names (its first argument, when that is a command of ``COMMANDS``), else None: then
    the whole parser is built (help, version, usage errors list every command)."""
    args = sys.argv[1:] if argv is None else list(argv)
    return args[0] if args and args[0] in COMMANDS else None


def load_numpy_single_threaded() -> None:
    """Import numpy with one BLAS thread (``THREAD_VARIABLES`` set to 1 where unset), then restore the environment,
    so that nothing else (subprocesses, later imports) sees the change. No effect once numpy is imported."""
    if "numpy" in sys.modules:
        return
    saved = {v: os.environ.get(v) for v in THREAD_VARIABLES}
    for v in THREAD_VARIABLES:
        os.environ.setdefault(v, "1")
    try:
        import numpy  # noqa: F401
    finally:
        for v, value in saved.items():
            if value is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = value


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
        command = command_of(argv)
        if command in SINGLE_THREADED:
            load_numpy_single_threaded()
        args = build_parser(command).parse_args(argv)
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
