"""The largest module and class of each package (issue 21's "small rooms" figure).

A module over ~500 lines or a class over ~300 is the design guide's sign to split by
responsibility; this prints, package by package, the largest of each and marks those over the
sign. Lines are physical lines (as `wc -l` counts a module; a class from its `class` line,
decorators included, to its last line). Packages are every folder with an `__init__.py` under
flexrec/ and flexsim's source, each counted for its own modules only (a sub-package is its own
package).

    .venv/bin/python bench/rooms.py            # a table
    .venv/bin/python bench/rooms.py --json     # one JSON line
    .venv/bin/python bench/rooms.py --over     # only the packages with something over the sign
"""

from __future__ import annotations

import argparse
import ast
import json
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREES = {"flexrec": ROOT / "flexrec", "flexsim": ROOT / "flexsim" / "src" / "flexsim"}
MODULE_SIGN = 500
CLASS_SIGN = 300


@dataclass
class Room:
    """One package's largest module and class."""

    package: str
    modules: int
    module: str
    module_lines: int
    cls: str
    class_lines: int

    @property
    def over(self) -> bool:
        """True when its largest module or class is over the guide's sign."""
        return self.module_lines > MODULE_SIGN or self.class_lines > CLASS_SIGN


def _classes(tree: ast.Module) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            out.append((node.name, node.end_lineno - first + 1))
    return out


def rooms() -> list[Room]:
    """Every package of both trees with its largest module and class."""
    found: list[Room] = []
    for top, base in TREES.items():
        for init in sorted(base.rglob("__init__.py")):
            folder = init.parent
            if "node_modules" in folder.parts:
                continue
            package = ".".join([top, *folder.relative_to(base).parts])
            sizes: list[tuple[int, str]] = []
            classes: list[tuple[int, str]] = []
            for path in sorted(folder.glob("*.py")):
                text = path.read_text(encoding="utf-8")
                sizes.append((len(text.splitlines()), path.name))
                for name, lines in _classes(ast.parse(text)):
                    classes.append((lines, f"{path.stem}.{name}"))
            module_lines, module = max(sizes)
            class_lines, cls = max(classes) if classes else (0, "-")
            found.append(Room(package, len(sizes), module, module_lines, cls, class_lines))
    return found


def main() -> None:
    """Print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON line")
    parser.add_argument("--over", action="store_true", help="only packages over the sign")
    args = parser.parse_args()
    found = [r for r in rooms() if r.over or not args.over]
    over = sum(1 for r in rooms() if r.over)
    if args.json:
        print(json.dumps({"packages": [asdict(r) for r in found], "over_sign": over}))
        return
    print(
        f"{'package':<28}{'modules':>8}  {'largest module':<28}{'lines':>6}  "
        f"{'largest class':<40}{'lines':>6}"
    )
    for r in found:
        mark_m = " !" if r.module_lines > MODULE_SIGN else "  "
        mark_c = " !" if r.class_lines > CLASS_SIGN else "  "
        print(
            f"{r.package:<28}{r.modules:>8}  {r.module:<28}{r.module_lines:>6}{mark_m}"
            f"{r.cls:<40}{r.class_lines:>6}{mark_c}"
        )
    print(f"packages with a module over {MODULE_SIGN} lines or a class over {CLASS_SIGN}: {over}")


if __name__ == "__main__":
    main()
