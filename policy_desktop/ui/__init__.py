"""The desktop app's widgets (PySide6); the only package besides ``app.py`` that imports Qt.

Widgets talk to the decision store only through :mod:`policy_desktop.ui.tasks`,
which runs every database call on one background thread.
"""
