"""Every cairn command line shown in README.md and docs/*.md parses: a documented flag always
exists. Each line is run with CAIRN_PARSE_ONLY=1, which makes cairn (and cairn-serve, for
`cairn serve`) check the line and exit without doing anything."""
import os
import pathlib
import re
import shlex
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CAIRN = os.environ.get("CAIRN_BIN", str(ROOT / "build" / "cairn"))


def documented_commands():
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        in_block, shell, pending = False, False, ""
        for n, line in enumerate(doc.read_text().splitlines(), 1):
            if line.lstrip().startswith("```"):
                in_block = not in_block
                shell = in_block and line.strip()[3:] in ("", "sh", "bash", "console", "shell")
                continue
            if not shell:
                continue
            if not pending and not re.match(r"^\s*([A-Z_]+=\S+\s+)*(build/)?cairn\s", line):
                continue  # not a cairn command line
            line = pending + line
            if line.rstrip().endswith("\\"):
                pending = line.rstrip()[:-1] + " "
                continue
            pending = ""
            words = shlex.split(line, comments=True)
            # Commands separated by ; | && on one line.
            command = []
            for w in words + [";"]:
                if w in (";", "|", "&&"):
                    while command and re.match(r"^[A-Z_]+=", command[0]):
                        command.pop(0)  # VAR=value before the program
                    if command and command[0] in ("cairn", "build/cairn"):
                        found.append((f"{doc.name}:{n}", command[1:]))
                    command = []
                else:
                    command.append(w)
    return found


COMMANDS = documented_commands()


def test_the_docs_show_commands():
    assert len(COMMANDS) >= 30, COMMANDS


@pytest.mark.parametrize("where,args", COMMANDS, ids=[w for w, _ in COMMANDS])
def test_documented_command_parses(where, args):
    env = dict(os.environ, CAIRN_PARSE_ONLY="1")
    r = subprocess.run([CAIRN, *args], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"{where}: cairn {' '.join(args)}\n{r.stdout}{r.stderr}"


def test_parse_only_still_refuses_unknown_flags():
    env = dict(os.environ, CAIRN_PARSE_ONLY="1")
    for args in (["models", "list", "--no-such-flag"], ["serve", "g:1", "--no-such-flag"]):
        r = subprocess.run([CAIRN, *args], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode != 0, args
