"""Tests of the ClickHouse HTTP front, against the real engine.

The server runs as a subprocess on a free loopback port with a fresh data
directory; requests are made with urllib (to control every byte) and with
clickhouse-connect (an independent client).
"""

import gzip
import os
import pathlib
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import clickhouse_connect
import lz4.block
import pytest
import zstandard
from clickhouse_cityhash.cityhash import CityHash128

HERE = pathlib.Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def statement_log():
    return pathlib.Path(tempfile.mkdtemp(prefix="clickhouse-dev-test-log-")) / "statements.tsv"


@pytest.fixture(scope="module")
def server(statement_log):
    data = tempfile.mkdtemp(prefix="clickhouse-dev-test-")
    process = subprocess.Popen(
        [sys.executable, str(HERE / "server.py"), "--port", "0", "--data", data,
         "--user", "aires", "--password", "s3cret", "--statement-log", str(statement_log)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    line = process.stdout.readline()
    assert "listening on" in line, line
    url = line.split()[-1]
    yield url
    process.terminate()
    process.wait(timeout=30)


def request(url, query=None, body=b"", headers=None, **params):
    auth = {"X-ClickHouse-User": "aires", "X-ClickHouse-Key": "s3cret"}
    if query is not None:
        params["query"] = query
    target = url + "/?" + urllib.parse.urlencode(params)
    req = urllib.request.Request(target, data=body or None, headers={**auth, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def block(data, method):
    if method == 0x82:
        payload = lz4.block.compress(data, store_size=False)
    elif method == 0x90:
        payload = zstandard.ZstdCompressor().compress(data)
    else:
        payload = data
    body = struct.pack("<BII", method, 9 + len(payload), len(data)) + payload
    value = CityHash128(body)
    return struct.pack("<QQ", value >> 64, value & 0xFFFFFFFFFFFFFFFF) + body


def test_ping_and_queries_in_url_or_body(server):
    with urllib.request.urlopen(server + "/ping") as response:
        assert response.read() == b"Ok.\n"
    assert request(server, "SELECT 1 + 1")[2] == b"2\n"
    assert request(server, body=b"SELECT 'body'")[2] == b"body\n"
    status, _, text = request(server, "SELECT 1 AS x", default_format="JSONEachRow")
    assert (status, text) == (200, b'{"x":1}\n')


def test_the_statement_log_times_each_statement_with_its_kind_and_data(server, statement_log):
    seen = statement_log.read_text().count("\n")
    before = time.time()
    assert request(server, body=b"CREATE TABLE IF NOT EXISTS logged (n UInt8) ENGINE = Memory")[0] == 200
    assert request(server, "INSERT INTO logged FORMAT RowBinary", body=b"\x01\x02\x03")[0] == 200
    assert request(server, "SELECT sum(n) FROM logged")[2] == b"6\n"
    after = time.time()
    lines = [line.split("\t") for line in statement_log.read_text().splitlines()[seen:]]
    assert [(kind, size) for _, _, kind, size in lines] == [
        ("query", "0"), ("insert", "3"), ("query", "0")
    ]
    for began, ended, _, _ in lines:
        assert before <= float(began) <= float(ended) <= after


def test_insert_data_settings_and_database(server):
    assert request(server, body=b"CREATE DATABASE IF NOT EXISTS t1")[0] == 200
    create = ("CREATE TABLE t1.kv (k UInt32, v String) ENGINE = MergeTree ORDER BY k "
              "SETTINGS non_replicated_deduplication_window = 100")
    assert request(server, body=create.encode())[0] == 200
    rows = b"1\tone\n2\ttwo\n"
    for _ in range(2):  # the same token twice: stored once
        status, _, text = request(server, "INSERT INTO kv FORMAT TabSeparated", rows,
                                  database="t1", insert_deduplication_token="batch-1")
        assert status == 200, text
    assert request(server, "SELECT count(), sum(k) FROM kv", database="t1")[2] == b"2\t3\n"
    # Parameters fill {name:Type} placeholders.
    status, _, text = request(server, "SELECT v FROM kv WHERE k = {k:UInt32}", database="t1", param_k="2")
    assert text == b"two\n"


def test_native_compressed_bodies_are_checked_and_answers_compressed(server):
    request(server, body=b"CREATE TABLE IF NOT EXISTS default.c (n UInt64) ENGINE = MergeTree ORDER BY n")
    data = b"".join(struct.pack("<Q", n) for n in range(1000))
    for method in (0x82, 0x90, 0x02):
        status, _, text = request(server, "INSERT INTO default.c FORMAT RowBinary",
                                  block(data, method), decompress="1")
        assert status == 200, text
    assert request(server, "SELECT count() FROM default.c")[2] == b"3000\n"
    corrupt = bytearray(block(data, 0x82))
    corrupt[-1] ^= 0xFF
    status, headers, text = request(server, "INSERT INTO default.c FORMAT RowBinary",
                                    bytes(corrupt), decompress="1")
    assert status == 500 and headers["X-ClickHouse-Exception-Code"] == "40", text
    status, _, answer = request(server, "SELECT 42 FORMAT TabSeparated", compress="1")
    method, compressed, size = struct.unpack_from("<BII", answer, 16)
    assert method == 0x82
    assert lz4.block.decompress(answer[25:16 + compressed], uncompressed_size=size) == b"42\n"


def test_content_encodings(server):
    for encoding, encode in (("gzip", gzip.compress), ("zstd", zstandard.ZstdCompressor().compress)):
        status, _, text = request(server, body=encode(b"SELECT 'enc'"),
                                  headers={"Content-Encoding": encoding})
        assert (status, text) == (200, b"enc\n"), encoding


def test_logins_and_errors_look_like_clickhouse(server):
    status, headers, text = request(server, "SELECT 1", headers={"X-ClickHouse-Key": "wrong"})
    assert status == 403 and headers["X-ClickHouse-Exception-Code"] == "516", text
    assert text.startswith(b"Code: 516. DB::Exception:")
    basic = "Basic " + __import__("base64").b64encode(b"aires:s3cret").decode()
    req = urllib.request.Request(server + "/?query=SELECT%207", headers={"Authorization": basic})
    assert urllib.request.urlopen(req).read() == b"7\n"
    status, headers, text = request(server, "SELECT * FROM no_such_table")
    assert status == 404 and headers["X-ClickHouse-Exception-Code"] == "60"
    assert text.startswith(b"Code: 60. DB::Exception:") and b"no_such_table" in text


def test_multipart_parameters_and_settings_placement(server):
    boundary = "XyZ"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\n"
        "SELECT {n:UInt32} + 1 -- a trailing comment\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"param_n\"\r\n\r\n41\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    status, _, text = request(
        server, body=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        max_threads="1",
    )
    assert (status, text) == (200, b"42\n"), text
    # A setting in the URL of a DDL statement does not break it.
    status, _, text = request(server, body=b"CREATE TABLE IF NOT EXISTS default.s (x UInt8) "
                              b"ENGINE = MergeTree ORDER BY x", max_threads="1")
    assert status == 200, text
    status, _, text = request(server, "SELECT 1", **{"bad setting": "1"})
    assert status == 400 and b"Unknown setting" in text


def test_clickhouse_connect_round_trip(server):
    host, port = urllib.parse.urlsplit(server).netloc.split(":")
    client = clickhouse_connect.get_client(host=host, port=int(port), username="aires",
                                           password="s3cret", compress=False)
    client.command("CREATE TABLE IF NOT EXISTS default.people (id UInt32, name String, "
                   "tags Array(String), scores Map(String, Float64)) ENGINE = MergeTree ORDER BY id")
    client.insert("default.people", [[1, "ada", ["x"], {"a": 1.5}], [2, "bob", [], {}]],
                  column_names=["id", "name", "tags", "scores"])
    rows = client.query("SELECT id, name, tags, scores FROM default.people ORDER BY id").result_rows
    assert rows == [(1, "ada", ["x"], {"a": 1.5}), (2, "bob", [], {})]
    # With its default compression (lz4 / zstd request bodies).
    compressing = clickhouse_connect.get_client(host=host, port=int(port), username="aires",
                                                password="s3cret", compress=True)
    compressing.insert("default.people", [[3, "cy", [], {}]], column_names=["id", "name", "tags", "scores"])
    assert compressing.query("SELECT count() FROM default.people").result_rows == [(3,)]
