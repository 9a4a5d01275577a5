#!/usr/bin/python3
"""Hostile-input fuzzer of the Encours CLI, run by scripts/drills/hostile-input.

Debian's /usr/bin/python3, standard library only. It drives the real binaries against the
drill's throwaway database and judges every run:

  1. Fuzz cases (--cases N, seeded and deterministic: case i depends only on the seed and i):
     valid base files of customers, invoices, payments and disputes (valid against a baseline
     ledger, each of them would change it) mutated by `encours import`; `encours promises add`
     (there is no promises CSV) with mutated arguments; job payloads and flags mutated through
     `encours enqueue KIND --tenant T --payload=...` and `--payload-file`. Each run has 20 s.
  2. The round trip: customers whose names and ids hold quotes, semicolons, SQL, emoji,
     right-to-left text, combining characters, commas and line breaks, imported with invoices
     and disputes, dunned by a real worker (letters, email to the SMTP sink, signed webhooks);
     names and ids must come back byte-for-byte from the database, the --json outputs, the
     reminders, the letters (after html.unescape), the emails and the webhook bodies.
  3. The payload jobs that enqueue accepted are run by `encours-worker --drain`: no crash, and
     none of them may reach another tenant's reminders (nothing more is sent).

Verdict material goes to --result (lines "CHECK<TAB>0|1<TAB>name", "FIGURES<TAB>text",
"NOTE<TAB>text"); progress, failures and the rejection categories go to stderr.
"""

import argparse
import concurrent.futures
import csv
import email
import email.header
import email.policy
import html
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import unicodedata
from decimal import Decimal

DRILL = "hostile-input"
STARTED = time.time()
TIMEOUT = 20.0  # seconds per CLI run; a run that takes longer when run alone is a hang
ALONE_TIMEOUT = 120.0  # a run that timed out beside others is run again alone, this long
SLOW = 5.0  # runs longer than this are reported

LOG_LOCK = threading.Lock()


def log(message):
    with LOG_LOCK:
        print(f"[{DRILL} +{int(time.time() - STARTED)}s] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Running things

CRASH_MARKERS = [
    b"Fatal error", b"Program crashed", b"Stack dump", b"Current stack trace", b"Segmentation fault",
    b"Illegal instruction", b"Swift runtime failure", b"Assertion failed", b"Precondition failed",
    b"core dumped", b"Thread 0 crashed", b"Backtrace",
]
RAW_DATABASE_MARKERS = [b"database error:", b"SQLSTATE", b"ERROR:  ", b"PGRES_", b"DETAIL:  ", b"HINT:  "]


class Run:
    def __init__(self, command, rc, out, err, seconds, hung):
        self.command, self.rc, self.out, self.err, self.seconds, self.hung = command, rc, out, err, seconds, hung
        self.beside_others_timed_out = False  # the first run, beside others, had no answer within TIMEOUT

    @property
    def hang(self):
        return self.hung or self.seconds > TIMEOUT

    @property
    def crashed(self):
        if self.hung:
            return False
        return self.rc < 0 or self.rc >= 128 or any(m in self.out or m in self.err for m in CRASH_MARKERS)

    def crash_reason(self):
        if self.rc < 0:
            return f"killed by signal {signal.Signals(-self.rc).name if -self.rc in signal.valid_signals() else -self.rc}"
        if self.rc >= 128:
            return f"exit status {self.rc}"
        marker = next(m for m in CRASH_MARKERS if m in self.out or m in self.err)
        return f"output contains {marker.decode()!r}"


def run(command, stdin=None, env=None, timeout=TIMEOUT):
    started = time.monotonic()
    try:
        completed = subprocess.run(
            command, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, env=env)
        return Run(command, completed.returncode, completed.stdout, completed.stderr, time.monotonic() - started, False)
    except subprocess.TimeoutExpired as expired:  # subprocess.run has killed the child
        return Run(command, None, expired.stdout or b"", expired.stderr or b"", time.monotonic() - started, True)


class Gate:
    """CLI runs go side by side (shared); a run that timed out is run again alone (exclusive)."""

    def __init__(self):
        self.condition = threading.Condition()
        self.active = 0
        self.exclusive = False
        self.waiting = 0

    def run(self, alone, function):
        with self.condition:
            if alone:
                self.waiting += 1
                while self.exclusive or self.active:
                    self.condition.wait()
                self.waiting -= 1
                self.exclusive = True
            else:
                while self.exclusive or self.waiting:
                    self.condition.wait()
                self.active += 1
        try:
            return function()
        finally:
            with self.condition:
                if alone:
                    self.exclusive = False
                else:
                    self.active -= 1
                self.condition.notify_all()


class Psql:
    """One long-running psql (as the cluster's superuser, which bypasses row-level security)."""

    SENTINEL = "__end_of_query__"

    def __init__(self, psql, url):
        self.process = subprocess.Popen(
            [psql, "-qtAX", "-v", "ON_ERROR_STOP=0", "-P", "pager=off", url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lock = threading.Lock()

    def query(self, sql):
        with self.lock:
            self.process.stdin.write((sql.strip().rstrip(";") + ";\n\\echo " + self.SENTINEL + "\n").encode())
            self.process.stdin.flush()
            lines = []
            while True:
                line = self.process.stdout.readline()
                if not line:
                    raise RuntimeError("psql went away")
                text = line.decode("utf-8", "replace").rstrip("\n")
                if text == self.SENTINEL:
                    break
                lines.append(text)
        if any(line.startswith(("ERROR:", "psql:")) for line in lines):
            raise RuntimeError(f"query failed: {sql[:200]}: {' '.join(lines)[:400]}")
        return lines

    def value(self, sql):
        lines = self.query(sql)
        return lines[0] if lines else ""

    def close(self):
        try:
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()


def quote_literal(text):
    return "'" + text.replace("'", "''") + "'"


# ---------------------------------------------------------------------------------------------
# Messages: what "clear" means
#
# A rejection is clear when:
# - the exit status is 1 (64 for an argument the parser refuses);
# - stderr is valid UTF-8, not empty, ends with a line break, holds no control character
#   (Unicode category Cc: C0, DEL, C1) but those line breaks, no crash text and no raw
#   database error (`database error:`, SQLSTATE, `ERROR:  `...);
# - an import's refusal is its documented shape: lines `FILE:LINE: FIELD: problem ("value")`
#   or `FILE: problem` (FILE as given, LINE a line of the file), optionally `… and N more
#   problems (M in all)`, then `encours: FILE: N problem(s); nothing was imported` with N
#   matching; or one line `encours: ...` (unknown tenant, no such file...);
# - any other command's refusal is one line `encours: ...`, or swift-argument-parser's
#   `Error: ...` followed only by its Help/Usage/See lines;
# - no line's message is longer than 400 characters (values are cut at 80), none is empty.
# It names the actual problem (checked separately, "accurate") when it does not contradict the
# input: "payload is not a JSON object" about an RFC 8259 JSON object, "not UTF-8" about valid
# UTF-8, "NUL byte" about a file without one, a limit other than the documented
# 1,000,000,000,000.00 per row, or a line number beyond the file's lines.

CONTROL_ALLOWED = {"\n"}
BIDI_CONTROLS = {chr(c) for c in (0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069)}


def common_problems(run_, allowed_status=(1, 64)):
    problems = []
    if run_.rc not in allowed_status:
        problems.append(f"exit status {run_.rc}")
    for marker in RAW_DATABASE_MARKERS:
        if marker in run_.err or marker in run_.out:
            problems.append(f"raw database error ({marker.decode().strip()!r})")
            break
    try:
        text = run_.err.decode("utf-8")
    except UnicodeDecodeError as error:
        return problems + [f"stderr is not valid UTF-8 (byte {error.start})"], None
    if not text.strip():
        return problems + ["stderr is empty"], None
    if not text.endswith("\n"):
        problems.append("stderr does not end with a line break")
    controls = sorted({c for c in text if unicodedata.category(c) == "Cc" and c not in CONTROL_ALLOWED})
    if controls:
        problems.append("raw control character " + ", ".join(f"U+{ord(c):04X}" for c in controls))
    return problems, text


def argument_parser_block(lines):
    return lines[0].startswith("Error: ") and len(lines[0]) > 7 and all(
        line.startswith(("Help:", "Usage:", "  See '", "       ")) or line == "" for line in lines[1:])


def one_line_problems(run_):
    problems, text = common_problems(run_)
    if text is None:
        return problems
    lines = text.rstrip("\n").split("\n")
    if argument_parser_block(lines):
        return problems
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines, not one")
    if not lines[0].startswith("encours: ") or not lines[0][9:].strip():
        problems.append("does not start with 'encours: '")
    if len(lines[0]) > 600:
        problems.append(f"a line of {len(lines[0])} characters")
    return problems


SUMMARY = re.compile(r"encours: (.*): (\d+) problems?; nothing was imported")
MORE = re.compile(r"… and (\d+) more problems? \((\d+) in all\)")


def shown(text):
    """`text` as Encours prints a value on a terminal (DisplayText.escaped): line breaks and tabs
    as \\n \\r \\t, other controls (C0, DEL, C1) and bidi controls as \\u{hex}."""
    out = []
    for char in text:
        code = ord(char)
        if char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x20 or 0x7F <= code <= 0x9F or 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069:
            out.append("\\u{%x}" % code)
        else:
            out.append(char)
    return "".join(out)


def import_problems(run_, path, physical_lines):
    """(clarity problems, accuracy problems) of an import's refusal."""
    path = shown(path)
    problems, text = common_problems(run_)
    if text is None:
        return problems, []
    inaccurate = []
    lines = text.rstrip("\n").split("\n")
    summary = SUMMARY.fullmatch(lines[-1])
    if not summary:
        if len(lines) != 1:
            problems.append(f"{len(lines)} lines without the 'encours: FILE: N problems; nothing was imported' summary")
        elif not lines[0].startswith("encours: ") or len(lines[0]) > 600:
            problems.append("not an 'encours: ...' line")
        return problems, inaccurate
    if summary.group(1) != path:
        problems.append("the summary names another file than the one given")
    issues = lines[:-1]
    more = MORE.fullmatch(issues[-1]) if issues else None
    listed = issues[:-1] if more else issues
    expected = len(listed) + (int(more.group(1)) if more else 0)
    if int(summary.group(2)) != expected or expected == 0:
        inaccurate.append(f"the summary counts {summary.group(2)} problems, {expected} are listed")
    for line in listed:
        if not line.startswith(path + ":"):
            problems.append(f"an issue line does not start with the file name: {line[:120]!r}")
            break
        rest = line[len(path) + 1:]
        numbered = re.match(r"(\d+): ", rest)
        if numbered:
            number = int(numbered.group(1))
            if number < 1 or number > physical_lines + 1:
                inaccurate.append(f"line {number} named, the file has {physical_lines} lines")
            detail = rest[numbered.end():]
        elif rest.startswith(" "):
            detail = rest[1:]
        else:
            problems.append(f"an issue line is not FILE:LINE: or FILE: {line[:120]!r}")
            break
        if not detail.strip():
            problems.append("an issue line names no problem")
            break
        if len(detail) > 400:
            problems.append(f"an issue of {len(detail)} characters")
            break
    return problems, inaccurate


def misleading(text):
    out = []
    if "the limit is 92233720368547758.07" in text:
        out.append("states the limit 92233720368547758.07 (the documented per-row limit is 1,000,000,000,000.00)")
    return out


def category(text, path=None):
    """The first problem of a refusal, its value and numbers removed: for counting rejections."""
    line = text.split("\n", 1)[0] if text else ""
    if path and line.startswith(path + ":"):
        line = re.sub(r"^\d+: ", "", line[len(path) + 1:].lstrip(" "))
    if path and line.startswith("encours: " + path):
        line = "encours: FILE" + line[len("encours: " + path):]
    line = re.sub(r'\("(?:[^"\\]|\\.)*"?\)?', "(…)", line)
    line = re.sub(r'"[^"]*"', "…", line)
    line = re.sub(r"\d+(?:[.,]\d+)*", "N", line)
    words = line.split()
    return " ".join(words[:7])[:90]


# ---------------------------------------------------------------------------------------------
# A strict RFC 8259 checker (iterative: any depth), to judge "payload is not a JSON object"

WS = " \t\n\r"
NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def is_json_object(text):
    i, n = 0, len(text)

    def skip(i):
        while i < n and text[i] in WS:
            i += 1
        return i

    def string(i):  # text[i] == '"'
        i += 1
        while i < n:
            c = text[i]
            if c == '"':
                return i + 1
            if c == "\\":
                if i + 1 >= n:
                    return -1
                e = text[i + 1]
                if e in '"\\/bfnrt':
                    i += 2
                elif e == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2:i + 6] or ""):
                    i += 6
                else:
                    return -1
            elif ord(c) < 0x20:
                return -1
            else:
                i += 1
        return -1

    i = skip(0)
    if i >= n or text[i] != "{":
        return False
    stack = []  # '{' or '['
    state = "value"  # what comes next
    while True:
        i = skip(i)
        if i >= n:
            return False
        c = text[i]
        if state == "value":
            if c == "{":
                stack.append("{")
                i = skip(i + 1)
                if i < n and text[i] == "}":
                    stack.pop()
                    i += 1
                    state = "after"
                    continue
                if i >= n or text[i] != '"':
                    return False
                i = string(i)
                if i < 0:
                    return False
                i = skip(i)
                if i >= n or text[i] != ":":
                    return False
                i += 1
                continue
            if c == "[":
                stack.append("[")
                i = skip(i + 1)
                if i < n and text[i] == "]":
                    stack.pop()
                    i += 1
                    state = "after"
                continue
            if c == '"':
                i = string(i)
                if i < 0:
                    return False
            elif text.startswith(("true", "null"), i):
                i += 4
            elif text.startswith("false", i):
                i += 5
            else:
                match = NUMBER.match(text, i)
                if not match:
                    return False
                i = match.end()
            state = "after"
            continue
        # after a value
        if not stack:
            return skip(i) == n
        if c == ",":
            i = skip(i + 1)
            if stack[-1] == "{":
                if i >= n or text[i] != '"':
                    return False
                i = string(i)
                if i < 0:
                    return False
                i = skip(i)
                if i >= n or text[i] != ":":
                    return False
                i += 1
            state = "value"
            continue
        if (c == "}" and stack[-1] == "{") or (c == "]" and stack[-1] == "["):
            stack.pop()
            i += 1
            if not stack:
                return skip(i) == n
            continue
        return False


# ---------------------------------------------------------------------------------------------
# The baseline ledger of every import tenant, and the base files the cases mutate

BASE_CUSTOMERS = [
    ["customer_id", "name", "email", "language", "payment_terms_days", "credit_limit", "policy", "on_hold"],
    ["B001", "Dupont & Fils", "compta@dupont.example", "fr", "30", "10000.00", "standard", "non"],
    ["B002", 'Boulangerie "Martin"', "", "fr", "45", "2500.00", "", "non"],
    ["B003", "Northwind Ltd", "ap@northwind.example", "en", "60", "", "", "no"],
    ["B004", "شركة الأمل", "", "en", "30", "", "", "false"],
    ["B005", "Café; Bar 🧾", "bar@cafe.example", "fr", "", "", "", ""],
    ["B006", "O'Brien Ltd", "", "en", "", "5000", "", ""],
]
BASE_INVOICES = [
    ["invoice_id", "customer_id", "issue_date", "due_date", "amount", "currency", "kind", "applies_to"],
    ["I001", "B001", "2026-09-01", "2026-10-01", "1234.56", "EUR", "invoice", ""],
    ["I002", "B001", "2026-09-15", "2026-10-15", "900000.00", "EUR", "invoice", ""],
    ["I003", "B002", "2026-10-01", "2026-11-15", "850.00", "EUR", "", ""],
    ["I004", "B003", "2026-08-01", "2026-09-30", "1000000.00", "EUR", "", ""],
    ["I005", "B004", "2026-07-01", "2026-08-01", "99999.99", "EUR", "", ""],
    ["I006", "B005", "2026-06-01", "2026-07-01", "450000.00", "EUR", "", ""],
    ["I007", "B006", "2026-05-01", "2026-06-01", "70000.00", "EUR", "", ""],
    ["I008", "B006", "2026-05-15", "2026-06-15", "300.00", "EUR", "", ""],
]
BASE_PAYMENTS = [
    ["payment_id", "customer_id", "received_on", "amount", "invoice_id", "currency"],
    ["P001", "B001", "2026-10-20", "234.56", "I001", "EUR"],
    ["P002", "B003", "2026-10-01", "500.00", "I004", "EUR"],
]
BASE_DISPUTES = [
    ["dispute_id", "invoice_id", "reason", "opened_on", "amount", "note"],
    ["D001", "I003", "quality", "2026-11-20", "100.00", "Palettes abîmées"],
]

# Valid against the baseline, and each would change it: a refusal must leave it as it was.
FUZZ_BASE = {
    "customers": [
        BASE_CUSTOMERS[0],
        ["N001", "Atelier Dupont SAS", "atelier@dupont.example", "fr", "30", "1 000,00", "standard", "oui"],
        ["N002", 'Société "Générale" de Négoce', "", "en", "60", "", "", "non"],
        ["N003", "L'Épicerie; fine", "epicerie@fine.example", "FR", "0", "0", "", "false"],
        ["N004", "שלום בע\"מ", "", "en", "", "", "", ""],
        ["N005", "🧾💶 Reçus", "recus@example.fr", "fr", "365", "1000000000000.00", "", "1"],
        ["N006", "Multi\nline name", "", "fr", "", "", "", ""],
        ["N007", "Robert'); DROP TABLE encours.invoices; --", "", "en", "", "", "", ""],
        ["N008", "Zoë e\u0301 Ångström", "zoe@example.fr", "en", "15", "2 500,50", "", "vrai"],
        ["B001", "Dupont & Fils (renamed)", "compta@dupont.example", "fr", "30", "10000.00", "standard", "non"],
        ["B006", "O'Brien Ltd", "obrien@example.ie", "en", "", "5000", "", ""],
    ],
    "invoices": [
        BASE_INVOICES[0],
        ["J001", "B001", "2026-10-01", "2026-10-31", "100.00", "EUR", "invoice", ""],
        ["J002", "B002", "01/10/2026", "31/10/2026", "1 234,56", "EUR", "", ""],
        ["J003", "B003", "2026-10-02", "2026-11-02", "1.234,56", "", "", ""],
        ["J004", "B004", "2026-10-03", "2026-11-03", "1,234.56", "eur", "", ""],
        ["J005", "B005", "2026-10-04", "2026-12-04", "0.01", "EUR", "", ""],
        ["J006", "B006", "2026-10-05", "2026-10-05", "1000000000000.00", "EUR", "", ""],
        ["J007", "B001", "2026-10-06", "2026-11-06", "99.995", "USD", "", ""],
        ["J008", "B002", "2026-10-07", "2026-11-07", "42", "EUR", "invoice", ""],
        ["CN01", "B001", "2026-10-20", "2026-10-20", "100.00", "EUR", "credit_note", "I002"],
        ["I007", "B006", "2026-05-01", "2026-06-01", "75000.00", "EUR", "", ""],
    ],
    "payments": [
        BASE_PAYMENTS[0],
        ["Q001", "B001", "2026-10-25", "1000.00", "I002", "EUR"],
        ["Q002", "B003", "2026-10-26", "2 000,00", "I004", ""],
        ["Q003", "B004", "26/10/2026", "9.99", "I005", "EUR"],
        ["Q004", "B005", "2026-10-27", "450.00", "I006", "eur"],  # the baseline keeps a large balance
        ["Q005", "B006", "2026-10-28", "50.00", "", "EUR"],
        ["Q006", "B006", "2026-10-29", "100,00", "I007", ""],
        ["P002", "B003", "2026-10-01", "600.00", "I004", "EUR"],
    ],
    "disputes": [
        BASE_DISPUTES[0],
        ["E001", "I004", "pricing", "2026-11-21", "500.00", "Prix \"convenu\" : 10 % de moins;\nvoir le bon"],
        ["E002", "I005", "qualité", "21/11/2026", "9,99", "🧾 reçu abîmé"],
        ["E003", "I006", "non reçu", "2026-11-22", "450.00", "لم يصل"],
        ["E004", "I007", "Duplicate-Billing", "2026-11-23", "12.00", "'); DROP TABLE encours.disputes; --"],
        ["D001", "I003", "quality", "2026-11-20", "100.00", "Palettes abîmées, photos jointes"],
    ],
}
KINDS = ["customers", "invoices", "payments", "disputes"]

ID_COLUMNS = {"customer_id", "invoice_id", "payment_id", "dispute_id", "applies_to", "policy"}
NUMBER_POOL = [
    "99999999999999999999.99", "1e308", "-1e308", "1E5", "-0", "-0.00", "NaN", "nan", "Infinity", "-Infinity", "inf",
    "-1", "0", "0.00", "0,001", "0.005", "0.004", "1000000000000.00", "1000000000000.01", "1000000000001",
    "92233720368547758.07", "92233720368547758.08", "9223372036854775807", "9223372036854775808",
    "1 234 567,89", "1.234.567,89", "1,234,567.89", "1.2.3", "1,2,3", "١٢٣", "１２３", "12e3", "0x10", "+5", "5-",
    "(5)", "5€", "€5", "5 EUR", "1\u00a0234,56", "1\u202f234,56", "1'234.56", ".5", "5.", ",5", "00000000000000000001",
    "1" * 400, "0." + "0" * 300 + "1", "", " ", "--1", "1e-400", "٫٥",
]
DATE_POOL = [
    "2026-02-30", "0000-01-01", "9999-12-31", "1899-12-31", "1900-01-01", "2999-12-31", "3000-01-01", "2026-13-01",
    "2026-00-10", "2026-12-00", "29/02/2025", "29/02/2024", "31/04/2026", "2026-1-1", "1/1/2026", "01/13/2026",
    "2026-12-01T00:00:00Z", "2026/12/01", "12/31/2026", "-2026-01-01", "20261201", "2026-12-01 ", "٢٠٢٦-١٢-٠١",
    "2026‐12‐01", "+02026-12-01", "99999-01-01", "2026-02-29", "2024-02-29", "00/00/0000", "", "31/12/99999",
]
ID_POOL = [
    "", " ", "x" * 64, "x" * 65, "é" * 64, "é" * 65, "🧾" * 64, "🧾" * 65, "C\t1", "C\x1b[31m1", "C\x07", "C\u0085",
    "C\u009b31m", "'; DROP TABLE encours.customers; --", "\u202eB001", "B001", "B002", "I001", "N001", "Q001",
    "e\u0301", "\u00e9", "Robert'); DELETE FROM encours.invoices; --", "1 OR 1=1", "%s%n%x", "${HOME}", "$(id)",
    "<script>", "NULL", "null", "\\N", "\\.", "شركة", "חברה", "ZZZ-unknown",
]
TEXT_POOL = [
    "", 'Dupont "Le Grand" & Fils', "L'Atelier d'Émile", "Café; Bar; Tabac", "Robert'); DROP TABLE encours.invoices; --",
    "🧾💶", "شركة الأمل", "חברה בע\"מ", "e\u0301\u0301\u0301", "Comma, Inc.", "Line\nbreak", "Carriage\rreturn",
    "<b>&amp;</b>", "{{customer_name}}", "\u202eevil\u202c", "\x1b[2J\x1b[H", "\x00", "\u0085\u009b", "\t", "\\N", "\\.",
    "x" * 5000, "\u200b", "\ufeff", "🏳️‍🌈👨‍👩‍👧", "%s%n", "NULL",
]
EMAIL_POOL = [
    "a@b", "a@b.c", "a b@c.de", "a@@b.fr", "x@" + "d" * 300 + ".fr", "ünïcødé@exämple.fr", "a,b@c.de", "'\"@x.fr",
    "o'brien+tag@example.ie", "@example.fr", "a@.fr", "a@-b.fr", ".a@b.fr", "a..b@c.fr", "a@b.fr;c@d.fr", "",
]
CHOICES = {
    "language": ["fr", "EN", "de", "", "🇫🇷", "français", "fr\t"],
    "on_hold": ["oui", "NON", "maybe", "2", "", "true", "FALSE", "vrai", "y"],
    "currency": ["EUR", "usd", "XXX", "€", "EU", "EURO", "123", "", "eur "],
    "reason": ["quality", "qualité", "QUALITE", "non reçu", "non-recu", "other", "bogus", "", "not received", "doublon"],
    "kind": ["credit_note", "CREDIT_NOTE", "invoice", "avoir", "", "credit note"],
    "payment_terms_days": ["30", "-1", "366", "1e3", "999999999999", "0", "30.5", "٣٠"],
    "policy": ["standard", "unknown-policy", "x" * 65, "strict"],
}
COLUMN_POOLS = {
    "amount": NUMBER_POOL, "credit_limit": NUMBER_POOL, "issue_date": DATE_POOL, "due_date": DATE_POOL,
    "received_on": DATE_POOL, "opened_on": DATE_POOL, "email": EMAIL_POOL, "name": TEXT_POOL, "note": TEXT_POOL,
}
INVALID_UTF8 = [b"\xff", b"\xfe", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82", b"\x80",
                b"\xf4\x90\x80\x80", b"\xe9t\xe9"]


def serialize(rows, delimiter):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue().encode("utf-8")


def physical_lines(data):
    if not data:
        return 0
    count = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    return count + (0 if data.endswith((b"\n", b"\r")) else 1)


class CaseInput:
    """Everything a case runs: arguments, files, what was done to them."""

    def __init__(self, index, group):
        self.index, self.group = index, group
        self.mutations = []
        self.data = None  # file bytes (imports, payload files)
        self.file_name = None
        self.args = []  # extra arguments
        self.payload_text = None  # what the CLI is given as the payload (bytes)
        self.stdin = None
        self.dry_run = False
        self.json = False
        self.delimiter = ","

    def describe(self):
        return f"case {self.index} ({self.group}): " + ", ".join(self.mutations)


# ---------------------------------------------------------------------------------------------
# CSV mutations

def mutate_rows(rng, rows, kind, case, catalogue=None):
    header = rows[0]
    operations = [
        ("set_field", 40), ("drop_column", 4), ("drop_cell", 4), ("add_cell", 4), ("unknown_column", 3),
        ("duplicate_header_column", 3), ("header_case", 3), ("header_as_row", 3), ("duplicate_id", 5),
        ("duplicate_row", 3), ("shuffle_columns", 3), ("empty_rows", 3), ("header_only", 2), ("many_rows", 1),
        ("existing_id", 3),
    ]
    names = [name for name, _ in operations]
    weights = [w for _, w in operations]
    operation = catalogue or rng.choices(names, weights)[0]
    r = rng.randrange(1, len(rows)) if len(rows) > 1 else 0
    if operation == "set_field" and len(rows) > 1:
        column = rng.randrange(len(header))
        name = header[column]
        if name in COLUMN_POOLS and rng.random() < 0.8:
            value = rng.choice(COLUMN_POOLS[name])
        elif name in ID_COLUMNS and rng.random() < 0.8:
            value = rng.choice(ID_POOL)
        elif name in CHOICES and rng.random() < 0.8:
            value = rng.choice(CHOICES[name])
        else:
            value = rng.choice(NUMBER_POOL + DATE_POOL + ID_POOL + TEXT_POOL)
        if column < len(rows[r]):
            rows[r][column] = value
        else:
            rows[r].append(value)
        case.mutations.append(f"line {r + 1} {name}={value[:40]!r}")
    elif operation == "drop_column":
        column = rng.randrange(len(header))
        case.mutations.append(f"column {header[column]} removed")
        for row in rows:
            if column < len(row):
                del row[column]
    elif operation == "drop_cell" and len(rows) > 1:
        rows[r].pop()
        case.mutations.append(f"line {r + 1} one field short")
    elif operation == "add_cell" and len(rows) > 1:
        rows[r].extend(["extra"] * rng.randint(1, 3))
        case.mutations.append(f"line {r + 1} extra fields")
    elif operation == "unknown_column":
        rows[0].append(rng.choice(["comment", "Montant TTC", "🧾", "", "name "]))
        for row in rows[1:]:
            row.append(rng.choice(["x", "", "1,5"]))
        case.mutations.append(f"unknown column {rows[0][-1]!r}")
    elif operation == "duplicate_header_column":
        column = rng.randrange(len(header))
        for row in rows:
            row.append(row[column] if column < len(row) else "")
        rows[0][-1] = rng.choice([header[column], header[column].upper(), " " + header[column] + " "])
        case.mutations.append(f"column {header[column]} twice")
    elif operation == "header_case":
        rows[0] = [rng.choice([name.upper(), " " + name + " ", name.title(), name]) for name in header]
        case.mutations.append("header case and spaces")
    elif operation == "header_as_row":
        rows.insert(rng.randrange(1, len(rows) + 1), list(header))
        case.mutations.append("header repeated as a row")
    elif operation == "duplicate_id" and len(rows) > 2:
        a, b = rng.sample(range(1, len(rows)), 2)
        rows[b][0] = rows[a][0]
        case.mutations.append(f"line {b + 1} repeats the id of line {a + 1}")
    elif operation == "duplicate_row" and len(rows) > 1:
        rows.insert(r, list(rows[r]))
        case.mutations.append(f"line {r + 1} twice")
    elif operation == "shuffle_columns":
        order = list(range(len(header)))
        rng.shuffle(order)
        rows[:] = [[row[i] if i < len(row) else "" for i in order] for row in rows]
        case.mutations.append("columns shuffled")
    elif operation == "empty_rows":
        for _ in range(rng.randint(1, 4)):
            rows.insert(rng.randrange(1, len(rows) + 1), [""] * len(header))
        case.mutations.append("empty rows")
    elif operation == "header_only":
        del rows[1:]
        case.mutations.append("header only")
    elif operation == "existing_id" and len(rows) > 1:
        # the id of a row the baseline has (an update), or one of another kind
        rows[r][0] = rng.choice({"customers": ["B002", "B003"], "invoices": ["I001", "I003"],
                                 "payments": ["P001"], "disputes": ["D001"]}[kind] + ["B001", "I002", "P001"])
        case.mutations.append(f"line {r + 1} id {rows[r][0]}")
    elif operation == "many_rows":
        many_rows(rng, rows, kind, case, rng.randint(200, 3000), bad_last=rng.random() < 0.5)
    else:
        case.mutations.append(f"{operation} (no-op)")


def many_rows(rng, rows, kind, case, count, bad_last):
    """Replaces the rows with `count` new ones (unique ids); the last one bad when asked."""
    header = rows[0]
    template = [dict(zip(header, row)) for row in FUZZ_BASE[kind][1:]][0]
    new = [header]
    for i in range(count):
        values = dict(template)
        values[header[0]] = f"M{case.index}-{i}"
        if kind == "payments":
            values.update(invoice_id="", amount="0.01")
        if kind == "disputes":
            values.update(invoice_id=["I004", "I005", "I006", "I007"][i % 4], amount="0.01")
        new.append([values.get(name, "") for name in header])
    if bad_last:
        last = dict(zip(header, new[-1]))
        if kind == "customers":
            last["email"] = "not an address"
        elif kind == "invoices":
            last["customer_id"] = "ZZZ-unknown"  # found only by the check against the ledger
        elif kind == "payments":
            last.update(customer_id="B004", invoice_id="I005", amount="500000.00")  # over I005's balance: a ledger check
        else:
            last["invoice_id"] = "I-unknown"
        new[-1] = [last.get(name, "") for name in header]
    rows[:] = new
    case.mutations.append(f"{count} rows" + (", the last one refused by a check against the ledger" if bad_last and kind != "customers"
                                            else ", the last one invalid" if bad_last else ""))


def mutate_bytes(rng, data, case, catalogue=None):
    operations = [
        ("flip", 14), ("insert_bytes", 6), ("delete_span", 5), ("truncate", 7), ("invalid_utf8", 8), ("bom", 5),
        ("double_bom", 2), ("crlf", 5), ("cr", 4), ("mixed_endings", 3), ("no_final_newline", 2), ("nul", 4),
        ("utf16", 2), ("latin1", 3), ("unbalanced_quote", 8), ("stray_quote", 4), ("long_field", 1),
        ("row_over_1mib", 1), ("empty_file", 1), ("whitespace_only", 1), ("only_bom", 1), ("blank_lines", 2),
        ("control_chars", 4), ("garbage", 1), ("delimiter_swap", 3), ("tab_delimited", 1),
    ]
    names = [name for name, _ in operations]
    weights = [w for _, w in operations]
    operation = catalogue or rng.choices(names, weights)[0]
    b = bytearray(data)
    where = rng.randrange(len(b) + 1) if b else 0
    if operation == "flip" and b:
        count = rng.randint(1, 6)
        for _ in range(count):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8) if rng.random() < 0.7 else rng.randrange(1, 256)
        case.mutations.append(f"{count} byte(s) flipped")
    elif operation == "insert_bytes":
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))
        b[where:where] = junk
        case.mutations.append(f"{len(junk)} random bytes at {where}")
    elif operation == "delete_span" and b:
        length = rng.randint(1, 30)
        del b[where:where + length]
        case.mutations.append(f"{length} bytes deleted at {where}")
    elif operation == "truncate":
        del b[where:]
        case.mutations.append(f"truncated at byte {where}")
    elif operation == "invalid_utf8":
        sequence = rng.choice(INVALID_UTF8)
        b[where:where] = sequence
        case.mutations.append(f"invalid UTF-8 {sequence.hex()} at {where}")
    elif operation == "bom":
        b[0:0] = b"\xef\xbb\xbf"
        case.mutations.append("BOM")
    elif operation == "double_bom":
        b[0:0] = b"\xef\xbb\xbf\xef\xbb\xbf"
        case.mutations.append("BOM twice")
    elif operation == "crlf":
        b = bytearray(bytes(b).replace(b"\n", b"\r\n"))
        case.mutations.append("CRLF")
    elif operation == "cr":
        b = bytearray(bytes(b).replace(b"\n", b"\r"))
        case.mutations.append("CR line ends")
    elif operation == "mixed_endings":
        parts = bytes(b).split(b"\n")
        b = bytearray(b"".join(part + rng.choice([b"\n", b"\r\n", b"\r"]) for part in parts[:-1]) + parts[-1])
        case.mutations.append("mixed line ends")
    elif operation == "no_final_newline":
        b = bytearray(bytes(b).rstrip(b"\n"))
        case.mutations.append("no final line break")
    elif operation == "nul":
        b[where:where] = b"\x00" * rng.randint(1, 3)
        case.mutations.append(f"NUL at {where}")
    elif operation == "utf16":
        encoding = rng.choice(["utf-16", "utf-16-le", "utf-16-be"])
        b = bytearray(bytes(b).decode("utf-8", "replace").encode(encoding))
        case.mutations.append(encoding.upper())
    elif operation == "latin1":
        b = bytearray(bytes(b).decode("utf-8", "replace").encode("cp1252", "replace"))
        case.mutations.append("Windows-1252")
    elif operation == "unbalanced_quote":
        starts = [i + 1 for i, c in enumerate(b) if c in (ord(","), ord(";"), ord("\n"))] + [0]
        i = rng.choice(starts)
        b[i:i] = b'"'
        case.mutations.append(f"quote opened at byte {i}")
    elif operation == "stray_quote":
        b[where:where] = rng.choice([b'"', b'""', b'"""', b"'", b'\\"'])
        case.mutations.append(f"quote(s) at byte {where}")
    elif operation == "long_field":
        newline = bytes(b).find(b"\n")
        comma = bytes(b).find(b",", newline + 1) if newline >= 0 else -1
        i = comma if comma > 0 else len(b)
        b[i:i] = b"x" * 1_000_000
        case.mutations.append("a 1,000,000-byte field")
    elif operation == "row_over_1mib":
        newline = bytes(b).find(b"\n")
        i = newline + 1 if newline >= 0 else len(b)
        b[i:i] = b"y" * (1 << 20) + b",z\n"
        case.mutations.append("a row of 1 MiB + 3 bytes")
    elif operation == "empty_file":
        b = bytearray()
        case.mutations.append("empty file")
    elif operation == "whitespace_only":
        b = bytearray(rng.choice([b" ", b"\n", b"\r\n\r\n", b" \t \n", b"\xc2\xa0"]))
        case.mutations.append("whitespace only")
    elif operation == "only_bom":
        b = bytearray(b"\xef\xbb\xbf")
        case.mutations.append("only a BOM")
    elif operation == "blank_lines":
        b[where:where] = rng.choice([b"\n\n", b"\r\n\r\n", b"\n \n", b"\n,,,,\n"])
        case.mutations.append(f"blank lines at {where}")
    elif operation == "control_chars":
        sequence = rng.choice([b"\x1b[31m", b"\x07", b"\x08\x08", b"\x1b]0;pwned\x07", b"\xc2\x9b31m", b"\x7f", b"\x0c", b"\x1a"])
        b[where:where] = sequence
        case.mutations.append(f"control bytes {sequence.hex()} at {where}")
    elif operation == "garbage":
        b = bytearray(rng.randrange(256) for _ in range(rng.randint(1, 400)))
        case.mutations.append("random bytes only")
    elif operation == "delimiter_swap":
        lines = bytes(b).split(b"\n")
        if len(lines) > 1:
            i = rng.randrange(len(lines))
            lines[i] = lines[i].replace(b",", b";") if case.delimiter == "," else lines[i].replace(b";", b",")
            b = bytearray(b"\n".join(lines))
            case.mutations.append(f"line {i + 1} with the other delimiter")
    elif operation == "tab_delimited":
        b = bytearray(bytes(b).replace(case.delimiter.encode(), b"\t"))
        case.mutations.append("tab-delimited")
    else:
        case.mutations.append(f"{operation} (no-op)")
    return bytes(b)


AMOUNT_FORMATS = [lambda d: d, lambda d: d.replace(".", ","), lambda d: french(d), lambda d: french(d).replace(" ", "\u00a0")]


def french(decimal):
    whole, _, cents = decimal.partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return " ".join(groups) + ("," + cents if cents else "")


NEW_ROW_PREFIXES = ("N0", "J0", "CN", "Q0", "E0")


def base_rows(rng, kind, case):
    """A fresh copy of the kind's fuzz base, in one of the formats it may legitimately take.

    The rows the baseline does not have get ids of this case's own (N001-1234), so the file adds
    rows to a tenant whatever earlier cases added: a partial import would always show."""
    rows = [list(row) for row in FUZZ_BASE[kind]]
    for row in rows[1:]:
        if row[0].startswith(NEW_ROW_PREFIXES):
            row[0] += f"-{case.index}"
    case.delimiter = rng.choice([",", ";"])
    if rng.random() < 0.3:
        swap = rng.choice(AMOUNT_FORMATS)
        for row in rows[1:]:
            for i, name in enumerate(rows[0]):
                if name in ("amount", "credit_limit") and re.fullmatch(r"\d+\.\d\d", row[i]):
                    row[i] = swap(row[i])
    if rng.random() < 0.3:
        for row in rows[1:]:
            for i, name in enumerate(rows[0]):
                match = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)", row[i]) if name.endswith(("_date", "_on")) else None
                if match:
                    row[i] = f"{match.group(3)}/{match.group(2)}/{match.group(1)}"
    return rows


# Named cases every run has (each kind), before the random ones.
CSV_CATALOGUE = [
    ([], ["empty_file"]), ([], ["whitespace_only"]), ([], ["only_bom"]), (["header_only"], []), ([], ["bom"]),
    ([], ["double_bom"]), ([], ["crlf"]), ([], ["cr"]), ([], ["mixed_endings"]), ([], ["utf16"]), ([], ["latin1"]),
    ([], ["nul"]), ([], ["long_field"]), ([], ["row_over_1mib"]), (["duplicate_header_column"], []),
    (["duplicate_id"], []), (["header_as_row"], []), ([], ["unbalanced_quote"]), ([], ["invalid_utf8"]),
    (["drop_column"], []), (["drop_cell"], []), (["add_cell"], []), ([], ["control_chars"]), ([], []),
]
HOSTILE_FILE_NAMES = ["a b.csv", "quote'\"s.csv", "semi;colon.csv", "🧾 reçus.csv", "שלום.csv", "-dash.csv",
                      "new\nline.csv", "esc\x1b[31m.csv", "\u202egsv.csv"]


def csv_case(rng, index, kind, catalogue_entry=None):
    case = CaseInput(index, kind)
    rows = base_rows(rng, kind, case)
    if catalogue_entry == "filename":
        data = serialize(rows, case.delimiter)
        case.file_name = "new\nline \x1b[31mred\x1b[0m.csv"
        case.mutations.append(f"file name {case.file_name!r}, the header and a one-field row")
        data = data.split(b"\n", 1)[0] + b"\n" + b"x" * 3 + b"\n"
    elif catalogue_entry == "many":
        many_rows(rng, rows, kind, case, 25_000, bad_last=kind != "customers")
        data = serialize(rows, case.delimiter)
    elif catalogue_entry is not None:
        row_ops, byte_ops = catalogue_entry
        for op in row_ops:
            mutate_rows(rng, rows, kind, case, op)
        data = serialize(rows, case.delimiter)
        for op in byte_ops:
            data = mutate_bytes(rng, data, case, op)
        if not row_ops and not byte_ops:
            case.mutations.append("unchanged base file")
    elif rng.random() < 0.0015:
        many_rows(rng, rows, kind, case, 25_000, bad_last=rng.random() < 0.7)
        data = serialize(rows, case.delimiter)
    else:
        for _ in range(rng.choices([0, 1, 2, 3], [1, 10, 5, 2])[0]):
            mutate_rows(rng, rows, kind, case)
        data = serialize(rows, case.delimiter)
        for _ in range(rng.choices([0, 1, 2], [6, 8, 2])[0]):
            data = mutate_bytes(rng, data, case)
        if not case.mutations:
            case.mutations.append("unchanged base file")
    case.data = data
    case.dry_run = rng.random() < 0.12
    case.json = rng.random() < 0.4
    if catalogue_entry is None and rng.random() < 0.01:
        case.file_name = rng.choice(HOSTILE_FILE_NAMES)
        case.mutations.append(f"file name {case.file_name!r}")
    return case


# ---------------------------------------------------------------------------------------------
# Payload and enqueue mutations

BASE_PAYLOADS = [
    ("noop", {}), ("noop", {"sleep_ms": 1}), ("noop", {"note": "🧾 شركة \"x\"; DROP TABLE encours.jobs; --"}),
    ("noop", {"fail": "hostile ' \" ; -- ✓"}),
    ("dunning.run", {"as_of": "2026-12-02"}), ("dunning.run", {}),
    ("risk.recalc", {"as_of": "2026-06-30", "customer_ids": ["C001", "C002"]}), ("risk.recalc", {"customer_id": "B001"}),
    ("reminder.deliver", {"reminder_ids": [1, 2, 3]}), ("reminder.deliver", {"reminder_id": 1}),
    ("reminder.deliver", {"notification_id": 1}),
    ("disputes.escalate", {"at": "2026-12-11T08:00:00Z"}), ("disputes.escalate", {}),
]
JSON_VALUES = [
    "x", "", 0, -1, 1.5, -0.0, 10 ** 30, -(10 ** 30), 1e308, True, False, None, [], {}, [1, "a"], {"a": {"b": [None]}},
    "2026-02-30", "0000-01-01", "9999-12-31", "2026-12-02T25:00:00Z", "9" * 40, "🧾" * 10, "\u202e", "'; DROP TABLE encours.jobs; --",
    [1] * 5, list(range(1001)), "x" * 1000, "\u0085", "é", "e\u0301",
]
RAW_NUMBERS = ["1e308", "1e309", "-1e309", "1e400", "1e-400", "-0", "-0.0", "99999999999999999999.99", "NaN", "Infinity",
               "-Infinity", "0x10", "01", "1.", ".5", "+1", "1e", "123456789012345678901234567890", "1E+2", "9" * 400]
RUN_AT_POOL = ["2030-01-01T00:00:00Z", "2026-01-01 09:00", "2026-02-30T00:00", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
               "1e308", "", "now", "2026-12-01T25:00:00+01:00", "2026-12-01T09:00:00+99:00", "2026-12-01T09:00:00.123456789Z",
               "294277-01-01T00:00:00Z", "-infinity", "infinity", "2026-13-01", "'; DROP TABLE encours.jobs; --",
               "2026-12-01\x1b[31m", "2026-12-01T09:00:00Z\n", "١٤٤٧-٠١-٠١", "2026-03-29T02:30:00"]
UNIQUE_KEY_POOL = ["", "k", "k" * 512, "k" * 513, "é" * 256, "é" * 257, "🧾", "'; DROP TABLE encours.jobs; --", "\x1b[31m",
                   "a\nb", "\u202e", "same-key"]
KIND_POOL = ["NOOP", "noop ", " noop", "noop\u200b", "dunning.run;DROP TABLE encours.jobs", "🧾", "", "x" * 10000,
             "reminder.deliver\x1b[2J", "dunning_run", "risk", "noop\n", "ｎｏｏｐ"]
TENANT_POOL = ["nosuch", "'; DROP TABLE encours.tenants; --", "🧾", "", "x" * 300, "\x1b[31mred", "UPPER", "a\nb"]


def deep(depth, kind):
    if kind == "array":
        return "[" * depth + "1" + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def payload_case(rng, index, catalogue=None):
    case = CaseInput(index, "payloads")
    kind, base = rng.choice(BASE_PAYLOADS)
    value = json.loads(json.dumps(base))
    text = None
    catalogue, _, parameter = (catalogue or "").partition(":")
    forced_route = parameter if catalogue == "route" else None
    if forced_route:
        catalogue = "none"
    operation = catalogue or rng.choices(
        ["wrong_type", "extra_field", "deep", "huge_array", "nul", "surrogate", "escapes", "raw_number", "big_string",
         "flip", "truncate", "insert", "invalid_utf8", "bom", "whitespace", "trailing", "not_object", "syntax",
         "control", "duplicate_keys", "exact_limit", "over_limit", "none"],
        [14, 6, 6, 3, 5, 4, 4, 6, 2, 8, 5, 4, 4, 2, 2, 3, 3, 4, 3, 2, 1, 1, 4])[0]
    if operation == "wrong_type":
        key = rng.choice(list(value) or ["as_of", "sleep_ms", "reminder_ids", "at", "customer_ids"])
        value[key] = rng.choice(JSON_VALUES)
        if kind == "noop" and key == "sleep_ms" and isinstance(value[key], int) and value[key] > 50:
            value[key] = -5
        case.mutations.append(f"{key}={json.dumps(value[key])[:40]}")
    elif operation == "extra_field":
        value[rng.choice(["x", "🧾", "\u202ekey", "", "a" * 300, "'; DROP", "sleep_ms_"])] = rng.choice(JSON_VALUES)
        case.mutations.append("an extra field")
    elif operation == "deep":
        depth = int(parameter) if parameter else rng.choice([10, 100, 255, 256, 257, 511, 512, 513, 1000, 5000, 100_000, 300_000])
        shape = rng.choice(["array", "object"])
        text = json.dumps(value)[:-1] + (", " if value else "") + '"deep": ' + deep(depth, shape) + "}"
        case.mutations.append(f"nested {depth} deep ({shape}s)")
    elif operation == "huge_array":
        count = int(parameter) if parameter else rng.choice([1000, 100_000, 200_000, 350_000])
        text = json.dumps(value)[:-1] + (", " if value else "") + '"reminder_ids": [' + ",".join(["7"] * count) + "]}"
        case.mutations.append(f"an array of {count} numbers")
    elif operation == "nul":
        where = rng.choice(["value", "key", "nested", "escaped-in-array"])
        if where == "value":
            text = '{"note": "a\\u0000b"}'
        elif where == "key":
            text = '{"a\\u0000": 1}'
        elif where == "nested":
            text = '{"a": {"b": [1, {"c": "\\u0000"}]}}'
        else:
            text = '{"reminder_ids": ["\\u0000"]}'
        case.mutations.append(f"\\u0000 in a {where}")
    elif operation == "surrogate":
        text = rng.choice(['{"a": "\\ud800"}', '{"a": "\\udc00x"}', '{"a": "\\ud83e\\uddfe"}', '{"\\ud800": 1}',
                           '{"a": "\\ud800\\ud800"}', '{"a": "\\uDFFF"}'])
        case.mutations.append(f"surrogate escape {text}")
    elif operation == "escapes":
        text = rng.choice(['{"a": "\\u202e\\u0085\\u009b"}', '{"a": "\\/\\b\\f\\n\\r\\t"}', '{"a": "\\x41"}', '{"a": "\\u00"}',
                           '{"a": "\\uZZZZ"}', '{"a": "\\u0041\\u030a"}', '{"a": "\\\'"}'])
        case.mutations.append(f"escapes {text}")
    elif operation == "raw_number":
        key = rng.choice(["sleep_ms", "reminder_id", "x", "as_of", "notification_id"])
        number = rng.choice(RAW_NUMBERS)
        if kind == "noop" and key == "sleep_ms" and re.fullmatch(r"\d+", number) and int(number) > 50:
            key = "x"
        text = '{"%s": %s}' % (key, number)
        case.mutations.append(f"{key}: {number[:30]}")
    elif operation == "big_string":
        size = rng.choice([1000, 100_000, 1_000_000])
        value["note"] = "n" * size
        case.mutations.append(f"a string of {size}")
    elif operation == "exact_limit":
        text = '{"note": "' + "n" * ((1 << 20) - 12) + '"}'
        case.mutations.append("exactly 1 MiB")
    elif operation == "over_limit":
        text = '{"note": "' + "n" * ((1 << 20) - 11) + '"}'
        case.mutations.append("1 MiB + 1 byte")
    elif operation in ("flip", "truncate", "insert", "invalid_utf8", "bom", "whitespace", "trailing", "syntax", "control"):
        raw = bytearray(json.dumps(value, ensure_ascii=rng.random() < 0.5).encode())
        where = rng.randrange(len(raw) + 1)
        if operation == "flip":
            for _ in range(rng.randint(1, 3)):
                i = rng.randrange(len(raw))
                raw[i] ^= 1 << rng.randrange(8)
            case.mutations.append("bytes flipped")
        elif operation == "truncate":
            del raw[where:]
            case.mutations.append(f"truncated at {where}")
        elif operation == "insert":
            raw[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
            case.mutations.append(f"random bytes at {where}")
        elif operation == "invalid_utf8":
            raw[where:where] = rng.choice(INVALID_UTF8)
            case.mutations.append(f"invalid UTF-8 at {where}")
        elif operation == "bom":
            raw[0:0] = b"\xef\xbb\xbf"
            case.mutations.append("BOM")
        elif operation == "whitespace":
            raw = bytearray(b"\r\n \t" + raw + rng.choice([b"\r\n", b"\n\n", b"\xc2\xa0", b"\xe2\x80\xa8"]))
            case.mutations.append("surrounding whitespace")
        elif operation == "trailing":
            raw += rng.choice([b" x", b"}", b",", b"{}", b" // comment", b"\x00"])
            case.mutations.append("trailing garbage")
        elif operation == "syntax":
            raw = bytearray(rng.choice([b"{'a': 1}", b'{"a": 1,}', b'{a: 1}', b'{"a" 1}', b'{"a": [1,]}', b"{/* c */}",
                                        b'{"a": tru}', b'{"a": undefined}', b'{"a":"\t"}', b"{{}}"]))
            case.mutations.append(f"syntax {bytes(raw)!r}")
        else:
            raw[where:where] = rng.choice([b"\x1b[31m", b"\x07", b"\xc2\x9b", b"\x7f", b"\x0b"])
            case.mutations.append(f"control bytes at {where}")
        case.payload_text = bytes(raw)
    elif operation == "not_object":
        text = rng.choice(["[]", "[1]", '"x"', "1", "null", "true", "", " ", "[{}]", '"{}"'])
        case.mutations.append(f"top level {text!r}")
    elif operation == "duplicate_keys":
        text = '{"as_of": "2026-12-02", "as_of": "2026-02-30"}' if kind == "dunning.run" else '{"a": 1, "a": [2]}'
        case.mutations.append("duplicate keys")
    else:
        case.mutations.append("valid payload")
    if case.payload_text is None:
        case.payload_text = (text if text is not None else json.dumps(value, ensure_ascii=rng.random() < 0.5)).encode()
    # flags (not on the named cases: nothing may refuse them before their payload is judged)
    case.tenant_override = None
    named = bool(catalogue)
    if not named and rng.random() < 0.07:
        kind = rng.choice(KIND_POOL)
        case.mutations.append(f"kind {kind[:30]!r}")
    case.kind = kind
    if not named and rng.random() < 0.04:
        case.tenant_override = rng.choice(TENANT_POOL)
        case.mutations.append(f"tenant {case.tenant_override[:30]!r}")
    if not named and rng.random() < 0.12:
        value = rng.choice(RUN_AT_POOL)
        case.args.append(f"--run-at={value}")
        case.mutations.append(f"--run-at {value!r}")
    if not named and rng.random() < 0.08:
        value = rng.choice(UNIQUE_KEY_POOL)
        case.args.append(f"--unique-key={value}")
        case.mutations.append(f"--unique-key {value[:20]!r}")
    if not named and rng.random() < 0.08:
        value = rng.choice(["1", "4", "0", "5", "-1", "99999999999999999999", "2.5", "x"])
        case.args.append(f"--priority={value}")
        case.mutations.append(f"--priority {value}")
    if not named and rng.random() < 0.08:
        value = rng.choice(["1", "2", "3", "0", "-1", "1000001", "1e3"])
        case.args.append(f"--count={value}")
        case.mutations.append(f"--count {value}")
    if not named and rng.random() < 0.4:
        value = rng.choice(["1", "2", "1", "0", "1001", "-3"])
        case.args.append(f"--max-attempts={value}")
        case.mutations.append(f"--max-attempts {value}")
    case.json = rng.random() < 0.3
    # how the payload travels
    raw = case.payload_text
    argument_ok = len(raw) < 100_000 and b"\x00" not in raw
    route = rng.choice(["argument", "file", "stdin"]) if argument_ok else rng.choice(["file", "stdin"])
    special = rng.random() if not named else 1.0
    if forced_route:
        route = forced_route
    elif special < 0.01:
        route = "both"
    elif special < 0.02:
        route = "missing-file"
    elif special < 0.025:
        route = "directory"
    case.route = route
    if route != "argument" or len(raw) >= 100_000:
        case.mutations.append(f"payload by {route}")
    return case


# ---------------------------------------------------------------------------------------------
# Promises

def promise_case(rng, index):
    case = CaseInput(index, "promises")
    customer, amount, date, invoice = "B001", "1 000,00", "15/12/2026", None
    if rng.random() < 0.3:
        invoice = rng.choice(["I001", "I002"])
    for _ in range(rng.choices([0, 1, 2], [1, 6, 3])[0]):
        target = rng.choice(["customer", "amount", "amount", "date", "date", "invoice"])
        if target == "customer":
            customer = rng.choice(ID_POOL + ["B002", "B006"])
        elif target == "amount":
            amount = rng.choice(NUMBER_POOL)
        elif target == "date":
            date = rng.choice(DATE_POOL)
        else:
            invoice = rng.choice(ID_POOL + ["I003", "I007"])  # another customer's invoice, or hostile
        case.mutations.append(f"--{target}")
    case.args = [f"--customer={customer}", f"--amount={amount}", f"--date={date}"] + ([f"--invoice={invoice}"] if invoice is not None else [])
    case.mutations = [f"--customer={customer[:30]!r} --amount={amount[:30]!r} --date={date!r}" + (f" --invoice={invoice[:30]!r}" if invoice is not None else "")]
    case.json = rng.random() < 0.3
    if rng.random() < 0.02:
        case.args[1] = b"--amount=12\xff"  # not UTF-8: the CLI refuses it before parsing
        case.mutations.append("--amount not UTF-8")
    return case


# ---------------------------------------------------------------------------------------------
# The fuzz engine

CHANGES_PER_TENANT = 25  # accepted changing imports before an import tenant is replaced by a fresh one
SNAPSHOT_TABLES = ["customers", "invoices", "payments", "disputes", "dispute_events", "promises", "audit_log", "jobs"]
KIND_TABLE = {"customers": "customers", "invoices": "invoices", "payments": "payments", "disputes": "disputes"}


class Findings:
    def __init__(self, work):
        self.lock = threading.Lock()
        self.items = {}  # check -> list
        self.path = os.path.join(work, "failures.jsonl")
        self.failures_dir = os.path.join(work, "failures")
        os.makedirs(self.failures_dir, exist_ok=True)
        self.categories = {}  # group -> {category: count}
        self.doubt_counts = {}  # thread -> failures that leave its tenant in doubt
        self.counts = {}

    def doubts(self):
        """How many failures so far leave a tenant's state in doubt (this thread's count is what matters)."""
        with self.lock:
            return self.doubt_counts.get(threading.get_ident(), 0)

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def categorise(self, group, name):
        with self.lock:
            table = self.categories.setdefault(group, {})
            table[name] = table.get(name, 0) + 1

    def add(self, check, case, run_, detail, saved=None):
        record = {
            "check": check, "case": case.index, "group": case.group, "what": case.describe(), "detail": detail,
            "command": [shorten(a if isinstance(a, str) else a.decode("utf-8", "backslashreplace")) for a in run_.command] if run_ else None,
            "rc": run_.rc if run_ else None, "hung": run_.hung if run_ else None,
            "stdout": run_.out.decode("utf-8", "backslashreplace")[:1500] if run_ else None,
            "stderr": run_.err.decode("utf-8", "backslashreplace")[:3000] if run_ else None, "input": saved,
        }
        with self.lock:
            if check in ("hang", "crash", "partial import", "accepted import", "drill error"):
                self.doubt_counts[threading.get_ident()] = self.doubt_counts.get(threading.get_ident(), 0) + 1
            self.items.setdefault(check, []).append(record)
            with open(self.path, "a") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
            shown = sum(len(v) for v in self.items.values())
        if shown <= 40:
            log(f"FAILED ({check}): {case.describe()[:300]}: {detail}")
            if run_:
                log(f"    command: {' '.join(shorten(repr(a) if isinstance(a, bytes) else a, 120) for a in run_.command)[:600]}")
                log(f"    exit {run_.rc}{' (hung)' if run_.hung else ''}, stderr: {run_.err[:500]!r}")

    def save_input(self, case, data, suffix):
        path = os.path.join(self.failures_dir, f"case-{case.index:05d}.{suffix}")
        with open(path, "wb") as f:
            f.write(data)
        return path


class Fuzzer:
    def __init__(self, options):
        self.o = options
        self.encours = os.path.join(options.bin, "encours")
        self.findings = Findings(options.work)
        self.tenant_counter = 0
        self.counter_lock = threading.Lock()
        self.baseline_dir = os.path.join(options.work, "baseline")
        os.makedirs(self.baseline_dir, exist_ok=True)
        for name, rows in (("customers", BASE_CUSTOMERS), ("invoices", BASE_INVOICES), ("payments", BASE_PAYMENTS),
                           ("disputes", BASE_DISPUTES)):
            with open(os.path.join(self.baseline_dir, f"{name}.csv"), "wb") as f:
                f.write(serialize(rows, ","))
        self.tenants_created = 0
        self.runs = 0
        self.run_lock = threading.Lock()
        self.gate = Gate()
        self.slow = []  # (seconds, timed out beside others first, command)
        self.timing = {}  # "import customers" -> [runs, seconds]

    def enc(self, *args, stdin=None, timeout=TIMEOUT):
        """One CLI run beside the others; when it has no answer within TIMEOUT, once more alone."""
        command = [self.encours, *args, "--database-url", self.o.url]
        with self.run_lock:
            self.runs += 1
        result = self.gate.run(False, lambda: run(command, stdin=stdin, timeout=timeout))
        if not result.hung or timeout > TIMEOUT:
            self.note_time(result)
            return result
        with self.run_lock:
            self.runs += 1
        again = self.gate.run(True, lambda: run(command, stdin=stdin, timeout=ALONE_TIMEOUT))
        again.beside_others_timed_out = True
        self.note_time(again)
        if not again.hang:
            self.findings.count(f"runs without an answer within {TIMEOUT:.0f} s beside others that answered alone")
        return again

    def show(self, case, result):
        """--only: the case's command and everything it printed."""
        if self.o.only is None:
            return
        log(case.describe())
        log("command: " + " ".join(shorten(repr(a) if isinstance(a, bytes) else a, 200) for a in result.command))
        log(f"exit {result.rc}{' (no answer)' if result.hung else ''} after {result.seconds:.2f}s")
        log(f"stdout: {result.out[:4000].decode('utf-8', 'backslashreplace')}")
        log(f"stderr: {result.err[:4000].decode('utf-8', 'backslashreplace')}")

    def note_time(self, result):
        with self.run_lock:
            key = " ".join(a for a in result.command[1:3] if isinstance(a, str))[:40]
            total = self.timing.setdefault(key, [0, 0.0])
            total[0] += 1
            total[1] += result.seconds
        if result.seconds > SLOW or result.beside_others_timed_out:
            with self.run_lock:
                self.slow.append((result.seconds, result.beside_others_timed_out, result.command))

    def new_slug(self, prefix):
        with self.counter_lock:
            self.tenant_counter += 1
            return f"{prefix}-{self.tenant_counter}"

    def create_tenant(self, slug, psql, ledger=True):
        created = self.enc("tenant", "create", slug, "--name", f"Hostile {slug}")
        if created.rc != 0:
            raise RuntimeError(f"tenant create {slug}: {created.err!r}")
        if ledger:
            for kind in KINDS:
                imported = self.enc("import", kind, "--tenant", slug, os.path.join(self.baseline_dir, f"{kind}.csv"))
                if imported.rc != 0:
                    raise RuntimeError(f"baseline {kind} for {slug}: {imported.err!r}")
        with self.counter_lock:
            self.tenants_created += 1
        return int(psql.value(f"SELECT id FROM encours.tenants WHERE slug = {quote_literal(slug)}"))

    def snapshot(self, psql, tenant_id):
        parts = [
            f"SELECT '{t}=' || count(*) || ':' || coalesce(md5(string_agg(x.r, '|' ORDER BY x.r)), '-') "
            f"FROM (SELECT t::text AS r FROM encours.{t} t WHERE tenant_id = {tenant_id}) x" for t in SNAPSHOT_TABLES]
        line = psql.value("SELECT " + " || ' ' || ".join(f"({p})" for p in parts))
        result = {}
        for item in line.split(" "):
            name, _, rest = item.partition("=")
            count, _, digest = rest.partition(":")
            result[name] = (int(count), digest)
        return result

    # -- one worker thread's share of the cases --
    def worker(self, w, indices):
        psql = Psql(self.o.psql, self.o.url)
        try:
            state = {"import": None, "promises": None, "jobs": None}
            case_dir = os.path.join(self.o.work, "cases", f"w{w}")
            os.makedirs(case_dir, exist_ok=True)
            done = 0
            for index in indices:
                try:
                    case = self.make_case(index)
                except Exception as error:
                    case = CaseInput(index, "generation")
                    self.findings.add("drill error", case, None, f"generating the case: {type(error).__name__}: {error}")
                    continue
                try:
                    if case.group in KINDS:
                        self.import_case(case, psql, state, case_dir, w)
                    elif case.group == "promises":
                        self.promise_case(case, psql, state, w)
                    else:
                        self.enqueue_case(case, psql, state, case_dir, w)
                except Exception as error:  # the drill's own failure: report it as such
                    self.findings.add("drill error", case, None, f"{type(error).__name__}: {error}")
                done += 1
                if w == 0 and done % max(1, len(indices) // 10) == 0:
                    log(f"{done * self.o.jobs} of about {self.o.cases} cases run")
        finally:
            psql.close()

    def make_case(self, index):
        rng = random.Random(f"{self.o.seed}:{index}")
        catalogue = self.catalogue
        if index < len(catalogue):
            group, entry = catalogue[index]
            if group in KINDS:
                return csv_case(rng, index, group, entry)
            return payload_case(rng, index, entry)
        group = rng.choices(KINDS + ["promises", "payloads"], [17, 17, 13, 13, 10, 30])[0]
        if group in KINDS:
            return csv_case(rng, index, group)
        if group == "promises":
            return promise_case(rng, index)
        return payload_case(rng, index)

    @property
    def catalogue(self):
        if not hasattr(self, "_catalogue"):
            entries = []
            for kind in KINDS:
                for entry in CSV_CATALOGUE:
                    entries.append((kind, entry))
            for kind in ["invoices", "payments", "customers"]:
                entries.append((kind, "many"))
            entries.append(("disputes", "filename"))
            for operation in ["deep:511", "deep:512", "deep:100000", "huge_array:350000", "nul", "nul", "surrogate", "exact_limit", "over_limit",
                              "raw_number", "raw_number", "not_object", "invalid_utf8", "bom", "control", "duplicate_keys",
                              "route:directory", "route:missing-file", "route:both"]:
                entries.append(("payloads", operation))
            self._catalogue = entries
        return self._catalogue

    # -- imports --
    def import_case(self, case, psql, state, case_dir, w):
        tenant = state["import"]
        if tenant is None or tenant["changes"] >= CHANGES_PER_TENANT:
            slug = self.new_slug(f"imp-w{w}")
            tenant_id = self.create_tenant(slug, psql)
            tenant = state["import"] = {"slug": slug, "id": tenant_id, "snapshot": self.snapshot(psql, tenant_id), "changes": 0}
        doubts_before = self.findings.doubts()
        name = case.file_name or f"{case.group}.csv"
        path = os.path.join(case_dir, name)
        with open(path, "wb") as f:
            f.write(case.data)
        args = ["import", case.group, "--tenant", tenant["slug"], path]
        if case.dry_run:
            args.append("--dry-run")
            case.mutations.append("--dry-run")
        if case.json:
            args.append("--json")
        result = self.enc(*args)
        self.show(case, result)
        after = self.snapshot(psql, tenant["id"])
        before = tenant["snapshot"]
        self.findings.count("runs")
        self.findings.count(f"{case.group} cases")
        saved = None

        def keep():
            nonlocal saved
            if saved is None:
                saved = self.findings.save_input(case, case.data, "csv")
            return saved

        if result.hang:
            self.findings.add("hang", case, result, hang_detail(result), keep())
        if result.hung or result.crashed:
            if result.crashed:
                self.findings.add("crash", case, result, result.crash_reason(), keep())
            if after != before:
                changed = [t for t in SNAPSHOT_TABLES if after[t] != before[t]]
                self.findings.add("partial import", case, result, ("killed without an answer" if result.hung else "crashed")
                                  + ", yet the ledger changed: " + ", ".join(changed), keep())
        elif result.rc == 0:
            self.findings.count("accepted")
            self.findings.count(f"{case.group} accepted")
            problems = self.check_accepted_import(case, result, before, after)
            if problems:
                self.findings.add("accepted import", case, result, "; ".join(problems), keep())
            if result.err.strip():
                self.findings.count("accepted with stderr")
        else:
            self.findings.count("rejected")
            if after != before:
                changed = [t for t in SNAPSHOT_TABLES if after[t] != before[t]]
                self.findings.add("partial import", case, result,
                                  "refused, yet the ledger changed: " + ", ".join(f"{t} {before[t][0]}→{after[t][0]} rows" for t in changed), keep())
            clarity, inaccurate = import_problems(result, path, physical_lines(case.data))
            text = result.err.decode("utf-8", "replace")
            inaccurate += misleading(text)
            if "not UTF-8" in text and is_utf8(case.data):
                inaccurate.append("says 'not UTF-8' about a valid UTF-8 file")
            if "NUL byte" in text and b"\x00" not in case.data:
                inaccurate.append("says 'NUL byte' about a file without one")
            if clarity:
                self.findings.add("unclear message", case, result, "; ".join(clarity), keep())
            if inaccurate:
                self.findings.add("misleading message", case, result, "; ".join(inaccurate), keep())
            self.findings.categorise("imports", category(text, path))
        # The next import case runs on this tenant as it is now (its base file adds rows with ids
        # of its own), unless something went wrong or the tenant grew large: then a fresh one.
        tenant["snapshot"] = after
        if any(after[t] != before[t] for t in SNAPSHOT_TABLES if t != "audit_log"):
            tenant["changes"] += 1
            if len(case.data) > 200_000 or after["customers"][0] + after["invoices"][0] + after["payments"][0] > 2000:
                tenant["changes"] = CHANGES_PER_TENANT
        if self.findings.doubts() != doubts_before:
            state["import"] = None  # the tenant's state is in doubt: a fresh one for the next case
        if case.file_name:
            os.unlink(path)

    def check_accepted_import(self, case, result, before, after):
        problems = []
        outcome = parse_import_outcome(result.out, case.json)
        if outcome is None:
            return [f"exit 0 but no outcome on stdout: {result.out[:200]!r}"]
        rows, inserted, updated, unchanged, dry = outcome
        if inserted + updated + unchanged != rows:
            problems.append(f"{rows} rows reported but {inserted} new + {updated} updated + {unchanged} unchanged")
        if dry != case.dry_run:
            problems.append("dry run reported wrongly")
        table = KIND_TABLE[case.group]
        if case.dry_run or inserted + updated == 0:
            # A real import always records itself in the audit log (one "import" entry).
            ignored = () if case.dry_run else ("audit_log",)
            changed = [t for t in SNAPSHOT_TABLES if after[t] != before[t] and t not in ignored]
            if changed:
                problems.append(("dry run" if case.dry_run else "nothing new or updated") + " yet the ledger changed: " + ", ".join(changed))
            if not case.dry_run and after["audit_log"][0] != before["audit_log"][0] + 1:
                problems.append(f"audit log {before['audit_log'][0]}→{after['audit_log'][0]} entries, one import entry expected")
        else:
            delta = after[table][0] - before[table][0]
            if delta != inserted:
                problems.append(f"{inserted} new {table} reported, {delta} rows added")
            if after[table] == before[table]:
                problems.append(f"{inserted} new, {updated} updated reported, {table} unchanged")
            if after["jobs"][0] <= before["jobs"][0]:
                problems.append("a changing import enqueued no risk recalculation")
        expected = independent_row_count(case.data, case.group)
        if expected is not None and expected != rows:
            problems.append(f"{rows} rows imported, the file has {expected} (Python's csv module)")
        return problems

    # -- promises --
    def promise_case(self, case, psql, state, w):
        tenant = state["promises"]
        if tenant is None:
            slug = self.new_slug(f"pro-w{w}")
            tenant_id = self.create_tenant(slug, psql)
            tenant = state["promises"] = {"slug": slug, "id": tenant_id, "snapshot": self.snapshot(psql, tenant_id)}
        args = ["promises", "add", "--tenant", tenant["slug"], *case.args] + (["--json"] if case.json else [])
        result = self.enc(*args)
        self.show(case, result)
        after = self.snapshot(psql, tenant["id"])
        before = tenant["snapshot"]
        self.findings.count("runs")
        self.findings.count("promises cases")
        if result.hang:
            self.findings.add("hang", case, result, hang_detail(result))
        if result.hung or result.crashed:
            if result.crashed:
                self.findings.add("crash", case, result, result.crash_reason())
            if after != before:
                self.findings.add("partial import", case, result, "killed or crashed, yet the ledger changed")
        elif result.rc == 0:
            self.findings.count("accepted")
            self.findings.count("promises accepted")
            year = re.match(r"--date=(?:(\d{4})-\d\d-\d\d|\d\d?/\d\d?/(\d{4}))$", case.args[2] if isinstance(case.args[2], str) else "")
            if year and not 1900 <= int(year.group(1) or year.group(2)) <= 2999:
                self.findings.count("promises accepted with a year outside 1900-2999 (imports refuse those years)")
            if after["promises"][0] != before["promises"][0] + 1:
                self.findings.add("accepted promise", case, result,
                                  f"promises {before['promises'][0]}→{after['promises'][0]}, one expected")
        else:
            self.findings.count("rejected")
            if after != before:
                changed = [t for t in SNAPSHOT_TABLES if after[t] != before[t]]
                self.findings.add("partial import", case, result, "promise refused, yet the ledger changed: " + ", ".join(changed))
            clarity = one_line_problems(result)
            text = result.err.decode("utf-8", "replace")
            if clarity:
                self.findings.add("unclear message", case, result, "; ".join(clarity))
            wrong = misleading(text)
            if wrong:
                self.findings.add("misleading message", case, result, "; ".join(wrong))
            self.findings.categorise("promises", category(text))
            if re.search(r'invalid --date "(\d{4}-\d\d-\d\d|\d\d/\d\d/\d{4})": expected YYYY-MM-DD', text):
                self.findings.count("promise dates in the expected format refused as 'expected YYYY-MM-DD or DD/MM/YYYY'")
        tenant["snapshot"] = after

    # -- enqueue --
    def enqueue_case(self, case, psql, state, case_dir, w):
        tenant = state["jobs"]
        if tenant is None:
            slug = f"jobs-w{w}"
            tenant_id = self.create_tenant(slug, psql, ledger=False)
            tenant = state["jobs"] = {"slug": slug, "id": tenant_id}
        count_sql = f"SELECT count(*) FROM encours.jobs WHERE tenant_id = {tenant['id']}"
        before = int(psql.value(count_sql))
        slug = case.tenant_override if case.tenant_override is not None else tenant["slug"]
        args = ["enqueue", case.kind, "--tenant", slug, *case.args]
        path = os.path.join(case_dir, "payload.json")
        stdin = None
        if case.route == "argument":
            args.append(b"--payload=" + case.payload_text)
        elif case.route in ("file", "both"):
            with open(path, "wb") as f:
                f.write(case.payload_text)
            args.append(f"--payload-file={path}")
            if case.route == "both":
                args.append("--payload={}")
        elif case.route == "stdin":
            args.append("--payload-file=-")
            stdin = case.payload_text
        elif case.route == "missing-file":
            args.append(f"--payload-file={path}.missing")
        else:
            args.append(f"--payload-file={case_dir}")
        if case.json:
            args.append("--json")
        result = self.enc(*args, stdin=stdin)
        self.show(case, result)
        after = int(psql.value(count_sql))
        self.findings.count("runs")
        self.findings.count("payloads cases")
        saved = None

        def keep():
            nonlocal saved
            if saved is None:
                saved = self.findings.save_input(case, case.payload_text, "json")
            return saved

        if result.hang:
            self.findings.add("hang", case, result, hang_detail(result), keep())
        if result.hung or result.crashed:
            if result.crashed:
                self.findings.add("crash", case, result, result.crash_reason(), keep())
            if after != before:
                self.findings.add("partial import", case, result, f"killed or crashed, yet jobs {before}→{after}", keep())
        elif result.rc == 0:
            self.findings.count("accepted")
            self.findings.count("payloads accepted")
            problems = self.check_accepted_enqueue(case, result, before, after, psql, tenant)
            if problems:
                self.findings.add("accepted enqueue", case, result, "; ".join(problems), keep())
        else:
            self.findings.count("rejected")
            if after != before:
                self.findings.add("partial import", case, result, f"enqueue refused, yet jobs {before}→{after}", keep())
            clarity = one_line_problems(result)
            text = result.err.decode("utf-8", "replace")
            wrong = misleading(text)
            if "payload is not a JSON object" in text and case.route in ("argument", "file", "stdin"):
                try:
                    decoded = case.payload_text.decode("utf-8")
                except UnicodeDecodeError:
                    decoded = None
                if decoded is not None and is_json_object(decoded):
                    wrong.append("says 'payload is not a JSON object' about a JSON object (RFC 8259)")
            if clarity:
                self.findings.add("unclear message", case, result, "; ".join(clarity), keep())
            if wrong:
                self.findings.add("misleading message", case, result, "; ".join(wrong), keep())
            self.findings.categorise("payloads", category(text))

    def check_accepted_enqueue(self, case, result, before, after, psql, tenant):
        out = result.out.decode("utf-8", "replace").strip()
        inserted = None
        if case.json:
            try:
                inserted = int(json.loads(out)["inserted"])
            except Exception:
                return [f"exit 0, stdout not the JSON outcome: {out[:200]!r}"]
        else:
            match = re.fullmatch(r"enqueued job \d+|enqueued (\d+) \S+ jobs for \S+|not enqueued: .*", out, re.S)
            if not match:
                return [f"exit 0, unexpected stdout: {out[:200]!r}"]
            inserted = 0 if out.startswith("not enqueued") else int(match.group(1)) if match.group(1) else 1
        problems = []
        if after - before != inserted:
            problems.append(f"{inserted} jobs reported, {after - before} rows added")
        if inserted:
            stored = psql.value(f"SELECT payload::text FROM encours.jobs WHERE tenant_id = {tenant['id']} ORDER BY id DESC LIMIT 1")
            given = case.payload_text if case.route != "both" else None
            if given is not None:
                same = same_json(given, stored)
                if same is False:
                    problems.append(f"payload stored as {stored[:200]!r}, given {given[:200]!r}")
                elif same is None:
                    self.findings.count("accepted payloads not compared (Python cannot parse them)")
        return problems

    def run_all(self):
        indices = list(range(self.o.cases))
        if self.o.only is not None:
            indices = [self.o.only]
            self.o.jobs = 1
        shares = [indices[w::self.o.jobs] for w in range(self.o.jobs)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.o.jobs) as pool:
            futures = [pool.submit(self.worker, w, share) for w, share in enumerate(shares)]
            for future in futures:
                future.result()


def shorten(text, limit=300):
    return text if len(text) <= limit else text[:limit] + f"…({len(text)} characters)"


def hang_detail(result):
    if result.hung:
        return f"no answer within {TIMEOUT:.0f} s beside other runs, nor within {ALONE_TIMEOUT:.0f} s alone"
    return f"answered only after {result.seconds:.1f} s when run alone (the limit is {TIMEOUT:.0f} s)"


def is_utf8(data):
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def parse_import_outcome(out, as_json):
    text = out.decode("utf-8", "replace").strip()
    if as_json:
        try:
            value = json.loads(text)
            return value["rows"], value["inserted"], value["updated"], value["unchanged"], value["dry_run"]
        except Exception:
            return None
    match = re.search(r": (would import|imported) (\d+) \S+: (\d+) new, (\d+) updated, (\d+) unchanged$", text)
    if not match:
        return None
    return int(match.group(2)), int(match.group(3)), int(match.group(4)), int(match.group(5)), match.group(1) == "would import"


def independent_row_count(data, kind):
    """Data rows by Python's csv module, when the file is plain enough to compare (else None)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text or "\ufeff" in text:
        return None
    first = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]
    known = {name for row in FUZZ_BASE.values() for name in row[0]}
    by = {d: sum(1 for name in first.split(d) if name.strip().lower() in known) for d in (",", ";")}
    delimiter = ";" if by[";"] > by[","] else ","
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error:
        return None
    return sum(1 for row in rows[1:] if any(field.strip(" \t\u00a0\u202f") for field in row))


def same_json(given, stored):
    """True/False when both parse (numbers as decimals), None when Python cannot parse the given text."""
    try:
        a = json.loads(given.decode("utf-8"), parse_float=Decimal, parse_int=Decimal)
    except Exception:
        return None
    try:
        b = json.loads(stored, parse_float=Decimal, parse_int=Decimal)
    except Exception:
        return False
    return a == b


# ---------------------------------------------------------------------------------------------
# The round trip

RT_CUSTOMERS = [
    # id, name, email, language, policy
    ("C'01", 'Dupont "Le Grand" & Fils', None, "fr", ""),
    ('C"02', "L'Atelier d'Émile", "o'brien+relance@rt.example", "fr", ""),
    ("C;03", "Café; Bar; Tabac", None, "en", ""),
    ("C04'); DROP TABLE encours.invoices; --", "Robert'); DROP TABLE encours.invoices; --", "bobby.tables@rt.example", "en", ""),
    ("🧾05", "🧾💶 Reçus & Cie", None, "fr", "hooks"),
    ("شركة06", "شركة الأمل للتجارة", None, "en", ""),
    ("חברה07", 'חברה בע"מ', "hevra@rt.example", "fr", ""),
    ("e\u0301-08", "Zoë Ångström e\u0301\u0301 n\u0303 a\u030a", None, "fr", "hooks"),
    ("C,09", 'Comma, Inc., "quoted"', "comma-inc@rt.example", "en", ""),
    ("C 10", "Line one\nLine two", None, "en", ""),
    ("<C11>", "<script>alert('x')</script> & &amp; <b>", None, "fr", ""),
    ("C{{12}}", "{{customer_name}} {{#items}}x{{/items}} {{{raw}}}", "mustache@rt.example", "en", ""),
    ("C13", "\u202eevil\u202c RLO and \u2067isolate\u2069", None, "fr", "hooks"),
    ("C14", "混合 中文 😀 Ελληνικά Кириллица", None, "en", ""),
    ("C15", "Zero\u200bWidth\u200dJoiner 👨\u200d👩\u200d👧 🏳️\u200d🌈", None, "fr", ""),
    ("C16", "Backslash \\ and %s %n $HOME `id` $(id)", "backslash@rt.example", "fr", "hooks"),
    ("C17\\N", "Tab\there; semi; 'single' \"double\"", None, "en", ""),
    ("C18", "É" * 300, None, "fr", ""),
]
RT_TENANT_NAME = "Round \"Trip\" SARL; l'équipe 🧾 & <Cie> שלום شركة e\u0301"
RT_NOTE = "Note with \"quotes\", 'apostrophes'; semicolons,\nline breaks,\r\nemoji 🧾 and עברית / العربية; '); DROP TABLE encours.disputes; --"


def address_header(message, name):
    """(display name, address) of an address header, decoded per RFC 2047 and 5322.

    Not email.policy.default's parser: it keeps the space between two adjacent encoded-words
    of a display name, which RFC 2047 (6.2) says to ignore ("=?UTF-8?B?YQ==?= =?UTF-8?B?Yg==?="
    is "ab", not "a b")."""
    value = re.sub(r"\r?\n[ \t]", " ", str(message.get(name, "")))
    match = re.fullmatch(r"\s*(.*?)\s*<([^<>]*)>\s*", value, re.S)
    if not match:
        return None, value.strip()
    phrase, address = match.groups()
    if len(phrase) >= 2 and phrase.startswith('"') and phrase.endswith('"'):
        return re.sub(r"\\(.)", r"\1", phrase[1:-1]), address
    return str(email.header.make_header(email.header.decode_header(phrase))), address


class RoundTrip:
    def __init__(self, fuzzer, options):
        self.f = fuzzer
        self.o = options
        self.problems = []
        self.checked = {}  # output -> number of values compared
        self.slug = "rt"

    def fail(self, where, detail):
        self.problems.append(f"{where}: {detail}")
        if len(self.problems) <= 40:
            log(f"FAILED (round trip) {where}: {detail}")

    def compared(self, output, n=1):
        self.checked[output] = self.checked.get(output, 0) + n

    def expect(self, where, got, want):
        self.compared(where.split(" ")[0], len(want) if isinstance(want, list) else 1)
        if got != want:
            self.fail(where, f"got {got!r}, expected {want!r}")

    def enc(self, *args, timeout=TIMEOUT):
        result = self.f.enc(*args, timeout=timeout)
        if result.hung or result.crashed or result.rc != 0:
            self.fail("encours " + " ".join(str(a) for a in args[:4]), f"exit {result.rc}{' hung' if result.hung else ''}: {result.err[:400]!r}")
        return result

    def json_of(self, *args):
        result = self.enc(*args, "--json")
        try:
            return json.loads(result.out.decode("utf-8"))
        except Exception as error:
            self.fail("encours " + " ".join(args[:3]), f"not JSON ({error}): {result.out[:200]!r}")
            return None

    def run(self, psql):
        o = self.o
        work = os.path.join(o.work, "roundtrip")
        os.makedirs(work, exist_ok=True)
        outbox = o.outbox
        self.enc("tenant", "create", self.slug, "--name", RT_TENANT_NAME)
        self.enc("tenant", "set", self.slug, "smtp_from", "relances@rt.example")
        self.enc("tenant", "set", self.slug, "webhook_url", f"http://127.0.0.1:{o.hook_port}/hooks")
        self.enc("tenant", "set", self.slug, "webhook_secret", o.hook_secret)
        policy = os.path.join(work, "hooks.json")
        with open(policy, "w") as f:
            json.dump({"name": "hooks", "min_amount": "0", "levels": [
                {"level": 1, "days_after_due": 1, "channel": "webhook", "template": "friendly"}]}, f)
        self.enc("policy", "set", "--tenant", self.slug, policy)
        customers = [["customer_id", "name", "email", "language", "policy"]] + [
            [cid, name, email or "", language, policy_name] for cid, name, email, language, policy_name in RT_CUSTOMERS]
        invoices = [["invoice_id", "customer_id", "issue_date", "due_date", "amount"]]
        disputes = [["dispute_id", "invoice_id", "reason", "opened_on", "note"]]
        self.invoice_of = {}
        for n, (cid, *_rest) in enumerate(RT_CUSTOMERS):
            iid = f"F{n:02d}{cid}"[:64]
            self.invoice_of[cid] = iid
            invoices.append([iid, cid, "2026-09-01", "2026-10-01", f"{100 + n}.50"])
            invoices.append([f"X{n:02d}{cid}"[:64], cid, "2026-09-01", "2026-10-01", "10.00"])
            disputes.append([f"DSP;{n:02d}'\"🧾", f"X{n:02d}{cid}"[:64], "other", "2026-11-20", RT_NOTE])
        for name, rows in (("customers", customers), ("invoices", invoices), ("disputes", disputes)):
            path = os.path.join(work, f"{name}.csv")
            with open(path, "wb") as f:
                f.write(serialize(rows, ","))
            self.enc("import", name, "--tenant", self.slug, path)
        expected = {cid: (name, email) for cid, name, email, _l, _p in RT_CUSTOMERS}
        tenant_id = psql.value(f"SELECT id FROM encours.tenants WHERE slug = '{self.slug}'")

        shown = self.json_of("tenant", "show", self.slug) or {}
        self.expect("tenant-show name", shown.get("name"), RT_TENANT_NAME)
        listed_tenants = self.json_of("tenant", "list") or []
        self.expect("tenant-list name", next((t.get("name") for t in listed_tenants if t.get("slug") == self.slug), None), RT_TENANT_NAME)

        # 1. the database itself
        stored = {}
        for line in psql.query(
                f"SELECT encode(convert_to(customer_id, 'UTF8'), 'hex') || ' ' || encode(convert_to(name, 'UTF8'), 'hex') || ' ' || "
                f"coalesce(encode(convert_to(email, 'UTF8'), 'hex'), '-') FROM encours.customers WHERE tenant_id = {tenant_id}"):
            cid, name, mail = line.split(" ")
            stored[bytes.fromhex(cid).decode()] = (bytes.fromhex(name).decode(), None if mail == "-" else bytes.fromhex(mail).decode())
        self.expect("database customer ids", sorted(stored), sorted(expected))
        for cid, (name, mail) in expected.items():
            if cid in stored:
                self.expect(f"database name of {cid!r}", stored[cid][0], name)
                self.expect(f"database email of {cid!r}", stored[cid][1], mail)
        notes = psql.query(f"SELECT encode(convert_to(note, 'UTF8'), 'hex') FROM encours.disputes WHERE tenant_id = {tenant_id}")
        for note in notes:
            self.expect("database dispute note", bytes.fromhex(note).decode(), RT_NOTE)

        # 2. JSON outputs before the run
        dry = self.json_of("dunning", "run", "--tenant", self.slug, "--as-of", "2026-12-02", "--dry-run") or []
        self.expect("dunning-dry-run customer ids", sorted(r["customer_id"] for r in dry), sorted(expected))
        aging = self.json_of("report", "aging", "--tenant", self.slug, "--as-of", "2026-12-02") or {}
        self.expect("aging customer ids", sorted(c["customer_id"] for c in aging.get("customers", [])), sorted(expected))
        listed = self.json_of("disputes", "list", "--tenant", self.slug) or []
        self.expect("disputes-list count", len(listed), len(RT_CUSTOMERS))
        for item in listed:
            dispute_id = item.get("dispute_id") or item.get("id")
            shown = self.json_of("disputes", "show", "--tenant", self.slug, str(dispute_id)) or {}
            cid = shown.get("customer_id")
            if cid not in expected:
                self.fail("disputes-show customer_id", f"{cid!r} is not one of the customers")
                continue
            self.expect(f"disputes-show customer_name of {cid!r}", shown.get("customer_name"), expected[cid][0])
            self.expect(f"disputes-show note of {cid!r}", (shown.get("dispute") or {}).get("note"), RT_NOTE)
            self.expect(f"disputes-show invoice of {cid!r}", (shown.get("dispute") or {}).get("invoice_id"), f"X{RT_CUSTOMERS.index(next(c for c in RT_CUSTOMERS if c[0] == cid)):02d}{cid}"[:64])
            self.expect(f"disputes-show dispute_id of {cid!r}", (shown.get("dispute") or {}).get("dispute_id", dispute_id), dispute_id)

        # 3. the run, delivered by a real worker
        env = dict(os.environ, ENCOURS_SMTP_URL=f"smtp://127.0.0.1:{o.smtp_port}", ENCOURS_OUTBOX_DIR=outbox)
        worker_log = open(os.path.join(o.work, "worker-roundtrip.log"), "wb")
        worker = subprocess.Popen(
            [os.path.join(o.bin, "encours-worker"), "--database-url", o.url, "--tenants", self.slug, "--retry-base-seconds", "1",
             "--lease-seconds", "10"], stdout=worker_log, stderr=subprocess.STDOUT, env=env)
        try:
            done = self.enc("dunning", "run", "--tenant", self.slug, "--as-of", "2026-12-02", "--wait", timeout=120)
            log(f"round trip: {done.out.decode('utf-8', 'replace').strip()}")
            deadline = time.time() + 90
            while time.time() < deadline:
                pending = psql.value(
                    f"SELECT (SELECT count(*) FROM encours.reminders WHERE tenant_id = {tenant_id} AND status = 'pending') + "
                    f"(SELECT count(*) FROM encours.jobs WHERE tenant_id = {tenant_id} AND state IN ('available', 'running', 'retryable', 'scheduled'))")
                if pending == "0":
                    break
                time.sleep(0.5)
            else:
                self.fail("delivery", "reminders still pending or jobs unfinished after 90 s")
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                status = worker.wait(timeout=40)
            except subprocess.TimeoutExpired:
                worker.kill()
                status = worker.wait()
            worker_log.close()
        if status != 0:
            self.fail("round-trip worker", f"exit status {status}")
        with open(os.path.join(o.work, "worker-roundtrip.log"), "rb") as f:
            logged = f.read()
        for marker in CRASH_MARKERS:
            if marker in logged:
                self.fail("round-trip worker log", f"contains {marker.decode()!r}")

        # 4. the reminders and what was delivered
        reminders = self.json_of("reminders", "list", "--tenant", self.slug) or []
        self.expect("reminders customer ids", sorted(r["customer_id"] for r in reminders), sorted(expected))
        statuses = {}
        for reminder in reminders:
            statuses[reminder["status"]] = statuses.get(reminder["status"], 0) + 1
            cid = reminder["customer_id"]
            if cid not in expected:
                continue
            name, mail = expected[cid]
            if reminder["channel"] == "email":
                self.expect(f"reminders recipient of {cid!r}", reminder["recipient"], mail)
            self.expect(f"reminders invoice of {cid!r}", [i["invoice_id"] for i in reminder["items"]], [self.invoice_of[cid]])
        self.statuses = statuses
        if statuses.get("sent", 0) != len(RT_CUSTOMERS):
            failed = [(r["customer_id"], r["channel"], r.get("failure_reason")) for r in reminders if r["status"] != "sent"]
            self.fail("reminders", f"{statuses}: not all sent: {failed[:5]}")
        risk = self.json_of("risk", "show", "--tenant", self.slug) or []
        risk_rows = risk if isinstance(risk, list) else risk.get("customers", [])
        self.expect("risk-show customer ids", sorted(r["customer_id"] for r in risk_rows), sorted(expected))
        by_id = {r.get("id"): r for r in reminders}
        # letters
        letters = 0
        letter_dir = os.path.join(outbox, self.slug)
        for reminder in reminders:
            if reminder["channel"] != "letter":
                continue
            path = os.path.join(letter_dir, f"reminder-{reminder['id']}.html")
            if not os.path.exists(path):
                self.fail("letter", f"{path} is missing")
                continue
            with open(path, "rb") as f:
                raw = f.read().decode("utf-8")
            cid = reminder["customer_id"]
            name = expected[cid][0]
            letters += 1
            self.compared("letter", 3)
            if name not in html.unescape(raw):
                self.fail(f"letter of {cid!r}", f"the name {name!r} is not in the letter (after html.unescape)")
            if cid not in html.unescape(raw):
                self.fail(f"letter of {cid!r}", "the customer id is not in the letter")
            if RT_TENANT_NAME not in html.unescape(raw):
                self.fail(f"letter of {cid!r}", "the tenant's name is not in the letter (after html.unescape)")
            if "<script>" in name and "<script>" in raw:
                self.fail(f"letter of {cid!r}", "the name's <script> is in the HTML unescaped")
        self.letters = letters
        # emails
        messages = 0
        for entry in sorted(os.listdir(o.sink_dir)):
            if not entry.endswith(".eml"):
                continue
            with open(os.path.join(o.sink_dir, entry), "rb") as f:
                raw_message = f.read()
            message = email.message_from_bytes(raw_message, policy=email.policy.default)
            headers = email.message_from_bytes(raw_message)  # compat32: the headers as sent
            display, address = address_header(headers, "To")
            cid = next((c for c, (_n, m) in expected.items() if m == address), None)
            if cid is None:
                self.fail(f"email {entry}", f"to an unknown address {address!r}")
                continue
            name = expected[cid][0]
            messages += 1
            self.compared("email", 4)
            sender, _from = address_header(headers, "From")
            if sender != RT_TENANT_NAME:
                self.fail(f"email From of {cid!r}", f"display name {sender!r}, expected the tenant's name {RT_TENANT_NAME!r}")
            if display != name and not (("\n" in name or "\t" in name) and display == re.sub(r"\s+", " ", name)):
                self.fail(f"email To of {cid!r}", f"display name {display!r}, expected {name!r}")
            text = message.get_body(preferencelist=("plain",))
            body = message.get_body(preferencelist=("html",))
            if text is None or name not in text.get_content().replace("\r\n", "\n"):
                self.fail(f"email text of {cid!r}", "the name is not in the text part")
            if body is None or name not in html.unescape(body.get_content().replace("\r\n", "\n")):
                self.fail(f"email HTML of {cid!r}", "the name is not in the HTML part (after html.unescape)")
        self.messages = messages
        # webhooks
        hooks = 0
        for entry in sorted(os.listdir(o.hook_dir)):
            if not entry.endswith(".body"):
                continue
            with open(os.path.join(o.hook_dir, entry), "rb") as f:
                body = json.loads(f.read().decode("utf-8"))
            if body.get("event") != "reminder":
                continue
            cid = body["customer"]["id"]
            hooks += 1
            self.compared("webhook", 1)
            if cid not in expected:
                self.fail(f"webhook {entry}", f"unknown customer id {cid!r}")
                continue
            self.expect(f"webhook customer name of {cid!r}", body["customer"]["name"], expected[cid][0])
            self.expect(f"webhook reminder customer_id of {cid!r}", body["reminder"]["customer_id"], cid)
            if expected[cid][0] not in body["document"]["text"]:
                self.fail(f"webhook text of {cid!r}", "the name is not in the document text")
        self.hooks = hooks
        channels = {}
        for reminder in reminders:
            channels[reminder["channel"]] = channels.get(reminder["channel"], 0) + 1
        self.channels = channels
        for channel, delivered in (("letter", letters), ("email", messages), ("webhook", hooks)):
            if channels.get(channel, 0) != delivered:
                self.fail(channel, f"{channels.get(channel, 0)} reminders, {delivered} delivered and read back")
        if not channels.get("letter") or not channels.get("email") or not channels.get("webhook"):
            self.fail("channels", f"expected letters, emails and webhooks: {channels}")
        # 5. the SQL fragments did nothing
        tables = psql.value("SELECT count(*) FROM pg_tables WHERE schemaname = 'encours' AND tablename IN ('invoices', 'customers', 'disputes', 'jobs', 'tenants')")
        if tables != "5":
            self.fail("SQL fragments", f"only {tables} of encours.invoices/customers/disputes/jobs/tenants still exist")
        self.invoices_rt = psql.value(f"SELECT count(*) FROM encours.invoices WHERE tenant_id = {tenant_id}")
        self.expect("database invoices", self.invoices_rt, str(2 * len(RT_CUSTOMERS)))
        self.reminders = len(reminders)


# ---------------------------------------------------------------------------------------------
# The payload jobs, run by a worker

def drain(fuzzer, options, psql, timeout):
    problems = []
    slugs = [row for row in psql.query("SELECT slug FROM encours.tenants WHERE slug LIKE 'jobs-w%' ORDER BY slug")]
    if not slugs:
        return problems, "no payload jobs", {}, []
    ids = ",".join(psql.query("SELECT id FROM encours.tenants WHERE slug LIKE 'jobs-w%'"))
    # A noop with a long sleep_ms waits as documented: cancel those first (not a hang).
    long_sleepers = psql.query(
        f"SELECT id FROM encours.jobs WHERE tenant_id IN ({ids}) AND kind = 'noop' AND state IN ('available', 'scheduled') "
        "AND jsonb_typeof(payload->'sleep_ms') IN ('number', 'string') AND (payload->>'sleep_ms') ~ '^[0-9]{4,}$'")
    for job in long_sleepers:
        fuzzer.enc("jobs", "cancel", job)

    def delivered():
        sink = len([e for e in os.listdir(options.sink_dir) if e.endswith(".eml")])
        hooks = len([e for e in os.listdir(options.hook_dir) if e.endswith(".body")])
        letters = sum(len(files) for _root, _dirs, files in os.walk(options.outbox))
        attempts = psql.value("SELECT coalesce(sum(delivery_attempts), 0) || '/' || count(*) FROM encours.reminders")
        return sink, hooks, letters, attempts

    before = delivered()
    env = dict(os.environ, ENCOURS_SMTP_URL=f"smtp://127.0.0.1:{options.smtp_port}", ENCOURS_OUTBOX_DIR=options.outbox)
    command = [os.path.join(options.bin, "encours-worker"), "--database-url", options.url, "--drain", "--tenants", ",".join(slugs),
               "--retry-base-seconds", "1", "--lease-seconds", "3", "--concurrency", "8"]
    started = time.monotonic()
    result = run(command, env=env, timeout=timeout)
    seconds = time.monotonic() - started
    with open(os.path.join(options.work, "worker-drain.log"), "wb") as f:
        f.write(result.out + result.err)
    if result.hung:
        problems.append(f"the draining worker did not finish within {timeout:.0f} s")
    elif result.crashed:
        problems.append(f"the draining worker crashed: {result.crash_reason()}")
    elif result.rc != 0:
        problems.append(f"the draining worker exited {result.rc}")
    after = delivered()
    if after != before:
        problems.append(f"payload jobs delivered other tenants' reminders: sink/webhooks/letters/attempts {before} → {after}")
    states = dict(line.split("|") for line in psql.query(
        f"SELECT state || '|' || count(*) FROM encours.jobs WHERE tenant_id IN ({ids}) GROUP BY state ORDER BY state"))
    if int(states.get("running", 0)):
        problems.append(f"{states['running']} payload jobs left running")
    # The worker must run what enqueue accepted: a job refused on every attempt for a limit that
    # enqueue itself checks (size, JSON object, \u0000) can never run.
    refused = psql.query(
        f"SELECT j.id || ' ' || j.kind || ' ' || length(j.payload::text) || ' ' || replace(e->>'error', E'\\n', ' ') "
        f"FROM encours.jobs j, LATERAL (SELECT e FROM jsonb_array_elements(j.errors) e LIMIT 1) x(e) "
        f"WHERE j.tenant_id IN ({ids}) AND (e->>'error' ~ 'payload is [0-9]+ bytes; the limit is' "
        "OR e->>'error' LIKE '%payload is not a JSON object%' OR e->>'error' LIKE '%contains \\u0000%') ORDER BY j.id")
    errors = psql.query(
        f"SELECT replace(e->>'error', E'\\n', '\\n') FROM encours.jobs j, jsonb_array_elements(j.errors) e WHERE j.tenant_id IN ({ids})")
    categories = {}
    for error in errors:
        if any(marker.decode() in error for marker in CRASH_MARKERS) or "database error:" in error:
            problems.append(f"a job error is a crash or a raw database error: {error[:200]!r}")
        categories[category(re.sub(r"^job \d+: ", "", error))] = categories.get(category(re.sub(r"^job \d+: ", "", error)), 0) + 1
    for line in refused[:5]:
        log(f"FAILED (payload jobs) accepted by enqueue, refused by the worker: job {line[:240]}")
    summary = (f"{sum(int(v) for v in states.values())} payload jobs drained in {seconds:.0f}s ("
               + ", ".join(f"{v} {k}" for k, v in states.items()) + f"; {len(long_sleepers)} long noop sleeps cancelled first; {len(refused)} refused by the worker for enqueue's own limits)")
    return problems, summary, categories, refused


# ---------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--psql", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--only", type=int)
    parser.add_argument("--smtp-port", type=int)
    parser.add_argument("--sink-dir")
    parser.add_argument("--hook-port", type=int)
    parser.add_argument("--hook-dir")
    parser.add_argument("--hook-secret")
    parser.add_argument("--outbox")
    parser.add_argument("--drain-timeout", type=float, default=240)
    parser.add_argument("--started", type=float, default=time.time())
    parser.add_argument("--result", required=True)
    options = parser.parse_args()
    global STARTED
    STARTED = options.started
    sys.setrecursionlimit(20000)

    fuzzer = Fuzzer(options)
    log(f"seed {options.seed}: {options.cases} cases, {options.jobs} at a time ({len(fuzzer.catalogue)} named ones first)")
    fuzz_started = time.monotonic()
    fuzzer.run_all()
    fuzz_seconds = time.monotonic() - fuzz_started
    f = fuzzer.findings
    counts = f.counts
    log(f"fuzz cases done in {fuzz_seconds:.0f}s: {counts.get('runs', 0)} runs, {counts.get('accepted', 0)} accepted, "
        f"{counts.get('rejected', 0)} rejected; {fuzzer.tenants_created} tenants created")

    psql = Psql(options.psql, options.url)
    lines = []
    round_trip = None
    if options.only is None:
        round_trip = RoundTrip(fuzzer, options)
        try:
            round_trip.run(psql)
        except Exception as error:
            round_trip.fail("drill", f"{type(error).__name__}: {error}")
        log("round trip: values compared per output: " + ", ".join(f"{k} {v}" for k, v in sorted(round_trip.checked.items()))
            + f"; {len(round_trip.problems)} differences")
        drain_problems, drain_summary, drain_categories, worker_refused = drain(fuzzer, options, psql, options.drain_timeout)
        log(f"drain: {drain_summary}")
        for problem in drain_problems:
            log(f"FAILED (payload jobs) {problem}")
    else:
        drain_problems, drain_summary, drain_categories, worker_refused = [], "skipped (--only)", {}, []

    # rejection categories
    with open(os.path.join(options.work, "rejections.txt"), "w") as out:
        for group in ("imports", "promises", "payloads"):
            table = f.categories.get(group, {})
            total = sum(table.values())
            log(f"{group} rejections ({total}), by first words:")
            out.write(f"## {group} ({total})\n")
            for name, n in sorted(table.items(), key=lambda item: -item[1]):
                out.write(f"{n:6d}  {name}\n")
            for name, n in sorted(table.items(), key=lambda item: -item[1])[:12]:
                log(f"  {n:5d}  {name}")
        out.write(f"## payload job errors ({sum(drain_categories.values())})\n")
        for name, n in sorted(drain_categories.items(), key=lambda item: -item[1]):
            out.write(f"{n:6d}  {name}\n")
    for name, n in sorted(drain_categories.items(), key=lambda item: -item[1])[:8]:
        log(f"  job error {n:5d}  {name}")
    for key, value in sorted(counts.items()):
        if key not in ("runs", "accepted", "rejected") and not key.endswith((" cases", " accepted")):
            log(f"reported: {key}: {value}")

    for key, (count, seconds) in sorted(fuzzer.timing.items(), key=lambda item: -item[1][1])[:10]:
        log(f"reported: time in encours {key}: {count} runs, {seconds:.1f} s, {seconds / count * 1000:.0f} ms each")
    slow = sorted(fuzzer.slow, key=lambda item: -item[0])
    if slow:
        log(f"reported: {len(slow)} runs took over {SLOW:.0f} s (or timed out beside others first); the longest:")
        for seconds, first_timed_out, command in slow[:8]:
            shown = " ".join(a if isinstance(a, str) else a.decode("utf-8", "backslashreplace") for a in command[1:4])
            log(f"  {seconds:6.1f}s{' (timed out beside others, then alone)' if first_timed_out else ''}  {shown[:160]}")
        lines.append(f"NOTE\tslow: {len(slow)} runs over {SLOW:.0f} s, the longest {slow[0][0]:.1f} s")

    items = f.items
    n = lambda check: len(items.get(check, []))

    def check(name, ok):
        lines.append(f"CHECK\t{1 if ok else 0}\t{name.replace(';', ',')}")

    runs = counts.get("runs", 0)
    check(f"no crash in {runs} cases (signal, exit ≥128 or crash text): {n('crash')} crashed", n("crash") == 0)
    check(f"no hang (every case answered within {TIMEOUT:.0f} s, alone if not beside others): {n('hang')} hung", n("hang") == 0)
    check(f"no partial import: every refused import, promise or enqueue left the tenant unchanged: {n('partial import')} did not",
          n("partial import") == 0)
    check(f"accepted imports and promises wrote what they reported: {n('accepted import') + n('accepted promise')} did not",
          n("accepted import") + n("accepted promise") == 0)
    check(f"accepted enqueues inserted the jobs reported, payloads stored unchanged: {n('accepted enqueue')} did not",
          n("accepted enqueue") == 0)
    check(f"every rejection a clear message: {n('unclear message')} unclear", n("unclear message") == 0)
    check(f"every rejection names the actual problem: {n('misleading message')} misleading", n("misleading message") == 0)
    check(f"the fuzzer itself ran every case: {n('drill error')} drill errors", n("drill error") == 0)
    if options.only is None:
        check("the payload jobs ran on a draining worker: no crash, none reached another tenant's reminders"
              + (f": {'; '.join(drain_problems)[:300]}" if drain_problems else ""), not drain_problems)
        check(f"the worker runs what enqueue accepted (no accepted payload refused for enqueue's own limits): "
              f"{len(worker_refused)} refused" + (f", e.g. job {worker_refused[0][:150]}" if worker_refused else ""),
              not worker_refused)
        rt = round_trip
        compared = sum(rt.checked.values())
        check(f"round trip: {len(RT_CUSTOMERS)} hostile customer names and ids and a hostile tenant name byte-for-byte unchanged ({compared} comparisons): "
              f"{len(rt.problems)} differences" + (f" ({'; '.join(rt.problems[:3])[:300]})" if rt.problems else ""),
              not rt.problems)

    groups = {g: counts.get(f"{g} cases", 0) for g in KINDS + ["promises", "payloads"]}
    accepted = {g: counts.get(f"{g} accepted", 0) for g in groups}
    cases = sum(groups.values())
    imports = sum(groups[g] for g in KINDS)
    figures = (
        f"{cases} cases, seed {options.seed} (imports {imports}: "
        + ", ".join(f"{g} {groups[g]}" for g in KINDS)
        + f"; promises {groups['promises']}; payloads {groups['payloads']}): {counts.get('accepted', 0)} accepted "
        f"({sum(accepted[g] for g in KINDS)} imports, {accepted['promises']} promises, {accepted['payloads']} enqueues), "
        f"{counts.get('rejected', 0)} refused ({sum(len(v) for v in f.categories.values())} kinds of message); "
        f"{n('crash')} crashes, {n('hang')} hangs, {n('partial import')} partial imports, "
        f"{n('accepted import') + n('accepted promise') + n('accepted enqueue')} accepted but wrong, "
        f"{n('unclear message')} unclear and {n('misleading message')} misleading messages; "
        f"{fuzzer.tenants_created} tenants, {fuzzer.runs} CLI runs in {fuzz_seconds:.0f}s"
    )
    if round_trip is not None:
        rt = round_trip
        figures += (f"; round trip: {len(RT_CUSTOMERS)} customers, {getattr(rt, 'reminders', 0)} reminders "
                    f"({', '.join(f'{v} {k}' for k, v in sorted(getattr(rt, 'channels', {}).items()))}), "
                    f"{sum(rt.checked.values())} values compared in {len(rt.checked)} outputs, {len(rt.problems)} differences; "
                    f"{drain_summary}")
    lines.append(f"FIGURES\t{figures}")
    for check_name, records in sorted(items.items()):
        kinds = {}
        for record in records:
            key = record["detail"][:80]
            kinds[key] = kinds.get(key, 0) + 1
        for key, count in sorted(kinds.items(), key=lambda item: -item[1])[:6]:
            lines.append(f"NOTE\t{check_name}: {count} × {key}")
    with open(options.result, "w") as out:
        out.write("\n".join(lines) + "\n")
    psql.close()


if __name__ == "__main__":
    main()
