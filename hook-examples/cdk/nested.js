// The hello canary as a CDK app tested by the packaged hook (packaging/shared-hook) nested in
// its stack: no hook code of its own. `aws_sam.CfnApplication` nests the application (the
// SAM transform is added for it); its HookName output is the deployment group's hook.
//
// Rehearsed locally, from a fresh clone: `hook-examples/cdk/rehearse --app nested.js`. Once the
// application is published, its `location` is `{ applicationId, semanticVersion }` instead of
// the path to the template.
const path = require('path');
const cdk = require('aws-cdk-lib');
const lambda = require('aws-cdk-lib/aws-lambda');
const codedeploy = require('aws-cdk-lib/aws-codedeploy');
const sam = require('aws-cdk-lib/aws-sam');

const assets = process.env.HELLO_ASSETS || path.join(__dirname, '..', '..', 'target', 'lambda');

const app = new cdk.App();
const stack = new cdk.Stack(app, 'NestedHookStack');

// The function whose traffic shifts, behind the alias `live`. Its tag lets the hook test it.
const hello = new lambda.Function(stack, 'Hello', {
  runtime: lambda.Runtime.PROVIDED_AL2023,
  architecture: lambda.Architecture.ARM_64,
  handler: 'bootstrap',
  code: lambda.Code.fromAsset(path.join(assets, 'hello')),
  memorySize: 128,
  timeout: cdk.Duration.seconds(10),
  description: 'Greets by name; the function the deployment ships.',
});
cdk.Tags.of(hello).add('smoke-hook', 'shared');
const live = new lambda.Alias(stack, 'Live', { aliasName: 'live', version: hello.currentVersion });

// The packaged hook, with its spec.
const smokeHook = new sam.CfnApplication(stack, 'SmokeHook', {
  location: path.join(__dirname, '..', '..', 'packaging', 'shared-hook', 'template.yaml'),
  parameters: {
    HookName: `${stack.stackName}-smoke`,
    Spec: [
      'version: 1',
      'checks:',
      '  - name: greets the canary',
      '    invoke: { payload: { name: canary } }',
      '    expect:',
      '      json:',
      '        $.statusCode: 200',
      '        $.body.message: "Hello, canary!"',
    ].join('\n'),
  },
});
const hook = lambda.Function.fromFunctionName(stack, 'SmokeHookFunction', smokeHook.getAtt('Outputs.HookName').toString());
// LambdaDeploymentGroup would grant a hook the right to report its status; the packaged hook's
// own role has it already, and CDK cannot add to a role it does not know.
cdk.Annotations.of(hook).acknowledgeWarning('@aws-cdk/aws-iam:unknownPrincipalAddStatementToRole',
  'the packaged hook may report its own status');

new codedeploy.LambdaDeploymentGroup(stack, 'HelloDeployment', {
  alias: live,
  deploymentConfig: codedeploy.LambdaDeploymentConfig.CANARY_10PERCENT_5MINUTES,
  preHook: hook,
  postHook: hook,
});

app.synth();
