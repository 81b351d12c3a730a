"""Deployment checks that need a YAML parser: split rendered manifests into
JSON for the CRD validator, check the PrometheusRule equals the rules file,
check that every metric the dashboard and rules use is one routewarden
exports (the metrics contract), check that the NetworkPolicy, as rendered,
admits the metrics port only from Prometheus's pods in its namespace, and
check the IAM material for organizations: the management policy grants exactly
the Organizations reads, the StackSet's member role has deploy/iam/policy.json
and demands the external id, and the example overlay's config, the StackSet and
the assume-role policy name the same roles.

Usage: python check.py RENDERED_DIR
       python check.py --write    (regenerate the PrometheusRule from rules.yml)"""

import glob
import json
import os
import re
import sys
import tomllib

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
    "routewarden_drift_parts", "routewarden_task_failures_total", "routewarden_account_up",
    "routewarden_organization_accounts", "routewarden_organization_last_listing_timestamp_seconds",
    "routewarden_exemption_expiry_timestamp_seconds", "routewarden_exemption_matched_findings",
}


def fail(message):
    print(f"deploy check: {message}", file=sys.stderr)
    sys.exit(1)


# What the management account's role may do (deploy/iam/organization-read.json):
# these reads and nothing else.
ORGANIZATION_READS = {
    "organizations:DescribeOrganization", "organizations:ListAccounts", "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent", "organizations:ListParents",
    "organizations:ListTagsForResource",
}


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics: `!Ref X` loads as
    {"Ref": X}, `!GetAtt A.B` as {"Fn::GetAtt": ["A", "B"]}, `!Sub S` as
    {"Fn::Sub": S}, and so on."""


def _cfn_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def as_list(value):
    return value if isinstance(value, list) else [value]


def statements(document):
    return as_list(document["Statement"])


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

    # 6. Organizations (docs/deploy.md, "Whole AWS Organizations").
    organization_iam = check_organization_iam(rendered)

    print(f"deploy checks: rules file and PrometheusRule equal; {len(exprs)} expressions use known metrics; IAM read-only; "
          f"ingress only from Prometheus to the metrics port; {organization_iam}")


def check_organization_iam(rendered):
    iam = os.path.join(ROOT, "deploy/iam")
    load = lambda name: json.load(open(os.path.join(iam, name)))

    # The management role's policy: exactly the Organizations reads, allowed
    # outright (no NotAction, NotResource, Deny or condition to reason about).
    granted = set()
    for s in statements(load("organization-read.json")):
        if s.get("Effect") != "Allow" or set(s) - {"Sid", "Effect", "Action", "Resource"}:
            fail(f"organization-read.json: a statement other than a plain Allow of actions on resources: {s}")
        granted |= set(as_list(s["Action"]))
    if granted != ORGANIZATION_READS:
        fail("organization-read.json grants "
             f"{sorted(granted)}: extra {sorted(granted - ORGANIZATION_READS)}, "
             f"missing {sorted(ORGANIZATION_READS - granted)}")

    # The StackSet's member role: policy.json's document, nothing else, and a
    # trust policy that admits only the routewarden role parameter, only with
    # the external id parameter, which has no default and is not echoed.
    path = os.path.join(iam, "member-role-stackset.yaml")
    template = yaml.load(open(path), Loader=CfnLoader)
    where = "deploy/iam/member-role-stackset.yaml"
    roles = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    if list(roles) != ["MemberRole"] or len(template["Resources"]) != 1:
        fail(f"{where}: expected one resource, the IAM role MemberRole; found {sorted(template['Resources'])}")
    props = roles["MemberRole"]["Properties"]
    for widening in ["ManagedPolicyArns", "PermissionsBoundary"]:
        if widening in props:
            fail(f"{where}: MemberRole has {widening}; its only permissions are deploy/iam/policy.json's")
    documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
    if documents != [load("policy.json")]:
        fail(f"{where}: MemberRole's policies {documents} differ from deploy/iam/policy.json")
    params = template["Parameters"]
    trust = statements(props["AssumeRolePolicyDocument"])
    expected_trust = {
        "Effect": "Allow", "Principal": {"AWS": {"Ref": "RoutewardenRoleArn"}}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}},
    }
    if trust != [expected_trust]:
        fail(f"{where}: MemberRole's trust policy {trust}, expected only {expected_trust}")
    if params["ExternalId"].get("NoEcho") is not True or "Default" in params["ExternalId"]:
        fail(f"{where}: the ExternalId parameter must be NoEcho and have no default (it is required)")
    if "Default" in params["RoutewardenRoleArn"]:
        fail(f"{where}: the RoutewardenRoleArn parameter must have no default (it is required)")
    member_role = params["RoleName"]["Default"]

    # The example overlay ships an organization config (its ConfigMap, as
    # rendered, is the overlay's routewarden.toml) that names the StackSet's
    # role, a management role, and roles routewarden's own role may assume.
    overlay_toml = "deploy/kubernetes/overlays/example/routewarden.toml"
    for rendering, source in [("base.yaml", "config/routewarden.toml"),
                              ("example.yaml", overlay_toml), ("sharded.yaml", overlay_toml)]:
        maps = [d for d in yaml.safe_load_all(open(os.path.join(rendered, rendering)))
                if d and d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("routewarden-config")]
        if [m["data"].get("routewarden.toml") for m in maps] != [open(os.path.join(ROOT, source)).read()]:
            fail(f"{rendering}: the config ConfigMap is not {source}")
    organizations = tomllib.load(open(os.path.join(ROOT, overlay_toml), "rb")).get("organizations", [])
    if not organizations:
        fail(f"{overlay_toml}: no [[organizations]] block")
    assumable = {r for s in statements(load("assume-target-roles.json")) for r in as_list(s["Resource"])
                 if s["Effect"] == "Allow" and as_list(s["Action"]) == ["sts:AssumeRole"]}
    for org in organizations:
        if org["member_role_name"] != member_role:
            fail(f"the example's organization {org['name']!r} assumes {org['member_role_name']!r}, "
                 f"the StackSet creates {member_role!r}")
        for arn in [f"arn:aws:iam::*:role/{org['member_role_name']}", org.get("management_role_arn")]:
            if arn and arn not in assumable:
                fail(f"deploy/iam/assume-target-roles.json does not let routewarden's role assume {arn}")
    return (f"organizations: the management policy grants exactly {len(ORGANIZATION_READS)} reads, "
            f"the StackSet role has policy.json and requires the external id, "
            f"the example overlay's {len(organizations)} organization(s) match them")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_rule_crd()
    else:
        main(sys.argv[1])
