"""The clean-text set behind the leak scans: each distinct text checked once per detector version, a
finding never remembered, a verdict of other detectors never trusted."""

from __future__ import annotations

import ipaddress

import pyarrow as pa
import pytest

from pipeline import leak_scan
from pipeline.leak_scan import CleanStrings, LeakDetectors, detector_version

CLEAN = "Call me after 10:30, the build log says 2024.11 and version 3.2 is fine"  # passes the prefilters
EMAIL = "write to rosalind.franklin@kings-college.co.uk today"
IP = "the server is at 84.17.33.201 right now"


@pytest.fixture
def checked(monkeypatch) -> list[str]:
    """Every text the structured detectors are run on."""
    seen: list[str] = []
    run = leak_scan.pii_pattern_hits

    def counting(text: str) -> list[str]:
        seen.append(text)
        return run(text)

    monkeypatch.setattr(leak_scan, "pii_pattern_hits", counting)
    return seen


def findings(detectors: LeakDetectors, texts: list[str | None]) -> dict[int, tuple[list[str], list[str]]]:
    return {i: (pii, ips) for i, pii, ips in detectors.findings(pa.array(texts, pa.string()))}


def test_a_text_found_clean_is_checked_once_across_scans_and_processes(tmp_path, checked):
    first = LeakDetectors(clean=CleanStrings.for_detectors((), tmp_path))
    assert findings(first, [CLEAN, CLEAN, None, "no digits here"]) == {}
    assert checked == [CLEAN]  # the duplicate once, the text no prefilter matches never
    first.clean.save()
    again = LeakDetectors(clean=CleanStrings.for_detectors((), tmp_path))  # a later stage reads the saved set
    assert findings(again, [CLEAN]) == {}
    assert checked == [CLEAN]


def test_a_leak_is_found_every_time_with_the_set_warm(tmp_path, checked):
    detectors = LeakDetectors(clean=CleanStrings.for_detectors((), tmp_path))
    findings(detectors, [CLEAN])
    detectors.clean.save()
    for _ in range(2):
        warm = LeakDetectors(clean=CleanStrings.for_detectors((), tmp_path))
        found = findings(warm, [CLEAN, EMAIL, IP])
        assert set(found) == {1, 2}
        assert found[1][0] == ["email rosa…"] and found[2][1] == ["84.17.33.201"]
        warm.clean.save()
    assert checked.count(EMAIL) == 2  # a finding is never remembered as clean


def test_a_text_clean_under_other_detectors_is_checked_again(tmp_path, checked, monkeypatch):
    detectors = LeakDetectors(clean=CleanStrings.for_detectors((), tmp_path))
    findings(detectors, [CLEAN])
    detectors.clean.save()
    source = tmp_path / "detector.py"
    source.write_text("# version 1\n")
    monkeypatch.setattr(leak_scan, "_DETECTOR_SOURCES", (*leak_scan._DETECTOR_SOURCES, source))
    assert detector_version() != detectors.clean.version
    changed = LeakDetectors(clean=CleanStrings.for_detectors((), tmp_path))
    assert len(changed.clean) == 0
    findings(changed, [CLEAN])
    assert checked == [CLEAN, CLEAN]


def test_a_change_to_the_redaction_detectors_is_a_new_version(monkeypatch):
    """The clean-text set and redaction's analysis cache key on the same code digest: a recognizer change
    that makes redaction analyse again makes verify check again too."""
    before = detector_version()
    monkeypatch.setattr(leak_scan, "detection_code_digest", lambda: "another-recognizer")
    assert detector_version() != before


def test_the_allowed_networks_are_part_of_the_version(tmp_path):
    allowed = (ipaddress.ip_network("84.17.0.0/16"),)
    assert detector_version(allowed) != detector_version()
    permissive = LeakDetectors(allowed, CleanStrings.for_detectors(allowed, tmp_path))
    assert findings(permissive, [IP]) == {}
    permissive.clean.save()
    strict = LeakDetectors(clean=CleanStrings.for_detectors((), tmp_path))
    assert set(findings(strict, [IP])) == {0}


def test_detectors_refuse_a_set_made_for_other_detectors(tmp_path):
    with pytest.raises(ValueError, match="other detectors"):
        LeakDetectors(clean=CleanStrings("0" * 32, tmp_path))
    allowed = (ipaddress.ip_network("84.17.0.0/16"),)
    with pytest.raises(ValueError, match="other allowed networks"):
        LeakDetectors(allowed, CleanStrings.for_detectors((), tmp_path))


def test_worker_processes_find_what_this_process_finds(tmp_path, monkeypatch):
    monkeypatch.setattr(LeakDetectors, "PARALLEL_MIN_TEXTS", 2)
    texts = [CLEAN, EMAIL, None, IP, f"{CLEAN} and {EMAIL}", "plain words"]
    here = findings(LeakDetectors(), texts)
    spread = LeakDetectors(clean=CleanStrings.for_detectors((), tmp_path), workers=2)
    try:
        assert findings(spread, texts) == here and set(here) == {1, 3, 4}
        assert spread._pool is not None and spread._pool.started
    finally:
        spread.close()
    assert len(spread.clean) == 1  # CLEAN, remembered from the workers' verdict
