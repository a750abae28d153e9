"""The `.env` file of native mode: read it, and create it from `.env.example` with fresh secrets.

Issue 4 contract: `just run` creates `.env` on first use, generating fresh secrets, and never
overwrites an existing one. Secrets generated here: the JWT signing key (`authd keygen`), the
client secret authd shares with the development OpenID Connect provider, the Redis password, the
sidecars' requestState key, and the development login's password (`just run` prints it on a
terminal).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path


# Settings whose values are secret by their name (keys, passwords, client secrets): orchestrators
# hand them over as secrets (Docker secrets, a Kubernetes Secret), never in a service definition.
SECRET_SETTING = re.compile(r"SECRET|PASSWORD|PRIVATE_KEY|_KEY$")


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


# The authd image of the compose stack (compose/core.yml): it generates keys where no Rust
# toolchain is installed.
AUTHD_IMAGE = "mcp-gateway/authd:latest"


def _key_line(out: str) -> str:
    for line in out.splitlines():
        if line.startswith("JWT_PRIVATE_KEY="):
            return line.split("=", 1)[1]
    raise RuntimeError("authd keygen printed no JWT_PRIVATE_KEY line")


def keygen(authd: Path) -> str:
    """A fresh signing key from `authd keygen` (prints `JWT_PRIVATE_KEY=<base64 PEM>`)."""
    return _key_line(subprocess.run([str(authd), "keygen"], check=True, capture_output=True, text=True,
                                    timeout=60).stdout)


def keygen_in_image(image: str = AUTHD_IMAGE) -> str:
    """The same from the authd image, without a network (only Docker needed on the server)."""
    return _key_line(subprocess.run(["docker", "run", "--rm", "--network", "none", image, "keygen"],
                                    check=True, capture_output=True, text=True, timeout=120).stdout)


def create_env(example: Path, target: Path, authd: Path | None,
               overrides: dict[str, str] | None = None) -> bool:
    """Write `target` from `example` with fresh secrets; False (and nothing written) if it exists.
    Without an `authd` binary the signing key stays blank (the compose stack makes it with its
    authd image once built)."""
    if target.exists():
        return False
    defaults = read_env(example)
    values = {
        "OIDC_CLIENT_SECRET": secrets.token_urlsafe(32),
        "REDIS_PASSWORD": secrets.token_urlsafe(24),
        "SIDECAR_REQUEST_STATE_KEY": secrets.token_urlsafe(32),
        "DEV_LOGIN_PASSWORD": secrets.token_urlsafe(12),
    }
    if authd is not None:
        values["JWT_PRIVATE_KEY"] = keygen(authd)
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


def write_key(env_file: Path, key: str) -> None:
    """A signing key written into an existing env file (0600: it holds secrets)."""
    env_file.write_text(set_values(env_file.read_text(), {"JWT_PRIVATE_KEY": key}))
    env_file.chmod(0o600)


def fresh_key(authd: Path | None) -> str:
    """`just generate-jwt-secret`: the given authd binary; else a debug build when cargo is
    installed; else the authd image, built first when missing (a server with only Docker)."""
    root = Path(__file__).resolve().parent.parent
    if authd is None and shutil.which("cargo"):
        subprocess.run(["cargo", "build", "-p", "authd"], cwd=root, check=True)
        authd = Path(os.environ.get("CARGO_TARGET_DIR", root / "target")) / "debug" / "authd"
    if authd is not None:
        return keygen(authd)
    if subprocess.run(["docker", "image", "inspect", AUTHD_IMAGE], capture_output=True).returncode != 0:
        subprocess.run(["docker", "compose", "build", "authd"], cwd=root, check=True)
    return keygen_in_image()


if __name__ == "__main__":
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="write a new JWT signing key into an env file")
    parser.add_argument("command", choices=["generate-jwt-secret"])
    parser.add_argument("--env-file", type=Path,
                        default=Path(os.environ.get("GATEWAY_ENV_FILE") or Path(__file__).resolve().parent.parent / ".env"))
    parser.add_argument("--authd", type=Path, help="authd binary (default: build one, else the authd image)")
    args = parser.parse_args()
    if not args.env_file.exists():
        sys.exit(f"envfile.py: {args.env_file} missing (`just run` creates it; or cp .env.example .env)")
    write_key(args.env_file, fresh_key(args.authd))
    print(f"new JWT_PRIVATE_KEY written to {args.env_file}; restart authd (tokens signed with the old key stop verifying)")
