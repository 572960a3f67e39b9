"""Refresh data/public_suffix_list.dat, the Public Suffix List snapshot (MPL-2.0).

Only package registries are reachable from where visitorapi is built, so the
list is taken from the ``publicsuffixlist`` package on PyPI, which vendors the
upstream file unchanged (https://publicsuffix.org/list/public_suffix_list.dat).
The script downloads the wheel with pip, checks the file looks like the list,
and writes it to a temporary name that replaces the snapshot atomically.
Afterwards update the date in data/README.md (the script prints it).

Usage: python tools/update_public_suffix_list.py [--wheel FILE]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

TARGET = Path(__file__).resolve().parent.parent / "data" / "public_suffix_list.dat"
MEMBER = "publicsuffixlist/public_suffix_list.dat"


def fetch_wheel(folder: Path) -> Path:
    """Download the newest publicsuffixlist wheel into ``folder`` with pip; return its path."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                    "--dest", str(folder), "publicsuffixlist"], check=True)
    wheels = sorted(folder.glob("publicsuffixlist-*.whl"))
    if not wheels:
        raise SystemExit("pip downloaded no publicsuffixlist wheel")
    return wheels[-1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="use this publicsuffixlist wheel instead of pip")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            text = archive.read(MEMBER).decode("utf-8")
    if "===BEGIN ICANN DOMAINS===" not in text or "===END PRIVATE DOMAINS===" not in text:
        print(f"{wheel}: {MEMBER} does not look like the Public Suffix List", file=sys.stderr)
        return 1
    version = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                    if line.startswith("// VERSION:")), "unknown")
    partial = TARGET.with_suffix(".dat.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, TARGET)
    print(f"{TARGET}: Public Suffix List version {version} from {wheel.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
