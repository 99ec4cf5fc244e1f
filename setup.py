import importlib.util
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
VENDOR = os.path.join("wsi_blueprint", "viewer", "static", "vendor", "openseadragon")


def _viewer_assets():
    """wsi_blueprint/viewer/assets.py loaded by its path: at build time the package's
    dependencies (Flask...) are not installed, so the package itself cannot be imported."""
    path = os.path.join(HERE, "wsi_blueprint", "viewer", "assets.py")
    spec = importlib.util.spec_from_file_location("wsi_viewer_assets", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithViewer(build_py):
    """The wheel carries OpenSeadragon (fetched with npm into the build, never committed), so
    `pip install` alone gives a working viewer. An editable install serves the source tree:
    the files go there, and a failure to fetch them only warns (the server says so too)."""

    def run(self):
        super().run()
        assets = _viewer_assets()
        if self.editable_mode:
            try:
                assets.install()
            except Exception as error:  # noqa: BLE001 - any failure: the checkout still works
                self.warn(f"the viewer's OpenSeadragon files were not fetched: {error}")
        else:
            assets.install(folder=os.path.join(self.build_lib, VENDOR))


class SdistWithViewer(sdist):
    """The sdist carries OpenSeadragon too, so a wheel built from it needs no npm."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        _viewer_assets().install(folder=os.path.join(base_dir, VENDOR))


setup(
    name="wsi_blueprint",
    version="0.1.0",
    description="A Flask blueprint that streams whole-slide images from object storage as DZI "
                "and IIIF, reading only the bytes a viewer needs.",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["wsi_blueprint", "wsi_blueprint.*"]),
    include_package_data=True,
    cmdclass={"build_py": BuildPyWithViewer, "sdist": SdistWithViewer},
    install_requires=[
        "flask>=3.0",
        "requests>=2.31",
        "tifffile>=2024.1.30",
        "imagecodecs>=2024.1.1",
        "numpy>=1.24",
        "pillow>=10.0",
        "simplejpeg>=1.7",
        "pymemcache>=4.0",
        "flask-cors>=4.0",
        "prometheus-client>=0.20",
        "pyyaml>=6.0",
        "pydicom>=3",
    ],
    extras_require={
        "s3": ["botocore>=1.31"],
        # A host app's flask_caching.Cache as the shared tier (create_blueprint(cache=...)).
        "flask-caching": ["flask-caching>=2.3", "redis>=5"],
        "server": ["gunicorn>=22", "gevent>=24", "packaging"],
        "bench": ["matplotlib>=3.7", "tiffslide>=2.3", "fsspec>=2023.6", "aiohttp>=3.9",
                  "openslide-python>=1.3", "openslide-bin>=4.0", "botocore>=1.31",
                  "gunicorn>=22", "gevent>=24", "packaging", "flask-caching>=2.3", "redis>=5",
                  "python-memcached>=1.59", "wsidicomizer>=0.26", "py-spy>=0.3"],
        "test": [
            "botocore>=1.31", "boto3", "gunicorn>=22", "gevent>=24", "packaging",
            "pytest>=8", "responses>=0.25", "moto[server]>=5", "openslide-python>=1.3",
            "openslide-bin>=4.0", "hypothesis>=6", "playwright>=1.40", "iiif-validator>=1.0",
            "iiif-prezi3>=3.1", "mkdocs>=1.6",
            "flask-caching>=2.3", "redis>=5", "python-memcached>=1.59",
            "openapi-spec-validator>=0.7", "jsonschema>=4.18",
            "cryptography",
            # DICOM series written from the shared SVS slides (needs libturbojpeg0)
            "wsidicomizer>=0.26",
        ],
    },
    entry_points={"console_scripts": ["wsi-blueprint=wsi_blueprint.cli:main"]},
    classifiers=["Framework :: Flask", "Topic :: Scientific/Engineering :: Medical Science Apps."],
)
