"""The scan intake chain as small steps, one module each (docs/scans.md, "The step chain").

Kept free of imports: drop-zone configuration reads the step names (tthc.scans.steps.names) at
DAG parse time without loading the OCR and PDF libraries the steps use.
"""
