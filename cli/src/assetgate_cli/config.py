"""Where the service is and the API key: ASSETGATE_URL / ASSETGATE_API_KEY, else `assetgate login`'s file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import platformdirs

from assetgate_cli.api import parse_url
from assetgate_cli.errors import AUTH, USAGE, CliError

APP = 'assetgate'


def config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP)) / 'config.json'


def state_dir() -> Path:
    """Upload state files (for resume) live here."""
    return Path(platformdirs.user_state_dir(APP)) / 'uploads'


@dataclass
class Config:
    url: Optional[str]
    api_key: Optional[str]

    def service_url(self) -> str:
        if not self.url:
            raise CliError('No service configured: set ASSETGATE_URL or run `assetgate login`.', USAGE)
        parse_url(self.url, 'The service URL')
        return self.url.rstrip('/')

    def key(self) -> str:
        if not self.api_key:
            raise CliError('No API key configured: set ASSETGATE_API_KEY or run `assetgate login`.', AUTH)
        return self.api_key


def load() -> Config:
    """The environment wins over the stored file, each value on its own."""
    stored: dict = {}
    path = config_path()
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise CliError(f'Could not read {path}: {e}; run `assetgate login` again.') from e
    return Config(
        url=os.environ.get('ASSETGATE_URL') or stored.get('url'),
        api_key=os.environ.get('ASSETGATE_API_KEY') or stored.get('api_key'),
    )


def save(url: str, api_key: str) -> Path:
    """Write the config file with mode 0600 (its directory 0700) before any byte of the key is written."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix('.tmp')
    if tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as f:
        json.dump({'url': url.rstrip('/'), 'api_key': api_key}, f)
    os.replace(tmp, path)
    os.chmod(path, 0o600)
    return path
