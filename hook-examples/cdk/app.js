// The hello canary as a CDK app: the same function, hooks, canary and alarm as the SAM
// template at the repository's root, deployed by CodeDeploy through LambdaDeploymentGroup.
//
// Rehearsed locally, from a fresh clone: `hook-examples/cdk/rehearse` (builds, synthesizes into
// target/examples/cdk/cdk.out, simulates). By hand, with the Lambda artifacts:
//
//   cargo lambda build --release --arm64      # target/lambda/<bin>/bootstrap
//   npx cdk synth --no-notices                # cdk.out/HelloStack.template.json
//   hook-sim simulate --template cdk.out/HelloStack.template.json
//
// HELLO_ASSETS names the folder holding hello/, pre-traffic/ and post-traffic/ with a
// `bootstrap` each (default: the workspace's target/lambda).
const path = require('path');
const cdk = require('aws-cdk-lib');
const lambda = require('aws-cdk-lib/aws-lambda');
const codedeploy = require('aws-cdk-lib/aws-codedeploy');
const cloudwatch = require('aws-cdk-lib/aws-cloudwatch');
const apigw = require('aws-cdk-lib/aws-apigatewayv2');

const assets = process.env.HELLO_ASSETS || path.join(__dirname, '..', '..', 'target', 'lambda');

const app = new cdk.App();
const stack = new cdk.Stack(app, 'HelloStack');

function rustFunction(id, binary, props) {
  return new lambda.Function(stack, id, {
    runtime: lambda.Runtime.PROVIDED_AL2023,
    architecture: lambda.Architecture.ARM_64,
    handler: 'bootstrap',
    code: lambda.Code.fromAsset(path.join(assets, binary)),
    memorySize: 128,
    timeout: cdk.Duration.seconds(10),
    ...props,
  });
}

// The function whose traffic shifts, behind the alias `live`.
const hello = rustFunction('Hello', 'hello', { description: 'Greets by name; the function the deployment ships.' });
const live = new lambda.Alias(stack, 'Live', { aliasName: 'live', version: hello.currentVersion });

// The HTTP API in front of the alias. Its integration names the alias by ARN (not the Alias
// construct): the alias depends on its hooks, and the post-traffic hook on the API's URL.
const api = new apigw.CfnApi(stack, 'HelloApi', { name: 'HelloStack-hello', protocolType: 'HTTP' });
const integration = new apigw.CfnIntegration(stack, 'HelloIntegration', {
  apiId: api.ref,
  integrationType: 'AWS_PROXY',
  integrationUri: `${hello.functionArn}:live`,
  payloadFormatVersion: '2.0',
});
new apigw.CfnRoute(stack, 'HelloRoute', {
  apiId: api.ref,
  routeKey: 'GET /hello',
  target: `integrations/${integration.ref}`,
});
new apigw.CfnStage(stack, 'HelloStage', { apiId: api.ref, stageName: '$default', autoDeploy: true });
const permission = new lambda.CfnPermission(stack, 'HelloApiPermission', {
  action: 'lambda:InvokeFunction',
  functionName: `${hello.functionArn}:live`,
  principal: 'apigateway.amazonaws.com',
  sourceArn: stack.formatArn({ service: 'execute-api', resource: api.ref, resourceName: '*/*/hello' }),
});
permission.node.addDependency(live);

// The hooks (hook-sdk, Rust). Each may read its deployment and revision, report its own
// status, and invoke versions and aliases of hello. LambdaDeploymentGroup grants only the
// report (PutLifecycleEventHookExecutionStatus); the rest is granted here and below.
const preHook = rustFunction('PreTrafficHook', 'pre-traffic', {
  description: 'BeforeAllowTraffic hook of hello (hook-sdk, Rust)',
  timeout: cdk.Duration.seconds(60),
});
const postHook = rustFunction('PostTrafficHook', 'post-traffic', {
  description: 'AfterAllowTraffic hook of hello (hook-sdk, Rust)',
  timeout: cdk.Duration.seconds(300),
  environment: { API_URL: `https://${api.ref}.execute-api.${stack.region}.${stack.urlSuffix}` },
});
for (const hook of [preHook, postHook]) {
  hook.addToRolePolicy(new cdk.aws_iam.PolicyStatement({
    actions: ['lambda:InvokeFunction'],
    resources: [`${hello.functionArn}:*`],
  }));
  hook.addToRolePolicy(new cdk.aws_iam.PolicyStatement({
    actions: ['codedeploy:GetApplicationRevision'],
    resources: [stack.formatArn({ service: 'codedeploy', resource: 'application', resourceName: '*', arnFormat: cdk.ArnFormat.COLON_RESOURCE_NAME })],
  }));
}

// Any error of the new version behind the alias stops and rolls back the deployment.
const errors = new cloudwatch.Alarm(stack, 'HelloErrors', {
  metric: new cloudwatch.Metric({
    namespace: 'AWS/Lambda',
    metricName: 'Errors',
    dimensionsMap: {
      FunctionName: hello.functionName,
      Resource: `${hello.functionName}:live`,
      ExecutedVersion: hello.currentVersion.version,
    },
    statistic: 'Sum',
    period: cdk.Duration.minutes(1),
  }),
  threshold: 0,
  evaluationPeriods: 1,
  comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
  treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
});

// 30 % for 3 minutes, then all of it: long enough for an error in the canary's first
// minute to reach the alarm before all traffic shifts.
const canary = new codedeploy.LambdaDeploymentConfig(stack, 'Canary30Percent3Minutes', {
  trafficRouting: new codedeploy.TimeBasedCanaryTrafficRouting({ interval: cdk.Duration.minutes(3), percentage: 30 }),
});

const deployment = new codedeploy.LambdaDeploymentGroup(stack, 'HelloDeployment', {
  alias: live,
  deploymentConfig: canary,
  alarms: [errors],
  preHook,
  postHook,
});

// Read the deployment (every hook); its target's lifecycle events and the canary's metrics
// (the post-traffic metrics check). GetMetricData has no resource-level permissions.
for (const hook of [preHook, postHook]) {
  hook.addToRolePolicy(new cdk.aws_iam.PolicyStatement({
    actions: ['codedeploy:GetDeployment'],
    resources: [deployment.deploymentGroupArn],
  }));
}
postHook.addToRolePolicy(new cdk.aws_iam.PolicyStatement({
  actions: ['codedeploy:ListDeploymentTargets', 'codedeploy:GetDeploymentTarget'],
  resources: [deployment.deploymentGroupArn],
}));
postHook.addToRolePolicy(new cdk.aws_iam.PolicyStatement({
  actions: ['cloudwatch:GetMetricData'],
  resources: ['*'],
}));

app.synth();
