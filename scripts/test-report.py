#!/usr/bin/env python3
"""What scripts/test shows of a parallel XCTest run.

  test-report.py filter                  stdin -> stdout: the progress lines, and the output of the
                                         tests that did not pass or skip (swift test --verbose prints
                                         every test's output; the full text stays in the log)
  test-report.py summary XUNIT OUTPUT    the skipped tests with their reasons, then the closing line
                                         "tests: N passed, N failed, N skipped"

SwiftPM's xUnit report of a parallel run has no element for a skipped test (it counts it as passed),
so skips come from XCTest's own lines in the output: "Test Case 'Class.test' skipped (…)" and
"FILE:LINE: Class.test : Test skipped - REASON".
"""
import re
import sys
import xml.etree.ElementTree as ET

PROGRESS = re.compile(r"^\[\d+/\d+\] Testing ")
BLOCK_START = re.compile(r"^Test Suite '(Selected tests|All tests)' started")
BLOCK_END = re.compile(r"^Test Suite '(Selected tests|All tests)' (passed|failed)")
EXECUTED = re.compile(r"^\s*Executed \d+ tests?")
CASE = re.compile(r"^Test Case '([^']+)' (passed|failed|skipped) \(")
DIAGNOSTIC = re.compile(r"^(error|fatal error):|: (error|fatal error):")
SKIP_REASON = re.compile(r"^.*?:\d+: (\S+) : Test skipped(?: - (.*))?$")


def show(block):
    """A test's output is shown unless it passed or skipped (a crash has no closing line)."""
    outcomes = {m.group(2) for m in map(CASE.match, block) if m}
    return "failed" in outcomes or not outcomes


def filter_output(lines, out):
    block, ending, seen_tests = None, False, False
    for line in lines:
        if PROGRESS.match(line):
            seen_tests = True
            out.write(line)
        elif BLOCK_START.match(line):
            if block is not None and show(block):
                out.writelines(block)
            block, ending = [line], False
        elif block is not None:
            block.append(line)
            if BLOCK_END.match(line):
                ending = True
            elif ending and EXECUTED.match(line):
                if show(block):
                    out.writelines(block)
                block, ending = None, False
        elif line.strip() and (seen_tests or DIAGNOSTIC.search(line)):
            # Before the tests: verbose build and manifest noise, except errors; after them: SwiftPM's own words.
            out.write(line)
        out.flush()
    if block is not None and show(block):
        out.writelines(block)


def summary(xunit_path, output_path):
    skipped, reasons = set(), {}
    outcomes = {}
    with open(output_path, encoding="utf-8", errors="replace") as output:
        for line in output:
            line = line.rstrip("\n")
            case = CASE.match(line)
            if case:
                outcomes[case.group(1)] = case.group(2)
                if case.group(2) == "skipped":
                    skipped.add(case.group(1))
            reason = SKIP_REASON.match(line)
            if reason:
                reasons[reason.group(1)] = reason.group(2) or "no reason given"
    passed = failed = 0
    try:
        cases = list(ET.parse(xunit_path).getroot().iter("testcase"))
    except (OSError, ET.ParseError):
        cases = None
    if cases is None:
        # No xUnit report (the run broke off): count what XCTest printed.
        failed = sum(1 for o in outcomes.values() if o == "failed")
        passed = sum(1 for o in outcomes.values() if o == "passed")
    else:
        found = set()
        for case in cases:
            name = case.get("classname", "").split(".")[-1] + "." + case.get("name", "")
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif name in skipped:
                found.add(name)
            else:
                passed += 1
        skipped = found
    if skipped:
        print(f"skipped tests ({len(skipped)}):")
        for name in sorted(skipped):
            print(f"  {name}: {reasons.get(name, 'no reason given')}")
    print(f"tests: {passed} passed, {failed} failed, {len(skipped)} skipped")


if __name__ == "__main__":
    if sys.argv[1:2] == ["filter"]:
        filter_output(sys.stdin, sys.stdout)
    elif sys.argv[1:2] == ["summary"] and len(sys.argv) == 4:
        summary(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
