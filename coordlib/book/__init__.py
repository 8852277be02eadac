"""The book's support: profiles, the release's settings, the paper's numbers, results, statistics,
claims and verdicts, the Not-so-Clevr task runner, plots, widgets and notebook execution.

Not part of the library's API: it reads and writes ``book/`` of a repository checkout.
"""

