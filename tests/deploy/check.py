"""Deployment checks that need a YAML parser: split rendered manifests into
JSON for the CRD validator, check the PrometheusRule equals the rules file,
check that every metric the dashboard and rules use is one routewarden
exports (the metrics contract), and check that the NetworkPolicy, as rendered,
admits the metrics port only from Prometheus's pods in its namespace.

Usage: python check.py RENDERED_DIR
       python check.py --write    (regenerate the PrometheusRule from rules.yml)"""

import glob
import json
import os
import re
import sys

import yaml

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
METRICS = {
    "routewarden_violation", "routewarden_violations", "routewarden_violation_series_dropped",
    "routewarden_exemptions", "routewarden_routes", "routewarden_drift_routes", "routewarden_api_up",
    "routewarden_api_last_success_timestamp_seconds", "routewarden_audit_cycles_total",
    "routewarden_audit_cycle_duration_seconds", "routewarden_audit_cycle_duration_seconds_bucket",
    "routewarden_audit_cycle_duration_seconds_sum", "routewarden_audit_cycle_duration_seconds_count",
    "routewarden_aws_requests_total", "routewarden_rate_limit_wait_seconds_total",
    "routewarden_backoff_seconds_total", "routewarden_policy_rules",
    "routewarden_config_last_reload_successful", "routewarden_config_last_reload_success_timestamp_seconds",
    "routewarden_audit_interval_seconds", "routewarden_shard", "routewarden_build_info",
}


def fail(message):
    print(f"deploy check: {message}", file=sys.stderr)
    sys.exit(1)


def used_metrics(expr):
    return set(re.findall(r"\broutewarden_[a-z_]+", expr))


def write_rule_crd():
    rules = open(os.path.join(ROOT, "deploy/prometheus/rules.yml")).read()
    body = rules[rules.index("groups:"):]
    spec = "\n".join(("    " + line) if line.strip() else "" for line in body.splitlines())
    header = (
        "# Generated from deploy/prometheus/rules.yml by tests/deploy.sh --write; the\n"
        "# test command checks that they are equal. Edit rules.yml, not this file.\n"
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: routewarden\nspec:\n"
    )
    with open(os.path.join(ROOT, "deploy/kubernetes/base/prometheusrule.yaml"), "w") as f:
        f.write(header + spec + "\n")


def main(rendered):
    # 1. Rendered manifests as JSON, for the CRD validator.
    for path in sorted(glob.glob(os.path.join(rendered, "*.yaml"))):
        docs = [d for d in yaml.safe_load_all(open(path)) if d]
        json.dump(docs, open(path[:-5] + ".json", "w"))

    # 2. The PrometheusRule is the rules file.
    rules = yaml.safe_load(open(os.path.join(ROOT, "deploy/prometheus/rules.yml")))
    crd = yaml.safe_load(open(os.path.join(ROOT, "deploy/kubernetes/base/prometheusrule.yaml")))
    if crd["spec"] != rules:
        fail("deploy/kubernetes/base/prometheusrule.yaml differs from deploy/prometheus/rules.yml: regenerate it")

    # 3. Rules and dashboard use only exported metrics.
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dashboard = json.load(open(os.path.join(ROOT, "deploy/grafana/routewarden.json")))
    panels = dashboard["panels"]
    if len(panels) < 5:
        fail("the dashboard has fewer panels than it should")
    exprs += [t["expr"] for p in panels for t in p.get("targets", [])]
    for expr in exprs:
        unknown = used_metrics(expr) - METRICS
        if unknown:
            fail(f"unknown metrics {sorted(unknown)} in: {expr}")
    titles = " ".join(p["title"].lower() for p in panels)
    for needed in ["violations", "unauthenticated", "audit health", "throttl", "aws requests"]:
        if needed not in titles:
            fail(f"the dashboard has no panel about {needed!r}")

    # 4. The IAM policy is a policy document granting only reads.
    policy = json.load(open(os.path.join(ROOT, "deploy/iam/policy.json")))
    actions = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    if actions != {"apigateway:GET"}:
        fail(f"the IAM policy grants {sorted(actions)}, expected only apigateway:GET")
    # 5. As rendered, ingress reaches only the metrics port, and only from pods
    #    that match both the namespace and the pod selector of one `from` entry
    #    (two entries would admit either), selecting Prometheus, not the
    #    labels kustomize's `labels` writes into matchLabels.
    prometheus = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {"matchExpressions": [
            {"key": "app.kubernetes.io/name", "operator": "In", "values": ["prometheus"]}]},
    }
    policies = 0
    for path in sorted(glob.glob(os.path.join(rendered, "*.yaml"))):
        for doc in yaml.safe_load_all(open(path)):
            if not doc or doc["kind"] != "NetworkPolicy":
                continue
            policies += 1
            where = f"{os.path.basename(path)}: NetworkPolicy {doc['metadata']['name']}"
            for rule in doc["spec"].get("ingress", []):
                if rule.get("ports") != [{"port": "metrics", "protocol": "TCP"}]:
                    fail(f"{where}: ingress to {rule.get('ports')}, expected only the metrics port")
                if rule.get("from") != [prometheus]:
                    fail(f"{where}: ingress from {rule.get('from')}, expected only {prometheus}")
    if policies != 3:
        fail(f"{policies} NetworkPolicies rendered, expected one in each of the 3 kustomizations")

    print(f"deploy checks: rules file and PrometheusRule equal; {len(exprs)} expressions use known metrics; IAM read-only; "
          "ingress only from Prometheus to the metrics port")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_rule_crd()
    else:
        main(sys.argv[1])
