"""Sphinx extension: write each ``<script>`` of a page once.

Sphinx 7, the series Jupyter Book 1.x requires, writes a script that an extension
registers with ``app.add_js_file(None, body=...)`` twice: once as filename ``None``
and once as ``''``, which its duplicate check tells apart (fixed in Sphinx 8.2,
sphinx-doc/sphinx#13402). sphinx-thebe's ``const THEBE_JS_URL = ...`` then runs
twice, and every page of the book logs "SyntaxError: Identifier 'THEBE_JS_URL'
has already been declared" (``tools/check_site.py`` found it). Drop this
extension once the book builds with Sphinx >= 8.2.
"""

from __future__ import annotations


def _key(script) -> tuple:
    # Sphinx 7.4's _JavaScript has filename/priority/attributes; earlier 7.x a str subclass with the same.
    attributes = getattr(script, "attributes", {}) or {}
    return (getattr(script, "filename", script) or "", tuple(sorted(attributes.items())))


def unique_scripts(app, pagename, templatename, context, doctree) -> None:
    """Keep the first of each identical script in ``context["script_files"]`` (in place)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept


def setup(app):
    # Late, so that scripts other extensions add to this page are seen too.
    app.connect("html-page-context", unique_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
