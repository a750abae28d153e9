"""The `.env` file of native mode: read it, and create it from `.env.example` with fresh secrets.

Issue 4 contract: `just run` creates `.env` on first use, generating fresh secrets, and never
overwrites an existing one. Secrets generated here: the JWT signing key (`authd keygen`), the
client secret authd shares with the development OpenID Connect provider, the Redis password, the
sidecars' requestState key.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path


def read_env(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (comments and blanks skipped, one level of quotes removed)."""
    env: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def set_values(text: str, values: dict[str, str]) -> str:
    """Replace `KEY=...` lines in an env file's text; keys not present are appended."""
    lines, seen = [], set()
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip() if "=" in line and not line.startswith("#") else None
        if key in values:
            lines.append(f"{key}={values[key]}")
            seen.add(key)
        else:
            lines.append(line)
    lines += [f"{k}={v}" for k, v in values.items() if k not in seen]
    return "\n".join(lines) + "\n"


def keygen(authd: Path) -> str:
    """A fresh signing key from `authd keygen` (prints `JWT_PRIVATE_KEY=<base64 PEM>`)."""
    out = subprocess.run([str(authd), "keygen"], check=True, capture_output=True, text=True,
                         timeout=60).stdout
    for line in out.splitlines():
        if line.startswith("JWT_PRIVATE_KEY="):
            return line.split("=", 1)[1]
    raise RuntimeError("authd keygen printed no JWT_PRIVATE_KEY line")


def create_env(example: Path, target: Path, authd: Path, overrides: dict[str, str] | None = None) -> bool:
    """Write `target` from `example` with fresh secrets; False (and nothing written) if it exists."""
    if target.exists():
        return False
    defaults = read_env(example)
    values = {
        "JWT_PRIVATE_KEY": keygen(authd),
        "OIDC_CLIENT_SECRET": secrets.token_urlsafe(32),
        "REDIS_PASSWORD": secrets.token_urlsafe(24),
        "SIDECAR_REQUEST_STATE_KEY": secrets.token_urlsafe(32),
    }
    # authd refuses to start with every allow list empty: on first use only the development user
    # may log in (edit ALLOWED_* in .env to open the gateway to others).
    if not any(defaults.get(k) for k in ("ALLOWED_USERS", "ALLOWED_EMAILS", "ALLOWED_DOMAINS")):
        values["ALLOWED_USERS"] = defaults.get("DEV_LOGIN_USER", "dev")
    values.update(overrides or {})
    target.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: never overwrite an env file that appeared meanwhile; 0600: it holds secrets.
    with open(target, "x", encoding="utf-8") as f:
        f.write(set_values(example.read_text(), values))
    target.chmod(0o600)
    return True


def replace_jwt_key(env_file: Path, authd: Path) -> None:
    """`just generate-jwt-secret`: a fresh RSA signing key written into an existing env file."""
    env_file.write_text(set_values(env_file.read_text(), {"JWT_PRIVATE_KEY": keygen(authd)}))
    env_file.chmod(0o600)


if __name__ == "__main__":
    import argparse
    import os
    import sys

    parser = argparse.ArgumentParser(description="write a new JWT signing key into an env file")
    parser.add_argument("command", choices=["generate-jwt-secret"])
    parser.add_argument("--env-file", type=Path, default=Path(__file__).resolve().parent.parent / ".env")
    parser.add_argument("--authd", type=Path,
                        default=Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "debug" / "authd")
    args = parser.parse_args()
    if not args.env_file.exists():
        sys.exit(f"envfile.py: {args.env_file} missing (`just run` creates it)")
    replace_jwt_key(args.env_file, args.authd)
    print(f"new JWT_PRIVATE_KEY written to {args.env_file}; restart authd (tokens signed with the old key stop verifying)")
