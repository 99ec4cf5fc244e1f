"""The documentation: the MkDocs site builds strictly, the README stays short and points into it,
and run histories stay out of the README and the code (they belong in docs/design/)."""

import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DOCS = os.path.join(ROOT, "docs")
PACKAGE = os.path.join(ROOT, "wsi_blueprint")


def _read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def _nav_pages(nav):
    for item in nav:
        for value in item.values():
            if isinstance(value, list):
                yield from _nav_pages(value)
            else:
                yield value


def _built_path(page):
    """Where MkDocs writes a page: `a/b.md` -> `a/b/index.html`, `a/index.md` -> `a/index.html`."""
    stem = page.removesuffix(".md")
    return stem + ".html" if os.path.basename(stem) == "index" else stem + "/index.html"


def test_the_site_builds_strictly(tmp_path):
    """Strict: a broken link or anchor, or a page left out of the navigation, fails the build."""
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           os.path.join(ROOT, "mkdocs.yml"), "--site-dir", str(site)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(os.path.join(ROOT, "mkdocs.yml"), encoding="utf-8") as f:
        nav = list(_nav_pages(yaml.safe_load(f)["nav"]))
    for page in nav:
        assert (site / _built_path(page)).is_file(), f"{page} was not built"
    configuration = (site / "configuration" / "index.html").read_text(encoding="utf-8")
    assert "WSI_STORE" in configuration and "WSI_PREFETCH_RULES" in configuration
    benchmarks = (site / "benchmarks" / "index.html").read_text(encoding="utf-8")
    for plot in re.findall(r'src="(\.\./img/bench/[^"]+\.png)"', benchmarks):
        assert (site / "benchmarks" / plot).resolve().is_file(), plot
    assert benchmarks.count('src="../img/bench/') == 3


def test_every_markdown_file_is_in_the_navigation():
    with open(os.path.join(ROOT, "mkdocs.yml"), encoding="utf-8") as f:
        nav = set(_nav_pages(yaml.safe_load(f)["nav"]))
    pages = {os.path.relpath(os.path.join(dirpath, name), DOCS).replace(os.sep, "/")
             for dirpath, _, names in os.walk(DOCS) for name in names if name.endswith(".md")}
    assert pages == nav


def test_the_readme_is_short_and_its_links_resolve():
    readme = _read("README.md")
    assert len(readme.encode("utf-8")) <= 6 * 1024
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if "://" not in link]
    assert any(link.startswith("docs/") for link in local)
    for link in local:
        assert os.path.exists(os.path.join(ROOT, link)), f"README links to missing {link}"


def test_the_readme_names_the_commands_a_user_starts_with():
    readme = _read("README.md")
    for command in ("python3 -m pip install -e '.[server,s3]' && wsi-blueprint serve",
                    "python3 -m pip install tox && python3 -m tox",
                    "gunicorn -c conf/gunicorn.conf.py wsgi:app",
                    "tox -e fuzz", "wsi_blueprint.bench.soak", "wsi-blueprint bench"):
        assert command in readme, command


def test_every_benchmark_command_is_documented():
    benchmarks = _read("docs", "benchmarks.md")
    bench = os.path.join(PACKAGE, "bench")
    for name in sorted(os.listdir(bench)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(bench, name), encoding="utf-8") as f:
            runnable = '__name__ == "__main__"' in f.read()
        if runnable and name != "suite.py":  # suite.py is `wsi-blueprint bench`
            assert f"wsi_blueprint.bench.{name[:-3]}" in benchmarks, name
    assert "wsi-blueprint bench" in benchmarks
    assert "tox -e fuzz" in _read("docs", "testing.md")


# Words that tell a run history rather than what the code does.
HISTORY = re.compile(r"[Ss]ession [0-9]+'s|this version|the code before|earlier runs|"
                     r"previous version|in this run")


def test_no_run_histories_in_the_readme_or_the_package():
    found = [f"README.md:{n}" for n, line in enumerate(_read("README.md").splitlines(), 1)
             if HISTORY.search(line)]
    for dirpath, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith((".py", ".md")):
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    found += [f"{os.path.relpath(path, ROOT)}:{n}"
                              for n, line in enumerate(f, 1) if HISTORY.search(line)]
    assert not found, f"run histories belong in docs/design/: {found}"


def test_the_benchmark_plots_are_those_the_report_draws():
    """docs/img/bench holds one image per plot of bench/report.py, and the script that
    regenerates them copies each."""
    report = _read("wsi_blueprint", "bench", "report.py")
    drawn = set(re.findall(r'_save\(fig, folder, "([^"]+\.png)"\)', report))
    assert len(drawn) == 3
    shipped = {name for name in os.listdir(os.path.join(DOCS, "img", "bench"))
               if name.endswith(".png")}
    assert shipped == drawn
    script = _read("docs", "img", "bench", "regenerate.sh")
    benchmarks = _read("docs", "benchmarks.md")
    for name in drawn:
        assert f'"$out"/{name}' in script and f"(img/bench/{name})" in benchmarks, name
