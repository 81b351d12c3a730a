//! Code before deploy: a CDK cloud assembly of 50 stacks holding 2,000
//! routes (with authorizers, integrations and stages), read and audited
//! with the built-in pack.
//!
//! `fleet_file` is the baseline measured in the same run: the same APIs
//! read from a fleet file (what `snapshot --iac` writes) and audited alike.
//! The figures to report are `cdk_out` per audit (the issue asks for under
//! 1 s) and its ratio to `fleet_file`: what reading templates, resolving
//! intrinsic functions and keeping positions cost over reading the model.
//!
//! A bench of `routewarden-core` (crates/core/Cargo.toml names this file).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use routewarden_core::diag::Diagnostics;
use routewarden_core::iac::{self, Options};
use routewarden_core::inventory::{self, Inventory};
use routewarden_core::policy::{PolicySet, PolicySource};
use serde_json::{Value, json};

const STACKS: usize = 50;
const ROUTES_PER_STACK: usize = 40;

/// One stack's template as `cdk synth` writes it: an HTTP API, a JWT and a
/// Lambda authorizer, an integration, 40 routes and a stage, references as
/// `Ref` and `Fn::Join`, pretty-printed with one-space indents.
fn stack(s: usize) -> Value {
    let api = format!("Api{s}9F8E7D6C");
    let mut resources = serde_json::Map::new();
    resources.insert(
        api.clone(),
        json!({"Type": "AWS::ApiGatewayV2::Api", "Properties": {
            "Name": format!("service-{s}"), "ProtocolType": "HTTP"}}),
    );
    resources.insert(
        format!("{api}Jwt"),
        json!({"Type": "AWS::ApiGatewayV2::Authorizer", "Properties": {
            "ApiId": {"Ref": api}, "AuthorizerType": "JWT", "Name": "jwt",
            "IdentitySource": ["$request.header.Authorization"],
            "JwtConfiguration": {"Audience": [format!("service-{s}")],
                "Issuer": {"Fn::Join": ["", ["https://cognito-idp.", {"Ref": "AWS::Region"}, ".amazonaws.com/pool"]]}}}}),
    );
    resources.insert(
        format!("{api}Lambda"),
        json!({"Type": "AWS::ApiGatewayV2::Authorizer", "Properties": {
            "ApiId": {"Ref": api}, "AuthorizerType": "REQUEST", "Name": "lambda",
            "AuthorizerPayloadFormatVersion": "2.0", "EnableSimpleResponses": true,
            "AuthorizerUri": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":apigateway:lambda/", {"Fn::GetAtt": ["Fn", "Arn"]}, "/invocations"]]}}}),
    );
    resources.insert(
        format!("{api}Integration"),
        json!({"Type": "AWS::ApiGatewayV2::Integration", "Properties": {
            "ApiId": {"Ref": api}, "IntegrationType": "AWS_PROXY", "PayloadFormatVersion": "2.0",
            "IntegrationUri": {"Fn::GetAtt": ["Fn", "Arn"]}}}),
    );
    resources.insert(
        "Fn".to_owned(),
        json!({"Type": "AWS::Lambda::Function", "Properties": {"Runtime": "nodejs24.x"}}),
    );
    let methods = ["GET", "POST", "PUT", "DELETE", "OPTIONS"];
    for r in 0..ROUTES_PER_STACK {
        let mut props = json!({
            "ApiId": {"Ref": api},
            "RouteKey": format!("{} /v1/resource{r}/{{id}}", methods[r % methods.len()]),
            "Target": {"Fn::Join": ["", ["integrations/", {"Ref": format!("{api}Integration")}]]},
        });
        match r % 4 {
            0 => props["AuthorizationType"] = json!("NONE"),
            1 => {
                props["AuthorizationType"] = json!("JWT");
                props["AuthorizerId"] = json!({"Ref": format!("{api}Jwt")});
                props["AuthorizationScopes"] = json!(["read"]);
            }
            2 => {
                props["AuthorizationType"] = json!("CUSTOM");
                props["AuthorizerId"] = json!({"Ref": format!("{api}Lambda")});
            }
            _ => props["AuthorizationType"] = json!("AWS_IAM"),
        }
        resources.insert(
            format!("{api}Route{r}A1B2C3D4"),
            json!({"Type": "AWS::ApiGatewayV2::Route", "Properties": props}),
        );
    }
    resources.insert(
        format!("{api}DefaultStage"),
        json!({"Type": "AWS::ApiGatewayV2::Stage", "Properties": {
            "ApiId": {"Ref": api}, "StageName": "$default", "AutoDeploy": true}}),
    );
    json!({"Resources": resources, "Parameters": {"BootstrapVersion": {
        "Type": "AWS::SSM::Parameter::Value<String>", "Default": "/cdk-bootstrap/hnb659fds/version"}}})
}

/// Writes the assembly: a manifest listing every stack, and their templates.
fn assembly(dir: &Path) {
    let mut artifacts = serde_json::Map::new();
    for s in 0..STACKS {
        let name = format!("Service{s}");
        let template = format!("{name}.template.json");
        let text = serde_json::to_string_pretty(&stack(s)).expect("serializes");
        std::fs::write(dir.join(&template), text).expect("writes");
        artifacts.insert(
            name.clone(),
            json!({"type": "aws:cloudformation:stack", "environment": "aws://unknown-account/unknown-region",
                   "properties": {"templateFile": template}, "displayName": name}),
        );
    }
    let manifest = json!({"version": "48.0.0", "artifacts": artifacts});
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).expect("writes");
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("cdk.out");
    std::fs::create_dir(&out).expect("creates");
    assembly(&out);
    let paths = [out.clone()];
    let options = Options::default();
    let policies = PolicySet::load(&[PolicySource::Builtin]).expect("the built-in pack loads");
    let today = time::macros::date!(2026 - 11 - 27);

    let read = iac::load(&paths, &options).expect("the assembly loads");
    let routes: usize = read.apis.iter().map(|a| a.routes.len()).sum();
    assert_eq!(routes, STACKS * ROUTES_PER_STACK);
    let fleet = dir.path().join("fleet.json");
    std::fs::write(&fleet, Inventory { apis: read.apis }.to_json()).expect("writes");

    let mut group = c.benchmark_group("iac_2000_routes");
    group.throughput(Throughput::Elements(routes as u64));
    group.sample_size(20);
    group.bench_function("fleet_file", |b| {
        b.iter(|| {
            let mut diags = Diagnostics::new();
            let (apis, _) = inventory::load_routes_file(&mut diags, &fleet).expect("loads");
            let mut findings = Vec::new();
            for api in &apis {
                policies.evaluate(api, today, &mut findings);
            }
            black_box(findings.len())
        });
    });
    group.bench_function("cdk_out", |b| {
        b.iter(|| {
            let read = iac::load(black_box(&paths), &options).expect("loads");
            let mut findings = Vec::new();
            for api in &read.apis {
                policies.evaluate(api, today, &mut findings);
            }
            black_box(findings.len())
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
