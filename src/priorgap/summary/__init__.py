"""Step summarize: one experiment's headline figures (headline.py) and its one-page summary (page.py)."""
