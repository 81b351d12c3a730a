#!/usr/bin/env python3
"""Translate a SAM template into CloudFormation JSON with AWS's own translator, offline.

    sam_translate.py IN.yaml OUT.json [--region REGION] [--param NAME=VALUE ...] [--no-package]

OUT.json may be `-` for standard output. The input is YAML (short-form tags such
as !Ref, !GetAtt, !Sub included) or JSON. A template without a `Transform` gets
`Transform: AWS::Serverless-2016-10-31` (SAM's own translator tests keep their
inputs without it).

The template is translated as `sam package` leaves it for CloudFormation: a
local artifact (a function's `CodeUri`, absent `CodeUri` meaning the template's
folder; a layer's `ContentUri`; an API's or state machine's `DefinitionUri`
naming a local file) becomes an S3 location in a placeholder bucket, because
the translator accepts S3 locations only. Nothing is read or uploaded.
`--no-package` translates the template as it is.

Nothing here reaches AWS: the region comes from the command line (default
us-east-1), not from a boto session's configuration, and the managed-policy
loader is a stub that knows no policy (the translator then uses the map it
ships). Translation errors are printed and exit 1.
"""

import argparse
import json
import os
import sys

# Before boto3 is imported: no profile, config or credentials file of the
# machine's user, no instance metadata. The translator reads only the region.
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ.pop("AWS_PROFILE", None)

import boto3  # noqa: E402
import yaml  # noqa: E402
from samtranslator.model.exceptions import InvalidDocumentException  # noqa: E402
from samtranslator.parser.parser import Parser  # noqa: E402
from samtranslator.translator.translator import Translator  # noqa: E402
from samtranslator.yaml_helper import intrinsics_multi_constructor  # noqa: E402

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


class TemplateLoader(yaml.SafeLoader):
    """samtranslator's YAML reading (its short-form tag constructor), without
    YAML timestamps: CloudFormation reads `AWSTemplateFormatVersion: 2010-09-09`
    as the string it is, not as a date."""


TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
TemplateLoader.add_multi_constructor("!", intrinsics_multi_constructor)


def parse_template(text):
    return yaml.load(text, Loader=TemplateLoader)  # noqa: S506 (a SafeLoader)


class OfflinePolicyLoader:
    """The managed-policy loader the translator asks for, without IAM."""

    def load(self):
        return {}


def with_transform(template):
    transform = template.get("Transform")
    if transform is None:
        template["Transform"] = SAM_TRANSFORM
    elif isinstance(transform, str) and transform != SAM_TRANSFORM:
        template["Transform"] = [transform, SAM_TRANSFORM]
    elif isinstance(transform, list) and SAM_TRANSFORM not in transform:
        transform.append(SAM_TRANSFORM)
    return template


PLACEHOLDER_BUCKET = "sam-translate-placeholder"

# Resource type -> the property `sam package` uploads.
ARTIFACTS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


def _local(value):
    return isinstance(value, str) and not value.startswith("s3://")


def _placeholder(path):
    key = path.strip("./") or "template-folder"
    return f"s3://{PLACEHOLDER_BUCKET}/{key}"


def as_packaged(template):
    """Local artifacts as `sam package` replaces them (S3 locations), nothing read."""
    glob_fn = (template.get("Globals") or {}).get("Function") or {}
    if _local(glob_fn.get("CodeUri")):
        glob_fn["CodeUri"] = _placeholder(glob_fn["CodeUri"])
    for resource in (template.get("Resources") or {}).values():
        if not isinstance(resource, dict):
            continue
        prop = ARTIFACTS.get(resource.get("Type"))
        if prop is None:
            continue
        props = resource.setdefault("Properties", {})
        if not isinstance(props, dict):
            continue
        if _local(props.get(prop)):
            props[prop] = _placeholder(props[prop])
        elif prop == "CodeUri" and prop not in props:
            # No CodeUri: the SAM CLI packages the template's folder, unless the
            # code is inline or an image (here or in Globals).
            inline = "InlineCode" in props or "InlineCode" in glob_fn
            image = props.get("PackageType", glob_fn.get("PackageType")) == "Image"
            if not inline and not image and "CodeUri" not in glob_fn:
                props["CodeUri"] = _placeholder(".")
    return template


def translate(template, region, params):
    session = boto3.session.Session(region_name=region)
    loader = OfflinePolicyLoader()
    translator = Translator(None, Parser(), boto_session=session)
    return translator.translate(
        template,
        parameter_values=dict(params),
        get_managed_policy_map=loader.load,
    )


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="SAM template (YAML or JSON)")
    ap.add_argument("output", help="CloudFormation JSON to write, or - for standard output")
    ap.add_argument("--region", default="us-east-1", help="region the translation assumes (default us-east-1)")
    ap.add_argument("--no-package", action="store_true", help="leave local artifacts as they are")
    ap.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a template parameter's value"
    )
    args = ap.parse_args(argv)

    params = {}
    for p in args.param:
        name, sep, value = p.partition("=")
        if not sep or not name:
            ap.error(f"--param wants NAME=VALUE, got {p!r}")
        params[name] = value

    try:
        with open(args.input, encoding="utf-8") as f:
            template = parse_template(f.read())
    except (OSError, yaml.YAMLError) as e:
        print(f"{args.input}: {e}", file=sys.stderr)
        return 1
    if not isinstance(template, dict):
        print(f"{args.input}: not a template (a mapping at the top level)", file=sys.stderr)
        return 1

    template = with_transform(template)
    if not args.no_package:
        template = as_packaged(template)
    try:
        out = translate(template, args.region, params)
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"{args.input}: {cause.message}", file=sys.stderr)
        return 1

    text = json.dumps(out, indent=2, sort_keys=False) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
