"""Resources: thin, configurable handles on the plain-Python layer.

Configured with ``dg.EnvVar`` so secrets and deployment settings come from the environment
(never read at import time). ``resources_for_env()`` picks the set for the deployment.
"""

import os
from typing import Optional

import dagster as dg
from pydantic import PrivateAttr

from eval_pipeline.config import Project, load_project
from eval_pipeline.paths import data_dir, default_warehouse_url


class EvalConfigResource(dg.ConfigurableResource):
    """Suites, golden-set locations and the model registry under the data folder."""

    data_dir: str = ""

    def load(self) -> Project:
        from pathlib import Path

        return load_project(Path(self.data_dir) if self.data_dir else data_dir())


class WarehouseResource(dg.ConfigurableResource):
    """Parquet warehouse: a local folder (default) or ``s3://bucket/prefix``.

    S3 credentials come from the standard AWS chain (``AWS_ACCESS_KEY_ID`` /
    ``AWS_SECRET_ACCESS_KEY`` / profile / instance role); ``endpoint_url`` points at any
    S3-compatible store.
    """

    url: str = ""
    endpoint_url: Optional[str] = None
    region: Optional[str] = None

    def get(self):
        from eval_pipeline.warehouse import Warehouse

        return Warehouse.from_url(self.url or default_warehouse_url(), endpoint_url=self.endpoint_url or None, region=self.region or None)


def _env_or_none(name: str) -> Optional[str]:
    return os.environ.get(name) or None
