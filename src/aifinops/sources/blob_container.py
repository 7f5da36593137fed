"""A Blob Storage container and a folder in it, from one URL: ``https://<account>.blob.core.windows.net/
<container>[/<folder>][?<sas>]``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aifinops.errors import ConfigError

__all__ = ["container_from_url"]


def container_from_url(url: str, credential: Any, *, what: str) -> tuple[Any, str]:
    """A ``ContainerClient`` and the folder prefix named by ``url``; ``what`` names the setting or option in
    the error. A SAS in the URL is the credential; otherwise ``credential`` (Entra ID) is used."""
    from azure.storage.blob import ContainerClient

    parts = urlsplit(url)
    container, _, prefix = parts.path.strip("/").partition("/")
    if parts.scheme != "https" or not container:
        raise ConfigError(
            f"{what} must look like https://<account>.blob.core.windows.net/<container>[/<folder>][?<sas>], "
            f"got {parts.scheme}://{parts.netloc}{parts.path}"
        )
    container_url = f"https://{parts.netloc}/{container}" + (f"?{parts.query}" if parts.query else "")
    client = ContainerClient.from_container_url(container_url, credential=None if parts.query else credential)
    return client, prefix
