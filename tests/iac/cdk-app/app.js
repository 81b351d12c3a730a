// A small CDK app with the API Gateway v2 shapes routewarden audits: HTTP
// routes behind JWT and Lambda authorizers and unauthenticated ones, a
// WebSocket API whose $connect has a Lambda authorizer, stages with and
// without access logs. Plain JavaScript (no compile step); tests/iac/peers.sh
// synthesises it offline into target/cdk-out-test/cdk.out. What the synthesised
// templates hold is in EXPECTED.md: change both together.
//
// The stacks are environment-agnostic (no account or region), so synthesis
// needs no lookup and no credentials. Lambda code is inline: no assets.
'use strict';

const cdk = require('aws-cdk-lib');
const apigwv2 = require('aws-cdk-lib/aws-apigatewayv2');
const authorizers = require('aws-cdk-lib/aws-apigatewayv2-authorizers');
const integrations = require('aws-cdk-lib/aws-apigatewayv2-integrations');
const lambda = require('aws-cdk-lib/aws-lambda');
const logs = require('aws-cdk-lib/aws-logs');

const ISSUER = 'https://auth.example.com/';

function inlineFunction(scope, id, body) {
  return new lambda.Function(scope, id, {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline(`exports.handler = async (event) => { ${body} };`),
  });
}

class HttpStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);

    const handler = inlineFunction(this, 'OrdersHandler', 'return { statusCode: 200, body: "ok" };');
    const authFn = inlineFunction(this, 'AdminAuthorizerFn', 'return { isAuthorized: event.headers.authorization === "letmein" };');
    const orders = new integrations.HttpLambdaIntegration('OrdersIntegration', handler);

    // Every route without an authorizer of its own gets this one.
    const ordersJwt = new authorizers.HttpJwtAuthorizer('OrdersJwt', ISSUER, {
      jwtAudience: ['orders-api'],
    });

    const api = new apigwv2.HttpApi(this, 'OrdersApi', {
      apiName: 'orders-api',
      defaultAuthorizer: ordersJwt,
    });

    // GET /orders: the API's default authorizer.
    api.addRoutes({ path: '/orders', methods: [apigwv2.HttpMethod.GET], integration: orders });

    // POST /orders: the same JWT authorizer, with a scope.
    api.addRoutes({
      path: '/orders',
      methods: [apigwv2.HttpMethod.POST],
      integration: orders,
      authorizer: ordersJwt,
      authorizationScopes: ['orders/write'],
    });

    // GET /reports: a JWT authorizer with an empty audience list. CDK's
    // HttpJwtAuthorizer (and HttpAuthorizer) refuse one ("jwtAudience and
    // jwtIssuer are mandatory for JWT authorizers"), so it is made as users
    // do it: the L1 CfnAuthorizer, attached through an imported authorizer.
    const anyAudience = new apigwv2.CfnAuthorizer(this, 'AnyAudienceJwt', {
      apiId: api.apiId,
      name: 'any-audience',
      authorizerType: 'JWT',
      identitySource: ['$request.header.Authorization'],
      jwtConfiguration: { issuer: ISSUER, audience: [] },
    });
    api.addRoutes({
      path: '/reports',
      methods: [apigwv2.HttpMethod.GET],
      integration: orders,
      authorizer: apigwv2.HttpAuthorizer.fromHttpAuthorizerAttributes(this, 'AnyAudienceJwtRef', {
        authorizerId: anyAudience.ref,
        authorizerType: 'JWT',
      }),
    });

    // GET /admin: a Lambda authorizer (simple responses).
    api.addRoutes({
      path: '/admin',
      methods: [apigwv2.HttpMethod.GET],
      integration: orders,
      authorizer: new authorizers.HttpLambdaAuthorizer('AdminAuthorizer', authFn, {
        responseTypes: [authorizers.HttpLambdaResponseType.SIMPLE],
        identitySource: ['$request.header.Authorization'],
      }),
    });

    // GET /public and the CORS preflight: unauthenticated on purpose, which
    // with a default authorizer has to be said (HttpNoneAuthorizer).
    api.addRoutes({
      path: '/public',
      methods: [apigwv2.HttpMethod.GET],
      integration: orders,
      authorizer: new apigwv2.HttpNoneAuthorizer(),
    });
    api.addRoutes({
      path: '/orders',
      methods: [apigwv2.HttpMethod.OPTIONS],
      integration: orders,
      authorizer: new apigwv2.HttpNoneAuthorizer(),
    });

    // The default stage ($default, auto-deployed) has no access logs; a
    // second stage has them.
    const accessLogs = new logs.LogGroup(this, 'OrdersAccessLogs', { retention: logs.RetentionDays.ONE_MONTH });
    new apigwv2.HttpStage(this, 'OrdersProdStage', {
      httpApi: api,
      stageName: 'prod',
      autoDeploy: true,
      accessLogSettings: { destination: new apigwv2.LogGroupLogDestination(accessLogs) },
    });

    // An API without a default authorizer: a route given no authorizer.
    const status = new apigwv2.HttpApi(this, 'StatusApi', { apiName: 'status-api' });
    status.addRoutes({
      path: '/status',
      methods: [apigwv2.HttpMethod.GET],
      integration: new integrations.HttpUrlIntegration('StatusBackend', 'http://status.internal.example.com/health'),
    });
  }
}

class WebSocketStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);

    const handler = inlineFunction(this, 'ChatHandler', 'return { statusCode: 200 };');
    const authFn = inlineFunction(this, 'ConnectAuthorizerFn', 'return { principalId: "user", policyDocument: { Version: "2012-10-17", Statement: [] } };');
    const chat = (id) => new integrations.WebSocketLambdaIntegration(id, handler);

    const api = new apigwv2.WebSocketApi(this, 'ChatApi', {
      apiName: 'chat-api',
      connectRouteOptions: {
        integration: chat('ConnectIntegration'),
        authorizer: new authorizers.WebSocketLambdaAuthorizer('ConnectAuthorizer', authFn, {
          identitySource: ['route.request.querystring.token'],
        }),
      },
      disconnectRouteOptions: { integration: chat('DisconnectIntegration') },
      defaultRouteOptions: { integration: chat('DefaultIntegration') },
    });
    api.addRoute('sendmessage', { integration: chat('SendMessageIntegration') });

    new apigwv2.WebSocketStage(this, 'ChatProdStage', {
      webSocketApi: api,
      stageName: 'prod',
      autoDeploy: true,
    });
  }
}

const app = new cdk.App();
new HttpStack(app, 'RoutewardenHttp');
new WebSocketStack(app, 'RoutewardenWebSocket');
app.synth();
