"""Test support: the WSGI harness, real servers, the dashboard client, the browser driver.

Imported by the tests (``from support.servers import Server``) and by a few
benchmarks in ``tools/``; nothing here is a test.
"""
