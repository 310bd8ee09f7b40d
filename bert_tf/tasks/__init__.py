"""Task-specific data processing: `glue` (GLUE, XNLI and generic TSV/CSV)."""
