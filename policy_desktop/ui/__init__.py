"""The desktop interface (PySide6): windows, views and dialogs."""
