use super::*;
use crate::diag::Diagnostics;

fn apis(text: &str) -> (Read, Diagnostics) {
    super::super::read_text("t.yaml", text, &Options::default())
}

const HTTP: &str = r#"
Parameters:
  Env: {Type: String, Default: prod}
  AuthType: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: !Sub "pets-${Env}", ProtocolType: HTTP}
  Jwt:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Api
      AuthorizerType: JWT
      Name: jwt
      IdentitySource: ["$request.header.Authorization"]
      JwtConfiguration: {Audience: [], Issuer: https://issuer}
  Open:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: GET /public}
  Guarded:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: GET /pets
      AuthorizationType: JWT
      AuthorizerId: !Ref Jwt
      Target: !Sub integrations/${Backend}
  Chosen:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !GetAtt Api.ApiId
      RouteKey: $default
      AuthorizationType: !If [IsProd, JWT, NONE]
  Param:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: POST /x, AuthorizationType: !Ref AuthType}
  Backend:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref Api, IntegrationType: HTTP_PROXY, IntegrationUri: http://example.com, IntegrationMethod: ANY}
"#;

#[test]
fn resources_references_conditions_and_unknown_parameters() {
    let (read, diags) = apis(HTTP);
    assert!(diags.is_empty(), "{diags:?}");
    let api = &read.apis[0];
    assert_eq!(&*api.api_id, "Api");
    assert_eq!(api.name.as_deref(), Some("pets-prod"));
    let route = |key: &str| api.routes.iter().find(|r| r.route_key == key).unwrap();
    assert_eq!(
        route("GET /public").authorization_type.as_deref(),
        Some("NONE")
    );
    assert_eq!(route("GET /pets").authorizer_id.as_deref(), Some("Jwt"));
    assert_eq!(
        route("GET /pets").target.as_deref(),
        Some("integrations/Backend")
    );
    assert_eq!(route("$default").authorization_type.as_deref(), Some("JWT"));
    assert_eq!(route("POST /x").authorization_type, None);
    assert_eq!(api.unknown.len(), 1, "{:?}", api.unknown);
    assert_eq!(api.unknown[0].key, "POST /x");
    assert_eq!(api.unknown[0].field, "authorization_type");
    assert!(api.unknown[0].reason.contains("AuthType has no default"));
    let line = route("GET /pets").line;
    assert_eq!((line.0, line.1), (Some(22), Some(3)));
    let jwt = &api.authorizers.as_ref().unwrap()[0];
    assert_eq!(
        jwt.jwt_configuration.as_ref().unwrap().audience,
        Some(vec![])
    );
}

#[test]
fn references_to_nothing_are_errors_with_positions() {
    let (_, diags) = apis(
        "Resources:\n  R:\n    Type: AWS::ApiGatewayV2::Route\n    Properties: {ApiId: !Ref Nope, RouteKey: GET /}\n",
    );
    let problem = &diags.problems()[0];
    assert!(problem.message.contains("`Nope` is neither"), "{problem:?}");
    assert_eq!(diags.position(problem), "t.yaml:4:30");
}

/// SAM's translator tests keep their inputs without the `Transform` line
/// (the SAM corpus has them): such a template is an error, not "0 APIs".
#[test]
fn a_sam_resource_without_sams_transform_is_an_error_with_its_position() {
    let sam = "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        Get: {Type: HttpApi, Properties: {Path: /, Method: get}}\n";
    let (read, diags) = apis(sam);
    let problem = &diags.problems()[0];
    assert!(
        problem
            .message
            .contains("`AWS::Serverless::Function` is a SAM resource, but the template's `Transform` does not include `AWS::Serverless-2016-10-31`"),
        "{problem:?}"
    );
    assert_eq!(diags.position(problem), "t.yaml:3:11");
    assert!(read.apis.is_empty());
    // With the transform it is a SAM template, read without a problem.
    let (read, diags) = apis(&format!("Transform: AWS::Serverless-2016-10-31\n{sam}"));
    assert!(diags.problems().is_empty(), "{:?}", diags.problems());
    assert_eq!(read.apis.len(), 1);
}

#[test]
fn quick_create_has_its_managed_route_and_overrides_apply() {
    let text = r#"{"Resources": {
  "Quick": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"Name": "q", "ProtocolType": "HTTP", "Target": "arn:aws:lambda:eu-west-1:1:function:f"}},
  "Jwt": {"Type": "AWS::ApiGatewayV2::Authorizer", "Properties": {"ApiId": {"Ref": "Quick"}, "AuthorizerType": "JWT", "Name": "j", "JwtConfiguration": {"Audience": ["a"], "Issuer": "https://i"}}},
  "Over": {"Type": "AWS::ApiGatewayV2::ApiGatewayManagedOverrides", "Properties": {"ApiId": {"Ref": "Quick"}, "Route": {"AuthorizationType": "JWT", "AuthorizerId": {"Ref": "Jwt"}}}}
}}"#;
    let (read, diags) = apis(text);
    assert!(diags.is_empty(), "{diags:?}");
    let api = &read.apis[0];
    assert_eq!(api.routes.len(), 1);
    let route = &api.routes[0];
    assert_eq!(route.route_key, "$default");
    assert_eq!(route.authorization_type.as_deref(), Some("JWT"));
    assert_eq!(route.authorizer_id.as_deref(), Some("Jwt"));
    assert_eq!(
        api.integrations.as_ref().unwrap()[0]
            .integration_type
            .as_deref(),
        Some("AWS_PROXY")
    );
    assert_eq!(api.stages.as_ref().unwrap()[0].stage_name, "$default");
}

#[test]
fn conditions_name_conditions_in_long_form() {
    // How SAM's translation combines the conditions of the functions that
    // share an implicit API.
    let (read, diags) = apis(
        r#"{"Conditions": {
  "No": {"Fn::Equals": ["a", "b"]},
  "Yes": {"Fn::Equals": ["a", "a"]},
  "Either": {"Fn::Or": [{"Condition": "No"}, {"Condition": "Yes"}]},
  "Both": {"Fn::And": [{"Condition": "No"}, {"Condition": "Yes"}]}
}, "Resources": {
  "Kept": {"Type": "AWS::ApiGatewayV2::Api", "Condition": "Either", "Properties": {"Name": "kept", "ProtocolType": "HTTP"}},
  "Dropped": {"Type": "AWS::ApiGatewayV2::Api", "Condition": "Both", "Properties": {"Name": "dropped", "ProtocolType": "HTTP"}}
}}"#,
    );
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(read.apis.len(), 1);
    assert_eq!(&*read.apis[0].api_id, "Kept");
    assert!(
        read.apis[0].unknown.is_empty(),
        "{:?}",
        read.apis[0].unknown
    );
}

#[test]
fn allowed_values_of_a_parameter_without_a_default_are_kept() {
    let text = "Parameters:\n  Auth: {Type: String, AllowedValues: [NONE, AWS_IAM]}\nResources:\n  Api:\n    Type: AWS::ApiGatewayV2::Api\n    Properties: {Name: a, ProtocolType: HTTP}\n  R:\n    Type: AWS::ApiGatewayV2::Route\n    Properties: {ApiId: !Ref Api, RouteKey: GET /x, AuthorizationType: !Ref Auth}\n";
    let (read, diags) = apis(text);
    assert!(diags.is_empty(), "{diags:?}");
    let unknown = &read.apis[0].unknown[0];
    assert_eq!(unknown.field, "authorization_type");
    assert_eq!(
        unknown.values.as_deref(),
        Some(&["NONE".to_owned(), "AWS_IAM".to_owned()][..])
    );
}
