"""Reports as documents people print and work with: the figures of ``assessment.report`` laid out
as JSON, CSV, XLSX, HTML with inline SVG charts (matplotlib) and PDF (WeasyPrint)."""
