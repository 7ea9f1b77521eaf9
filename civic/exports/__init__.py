"""Exports: CSV for now (UTF-8 with BOM, formula-safe); XLSX, PDF and JSON come with issues #3 and #6."""
