"""Settings from the environment, with safe defaults for the embedded (SQLite) set-up."""

from __future__ import annotations

import os
import secrets
from dataclasses import fields
from pathlib import Path

from documents.settings import config_values as document_settings
from storage.db import default_url

ROOT = Path(__file__).resolve().parent
INSTANCE = ROOT / "instance"


def _secret_key() -> str:
    """A stable per-installation key: sessions survive a restart without shipping a key in the repo."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = INSTANCE / "secret_key"
    if not path.exists():
        INSTANCE.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _engine_limits() -> dict:
    """Overrides of the engine's bounds (engine/limits.py EngineLimits, where the defaults live) from
    ENGINE_<NAME> variables, e.g. ENGINE_MAX_STEPS_PER_COMMAND=1000."""
    from engine.limits import EngineLimits

    found: dict = {}
    for item in fields(EngineLimits):
        raw = os.environ.get(f"ENGINE_{item.name.upper()}")
        if raw:
            found[item.name] = float(raw) if item.type in (float, "float") else int(raw)
    return found


def load_config(overrides: dict | None = None) -> dict:
    config = {
        "DATABASE_URL": default_url(),
        "SECRET_KEY": None,
        "WORKFLOWS_DIR": str(ROOT / "workflows"),
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "LANGUAGES": ["zh_CN", "en"],
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Secure cookies need HTTPS; set SESSION_COOKIE_SECURE=1 behind a TLS proxy.
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE") == "1",
        # The file store (uploaded materials, issued documents): a directory; on several nodes a shared volume.
        "FILES_DIR": os.environ.get("FILES_DIR") or str(INSTANCE / "files"),
        # official documents: rendered after the issuing command, in the background (default) or before it returns
        "DOCUMENTS_RENDER": os.environ.get("DOCUMENTS_RENDER") or "background",
        # One request may carry several materials; each file is also held to its matter's limit (catalog).
        # Werkzeug spools uploads to temporary files, so this bounds disk use per request, not memory.
        "MAX_CONTENT_LENGTH": int(os.environ.get("MAX_UPLOAD_REQUEST_BYTES", str(600 * 1024 * 1024))),
        # Number of reverse proxies in front of the service (X-Forwarded-For hops to trust); 0 = none.
        "TRUST_PROXY_HOPS": int(os.environ.get("TRUST_PROXY_HOPS", "0")),
        "SCHEDULER_ENABLED": os.environ.get("SCHEDULER_ENABLED", "1") == "1",
        "SMTP_HOST": os.environ.get("SMTP_HOST"),
        "SMTP_PORT": int(os.environ.get("SMTP_PORT", "25")),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "runonce@localhost"),
        # Official documents: DEPARTMENT_NAME (default 吉林省环境保护厅, on every document and page header),
        # DOCUMENT_ISSUER, DOCUMENT_SEAL, WINDOW_ADDRESS/PHONE/HOURS, APPEAL_REVIEW_BODY and
        # DOCUMENT_NUMBER_FORMATS (kind -> "吉环受字〔{year}〕第{n}号"; env DOCUMENT_NUMBER_FORMAT_<KIND>).
        **document_settings(),
        # Bounds of the engine work per command (defaults in engine/limits.py); applied by create_app().
        "ENGINE_LIMITS": _engine_limits(),
    }
    config.update(overrides or {})
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = _secret_key()
    return config
