"""gunicorn config for the counting test: the accounting hooks and nothing else."""
from visitorapi.web.accounting import on_exit, on_starting, worker_exit  # noqa: F401

workers = 3
graceful_timeout = 20
