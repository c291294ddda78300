"""Slack witness (run by 20-slack.sh): Slack's own tools judge what SkyGeni produces.

  manifest MANIFEST.yaml SCHEMA.json   the app manifest against Slack's published JSON schema
  corpus DIR                           every message / view JSON in DIR through slack_sdk's
                                       Block Kit models (parse + validate_json)
  live BASE_URL SIGNING_SECRET FAKE_URL  requests signed by slack_sdk's SignatureVerifier
                                       against a running `skygeni serve`; answers checked

Exits non-zero with a reason on the first disagreement.
"""
import json
import pathlib
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import jsonschema
import yaml
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from slack_sdk.signature import SignatureVerifier


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check_manifest(manifest, schema):
    m = yaml.safe_load(pathlib.Path(manifest).read_text())
    s = json.loads(pathlib.Path(schema).read_text())
    v = jsonschema.Draft7Validator(s, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = sorted(v.iter_errors(m), key=lambda e: list(e.path))
    for e in errors:
        print(f"  manifest {'/'.join(map(str, e.path))}: {e.message[:300]}", file=sys.stderr)
    if errors:
        fail(f"{manifest}: {len(errors)} schema error(s)")
    print(f"manifest valid against {pathlib.Path(schema).name}")


def check_blocks(blocks, where):
    if not isinstance(blocks, list):
        fail(f"{where}: blocks is not a list")
    for i, b in enumerate(blocks):
        obj = Block.parse(b)
        if obj is None:
            fail(f"{where}: block {i} ({b.get('type')}) is not a Block Kit block slack_sdk knows")
        try:
            obj.validate_json()
        except Exception as e:  # SlackObjectFormationError and friends
            fail(f"{where}: block {i} ({b.get('type')}): {e}")


def check_message(m, where):
    if not (m.get("text") or m.get("blocks") or m.get("attachments")):
        fail(f"{where}: message without text, blocks or attachments")
    if "blocks" in m:
        if len(m["blocks"]) > 50:
            fail(f"{where}: more than 50 blocks")
        check_blocks(m["blocks"], where)
    for j, a in enumerate(m.get("attachments") or []):
        check_blocks(a.get("blocks") or [], f"{where} attachment {j}")


def check_view(v, where):
    try:
        view = View(**v)
        view.validate_json()
    except Exception as e:
        fail(f"{where}: {e}")
    check_blocks(v.get("blocks") or [], where)


def check_corpus(d):
    files = sorted(pathlib.Path(d).glob("*.json"))
    if len(files) < 10:
        fail(f"corpus {d} has only {len(files)} files")
    for f in files:
        v = json.loads(f.read_text())
        (check_view if f.name.startswith("view-") else check_message)(v, f.name)
    print(f"{len(files)} messages and views valid in slack_sdk's Block Kit models")


class Live:
    def __init__(self, base, secret, fake):
        self.base, self.fake = base.rstrip("/"), fake.rstrip("/")
        self.verifier = SignatureVerifier(secret)
        self.n = 0

    def post(self, path, body, ctype, ts=None, sign=True, verifier=None):
        fresh = ts is None
        ts = str(int(time.time()) if ts is None else ts)
        headers = {"Content-Type": ctype, "X-Slack-Request-Timestamp": ts}
        if sign:
            v = verifier or self.verifier
            headers["X-Slack-Signature"] = v.generate_signature(timestamp=ts, body=body)
            # The verifier accepts its own signature of this exact body (when not stale).
            if fresh and not v.is_valid(body=body, timestamp=ts, signature=headers["X-Slack-Signature"]):
                fail("slack_sdk rejects its own signature")
        req = urllib.request.Request(self.base + path, data=body.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def trigger(self):
        req = urllib.request.Request(self.fake + "/_control/trigger", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())["trigger_id"]

    def command(self, user, text, **kw):
        self.n += 1
        body = urllib.parse.urlencode({
            "team_id": "T0FAKE", "team_domain": "acme", "channel_id": "C0DEALS", "channel_name": "deals",
            "user_id": user, "user_name": "someone", "command": "/deal-risk", "text": text,
            "response_url": f"{self.fake}/response/w{self.n}", "trigger_id": self.trigger(),
            "api_app_id": "A0FAKE", "is_enterprise_install": "false"})
        status, out = self.post("/slack/commands", body, "application/x-www-form-urlencoded", **kw)
        return status, (json.loads(out) if out.strip().startswith("{") else out)

    def answer(self, user, text):
        """A command's answer, retried while the server acknowledges with 'Working on it…'."""
        for _ in range(5):
            status, v = self.command(user, text)
            if status != 200:
                fail(f"/deal-risk {text!r}: HTTP {status} {v}")
            if not (isinstance(v, dict) and v.get("text", "").startswith("Working on it")):
                return v
            time.sleep(2)
        fail(f"/deal-risk {text!r}: never answered inline")

    def event(self, payload):
        return self.post("/slack/events", json.dumps(payload), "application/json")

    def calls(self):
        with urllib.request.urlopen(self.fake + "/_control/calls", timeout=10) as r:
            return json.loads(r.read())


def live(base, secret, fake):
    s = Live(base, secret, fake)
    # Signatures: slack_sdk's are accepted; unsigned, foreign, stale ones are 401.
    status, out = s.event({"type": "url_verification", "challenge": "c-123", "token": "x"})
    if status != 200 or "c-123" not in out:
        fail(f"url_verification: {status} {out}")
    body = urllib.parse.urlencode({"team_id": "T0FAKE", "user_id": "UANA", "command": "/deal-risk", "text": "help"})
    for label, kw in [("unsigned", {"sign": False}),
                      ("another secret", {"verifier": SignatureVerifier("not-the-secret-" + "x" * 20)}),
                      ("stale", {"ts": int(time.time()) - 600})]:
        status, _ = s.post("/slack/commands", body, "application/x-www-form-urlencoded", **kw)
        if status != 401:
            fail(f"{label} request answered {status}, not 401")
    # Answers validate as Block Kit.
    help_ = s.answer("UANA", "help")
    check_message(help_, "/deal-risk help")
    nul = s.answer("UANA", "D123\x00")
    if "control characters" not in json.dumps(nul):
        fail(f"NUL in a lookup: {nul}")
    # Linking: Slack reports ana@acme.test for UANA (users.info), so she links at once ...
    linked = s.answer("UANA", "link <mailto:ana@acme.test|ana@acme.test>")
    if "Linked" not in json.dumps(linked):
        fail(f"link with Slack-reported email: {linked}")
    # ... a stranger asking for her account is refused; for bob's, only a code is mailed.
    eve = s.answer("UEVE", "link ana@acme.test")
    if "already linked" not in json.dumps(eve):
        fail(f"stranger re-link: {eve}")
    eve = s.answer("UEVE", "link bob@acme.test")
    if "emailed a confirmation code" not in json.dumps(eve):
        fail(f"stranger link: {eve}")
    still = s.answer("UEVE", "top")
    if "/deal-risk link" not in json.dumps(still):
        fail(f"a stranger's link changed something: {still}")
    for text in ["top 10", "pipeline", "D00001"]:
        check_message(s.answer("UANA", text), f"/deal-risk {text}")
    # Settings: a real trigger_id, views.open inside its 3 s.
    s.answer("UANA", "settings")
    # Events: an org-wide envelope (no team_id, authorizations[].team_id null), twice.
    grid = {"type": "event_callback", "enterprise_id": "E0ORG", "api_app_id": "A0FAKE",
            "event_id": "EvWitness1", "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": "E0ORG", "team_id": None, "user_id": "UBOT",
                                "is_bot": True, "is_enterprise_install": True}],
            "event": {"type": "app_home_opened", "user": "UANA", "tab": "home",
                      "view": {"team_id": "T0FAKE", "type": "home"}}}
    for _ in range(2):
        status, out = s.event(grid)
        if status != 200:
            fail(f"org-wide event: {status} {out}")
    time.sleep(3)
    calls = s.calls()["methods"]
    if calls.get("views.open", {}).get("ok", 0) < 1:
        fail(f"settings modal never opened: {calls.get('views.open')}")
    if calls.get("views.publish", {}).get("ok", 0) != 1:
        fail(f"the org-wide app_home_opened (sent twice) published {calls.get('views.publish')}")
    print("signed requests answered as Slack expects")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"manifest": check_manifest, "corpus": check_corpus, "live": live}[cmd](*args)
