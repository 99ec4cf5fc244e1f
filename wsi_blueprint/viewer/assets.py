"""OpenSeadragon for the viewer, fetched from the npm registry at build time, never committed.

Building the package (sdist or wheel, see setup.py) runs `install` into the build, so every
installed copy carries the files and the running server needs no network and no CDN. A source
checkout gets them with `python -m wsi_blueprint.viewer.assets` (tox and `wsi-blueprint serve`
run it); the server logs at start and /readyz reports when they are missing all the same.
This module uses the standard library only: setup.py loads it before any dependency exists.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

OPENSEADRAGON_VERSION = "6.1.1"
STATIC = os.path.join(os.path.dirname(__file__), "static")
VENDOR = os.path.join(STATIC, "vendor", "openseadragon")
MAIN_SCRIPT = "openseadragon.min.js"


def installed(folder: str | None = None) -> bool:
    return os.path.isfile(os.path.join(folder or VENDOR, MAIN_SCRIPT))


def install(version: str = OPENSEADRAGON_VERSION, folder: str | None = None) -> str:
    """OpenSeadragon's build in `folder` (the package's static folder by default): copied from
    the package's own copy when it has one, else unpacked from `npm pack`."""
    folder = folder or VENDOR
    if installed(folder):
        return folder
    if folder != VENDOR and installed(VENDOR):
        shutil.copytree(VENDOR, folder, dirs_exist_ok=True)
        return folder
    with tempfile.TemporaryDirectory() as tmp:
        unpacked = npm_package(f"openseadragon@{version}", tmp)
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        shutil.copytree(os.path.join(unpacked, "build", "openseadragon"), folder,
                        dirs_exist_ok=True)
    return folder


def npm_package(spec: str, into: str) -> str:
    """The files of the npm package `spec` (name@version), fetched with `npm pack` and unpacked
    into `into`; returns the folder holding them."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is needed to fetch {spec} (apt-get install npm)")
    os.makedirs(into, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", spec, "--pack-destination", tmp, "--silent"], check=True,
                       cwd=tmp, stdout=subprocess.DEVNULL)
        tarball = next(f for f in os.listdir(tmp) if f.endswith(".tgz"))
        with tarfile.open(os.path.join(tmp, tarball)) as archive:
            archive.extractall(into, filter="data")
    return os.path.join(into, "package")


if __name__ == "__main__":
    print(install(*sys.argv[1:]))
