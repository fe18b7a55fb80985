#!/usr/bin/env python3
"""A ClickHouse HTTP front for development and tests, running every statement
in the real ClickHouse engine (chDB, from the `chdb-core` package).

No ClickHouse server package on this machine's registries is new enough
(Debian's is from 2018), but the engine itself ships on PyPI as chDB. chDB
runs in-process and cannot start its own network servers, so this program
speaks the HTTP interface that clients use and hands each statement to one
chDB session on a data directory:

- GET/POST `/` and `/ping`; the query in the `query` parameter or the body
  (with a `query` parameter, the body is the data of an INSERT);
- INSERT data from the body, written to a temporary file and loaded with
  `INSERT ... FROM INFILE`;
- the `database` and `default_format` parameters, query parameters
  (`param_<name>` for `{name:Type}`); any other parameter is a setting
  (`insert_deduplication_token=...`, `max_execution_time=...`);
- `decompress=1`: the body is ClickHouse's native compressed blocks (LZ4,
  ZSTD or none), each checked against its CityHash128 checksum;
  `compress=1`: the answer is sent in such blocks (LZ4);
- `Content-Encoding: gzip | zstd | lz4 | deflate` bodies;
- a user and password from `X-ClickHouse-User`/`X-ClickHouse-Key`, basic
  auth, or the `user`/`password` parameters;
- query parameters also as `multipart/form-data` fields (how the Rust
  crate sends them);
- errors as ClickHouse gives them: HTTP 500, or 400/404/403 for the codes
  ClickHouse's HTTP handler maps to those (syntax errors, unknown tables,
  failed logins), the `X-ClickHouse-Exception-Code` header and
  `Code: N. DB::Exception: ...`.

Differences from a real server, by design: statements run one at a time
in one shared session (so a `SET` or a temporary table outlives its
request), settings given as URL parameters apply to SELECT-like statements
and INSERTs only, and answers are sent whole, never streamed.

Statements run one at a time (one engine, one session). It is a development
tool, not a production server.

    python server.py --port 8123 --data /tmp/ch-data [--user u --password p]

`--statement-log FILE` appends a line per statement: when it took the
engine and when it gave it back (Unix seconds), `insert` or `query`, and
the bytes of data it carried. `scripts/bench-e2e` reads it to show how
the engine's time was shared during the load.
"""

import argparse
import atexit
import base64
import email.parser
import email.policy
import gzip
import http.server
import io
import os
import re
import shutil
import socketserver
import struct
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib

import lz4.block
import lz4.frame
import zstandard
from chdb import session as chdb_session
from clickhouse_cityhash.cityhash import CityHash128

# Parameters that are not settings.
NOT_SETTINGS = {
    "query", "database", "default_format", "user", "password", "compress",
    "decompress", "query_id", "session_id", "session_timeout", "session_check",
    "wait_end_of_query", "buffer_size", "client_protocol_version",
}

METHOD_NONE, METHOD_LZ4, METHOD_ZSTD = 0x02, 0x82, 0x90
HEADER_LEN = 9  # method (1) + compressed size (4) + decompressed size (4)

INSERT_RE = re.compile(
    r"^\s*INSERT\s+INTO\s+(?P<target>.+?)\s+"
    r"(?:SETTINGS\s+(?P<settings>.+?)\s+)?FORMAT\s+(?P<format>\w+)\s*$",
    re.IGNORECASE | re.DOTALL,
)
# An INSERT whose data follows the statement in the body.
BODY_INSERT_RE = re.compile(
    rb"^\s*(INSERT\s+INTO\s.+?\sFORMAT\s+\w+)[ \t]*(?:\r?\n)?",
    re.IGNORECASE | re.DOTALL,
)
TRAILING_FORMAT_RE = re.compile(r"\s+FORMAT\s+(?P<format>\w+)\s*;?\s*$", re.IGNORECASE)
ERROR_CODE_RE = re.compile(r"Code:\s*(\d+)")


class ClickHouseError(Exception):
    """An error to answer the way ClickHouse does."""

    def __init__(self, code, message, status=500):
        super().__init__(message)
        self.code = code
        self.status = status

    def text(self):
        message = str(self)
        if message.startswith("Code:"):
            return message
        return f"Code: {self.code}. DB::Exception: {message}"


def checksum(data):
    """CityHash128 (v1.0.2) of a block, laid out as ClickHouse writes it:
    the hash's high 64 bits first, each half little-endian."""
    value = CityHash128(data)
    return struct.pack("<QQ", value >> 64, value & 0xFFFFFFFFFFFFFFFF)


def decompress_blocks(body):
    """Native compressed blocks -> the bytes they hold, checking checksums."""
    out = io.BytesIO()
    at = 0
    while at < len(body):
        if len(body) - at < 16 + HEADER_LEN:
            raise ClickHouseError(432, "truncated compressed block header")
        expected = body[at:at + 16]
        method, compressed_size, size = struct.unpack_from("<BII", body, at + 16)
        block = body[at + 16:at + 16 + compressed_size]
        if len(block) != compressed_size:
            raise ClickHouseError(432, "truncated compressed block")
        if checksum(block) != expected:
            raise ClickHouseError(40, "Checksum doesn't match: corrupted data")
        payload = block[HEADER_LEN:]
        if method == METHOD_LZ4:
            out.write(lz4.block.decompress(payload, uncompressed_size=size))
        elif method == METHOD_ZSTD:
            out.write(zstandard.ZstdDecompressor().decompress(payload, max_output_size=size))
        elif method == METHOD_NONE:
            out.write(payload)
        else:
            raise ClickHouseError(432, f"unknown compression method 0x{method:02x}")
        at += 16 + compressed_size
    return out.getvalue()


def compress_block(data):
    """`data` as one LZ4 native compressed block."""
    payload = lz4.block.compress(data, store_size=False)
    block = struct.pack("<BII", METHOD_LZ4, HEADER_LEN + len(payload), len(data)) + payload
    return checksum(block) + block


def decode_content(body, encoding):
    encoding = (encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    if encoding == "lz4":
        return lz4.frame.decompress(body)
    raise ClickHouseError(1, f"unsupported Content-Encoding {encoding!r}", status=415)


def multipart_fields(content_type, body):
    """The fields of a multipart/form-data body, as text."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[name] = part.get_payload(decode=True).decode("utf-8")
    return fields


def quote_setting(value):
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def settings_clause(settings):
    for name in settings:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ClickHouseError(115, f"Unknown setting '{name}'", status=400)
    return ", ".join(f"{name} = {quote_setting(value)}" for name, value in settings.items())


# Statements that take a trailing SETTINGS clause for query settings.
SETTINGS_TAKERS = re.compile(r"^\s*(SELECT|WITH|DESCRIBE|DESC|SHOW|EXPLAIN|EXISTS)\b", re.IGNORECASE)

# Query-settings codes ClickHouse's HTTP handler answers with 4xx.
STATUS_BY_CODE = {
    **{code: 400 for code in (6, 27, 36, 38, 41, 42, 43, 44, 46, 53, 62, 69, 70, 115, 117, 130, 395, 472)},
    **{code: 404 for code in (16, 47, 60, 81, 83, 179)},
    **{code: 403 for code in (192, 193, 194, 195, 196, 197, 516)},
}


def with_settings(query, settings):
    """Puts the URL's settings where ClickHouse reads them: a SETTINGS
    clause before a trailing FORMAT, on a new line (so that a trailing
    comment cannot swallow it). Statements without a SETTINGS clause (DDL)
    run without them: this front cannot scope them to one statement."""
    if not settings or not SETTINGS_TAKERS.match(query):
        return query
    clause = "\nSETTINGS " + settings_clause(settings)
    match = TRAILING_FORMAT_RE.search(query)
    if match:
        return query[:match.start()] + clause + query[match.start():]
    return query.rstrip().rstrip(";") + clause


class Engine:
    """One chDB session on a data directory, used by one statement at a time."""

    def __init__(self, data_dir, statement_log=None):
        self.session = chdb_session.Session(data_dir)
        self.lock = threading.Lock()
        self.statement_log = open(statement_log, "a", buffering=1) if statement_log else None
        self.spool = tempfile.mkdtemp(prefix="clickhouse-dev-")
        atexit.register(shutil.rmtree, self.spool, True)

    def run(self, query, database, default_format, settings, data, query_params):
        with self.lock:
            start = time.time()
            try:
                return self._run(query, database, default_format, settings, data, query_params)
            finally:
                if self.statement_log is not None:
                    kind = "insert" if data is not None and INSERT_RE.match(query) else "query"
                    self.statement_log.write(
                        f"{start:.6f}\t{time.time():.6f}\t{kind}\t{len(data or b'')}\n"
                    )

    def _run(self, query, database, default_format, settings, data, query_params):
        """One statement, the engine held."""
        # Like ClickHouse's HTTP interface: each request starts in its
        # `database`, or `default`.
        name = (database or "default").replace("`", "``")
        self._query(f"USE `{name}`", "TabSeparated")
        insert = INSERT_RE.match(query)
        if insert and data is not None:
            return self._insert(insert, settings, data)
        if data:
            query = query + "\n" + data.decode("utf-8", "replace")
        fmt = default_format
        match = TRAILING_FORMAT_RE.search(query)
        if match:
            fmt = match.group("format")
        return self._query(with_settings(query, settings), fmt, query_params)

    def _insert(self, match, settings, data):
        path = os.path.join(self.spool, "insert.bin")
        with open(path, "wb") as spool:
            spool.write(data)
        try:
            return self._insert_file(match, settings, path)
        finally:
            os.remove(path)

    def _insert_file(self, match, settings, path):
        merged = dict(settings)
        inline = match.group("settings")
        clause = settings_clause(merged)
        if inline:
            clause = inline + (", " + clause if clause else "")
        sql = f"INSERT INTO {match.group('target')} FROM INFILE '{path}'"
        if clause:
            sql += f" SETTINGS {clause}"
        sql += f" FORMAT {match.group('format')}"
        return self._query(sql, "TabSeparated")

    def _query(self, sql, fmt, query_params=None):
        try:
            result = self.session.query(sql, fmt, params=query_params or None)
        except Exception as error:  # chDB raises ChdbError with ClickHouse's text
            text = str(error).strip()
            code = ERROR_CODE_RE.search(text)
            number = int(code.group(1)) if code else 1000
            raise ClickHouseError(number, text, status=STATUS_BY_CODE.get(number, 500)) from None
        if getattr(result, "has_error", lambda: False)():
            text = result.error_message()
            code = ERROR_CODE_RE.search(text)
            number = int(code.group(1)) if code else 1000
            raise ClickHouseError(number, text, status=STATUS_BY_CODE.get(number, 500))
        return result.bytes() if result is not None else b""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # As ClickHouse's own server: an answer written in parts (headers,
    # then the body) must not wait out the client's delayed ACK, about
    # 40 ms a request.
    disable_nagle_algorithm = True
    server_version = "clickhouse-dev"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("clickhouse-dev: " + (fmt % args) + "\n")

    def do_GET(self):
        self.handle_request(body=b"")

    def do_POST(self):
        self.handle_request(body=self.read_body())

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def handle_request(self, body):
        url = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        content_type = self.headers.get("Content-Type", "")
        if content_type.lower().startswith("multipart/form-data"):
            params.update(multipart_fields(content_type, body))
            body = b""
        try:
            if url.path.rstrip("/") == "/ping":
                return self.answer(200, b"Ok.\n")
            if url.path not in ("/", ""):
                raise ClickHouseError(1000, f"unknown path {url.path}", status=404)
            self.authenticate(params)
            body = decode_content(body, self.headers.get("Content-Encoding"))
            if params.get("decompress") == "1" and body:
                body = decompress_blocks(body)
            if "query" in params:
                query, data = params["query"], body
            elif (insert := BODY_INSERT_RE.match(body)) is not None:
                query, data = insert.group(1).decode("utf-8", "replace"), body[insert.end():]
            else:
                query, data = body.decode("utf-8", "replace"), None
            if not query.strip():
                raise ClickHouseError(62, "Empty query", status=400)
            query_params = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
            settings = {
                k: v for k, v in params.items() if k not in NOT_SETTINGS and not k.startswith("param_")
            }
            answer = self.server.engine.run(
                query, params.get("database"), params.get("default_format") or "TabSeparated",
                settings, data, query_params,
            )
            if params.get("compress") == "1":
                answer = compress_block(answer) if answer else b""
            self.answer(200, answer)
        except ClickHouseError as error:
            self.answer(error.status, (error.text() + "\n").encode(), code=error.code)
        except Exception as error:  # malformed input must not take the server down
            self.answer(500, f"Code: 1000. DB::Exception: {error}\n".encode(), code=1000)

    def authenticate(self, params):
        user = self.headers.get("X-ClickHouse-User") or params.get("user")
        password = self.headers.get("X-ClickHouse-Key") or params.get("password")
        header = self.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except Exception:
                raise ClickHouseError(516, "malformed basic authorization", status=403) from None
        user = user or "default"
        password = password or ""
        if (user, password) != (self.server.user, self.server.password):
            raise ClickHouseError(
                516, f"{user}: Authentication failed: password is incorrect, or there is no user with such name.",
                status=403,
            )

    def answer(self, status, body, code=None):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-ClickHouse-Server-Display-Name", "clickhouse-dev")
        if code is not None:
            self.send_header("X-ClickHouse-Exception-Code", str(code))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123, help="0 picks a free port")
    parser.add_argument("--data", required=True, help="chDB data directory")
    parser.add_argument("--user", default="default")
    parser.add_argument("--password", default="")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--statement-log", help="append each statement's timing to this file")
    args = parser.parse_args()

    server = Server((args.host, args.port), Handler)
    server.engine = Engine(args.data, args.statement_log)
    server.user, server.password, server.verbose = args.user, args.password, args.verbose
    host, port = server.server_address[:2]
    print(f"clickhouse-dev listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
