"""Training-data export: few-shot selection and dataset writers (Qt-free)."""
