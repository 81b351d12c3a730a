"""Deploys the API Gateway v2 resources of a CloudFormation template into an
emulator with boto3, as CloudFormation would with the parameters' defaults:
what tests/iac.rs compares the code with (moto has no CloudFormation support
for API Gateway v2, so this plays CloudFormation's part).

    deploy_to_moto.py TEMPLATE ENDPOINT [NAME=VALUE ...]
        -> prints {"LogicalId": "physical id", ...}

NAME=VALUE give parameters over their defaults.

Templates are read with cfn-lint's decoder (YAML short-form tags included).
Only what the test fixtures use is evaluated: Ref, Fn::Sub, Fn::Join, Fn::If
with Fn::Equals conditions, Fn::GetAtt (an ARN made up for the resource) and
AWS::NoValue. Runs with the IaC venv's python (boto3 comes with the SAM
translator); credentials are the tests' dummy ones.
"""

import json
import re
import sys

import boto3
from cfnlint.decode import decode_str

NO_VALUE = object()


def main():
    path, endpoint = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        template, errors = decode_str(f.read())
    if errors:
        sys.exit(f"{path}: {errors}")
    client = boto3.client(
        "apigatewayv2",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDROUTEWARDENTEST",
        aws_secret_access_key="routewarden-test-secret-key",
    )
    resources = template.get("Resources", {})
    params = {k: v.get("Default") for k, v in template.get("Parameters", {}).items()}
    params.update(arg.split("=", 1) for arg in sys.argv[3:])
    ids = {}

    def condition(name):
        return truth(template["Conditions"][name])

    def truth(node):
        (fn, args), = node.items()
        if fn == "Fn::Equals":
            return value(args[0]) == value(args[1])
        if fn == "Fn::Not":
            return not truth(args[0])
        if fn == "Condition":
            return condition(args)
        raise SystemExit(f"condition {fn} is not evaluated here")

    def value(node):
        if isinstance(node, list):
            return [v for v in (value(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (fn, args), = node.items()
            if fn == "Ref":
                if args == "AWS::NoValue":
                    return NO_VALUE
                if args in params:
                    return params[args]
                if args in ids:
                    return ids[args]
                return f"arn:aws:lambda:us-east-1:123456789012:function:{args}"
            if fn == "Fn::GetAtt":
                name, attribute = args.split(".", 1) if isinstance(args, str) else args
                if attribute in ("ApiId", "AuthorizerId", "IntegrationId") and name in ids:
                    return ids[name]
                return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
            if fn == "Fn::Sub":
                text = args if isinstance(args, str) else args[0]
                return re.sub(
                    r"\$\{([^}!]+)\}",
                    lambda m: str(value({"Ref": m.group(1)} if "." not in m.group(1)
                                        else {"Fn::GetAtt": m.group(1)})),
                    text,
                )
            if fn == "Fn::Join":
                return args[0].join(str(value(a)) for a in value(args[1]))
            if fn == "Fn::If":
                return value(args[1] if condition(args[0]) else args[2])
        return {k: v for k, v in ((k, value(v)) for k, v in node.items()) if v is not NO_VALUE}

    def props(logical):
        resource = resources[logical]
        if "Condition" in resource and not condition(resource["Condition"]):
            return None
        return value(resource.get("Properties", {}))

    def of_type(kind):
        return [k for k, r in resources.items() if r.get("Type") == kind]

    for logical in of_type("AWS::ApiGatewayV2::Api"):
        p = props(logical)
        if p is None:
            continue
        ids[logical] = client.create_api(
            Name=p["Name"], ProtocolType=p["ProtocolType"],
            **({"RouteSelectionExpression": p["RouteSelectionExpression"]}
               if "RouteSelectionExpression" in p else {}),
        )["ApiId"]
    for logical in of_type("AWS::ApiGatewayV2::Authorizer"):
        p = props(logical)
        if p is None:
            continue
        ids[logical] = client.create_authorizer(**p)["AuthorizerId"]
    for logical in of_type("AWS::ApiGatewayV2::Integration"):
        p = props(logical)
        if p is None:
            continue
        ids[logical] = client.create_integration(**p)["IntegrationId"]
    for logical in of_type("AWS::ApiGatewayV2::Route"):
        p = props(logical)
        if p is None:
            continue
        ids[logical] = client.create_route(**p)["RouteId"]
    json.dump(ids, sys.stdout)


if __name__ == "__main__":
    main()
