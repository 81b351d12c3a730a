"""The CI files' own checks, for tests/ci/check.sh (which runs actionlint and
pre-commit on what this writes). Needs PyYAML (the pre-commit venv has it).

  ci_files.py lint-inputs OUT   write what actionlint lints besides the
                                repository's workflows, into OUT/.github/workflows:
                                - action.yml turned into a reusable workflow
                                  (actionlint reads workflows only: its steps,
                                  `if`s and expressions are checked there, with
                                  the action's inputs as workflow_call inputs),
                                - a workflow that uses ./ with every input,
                                - the GitHub Actions blocks of docs/ci.md,
                                - with --broken, an action.yml that reads an
                                  input it does not declare (must fail the lint);
                                and check what actionlint cannot: the action's
                                metadata, inputs used and declared, `with:` keys
                                of every use of the action (workflows, docs),
                                docs/ci.md's inputs table, release asset names
                                against action/install.sh, permissions of the
                                docs' workflow, and `bash -n` on every `run:`.
  ci_files.py docs-blocks OUT   write docs/ci.md's GitLab job, pre-commit config
                                and shell step into OUT (gitlab-ci.yml,
                                pre-commit-config.yaml, shell-step.sh,
                                gitlab-script.sh: the job's script lines), after
                                checking every block of the page is one of the
                                kinds the test exercises.
"""

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROBLEMS = []


def problem(where, text):
    PROBLEMS.append(f"{where}: {text}")


def load(path):
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def package_version():
    m = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M)
    return m.group(1)


# --- docs/ci.md ----------------------------------------------------------------

def doc_blocks():
    """Fenced blocks of docs/ci.md: (info string, first line, text, line number)."""
    blocks, lines = [], (ROOT / "docs/ci.md").read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if m:
            start, info, body = i + 1, m.group(1), []
            i += 1
            while i < len(lines) and lines[i] != "```":
                body.append(lines[i])
                i += 1
            text = "\n".join(body) + "\n"
            blocks.append((info, body[0] if body else "", text, start))
        i += 1
    return blocks


def classify(info, first):
    if info == "yaml" and re.match(r"^# \.github/workflows/[\w.-]+\.ya?ml$", first):
        return "github"
    if info == "yaml" and first == "# .gitlab-ci.yml":
        return "gitlab"
    if info == "yaml" and first == "# .pre-commit-config.yaml":
        return "pre-commit"
    if info == "sh":
        return "shell"
    return None


def checked_blocks():
    kinds = {}
    for info, first, text, line in doc_blocks():
        kind = classify(info, first)
        if kind is None:
            problem(f"docs/ci.md:{line}", f"a ```{info} block the test does not exercise (first line {first!r}); "
                    "name its file in a first-line comment, or teach tests/ci/ci_files.py what to do with it")
            continue
        kinds.setdefault(kind, []).append((text, line))
    for kind in ("github", "gitlab", "pre-commit", "shell"):
        if kind not in kinds:
            problem("docs/ci.md", f"no {kind} block")
    for kind in ("gitlab", "pre-commit", "shell"):
        if len(kinds.get(kind, [])) > 1:
            problem("docs/ci.md", f"{len(kinds[kind])} {kind} blocks; the test runs one")
    return kinds


# --- action.yml ------------------------------------------------------------------

ACTION_REF = re.compile(r"^[\w.-]+/routewarden@(.+)$")


def check_action(action):
    for key in ("name", "description", "inputs", "outputs", "runs"):
        if key not in action:
            problem("action.yml", f"no `{key}`")
    runs = action.get("runs", {})
    if runs.get("using") != "composite":
        problem("action.yml", "runs.using is not composite")
    inputs = action.get("inputs", {})
    for name, spec in inputs.items():
        if not (spec or {}).get("description"):
            problem("action.yml", f"input {name} has no description")
        if "default" in spec and not isinstance(spec["default"], str):
            problem("action.yml", f"input {name}'s default is not a string (inputs are strings)")
    for name, spec in action.get("outputs", {}).items():
        if not (spec or {}).get("description") or not (spec or {}).get("value"):
            problem("action.yml", f"output {name} needs a description and a value")
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", text))
    for name in sorted(used - set(inputs)):
        problem("action.yml", f"reads inputs.{name}, which it does not declare")
    for name in sorted(set(inputs) - used):
        problem("action.yml", f"declares the input {name} and never reads it")
    for step in runs.get("steps", []):
        if "run" in step and "shell" not in step:
            problem("action.yml", f"step {step.get('name')!r} runs a script without `shell` (composite actions need it)")
        uses = step.get("uses", "")
        if uses and not re.search(r"@v\d+$", uses):
            problem("action.yml", f"{uses} is not pinned to a major version")
    upload = [s for s in runs.get("steps", []) if s.get("uses", "").startswith("github/codeql-action/upload-sarif@")]
    if len(upload) != 1:
        problem("action.yml", "does not upload the SARIF with github/codeql-action/upload-sarif")
    return inputs


def action_as_workflow(action, broken=False):
    inputs = action["inputs"]
    steps = [dict(s) for s in action["runs"]["steps"]]
    if broken:
        steps.insert(0, {"name": "reads an input nobody declared", "shell": "bash",
                         "env": {"X": "${{ inputs.no-such-input }}"}, "run": 'echo "$X"'})
    call_inputs = {
        name: {"description": spec["description"], "required": bool(spec.get("required", False)),
               "type": "string", "default": spec.get("default", "")}
        for name, spec in inputs.items()
    }
    outputs = {name: spec["value"] for name, spec in action["outputs"].items()}
    return {
        "name": "action.yml as a reusable workflow (generated by tests/ci/ci_files.py)",
        "on": {"workflow_call": {
            "inputs": call_inputs,
            "outputs": {name: {"description": spec["description"], "value": f"${{{{ jobs.action.outputs.{name} }}}}"}
                        for name, spec in action["outputs"].items()},
        }},
        "permissions": {"contents": "read", "security-events": "write"},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "outputs": outputs, "steps": steps}},
    }


def caller_workflow(action):
    values = {"iac": "infra/\nexamples/iac", "routes": "fleet.json", "config": "routewarden.toml",
              "policies": "builtin policies/", "iac-params": "Stage=prod 'Name=a b'", "fail-on": "high",
              "fail-on-indeterminate": "true", "baseline": "baseline.json", "baseline-iac": "template.yaml",
              "sarif-file": "reports/routewarden.sarif", "upload-sarif": "true", "sarif-category": "rw",
              "log-report": "false", "version": "0.1.0", "repository": "example/routewarden",
              "args": "--log-format json"}
    missing = set(action["inputs"]) - set(values)
    for name in sorted(missing):
        problem("tests/ci/ci_files.py", f"the caller workflow gives no value for the input {name}: add one")
    return {
        "name": "uses ./ with every input (generated by tests/ci/ci_files.py)",
        "on": {"pull_request": None},
        "permissions": {"contents": "read", "security-events": "write"},
        "jobs": {"routewarden": {"runs-on": "ubuntu-latest", "steps": [
            {"uses": "actions/checkout@v6"},
            {"id": "routewarden", "uses": "./", "with": {k: values[k] for k in action["inputs"] if k in values}},
            {"if": "always()", "env": {"CODE": "${{ steps.routewarden.outputs.exit-code }}",
                                       "SARIF": "${{ steps.routewarden.outputs.sarif-file }}"},
             "run": 'echo "exit $CODE, $SARIF"'},
        ]}},
    }


def uses_of_action(workflow):
    for job in (workflow.get("jobs") or {}).values():
        for step in job.get("steps") or []:
            uses = step.get("uses", "")
            if uses == "./" or ACTION_REF.match(uses):
                yield step


def check_uses(where, workflow, inputs):
    for step in uses_of_action(workflow):
        for key in step.get("with") or {}:
            if key not in inputs:
                problem(where, f"gives the Action the input {key!r}, which action.yml does not declare")
        m = ACTION_REF.match(step["uses"])
        if m and m.group(1) != f"v{package_version()}":
            problem(where, f"uses the Action at {m.group(1)}; the package is v{package_version()}")


def check_inputs_table(inputs):
    text = (ROOT / "docs/ci.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z-]+)` \|", text, re.M))
    hooks = {h["id"] for h in load(".pre-commit-hooks.yaml")}
    documented -= hooks
    for name in sorted(set(inputs) - documented):
        problem("docs/ci.md", f"the inputs table does not list {name}")
    for name in sorted(documented - set(inputs)):
        problem("docs/ci.md", f"the inputs table lists {name}, which action.yml does not declare")


def check_docs_github(text, line):
    workflow = yaml.safe_load(text)
    perms = workflow.get("permissions") or {}
    uploads = any(s.get("with", {}).get("upload-sarif", "true") != "false" for s in uses_of_action(workflow))
    if uploads and perms.get("security-events") != "write":
        problem(f"docs/ci.md:{line}", "uploads SARIF without `security-events: write`")
    if perms.get("contents") != "read":
        problem(f"docs/ci.md:{line}", "does not grant `contents: read` (the checkout)")
    return workflow


def check_release_names():
    release = (ROOT / ".github/workflows/release.yml").read_text(encoding="utf-8")
    install = (ROOT / "action/install.sh").read_text(encoding="utf-8")
    released = set(re.findall(r"target: ([\w-]+-linux-gnu)", release))
    installable = set(re.findall(r"target=([\w-]+-linux-gnu)", install))
    if not released or released != installable:
        problem("release.yml", f"releases {sorted(released)}, action/install.sh installs {sorted(installable)}")
    for needle in ('"dist/routewarden-$TARGET"', 'sha256sum "routewarden-$TARGET" > "routewarden-$TARGET.sha256"'):
        if needle not in release:
            problem("release.yml", f"no longer names the assets as action/install.sh downloads them ({needle})")
    docker = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    image_flags = re.search(r'^ENV RUSTFLAGS="((?:[^"\\]|\\.)*)"$', docker, re.M)
    release_flags = load(".github/workflows/release.yml")["jobs"]["binaries"]["steps"]
    release_flags = [s["env"]["RUSTFLAGS"] for s in release_flags if "RUSTFLAGS" in s.get("env", {})]
    if not image_flags or release_flags != [image_flags.group(1).replace('\\"', '"')]:
        problem("release.yml", f"builds with RUSTFLAGS {release_flags}, the Dockerfile with "
                f"{image_flags.group(1) if image_flags else None}: the binaries must be built alike")
    for needle in ('asset="routewarden-$target"', '/releases/download/v${version#v}/$asset"',
                   '/releases/latest/download/$asset"', '"$url.sha256"'):
        if needle not in install:
            problem("action/install.sh", f"no longer downloads what release.yml publishes ({needle})")


def bash_syntax(where, script):
    plain = re.sub(r"\$\{\{.*?\}\}", "PLACEHOLDER", script, flags=re.S)
    result = subprocess.run(["bash", "-n"], input=plain, text=True, capture_output=True)
    if result.returncode != 0:
        problem(where, "bash -n: " + result.stderr.strip())


def run_scripts(where, doc):
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "run" and isinstance(value, str) and doc.get("shell", "bash") == "bash":
                bash_syntax(f"{where} (step {doc.get('name') or doc.get('id') or value.splitlines()[0]!r})", value)
            else:
                run_scripts(where, value)
    elif isinstance(doc, list):
        for item in doc:
            run_scripts(where, item)


def lint_inputs(out, broken):
    workflows = out / ".github" / "workflows"
    workflows.mkdir(parents=True, exist_ok=True)
    action = load("action.yml")
    inputs = check_action(action)
    run_scripts("action.yml", action)
    dump = lambda path, doc: path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000), encoding="utf-8")
    dump(workflows / "action-as-workflow.yml", action_as_workflow(action))
    dump(workflows / "uses-action.yml", caller_workflow(action))
    if broken:
        dump(workflows / "action-broken.yml", action_as_workflow(action, broken=True))
    for path in sorted((ROOT / ".github/workflows").glob("*.y*ml")):
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        rel = str(path.relative_to(ROOT))
        check_uses(rel, workflow, inputs)
        run_scripts(rel, workflow)
    kinds = checked_blocks()
    for n, (text, line) in enumerate(kinds.get("github", [])):
        (workflows / f"docs-ci-{n + 1}.yml").write_text(text, encoding="utf-8")
        workflow = check_docs_github(text, line)
        check_uses(f"docs/ci.md:{line}", workflow, inputs)
        run_scripts(f"docs/ci.md:{line}", workflow)
    check_inputs_table(inputs)
    check_release_names()


def docs_blocks(out):
    out.mkdir(parents=True, exist_ok=True)
    kinds = checked_blocks()
    if PROBLEMS:
        return
    gitlab_text, line = kinds["gitlab"][0]
    where = f"docs/ci.md:{line}"
    (out / "gitlab-ci.yml").write_text(gitlab_text, encoding="utf-8")
    gitlab = yaml.safe_load(gitlab_text)
    job = gitlab.get("routewarden") or {}
    script = job.get("script") or []
    for key in ("image", "script", "artifacts"):
        if key not in job:
            problem(where, f"the job has no `{key}`")
    artifacts = job.get("artifacts") or {}
    junit = (artifacts.get("reports") or {}).get("junit")
    if artifacts.get("when") != "always":
        problem(where, "artifacts are not kept `when: always` (a failed audit is when they matter)")
    if "sast" in (artifacts.get("reports") or {}):
        problem(where, "declares a SAST report: GitLab's SAST schema is not SARIF")
    outputs = {m.group(2): m.group(1) for s in script
               for m in [re.search(r"--format (\w+) -o (\S+)", s)] if m}
    if not junit or outputs.get(junit) != "junit":
        problem(where, f"artifacts:reports:junit ({junit}) is not the file the junit run writes ({outputs})")
    sarif = [f for f, fmt in outputs.items() if fmt == "sarif"]
    if not sarif or sarif[0] not in (artifacts.get("paths") or []):
        problem(where, "the SARIF file is not kept in artifacts:paths")
    if not script or not script[-1].startswith("routewarden --check") or "||" in script[-1]:
        problem(where, "the last script line is not the run whose exit code decides the job")
    urls = " ".join(job.get("before_script") or [])
    if "/releases/download/v${ROUTEWARDEN_VERSION}/${asset}" not in urls or "-unknown-linux-gnu" not in urls:
        problem(where, "does not download the release assets by their names")
    if str((job.get("variables") or {}).get("ROUTEWARDEN_VERSION")) != package_version():
        problem(where, f"pins ROUTEWARDEN_VERSION other than the package's {package_version()}")
    (out / "gitlab-script.sh").write_text("set -e\n" + "\n".join(script) + "\n", encoding="utf-8")
    for text_line in [*(job.get("before_script") or []), *script]:
        bash_syntax(where, text_line)

    pc_text, line = kinds["pre-commit"][0]
    where = f"docs/ci.md:{line}"
    (out / "pre-commit-config.yaml").write_text(pc_text, encoding="utf-8")
    config = yaml.safe_load(pc_text)
    hooks = {h["id"] for h in load(".pre-commit-hooks.yaml")}
    repos = config.get("repos") or []
    if len(repos) != 1 or not re.match(r"^https://github\.com/[\w.-]+/routewarden$", repos[0].get("repo", "")):
        problem(where, "names no routewarden repository")
    elif repos[0].get("rev") != f"v{package_version()}":
        problem(where, f"pins rev {repos[0].get('rev')}, the package is v{package_version()}")
    else:
        used = {h["id"] for h in repos[0].get("hooks", [])}
        if used != hooks:
            problem(where, f"uses the hooks {sorted(used)}; .pre-commit-hooks.yaml has {sorted(hooks)}")

    shell_text, line = kinds["shell"][0]
    (out / "shell-step.sh").write_text(shell_text, encoding="utf-8")
    bash_syntax(f"docs/ci.md:{line}", shell_text)
    m = re.search(r"^version=(\S+)$", shell_text, re.M)
    if not m or m.group(1) != package_version():
        problem(f"docs/ci.md:{line}", f"the shell step's version is not the package's {package_version()}")


def main():
    command, out = sys.argv[1], Path(sys.argv[2])
    if command == "lint-inputs":
        lint_inputs(out, "--broken" in sys.argv[3:])
    elif command == "docs-blocks":
        docs_blocks(out)
    else:
        sys.exit(f"unknown command {command}")
    for p in PROBLEMS:
        print(p, file=sys.stderr)
    sys.exit(1 if PROBLEMS else 0)


if __name__ == "__main__":
    main()
