"""Desktop integration: the .desktop entry, AppStream metainfo, icons, install/uninstall."""

from __future__ import annotations

import configparser
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import policy_desktop
from policy_desktop import desktop_entry
from policy_desktop.cli import main
from policy_desktop.desktop_entry import (
    APP_ID,
    ICON_SIZES,
    WM_CLASS,
    exec_quote,
    install,
    installed_files,
    launcher_command,
    packaging_root,
    render_desktop_entry,
    uninstall,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGING = REPO_ROOT / "packaging"
DESKTOP_FILE = PACKAGING / "linux" / f"{APP_ID}.desktop"
METAINFO = PACKAGING / "linux" / f"{APP_ID}.metainfo.xml"
HICOLOR = PACKAGING / "icons" / "hicolor"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install "
                    f"{'desktop-file-utils' if name.startswith('desktop') else 'appstream'})")
    return path


def desktop_validate(path: Path) -> None:
    result = subprocess.run([tool("desktop-file-validate"), str(path)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def read_entry(path: Path) -> dict[str, str]:
    parser = configparser.RawConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


# --- the shipped files ------------------------------------------------------------------


def test_desktop_file_validates() -> None:
    desktop_validate(DESKTOP_FILE)


def test_metainfo_validates() -> None:
    result = subprocess.run([tool("appstreamcli"), "validate", "--no-net", str(METAINFO)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_desktop_file_names_the_app_consistently() -> None:
    entry = read_entry(DESKTOP_FILE)
    assert entry["Name"] == "Policy Desktop"
    assert entry["Exec"] == "policy-desktop"
    assert entry["Icon"] == APP_ID
    assert entry["StartupWMClass"] == WM_CLASS
    assert entry["Terminal"] == "false" and entry["Type"] == "Application"
    assert {"Development", "Qt"} <= set(entry["Categories"].strip(";").split(";"))
    assert entry["GenericName"] and entry["Comment"] and entry["Keywords"]


def test_metainfo_matches_the_app() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == f"{APP_ID}.desktop"
    assert root.findtext("name") == "Policy Desktop"
    assert root.findtext("project_license") == "MIT"
    versions = [release.get("version") for release in root.iter("release")]
    assert policy_desktop.__version__ in versions
    assert root.find("content_rating") is not None and root.find("developer") is not None


@pytest.mark.parametrize("size", ICON_SIZES)
def test_png_icons_have_their_size(size: int) -> None:
    assert png_size(HICOLOR / f"{size}x{size}" / "apps" / f"{APP_ID}.png") == (size, size)


def test_scalable_icon_is_svg_and_matches_the_app_icon() -> None:
    svg = HICOLOR / "scalable" / "apps" / f"{APP_ID}.svg"
    assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    app_icon = REPO_ROOT / "resources" / "icons" / "policy-desktop.svg"
    if app_icon.is_file():
        assert svg.read_bytes() == app_icon.read_bytes(), (
            "the app icon changed: run `python packaging/make_icons.py` to update the packaging "
            "icons")


def test_make_icons_reproduces_the_pngs(tmp_path: Path) -> None:
    pytest.importorskip("PySide6.QtSvg")
    from PySide6.QtGui import QImage

    result = subprocess.run(
        [sys.executable, str(PACKAGING / "make_icons.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, check=False, timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    for size in ICON_SIZES:
        relative = Path(f"{size}x{size}") / "apps" / f"{APP_ID}.png"
        fresh, committed = QImage(str(tmp_path / relative)), QImage(str(HICOLOR / relative))
        assert fresh.size() == committed.size()
        fresh_bytes = bytes(fresh.convertToFormat(QImage.Format.Format_ARGB32).constBits())
        committed_bytes = bytes(committed.convertToFormat(QImage.Format.Format_ARGB32).constBits())
        if fresh_bytes != committed_bytes:  # other Qt versions may antialias slightly apart
            assert max(abs(a - b) for a, b in zip(fresh_bytes, committed_bytes,
                                                  strict=True)) <= 24, relative


# --- finding the files ------------------------------------------------------------------


def test_packaging_root_in_a_checkout_and_in_a_wheel(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert packaging_root() == PACKAGING
    package = tmp_path / "site-packages" / "policy_desktop"
    shutil.copytree(PACKAGING / "linux", package / "packaging" / "linux")
    monkeypatch.setattr(desktop_entry, "_PACKAGE_DIR", package)
    packaging_root.cache_clear()
    try:
        assert packaging_root() == package / "packaging"
        shutil.rmtree(package / "packaging")
        packaging_root.cache_clear()
        with pytest.raises(FileNotFoundError):
            packaging_root()
    finally:
        packaging_root.cache_clear()


def test_every_installed_file_has_a_source(tmp_path: Path) -> None:
    files = installed_files(tmp_path)
    assert len(files) == 2 + len(ICON_SIZES) + 1
    for item in files:
        assert item.source.is_file(), item.source
        assert tmp_path in item.target.parents


# --- Exec= ------------------------------------------------------------------------------


def test_exec_quoting_follows_the_spec() -> None:
    assert exec_quote("/usr/bin/policy-desktop") == "/usr/bin/policy-desktop"
    assert exec_quote("/home/a b/bin/x") == '"/home/a b/bin/x"'
    assert exec_quote("/opt/50%/x") == "/opt/50%%/x"
    assert exec_quote('/we"ird$/x') == '"/we\\\\"ird\\\\$/x"'


def test_odd_executable_paths_still_validate(tmp_path: Path) -> None:
    command = ["/home/someone/my apps/50% off/$venv/bin/policy-desktop"]
    rendered = render_desktop_entry(DESKTOP_FILE.read_text(encoding="utf-8"), command)
    path = tmp_path / f"{APP_ID}.desktop"
    path.write_text(rendered, encoding="utf-8")
    desktop_validate(path)
    python_m = render_desktop_entry(rendered, ["/usr/bin/python3", "-m", "policy_desktop"])
    assert "Exec=/usr/bin/python3 -m policy_desktop" in python_m
    assert "TryExec" not in python_m


def test_launcher_is_the_running_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "venv" / "bin" / "policy-desktop"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(script), "install-desktop-entry"])
    assert launcher_command() == [str(script)]
    monkeypatch.setattr(sys, "argv", ["/somewhere/policy_desktop/__main__.py"])
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    assert launcher_command() == [str(script)]  # the script next to this Python


# --- install / uninstall ----------------------------------------------------------------


def test_install_and_uninstall_through_the_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "data home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    foreign = home / "applications" / "other.desktop"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("[Desktop Entry]\n")
    executable = str(Path(launcher_command()[0]))

    assert main(["install-desktop-entry"]) == 0
    output = capsys.readouterr().out
    entry_path = home / "applications" / f"{APP_ID}.desktop"
    entry = read_entry(entry_path)
    assert entry["Exec"] == entry["TryExec"] == exec_quote(executable)
    assert entry["Icon"] == APP_ID
    desktop_validate(entry_path)
    assert (home / "metainfo" / f"{APP_ID}.metainfo.xml").read_bytes() == METAINFO.read_bytes()
    for size in ICON_SIZES:
        icon = home / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        assert png_size(icon) == (size, size)
    assert (home / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    assert f"installed {entry_path}" in output and executable in output

    assert main(["install-desktop-entry"]) == 0  # idempotent
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("unchanged ") for line in lines) == len(installed_files(home))
    assert not [line for line in lines if line.startswith(("installed ", "updated "))]

    assert main(["install-desktop-entry", "--uninstall"]) == 0
    assert f"removed {entry_path}" in capsys.readouterr().out
    for item in installed_files(home):
        assert not item.target.exists(), item.target
    assert foreign.is_file()
    assert main(["install-desktop-entry", "--uninstall"]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_reinstall_updates_a_moved_executable(tmp_path: Path) -> None:
    install(tmp_path, ["/old/venv/bin/policy-desktop"], refresh=False)
    report = install(tmp_path, ["/new/venv/bin/policy-desktop"], refresh=False)
    entry = tmp_path / "applications" / f"{APP_ID}.desktop"
    assert f"updated {entry}" in report.lines
    assert read_entry(entry)["Exec"] == "/new/venv/bin/policy-desktop"
    assert sum(line.startswith("unchanged") for line in report.lines) == len(ICON_SIZES) + 2
    uninstall(tmp_path, refresh=False)
    assert not entry.exists()


def test_missing_packaging_files_are_a_clean_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def missing() -> Path:
        raise FileNotFoundError("Policy Desktop packaging files not found")

    monkeypatch.setattr(desktop_entry, "packaging_root", missing)
    assert main(["install-desktop-entry"]) == 1
    assert "packaging files not found" in capsys.readouterr().err


def test_install_imports_no_qt(tmp_path: Path) -> None:
    code = ("import sys\nfrom policy_desktop.cli import main\n"
            "status = main(['install-desktop-entry'])\n"
            "assert 'PySide6' not in sys.modules and 'torch' not in sys.modules\n"
            "sys.exit(status)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "XDG_DATA_HOME": str(tmp_path)}, check=False,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "applications" / f"{APP_ID}.desktop").is_file()
