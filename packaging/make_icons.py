"""Regenerate the hicolor PNG icons from the scalable SVG (QtSvg), reproducibly.

    python packaging/make_icons.py            # rewrite packaging/icons/hicolor/*/apps/*.png
    python packaging/make_icons.py --out DIR  # write DIR/<n>x<n>/apps/<id>.png instead

The source is the app's window icon ``resources/icons/policy-desktop.svg`` when it
exists (it is then copied to ``hicolor/scalable/apps/<id>.svg`` so the two stay
identical), else the packaging SVG itself. Rendering runs offscreen: no display needed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

APP_ID = "io.github.policy_desktop.PolicyDesktop"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
PACKAGING = Path(__file__).resolve().parent
HICOLOR = PACKAGING / "icons" / "hicolor"
SCALABLE = HICOLOR / "scalable" / "apps" / f"{APP_ID}.svg"
APP_ICON = PACKAGING.parent / "resources" / "icons" / "policy-desktop.svg"


def render(renderer: QSvgRenderer, size: int) -> QImage:
    """The SVG drawn on a transparent ``size`` x ``size`` image, antialiased."""
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return image


def make_icons(source: Path, out: Path) -> list[Path]:
    """Write ``out/<n>x<n>/apps/<id>.png`` for every size; return the paths."""
    renderer = QSvgRenderer(str(source))
    if not renderer.isValid():
        raise SystemExit(f"{source}: not a valid SVG")
    written = []
    for size in SIZES:
        target = out / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not render(renderer, size).save(str(target), "PNG"):
            raise SystemExit(f"{target}: could not write")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HICOLOR, help="hicolor folder to write")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    source = SCALABLE
    if APP_ICON.is_file():
        in_sync = SCALABLE.is_file() and APP_ICON.read_bytes() == SCALABLE.read_bytes()
        if args.out == HICOLOR and not in_sync:
            shutil.copyfile(APP_ICON, SCALABLE)
            print(f"copied {APP_ICON} -> {SCALABLE}")
        source = APP_ICON
    for path in make_icons(source, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
