"""scripts/conformance.py maps test names onto OCTT ids and renders every id."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "conformance.py"

CASES = """section\tid\tname
2.1 Cold Boot\tTC_001_CS\tCold Boot Charge Point
2.2 Start\tTC_004_CS\tPlain four
2.2 Start\tTC_004_1_CS\tFour, one
2.18 FirmwareManagement\tTC_044_2_CS\tFirmware Update - Download Failed
2.20 Reservation\tTC_046_1_CS\tReservation | local
2.24 Security\tTC_073_CS\tUpdate Charge Point Password
"""

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
 <testcase classname="tests.octt.a" name="test_tc_001_cs_cold_boot"/>
 <testcase classname="tests.octt.a" name="test_tc_004_1_cs_identification_first"/>
 <testcase classname="tests.octt.b" name="test_tc_044_2_cs_download_failed[http]"/>
 <testcase classname="tests.octt.b" name="test_tc_044_2_cs_download_failed[ftp]">
  <failure message="boom">trace</failure></testcase>
 <testcase classname="tests.octt.c" name="test_tc_046_1_cs_local"><skipped message="x"/></testcase>
 <testcase classname="tests.octt.c" name="test_tc_999_cs_typo"/>
 <testcase classname="tests.test_store" name="test_unrelated"/>
</testsuite></testsuites>
"""


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("conformance", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["conformance"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_mapping_statuses_and_reasons(tmp_path: Path) -> None:
    conformance = _script()
    (tmp_path / "cases.tsv").write_text(CASES)
    (tmp_path / "junit.xml").write_text(JUNIT)
    out = tmp_path / "conformance.md"
    args = ["--cases", str(tmp_path / "cases.tsv"), "--junit", str(tmp_path / "junit.xml")]
    assert conformance.main([*args, "--output", str(out)]) == 0
    rows = {
        line.split(" | ")[0].strip("| "): line.split(" | ")
        for line in out.read_text().splitlines()
        if line.startswith("| TC_")
    }
    ids = ["TC_001_CS", "TC_004_CS", "TC_004_1_CS", "TC_044_2_CS", "TC_046_1_CS", "TC_073_CS"]
    assert list(rows) == ids  # every case, in the list's order
    assert rows["TC_001_CS"][3] == "passed"
    assert rows["TC_004_CS"][3] == "not implemented"  # TC_004_1's test is not TC_004's
    assert rows["TC_004_1_CS"][3] == "passed"
    assert rows["TC_044_2_CS"][3] == "failed"
    assert rows["TC_044_2_CS"][4].count("test_tc_044_2_cs_download_failed") == 2
    assert rows["TC_046_1_CS"][3] == "skipped"
    assert "Reservation \\| local" in rows["TC_046_1_CS"][2]
    assert rows["TC_073_CS"][3] == "not implemented"
    assert "security" in rows["TC_073_CS"][4]
    text = out.read_text()
    assert "`test_tc_999_cs_typo`" in text and "test_unrelated" not in text
