"""``python -m visitorapi`` runs the same command as the ``visitorapi`` script."""
import sys

from visitorapi.cli import main

if __name__ == "__main__":
    sys.exit(main())
