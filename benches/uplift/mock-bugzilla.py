#!/usr/bin/env python3
"""A Bugzilla REST mock for the uplift bot's run benchmark: serves the bugs listed in a JSON file
with the shapes of bugzilla.mozilla.org's answers (search, bug, attachments, comments, history,
users, user search: `devN` is `Devn [:devN]`).

Usage: mock-bugzilla.py PORT BUGS.json
BUGS.json: [{"id": 1500001, "channels": ["beta", "release"], "author": "dev3@example.com"}, ...]
"""

import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PORT = int(sys.argv[1])
with open(sys.argv[2], encoding="utf-8") as bugs_file:
    BUGS = {bug["id"]: bug for bug in json.load(bugs_file)}
TIME = "2026-11-20T10:00:00Z"
LATER = "2026-11-21T09:30:00Z"


def user(email):
    number = sum(email.encode()) % 100_000
    nick = email.split("@")[0]
    return {"id": number, "name": email, "real_name": f"{nick.title()} [:{nick}]", "email": email}


def bug_fields(bug):
    author = bug["author"]
    return {
        "id": bug["id"],
        "summary": f"Crash when grafting change {bug['id']}",
        "status": "RESOLVED",
        "resolution": "FIXED",
        "product": "Core",
        "component": "DOM: Core & HTML",
        "keywords": ["crash", "regression"],
        "flags": [],
        "blocks": [bug["id"] + 1],
        "depends_on": [],
        "creator": "reporter@example.com",
        "creator_detail": user("reporter@example.com"),
        "assigned_to": author,
        "assigned_to_detail": user(author),
        "cf_status_firefox147": "affected",
        "cf_tracking_firefox147": "+",
    }


def attachments(bug):
    flags = [
        {
            "id": bug["id"] * 10 + number,
            "name": f"approval-mozilla-{channel}",
            "type_id": 100 + number,
            "status": "?",
            "setter": bug["author"],
            "creation_date": TIME,
            "modification_date": TIME,
        }
        for number, channel in enumerate(bug["channels"])
    ]
    flags.append({"id": bug["id"] * 10 + 9, "name": "review", "type_id": 4, "status": "+", "setter": "reviewer@example.com",
                  "creation_date": TIME, "modification_date": TIME})
    return [{
        "id": bug["id"] * 100,
        "bug_id": bug["id"],
        "file_name": f"phabricator-D{bug['id']}-url.txt",
        "summary": f"Bug {bug['id']} - fix the crash",
        "description": f"Bug {bug['id']} - fix the crash",
        "content_type": "text/x-phabricator-request",
        "is_obsolete": 0,
        "is_patch": 0,
        "is_private": 0,
        "creator": bug["author"],
        "attacher": bug["author"],
        "creation_time": TIME,
        "last_change_time": TIME,
        "flags": flags,
    }]


def comments(bug):
    form = "\n".join([
        "[Beta/Release Uplift Approval Request]",
        "* User impact if declined: the browser crashes",
        "* Is this code covered by automated tests?: Yes",
        "* Has the fix been verified in Nightly?: Yes",
        "* Needs manual test from QE?: No",
        "* If yes, steps to reproduce: ",
        "* List of other uplifts needed: None",
        "* Risk to taking this patch: Low",
        "* Why is the change risky/not risky? (and alternatives if risky): a one-line null check",
        "* String changes made/needed: none",
    ])
    texts = [
        (bug["author"], TIME, "The crash happens when <b>grafting</b>."),
        (bug["author"], TIME, form),
        ("sheriff@example.com", LATER, f"https://hg.mozilla.org/mozilla-central/rev/{bug['id']:012x}"),
    ]
    return [
        {"id": bug["id"] * 1000 + count, "bug_id": bug["id"], "count": count, "text": text, "raw_text": text,
         "creator": who, "author": who, "creation_time": when, "time": when, "is_private": False,
         "attachment_id": bug["id"] * 100 if count == 1 else None, "tags": []}
        for count, (who, when, text) in enumerate(texts)
    ]


def history(bug):
    return [{"when": TIME, "who": bug["author"], "changes": [
        {"field_name": "flagtypes.name", "removed": "", "added": f"approval-mozilla-{channel}?",
         "attachment_id": bug["id"] * 100}
        for channel in bug["channels"]]}]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def answer(self, status, body):
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path == "/rest/bug":
            flag = query.get("v1", [""])[0]
            ids = [bug_id for bug_id, bug in sorted(BUGS.items())
                   if any(flag == f"approval-mozilla-{channel}?" for channel in bug["channels"])]
            return self.answer(200, {"bugs": [{"id": bug_id} for bug_id in ids]})
        if url.path == "/rest/user" and "match" in query:
            nick = query["match"][0].lstrip(":")
            found = [user(f"{nick}@example.com")] if re.fullmatch(r"dev\d+", nick) else []
            return self.answer(200, {"users": found})
        if url.path == "/rest/user":
            return self.answer(200, {"users": [user(name) for name in query.get("names", [])]})
        match = re.fullmatch(r"/rest/bug/(\d+)(?:/(attachment|comment|history))?", url.path)
        bug = BUGS.get(int(match.group(1))) if match else None
        if bug is None:
            return self.answer(404, {"error": True, "code": 101, "message": "Bug does not exist."})
        part = match.group(2)
        if part is None:
            return self.answer(200, {"bugs": [bug_fields(bug)], "faults": []})
        if part == "attachment":
            return self.answer(200, {"bugs": {str(bug["id"]): attachments(bug)}, "attachments": {}})
        if part == "comment":
            return self.answer(200, {"bugs": {str(bug["id"]): {"comments": comments(bug)}}, "comments": {}})
        return self.answer(200, {"bugs": [{"id": bug["id"], "alias": None, "history": history(bug)}]})


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
