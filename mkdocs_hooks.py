"""MkDocs hook (mkdocs.yml ``hooks:``): fills ``docs/reference.md`` with the configuration reference generated
from the config models (:mod:`eval_pipeline.project.reference`) at build time."""

from eval_pipeline.project.reference import MARKER, reference_markdown


def on_page_markdown(markdown, page, config, files):
    return markdown.replace(MARKER, reference_markdown()) if MARKER in markdown else markdown
