# Salesforce's own tools on salesforce_package/: the Salesforce CLI converts it to Metadata API
# format with every member in package.xml; a real Apex parser (@apexdevtools/apex-parser)
# parses every class and trigger; PMD's Apex rules (the jars in
# @salesforce/code-analyzer-pmd-engine) report no priority 1-2 finding.
# Node >= 22 for the CLI comes from npm's `node` package when the machine's is older.
PKG=$REPO_ROOT/salesforce_package
export SF_DISABLE_TELEMETRY=true SF_AUTOUPDATE_DISABLE=true SF_SKIP_NEW_VERSION_CHECK=true \
    SF_USE_GENERIC_UNIX_KEYCHAIN=true SFDX_DISABLE_DNS_CHECK=true
export HOME=${CONF_HOME}/sf-home # the CLI writes its config and cache under ~
mkdir -p "$HOME"

conf_npm node@22 @salesforce/cli@2 @apexdevtools/apex-parser@5 @salesforce/code-analyzer-pmd-engine
NODE_BIN=$CONF_HOME/npm/node_modules/node/bin
[[ -x $NODE_BIN/node ]] || conf_fail "npm package node@22 did not provide node"
export PATH="$NODE_BIN:$PATH"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 22)) || conf_fail "node $node_major on PATH; the Salesforce CLI needs >= 22"
if ! command -v java >/dev/null; then conf_apt default-jre-headless; fi

work=$CONF_OUT/salesforce
rm -rf "$work" && mkdir -p "$work"

# 1. sf project convert source: no error, and package.xml names every source member.
conf_log "sf project convert source ($(sf --version | head -1))"
(cd "$PKG" && sf project convert source --root-dir force-app --output-dir "$work/mdapi" >"$work/convert.log" 2>&1) ||
    { cat "$work/convert.log" >&2; conf_fail "sf project convert source failed"; }
python3 - "$PKG/force-app/main/default" "$work/mdapi/package.xml" <<'PY' || conf_fail "package.xml does not list every member"
import pathlib, sys, xml.etree.ElementTree as ET
src, pkg = pathlib.Path(sys.argv[1]), sys.argv[2]
ns = {"m": "http://soap.sforce.com/2006/04/metadata"}
listed = {(t.find("m:name", ns).text, m.text) for t in ET.parse(pkg).getroot().findall("m:types", ns)
          for m in t.findall("m:members", ns)}
kinds = {"classes": ("ApexClass", ".cls-meta.xml"), "triggers": ("ApexTrigger", ".trigger-meta.xml"),
         "permissionsets": ("PermissionSet", ".permissionset-meta.xml"),
         "namedCredentials": ("NamedCredential", ".namedCredential-meta.xml"),
         "externalCredentials": ("ExternalCredential", ".externalCredential-meta.xml")}
want = set()
for d, (kind, suffix) in kinds.items():
    for f in (src / d).glob("*" + suffix):
        want.add((kind, f.name[: -len(suffix)]))
for obj in (src / "objects").iterdir():
    if (obj / f"{obj.name}.object-meta.xml").exists():
        want.add(("CustomObject", obj.name))
    for f in (obj / "fields").glob("*.field-meta.xml"):
        want.add(("CustomField", f"{obj.name}.{f.name[:-len('.field-meta.xml')]}"))
    for f in (obj / "listViews").glob("*.listView-meta.xml"):
        want.add(("ListView", f"{obj.name}.{f.name[:-len('.listView-meta.xml')]}"))
missing = sorted(want - listed)
if missing or not want:
    print("missing from package.xml:", missing, file=sys.stderr)
    sys.exit(1)
# Task/Event custom fields live on Activity; a Task.* member would not deploy.
bad = sorted(m for k, m in listed if k == "CustomField" and m.split(".")[0] in ("Task", "Event"))
if bad:
    print("custom fields on Task/Event must be defined on Activity:", bad, file=sys.stderr)
    sys.exit(1)
print(f"    package.xml lists all {len(want)} members", file=sys.stderr)
PY

# 2. Every class and trigger parses with the Apex parser.
conf_log "parsing Apex with @apexdevtools/apex-parser"
(cd "$CONF_HOME/npm" && node - "$PKG/force-app" <<'JS') || conf_fail "Apex parse errors"
const fs = require("fs"), path = require("path");
const { ApexParserFactory, ApexErrorListener } = require("@apexdevtools/apex-parser");
const files = [];
(function walk(d) {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.(cls|trigger)$/.test(e.name)) files.push(p);
  }
})(process.argv[2]);
let bad = 0;
for (const f of files) {
  const errors = [];
  class L extends ApexErrorListener {
    apexSyntaxError(line, col, msg) { errors.push(`${line}:${col} ${msg}`); }
  }
  const { parser } = ApexParserFactory.createLexerAndParser(fs.readFileSync(f, "utf8"), new L());
  f.endsWith(".trigger") ? parser.triggerUnit() : parser.compilationUnit();
  for (const e of errors) console.error(`    ${path.basename(f)}:${e}`);
  bad += errors.length;
}
if (files.length === 0) { console.error("    no Apex found"); process.exit(1); }
console.error(`    ${files.length} Apex files parsed, ${bad} errors`);
process.exit(bad ? 1 : 0);
JS

# 3. PMD's Apex rules (every rule PMD ships for Apex): no priority 1 (High) or 2 (Medium High).
conf_log "PMD Apex rules"
LIB=$CONF_HOME/npm/node_modules/@salesforce/code-analyzer-pmd-engine/dist/java-lib
ls "$LIB"/pmd-apex-*.jar >/dev/null 2>&1 || conf_fail "no pmd-apex jar in $LIB"
: >"$work/custom-rulesets.txt"
java -cp "$LIB/*" com.salesforce.sfca.pmdwrapper.PmdWrapper describe "$work/rules.json" \
    "$work/custom-rulesets.txt" apex >"$work/pmd-describe.log" 2>&1 ||
    { cat "$work/pmd-describe.log" >&2; conf_fail "PMD describe failed"; }
python3 - "$work" "$PKG" <<'PY'
import json, pathlib, sys
work, pkg = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
rules = json.loads((work / "rules.json").read_text())
refs = "\n".join(f'  <rule ref="{r["ruleSetFile"]}/{r["name"]}"/>' for r in rules)
(work / "ruleset.xml").write_text(
    '<?xml version="1.0" encoding="UTF-8"?>\n<ruleset name="all Apex rules" '
    'xmlns="http://pmd.sourceforge.net/ruleset/2.0.0"><description>every PMD Apex rule</description>\n'
    f"{refs}\n</ruleset>\n")
files = sorted(str(p) for p in pkg.rglob("*") if p.suffix in (".cls", ".trigger"))
(work / "pmd-input.json").write_text(json.dumps(
    {"ruleSetInputFile": str(work / "ruleset.xml"), "runDataPerLanguage": {"apex": {"filesToScan": files}}}))
print(f"    {len(rules)} PMD Apex rules over {len(files)} files", file=sys.stderr)
PY
java -cp "$LIB/*" com.salesforce.sfca.pmdwrapper.PmdWrapper run "$work/pmd-input.json" \
    "$work/pmd-results.json" >"$work/pmd-run.log" 2>&1 ||
    { tail -20 "$work/pmd-run.log" >&2; conf_fail "PMD run failed"; }
python3 - "$work" <<'PY' || conf_fail "PMD reports priority 1-2 findings (see $work/pmd-results.json)"
import json, pathlib, sys
work = pathlib.Path(sys.argv[1])
level = {"High": 1, "Medium High": 2, "Medium": 3, "Medium Low": 4, "Low": 5}
prio = {r["name"]: level.get(r["priority"], 3) for r in json.loads((work / "rules.json").read_text())}
res = json.loads((work / "pmd-results.json").read_text())
if res.get("processingErrors"):
    print("    PMD could not process:", res["processingErrors"], file=sys.stderr)
    sys.exit(1)
v = res["violations"]
bad = [x for x in v if prio.get(x["rule"], 3) <= 2]
for x in bad:
    loc = x["codeLocation"]
    print(f'    P{prio[x["rule"]]} {x["rule"]} {pathlib.Path(loc["file"]).name}:{loc.get("startLine")} {x["message"]}', file=sys.stderr)
counts = {}
for x in v:
    counts[prio.get(x["rule"], 3)] = counts.get(prio.get(x["rule"], 3), 0) + 1
print(f"    PMD findings by priority: {dict(sorted(counts.items()))}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
conf_log "Salesforce CLI, Apex parser and PMD accept salesforce_package/"
