"""``costlaw ls forms|selectors|presets``: what the registries hold, one name per line with its description."""
from __future__ import annotations

WHAT = ("forms", "selectors", "presets")


def add_parser(subparsers):
    p = subparsers.add_parser("ls", help="list registered curve forms, selectors (cost models and harness "
                                         "selectors) or sweep presets")
    p.add_argument("what", choices=WHAT, help="what to list")
    return p


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def rows(what: str) -> list[tuple[str, str]]:
    """(name, one-line description) for every registered entry of ``what``."""
    if what == "forms":
        from ..curves import FORMS
        return [(name, _first_line(form.doc)) for name, form in FORMS.items()]
    if what == "selectors":
        from ..costs import SELECTOR_COSTS
        from ..harness.selectors import SELECTORS
        out = [(name, f"cost model: {_first_line(type(cost).__doc__)}") for name, cost in SELECTOR_COSTS.items()]
        for name in SELECTORS.names():
            cls = SELECTORS.get(name)
            alias = f" (alias of {cls.name})" if name != cls.name else ""
            out.append((name, f"harness selector{alias}: {_first_line(cls.__doc__)}"))
        return out
    from ..harness.presets import PRESETS
    return [(name, f"sweep preset: {len(cfg['methods'])} methods x {len(cfg['fractions'])} fractions x "
                   f"{len(cfg['train_models'])} train models x {len(cfg.get('seeds', [0]))} seeds")
            for name, cfg in PRESETS.items()]


def run(args) -> int:
    entries = rows(args.what)
    width = max(len(n) for n, _ in entries)
    for name, doc in entries:
        print(f"{name:<{width}}  {doc}")
    return 0
