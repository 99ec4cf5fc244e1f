"""OpenSeadragon for the viewer, fetched from the npm registry at set-up, never committed.

`python -m wsi_blueprint.viewer.assets` (also run by `wsi-blueprint serve`, tox and the
Dockerfile) downloads the pinned release with `npm pack` and unpacks its build into the
package's static folder, so the running server needs no network and no CDN.
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


def installed() -> bool:
    return os.path.isfile(os.path.join(VENDOR, "openseadragon.min.js"))


def install(version: str = OPENSEADRAGON_VERSION) -> str:
    """Unpack OpenSeadragon's build into the static folder; returns where it went."""
    if installed():
        return VENDOR
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed once to fetch OpenSeadragon for the viewer "
                           "(apt-get install npm)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", f"openseadragon@{version}", "--pack-destination", tmp,
                        "--silent"], check=True, cwd=tmp, stdout=subprocess.DEVNULL)
        tarball = next(f for f in os.listdir(tmp) if f.endswith(".tgz"))
        with tarfile.open(os.path.join(tmp, tarball)) as archive:
            archive.extractall(tmp, filter="data")
        os.makedirs(os.path.dirname(VENDOR), exist_ok=True)
        shutil.copytree(os.path.join(tmp, "package", "build", "openseadragon"), VENDOR,
                        dirs_exist_ok=True)
    return VENDOR


if __name__ == "__main__":
    print(install(*sys.argv[1:]))
