"""What the service remembers: projects, domains, accounts, aggregate usage.

Never anything about a visitor. Everything lives in one SQLite file opened
through :func:`visitorapi.state.db.connect`.
"""
