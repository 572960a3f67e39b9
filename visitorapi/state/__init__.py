"""What the service remembers: projects, domains, accounts, aggregate usage.

Never anything about a visitor. Everything lives in one store opened through
:func:`visitorapi.state.db.connect`: a SQLite file on one machine, or a
PostgreSQL database shared by several nodes (:mod:`visitorapi.state.engines`
holds what differs).
"""
