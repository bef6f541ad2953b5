"""The diagnostics archive (window, rotation, no secrets), the frame log and image checks."""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from pathlib import Path

from chargebox.core.clock import parse_iso
from chargebox.ocpp16 import diagnostics, transfer
from chargebox.ocpp16.firmware import verify_image

LINES = [
    "2026-01-01T09:59:59.999Z INFO a: before\n",
    "2026-01-01T10:00:00.000Z INFO a: first\n",
    "2026-01-01T10:30:00.000Z ERROR a: failed\n",
    "Traceback (most recent call last):\n",
    '  File "x.py", line 1\n',
    "2026-01-01T11:00:00.000Z INFO a: last\n",
    "2026-01-01T11:00:00.001Z INFO a: after\n",
]
START, STOP = parse_iso("2026-01-01T10:00:00Z"), parse_iso("2026-01-01T11:00:00Z")


def test_window_keeps_lines_in_range_with_their_continuations() -> None:
    kept = list(diagnostics.window(LINES, START, STOP))
    assert kept == LINES[1:6]


def test_window_open_ends() -> None:
    assert list(diagnostics.window(LINES, None, None)) == LINES
    assert list(diagnostics.window(LINES, STOP, None)) == LINES[5:]
    assert list(diagnostics.window(LINES, None, START)) == LINES[:2]


def test_archive_reads_rotated_files_in_order_and_holds_no_secrets(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "chargebox.log.1").write_text("".join(LINES[:3]))
    (logs / "chargebox.log").write_text("".join(LINES[3:]))
    (logs / "ocpp-messages.log").write_text(
        '2026-01-01T10:10:00.000Z in [2,"1","Heartbeat",{}]\n'
        '2026-01-01T12:00:00.000Z in [2,"2","Heartbeat",{}]\n'
    )
    config = [
        {"key": "AuthorizationKey", "readonly": False, "value": "s3cret-key"},
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
    ]
    path = diagnostics.build_archive(
        tmp_path / "out" / "d.zip", logs=logs, configuration=config, start=START, stop=STOP
    )
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n).decode() for n in z.namelist()}
    assert files["chargebox.log"] == "".join(LINES[1:6])
    assert files["ocpp-messages.log"].count("Heartbeat") == 1
    assert json.loads(files["configuration.json"]) == [config[1]]
    assert all("s3cret-key" not in text for text in files.values())
    assert json.loads(files["info.json"])["startTime"] == "2026-01-01T10:00:00.000Z"


def test_frame_log_redacts_secrets_and_stamps_lines(tmp_path: Path) -> None:
    frames = diagnostics.FrameLog(tmp_path)
    frames("out", '[2,"1","ChangeConfiguration",{"key":"AuthorizationKey","value":"abcdef"}]')
    frames("out", '[2,"2","UpdateFirmware",{"location":"ftp://u:pw@host/f.bin"}]')
    frames("in", '[3,"3",{"configurationKey":[{"key":"AuthorizationKey","readonly":false}]}]')
    frames("in", "not json\nAuthorizationKey")
    frames("out", '[2,"4","GetConfiguration",{"key":["AuthorizationKey","HeartbeatInterval"]}]')
    frames.close()
    text = (tmp_path / "logs" / diagnostics.FRAME_FILE).read_text()
    lines = text.splitlines()
    assert len(lines) == 5 and all(diagnostics._stamp(line) for line in lines)
    assert "abcdef" not in text and ":pw@" not in text and "ftp://u:***@host" in text
    assert '"readonly":false' in lines[2]


def test_file_log_lines_carry_utc_stamps(tmp_path: Path) -> None:
    handler = diagnostics.attach_file_log(tmp_path)
    try:
        logging.getLogger("chargebox.test").warning("hello %s", "there")
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    line = (tmp_path / "logs" / diagnostics.LOG_FILE).read_text().splitlines()[-1]
    assert line.endswith("WARNING chargebox.test: hello there")
    assert diagnostics._stamp(line) is not None


def test_verify_image(tmp_path: Path) -> None:
    image, checksum = tmp_path / "fw.bin", tmp_path / "fw.bin.sha256"
    image.write_bytes(b"")
    assert verify_image(image, None) == "empty image"
    image.write_bytes(b"INVALID on purpose")
    assert verify_image(image, None) == "image marked INVALID"
    image.write_bytes(b"good")
    checksum.write_text(hashlib.sha256(b"good").hexdigest().upper() + "  fw.bin\n")
    assert verify_image(image, checksum) is None
    checksum.write_text("0" * 64)
    assert verify_image(image, checksum) == "SHA-256 mismatch"


def test_transfer_names_and_public_urls() -> None:
    assert transfer.file_name("http://h/a/b/fw-1.2%2B3.bin?x=1") == "fw-1.2+3.bin"
    assert transfer.public("ftp://user:pw@h:21/x") == "ftp://user:***@h:21/x"
    assert transfer.public("http://h/x") == "http://h/x"
