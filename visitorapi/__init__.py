"""visitorapi: a self-hostable, privacy-first visitor-information API.

The package is arranged in wings (see docs/architecture.md): ``ipdb`` holds
the geolocation database, ``web`` the HTTP face, ``state`` what the service
remembers about its own projects (never about visitors), ``cli`` the
``visitorapi`` command. Importing the package does no work.
"""

__version__ = "0.1.0"
