#!/usr/bin/env python3
"""Seeds for the fuzz corpora, from real traffic: a real official MCP server (server-everything,
over stdio, as a child of the sidecar) answering the requests MCP clients send, the JSON-RPC
messages of the Rust test suites, and the OAuth requests real clients make (Claude, VS Code,
Cursor, mcp-remote shapes, as in the authd tests). Writes fuzz/seeds/<target>/; `just fuzz-seed`
runs it, then `cargo fuzz cmin` keeps what adds coverage in fuzz/corpus/<target>/.
"""
import base64
import hashlib
import json
import re
import struct
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "seeds"

MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {"sampling": {}, "elicitation": {}},
    "io.modelcontextprotocol/clientInfo": {"name": "fuzz-seed", "version": "1"},
}

# What clients send (MCP spec "Lifecycle", "Tools", "Resources", "Prompts", "Utilities";
# 2026-07-28 per-request _meta).
CLIENT = [
    {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"roots": {"listChanged": True}, "sampling": {},
        "elicitation": {}}, "clientInfo": {"name": "claude-ai", "version": "0.1.0"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
    {"jsonrpc": "2.0", "id": "call-2", "method": "tools/call", "params": {"name": "echo",
        "arguments": {"message": "hello \u00e9\u4e16 \"q\""}, "_meta": {"progressToken": "p-2"}}},
    {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get-sum",
        "arguments": {"a": 1.5, "b": -20000000000}}},
    {"jsonrpc": "2.0", "id": 4, "method": "resources/list", "params": {}},
    {"jsonrpc": "2.0", "id": 5, "method": "resources/read", "params": {"uri": "demo://resource/static/document/architecture.md"}},
    {"jsonrpc": "2.0", "id": 6, "method": "prompts/list"},
    {"jsonrpc": "2.0", "id": 7, "method": "prompts/get", "params": {"name": "simple-prompt"}},
    {"jsonrpc": "2.0", "id": 8, "method": "ping"},
    {"jsonrpc": "2.0", "id": 9, "method": "completion/complete", "params": {"ref": {"type": "ref/prompt",
        "name": "args-prompt"}, "argument": {"name": "city", "value": "Par"}}},
    {"jsonrpc": "2.0", "id": 10, "method": "logging/setLevel", "params": {"level": "debug"}},
    {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "call-2", "reason": "user"}},
    {"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "trigger-long-running-operation",
        "arguments": {"duration": 1, "steps": 2}, "_meta": {"progressToken": 11}}},
]
MODERN = [
    {"jsonrpc": "2.0", "id": "d1", "method": "server/discover", "params": {"_meta": MODERN_META}},
    {"jsonrpc": "2.0", "id": 21, "method": "tools/list", "params": {"_meta": MODERN_META}},
    {"jsonrpc": "2.0", "id": 22, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "hi"},
        "_meta": dict(MODERN_META, progressToken="t22")}},
    {"jsonrpc": "2.0", "id": 23, "method": "tools/call", "params": {"name": "ask", "arguments": {"q": "?"},
        "inputResponses": {"r1": {"action": "accept", "content": {"ok": True}}},
        "requestState": "v1.00ff.1.1000.AAAA", "_meta": MODERN_META}},
    {"jsonrpc": "2.0", "id": 24, "method": "resources/read", "params": {"uri": "file:///tmp/\u00e9 x.txt", "_meta": MODERN_META}},
    {"jsonrpc": "2.0", "id": 25, "method": "subscriptions/listen", "params": {"notifications": {
        "toolsListChanged": True}, "_meta": MODERN_META}},
    {"jsonrpc": "2.0", "id": 26, "method": "tools/call", "params": {"name": "weather",
        "arguments": {"region": "eu-west", "count": 42, "dry": True, "nested": {"id": "\u00fcn\u00ef"}},
        "inputSchema": {"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "count": {"type": "integer", "x-mcp-header": "Count"},
            "dry": {"type": "boolean", "x-mcp-header": "Dry"},
            "nested": {"type": "object", "properties": {"id": {"type": "string", "x-mcp-header": "Nested-Id"}}}}},
        "_meta": MODERN_META}},
]


def write(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / f"{name}-{hashlib.sha1(data).hexdigest()[:12]}").write_bytes(data)


def child_transcript():
    """Real stdout of an official server answering CLIENT (initialize first), until every request
    is answered (the server keeps running after stdin closes, so it is stopped then)."""
    server = ROOT / "tests" / "node_modules" / ".bin" / "mcp-server-everything"
    sent = [m for m in CLIENT if m.get("method") != "notifications/cancelled"]
    waiting = {m["id"] for m in sent if "id" in m}
    try:
        proc = subprocess.Popen([str(server), "stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
    except OSError as e:
        sys.exit(f"seed: cannot run {server}: {e}")
    lines = []
    try:
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in sent).encode())
        proc.stdin.flush()
        for line in proc.stdout:
            if not line.strip():
                continue
            lines.append(line.rstrip(b"\n"))
            waiting.discard(json.loads(line).get("id"))
            if not waiting:
                break
    finally:
        proc.kill()
        proc.wait()
    return lines


def test_messages():
    """JSON-RPC messages written in the Rust test suites."""
    found = []
    for f in list((ROOT / "sidecar").rglob("*.rs")):
        for m in re.findall(r'r#"(\{[^#]*?\})"#', f.read_text()):
            if "jsonrpc" in m:
                found.append(m.encode())
    return found


def sidecar_seeds():
    child = child_transcript()
    bodies = [json.dumps(m).encode() for m in CLIENT + MODERN] + test_messages() + child
    bodies.append(json.dumps(CLIENT[2:5]).encode())  # a 2025-03-26 batch
    bodies.append(json.dumps(CLIENT[3], indent=2).encode())  # pretty-printed (line breaks)
    bodies.append(json.dumps(MODERN[2], indent=1, ensure_ascii=False).encode())
    bodies.append(b'{"jsonrpc":"2.0","id":1.50,"method":"ping"}')
    bodies.append(b'{"jsonrpc":"2.0","id":"a\\/b\\u00e9","method":"ping"}')
    for i, b in enumerate(bodies):
        write("jsonrpc_envelope", f"body{i}", b)
        write("id_remapping", f"body{i}", b)
    stdout = b"\n".join(child) + b"\n"
    write("stdio_framing", "child", b"\xff\xff\x07" + stdout)
    write("stdio_framing", "crlf", b"\x00\x40\x03" + stdout.replace(b"\n", b"\r\n")[:4000])
    write("stdio_framing", "small", b"\x00\x10\x01" + b'{"a":1}\n\n  \n{"b":2}\r\n{"c"')
    # Headers and body of real requests of both eras.
    legacy_headers = ("Host: 127.0.0.1:8080\nAccept: application/json, text/event-stream\n"
                      "Content-Type: application/json\nMCP-Protocol-Version: 2025-11-25\n"
                      "Origin: https://claude.ai\nMcp-Session-Id: 3q2-7w\n")
    for m in CLIENT:
        write("mcp_headers", "legacy", legacy_headers + "\n" + json.dumps(m))
    for m in MODERN:
        p = m["params"]
        name = p.get("name") or p.get("uri")
        h = (f"Host: localhost:3000\nAccept: text/event-stream;q=0.5, application/json\n"
             f"Content-Type: application/json; charset=utf-8\nMCP-Protocol-Version: 2026-07-28\n"
             f"Mcp-Method: {m['method']}\nOrigin: http://localhost:3000\n")
        if name:
            enc = name if name.isascii() else "=?base64?" + base64.b64encode(name.encode()).decode() + "?="
            h += f"Mcp-Name: {enc}\n"
        if m["id"] == 26:
            h += ("Mcp-Param-Region: eu-west\nMcp-Param-Count: 42\nMcp-Param-Dry: true\n"
                  "Mcp-Param-Nested-Id: =?base64?w7xuw68=?=\n")
        write("mcp_headers", "modern", h + "\n" + json.dumps(m))
    write("mcp_headers", "hosts", "Host: [::1]:3000\nOrigin: http://[::1]:3000/\nAccept: */*\n\n")
    write("mcp_headers", "hosts2", "Host: gw.example.com:8443\nOrigin: HTTP://127.0.0.1:8080\n\n")
    # Last-Event-ID and requestState.
    for i, line in enumerate(child[:4]):
        write("resume_state", f"ev{i}", struct.pack("<QQ", i, 7 * i) + line + b"\n1-5\nv1.00ff.1.1000.AAAA")
    write("resume_state", "prime", struct.pack("<QQ", 1000, 2**32 + 3) + b'{}\n 0-0 \n' + sealed_state().encode())


def sealed_state():
    """A genuine state under the fuzz target's key (so mutations explore the tag check)."""
    import hmac
    key = b"fuzz requestState key, 32 bytes!"
    fields = [b"mcp-sidecar requestState v1", b"00ff", b"1", b"1000", b"oidc:alice", b"tools/call", b"ask"]
    msg = b"".join(struct.pack(">Q", len(f)) + f for f in fields)
    tag = base64.urlsafe_b64encode(hmac.new(key, msg, "sha256").digest()).rstrip(b"=").decode()
    return f"v1.00ff.1.1000.{tag}"


CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
REDIRECTS = ["https://claude.ai/api/mcp/auth_callback", "https://vscode.dev/redirect", "http://127.0.0.1:33418/",
             "http://localhost:6274/oauth/callback", "cursor://anysphere.cursor-mcp/oauth/callback",
             "https://chatgpt.com/connector_platform_oauth_redirect", "http://[::1]:9/cb", "http://localhost:3000/cb?x=1"]
RESOURCES = ["http://127.0.0.1:8080/fetch/mcp", "HTTP://127.0.0.1:8080/time/mcp/", "https://mcp-fetch.example.com/mcp",
             "https://MCP-Time.Example.com:443/mcp", "http://127.0.0.1:8080/fetch/mcp?x=1", "https://a.b/mcp#f"]


def authd_seeds():
    for i, (redirect, resource) in enumerate(zip(REDIRECTS, RESOURCES * 2)):
        q = {"response_type": "code", "client_id": "c-" + str(i), "redirect_uri": redirect,
             "code_challenge": CHALLENGE, "code_challenge_method": "S256", "state": "st%d" % i,
             "resource": resource, "scope": ["mcp offline_access", "mcp", "", "openid mcp"][i % 4]}
        if i % 3 == 0:
            q["prompt"] = ["consent", "none", "login select_account"][i % 3]
        write("authorize_query", f"q{i}", urlencode(q))
    write("authorize_query", "repeated", "response_type=code&response_type=token&resource=x")
    forms = [
        {"grant_type": "authorization_code", "code": "abc", "redirect_uri": REDIRECTS[0], "code_verifier": VERIFIER,
         "client_id": "c1", "resource": RESOURCES[0]},
        {"grant_type": "refresh_token", "refresh_token": "rt-1", "client_id": "c1", "scope": "mcp"},
        {"grant_type": "authorization_code", "code": "abc", "code_verifier": VERIFIER, "client_id": "c2",
         "client_secret": "s3cr3t"},
        {"grant_type": "authorization_code", "code": "x", "code_verifier": VERIFIER,
         "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
         "client_assertion": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJodHRwczovL2EuZXhhbXBsZS9jbGllbnQifQ.c2ln"},
    ]
    basic = "Basic " + base64.b64encode(b"c%201:s%3Ae").decode()
    for i, f in enumerate(forms):
        write("token_form", f"f{i}", "\n" + urlencode(f))
        write("token_form", f"b{i}", basic + "\n" + urlencode({k: v for k, v in f.items() if k != "client_secret"}))
    for i, u in enumerate(REDIRECTS + RESOURCES + ["javascript:alert(1)", "HTTP://LOCALHOST:80/", "http://127.0.0.1.evil.example/",
                                                  "https://user:pw@host.example:8443/a/../b/?q#f", "http://[::1]/"]):
        write("url_normalisation", f"u{i}", u)
    regs = [
        {"client_name": "Claude", "redirect_uris": REDIRECTS[:1], "grant_types": ["authorization_code", "refresh_token"],
         "response_types": ["code"], "token_endpoint_auth_method": "none", "scope": "mcp offline_access"},
        {"client_name": "Visual Studio Code", "redirect_uris": REDIRECTS[1:5], "token_endpoint_auth_method": "none",
         "application_type": "native"},
        {"client_name": "web", "redirect_uris": ["https://app.example/cb"], "application_type": "web",
         "token_endpoint_auth_method": "client_secret_post", "contacts": ["a@b.c"], "unknown": {"x": 1}},
        {"redirect_uris": ["https://chatgpt.com/connector/oauth/abc"], "token_endpoint_auth_method": "private_key_jwt",
         "jwks_uri": "https://chatgpt.com/.well-known/jwks.json", "grant_types": ["urn:x", "authorization_code"]},
    ]
    for i, r in enumerate(regs):
        write("client_metadata", f"r{i}", json.dumps(r))
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":"k1","typ":"at+jwt"}').rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(json.dumps({"iss": "http://127.0.0.1:8080", "sub": "oidc:dev", "aud": RESOURCES[0],
        "client_id": "c1", "scope": "mcp", "jti": "j", "iat": 1, "nbf": 1, "exp": 9, "name": "dev"}).encode()).rstrip(b"=").decode()
    for i, v in enumerate([f"Bearer {header}.{claims}.c2lnbmF0dXJl", f"bearer   {header}.{claims}. ",
                           f"Basic {base64.b64encode(b'a:b').decode()}", "Bearer", "Bearer eyJhbGciOiJub25lIn0.e30."]):
        write("verify_token", f"t{i}", v)
    write("verify_token", "sign", "sign:oidc:dev\x1fhttp://127.0.0.1:8080/fetch/mcp\x1fc1\x1fmcp\x1fjti\x1fdev\x1fa@b.c")


if __name__ == "__main__":
    sidecar_seeds()
    authd_seeds()
    for d in sorted(OUT.iterdir()):
        print(f"{d.name}: {len(list(d.iterdir()))} seeds")
