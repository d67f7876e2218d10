"""The registries of export formats and of review files read back (light: nothing here imports numpy).

EXPORT_FORMATS: target `export(source: ExportSource, out: Path, only: str, image_root: Path | None)
-> Written` (core.export.<format>). Meta `only`: which samples the format exports when
`--only` is not given ("flagged" for a review tool, "all" for a table or a dataset).
REVIEW_FORMATS: target `read(path: Path) -> list[ReviewRow]` (core.export.review_files); meta
`suffixes`: the file suffixes `--format auto` reads as this format.

Adding a format is one module with `export` and one line here; `gradsift export`, the dashboard's
downloads and its saves (core.export.downloads) all run formats through this registry.
"""

from core.registry import Registry

EXPORT_FORMATS = Registry("export format")
EXPORT_FORMATS.add("label-studio", "Label Studio tasks JSON (gradsift's suggestion as a prediction) and its "
                   "labeling config", "core.export.label_studio:export", only="flagged")
EXPORT_FORMATS.add("cleanlab", "a cleanlab-style table: is_label_issue and label_score (higher = label more "
                   "likely correct)", "core.export.cleanlab:export", only="all")
EXPORT_FORMATS.add("fiftyone", "a FiftyOne ImageClassificationDirectoryTree of the images, with a sidecar CSV "
                   "of gradsift's fields", "core.export.fiftyone:export", only="all")
EXPORT_FORMATS.add("manifest", "the reviewed training set as a manifest `gradsift analyze --dataset` reads",
                   "core.export.manifest:export", only="all")
EXPORT_FORMATS.add("review-log", "the review log as CSV: every decision and undo, oldest first, with the relabel "
                   "target's class name", "core.export.review_log:export", only="all")

REVIEW_FORMATS = Registry("review file format")
REVIEW_FORMATS.add("label-studio", "a Label Studio JSON export of annotated tasks (JSON or JSON-MIN)",
                   "core.export.review_files:read_label_studio", suffixes=(".json",))
REVIEW_FORMATS.add("csv", "a CSV of corrections: sample_id, label (class name or index), optional action",
                   "core.export.review_files:read_csv", suffixes=(".csv",))
