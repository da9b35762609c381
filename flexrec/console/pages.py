"""Server-side HTML: package templates filled with `string.Template`, every value escaped."""

from __future__ import annotations

import html
import re
from functools import cache
from importlib import resources
from string import Template

from flexrec.accounts.principal import Principal

# A list table with its pager is written once (_paged_table.html); a page marks where one goes
# with `<!--paged-table id="…" class="…" caption="…"-->`, its header cells, `<!--/paged-table-->`.
_PAGED_TABLE = re.compile(
    r"<!--paged-table (?P<attrs>[^>]*)-->\n(?P<cells>.*?)\n<!--/paged-table-->", re.DOTALL
)
_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')


def _read(name: str) -> str:
    return resources.files("flexrec.console").joinpath("templates", name).read_text("utf-8")


def _paged_table(match: re.Match[str]) -> str:
    attributes = dict(_ATTRIBUTE.findall(match["attrs"]))
    return (
        Template(_read("_paged_table.html"))
        .substitute(
            table_id=attributes["id"],
            table_class=attributes["class"],
            caption=attributes["caption"],
            header_cells=match["cells"],
        )
        .removesuffix("\n")
    )


@cache
def _template(name: str) -> Template:
    return Template(_PAGED_TABLE.sub(_paged_table, _read(name)))


def render_page(
    name: str,
    *,
    title: str,
    base: str,
    principal: Principal | None,
    values: dict[str, str] | None = None,
    script: str | None = None,
) -> str:
    """A full page: `name`'s body inside the layout; `values` are escaped before filling."""
    escaped = {key: html.escape(value, quote=True) for key, value in (values or {}).items()}
    escaped["base"] = html.escape(base, quote=True)
    body = _template(name).substitute(escaped)
    if principal is None:
        account = ""
    else:
        b = html.escape(base, quote=True)
        sections = [("/", "Recordings"), ("/search", "What was said"), ("/card-data", "Card data")]
        if principal.sees_everything:
            sections += [("/coverage", "Coverage"), ("/audit", "Audit log")]
        links = (
            '<nav class="nav-links" aria-label="Sections">'
            + "".join(f'<a href="{b}{path}">{label}</a>' for path, label in sections)
            + "</nav>"
        )
        account = _template("_account.html").substitute(
            links=links,
            base=html.escape(base, quote=True),
            username=html.escape(principal.username),
            role=html.escape(principal.role),
            csrf=html.escape(principal.csrf_token, quote=True),
        )
    scripts = (
        f'<script type="module" src="{html.escape(base)}/static/{html.escape(script)}"></script>'
        if script
        else ""
    )
    return _template("layout.html").substitute(
        title=html.escape(title),
        base=html.escape(base, quote=True),
        csrf=html.escape(principal.csrf_token if principal else "", quote=True),
        account=account,
        body=body,
        scripts=scripts,
    )
