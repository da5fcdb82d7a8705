//! Discovery against an independent peer: a Lambda deployment created through moto
//! server's CodeDeploy API is found by hook-sdk with the right phase and targets.

use aws_sdk_codedeploy::types::{
    AppSpecContent, ComputePlatform, DeploymentOption, DeploymentStyle, DeploymentType, RevisionLocation,
    RevisionLocationType,
};
use hook_sdk::deployment::{DiscoverySettings, discover};
use hook_sdk::{Phase, Target};
use integration_tests::Moto;

async fn client(endpoint: &str) -> aws_sdk_codedeploy::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_codedeploy::config::Credentials::for_tests())
        .load()
        .await;
    aws_sdk_codedeploy::Client::new(&config)
}

const APPSPEC: &str = r#"version: 0.0
Resources:
  - HelloFunction:
      Type: AWS::Lambda::Function
      Properties:
        Name: hello-fn
        Alias: live
        CurrentVersion: 3
        TargetVersion: 4
Hooks:
  - BeforeAllowTraffic: arn:aws:lambda:us-east-1:123456789012:function:CodeDeployHook_pre
  - AfterAllowTraffic: CodeDeployHook_post
"#;

#[tokio::test]
async fn discovers_a_deployment_created_in_moto() {
    let moto = Moto::start();
    let cd = client(&moto.endpoint).await;
    cd.create_application()
        .application_name("hello-app")
        .compute_platform(ComputePlatform::Lambda)
        .send()
        .await
        .expect("CreateApplication");
    cd.create_deployment_group()
        .application_name("hello-app")
        .deployment_group_name("hello-group")
        .deployment_config_name("CodeDeployDefault.LambdaCanary10Percent5Minutes")
        .service_role_arn("arn:aws:iam::123456789012:role/CodeDeployServiceRole")
        .deployment_style(
            DeploymentStyle::builder()
                .deployment_type(DeploymentType::BlueGreen)
                .deployment_option(DeploymentOption::WithTrafficControl)
                .build(),
        )
        .send()
        .await
        .expect("CreateDeploymentGroup");
    let created = cd
        .create_deployment()
        .application_name("hello-app")
        .deployment_group_name("hello-group")
        .revision(
            RevisionLocation::builder()
                .revision_type(RevisionLocationType::AppSpecContent)
                .app_spec_content(AppSpecContent::builder().content(APPSPEC).build())
                .build(),
        )
        .send()
        .await
        .expect("CreateDeployment");
    let id = created.deployment_id().expect("a deployment id").to_string();

    for (hook, phase) in [
        ("CodeDeployHook_pre", Phase::BeforeAllowTraffic),
        ("CodeDeployHook_post", Phase::AfterAllowTraffic),
    ] {
        let settings = DiscoverySettings {
            function_name: hook.to_string(),
            ..Default::default()
        };
        let d = discover(&cd, &id, &settings).await.expect("discovery");
        assert_eq!(d.id, id);
        assert_eq!(d.phase, phase);
        assert_eq!(d.application.as_deref(), Some("hello-app"));
        assert_eq!(d.deployment_group.as_deref(), Some("hello-group"));
        assert_eq!(
            d.config_name.as_deref(),
            Some("CodeDeployDefault.LambdaCanary10Percent5Minutes")
        );
        assert_eq!(
            d.targets,
            [Target {
                logical_id: "HelloFunction".into(),
                function: "hello-fn".into(),
                alias: Some("live".into()),
                current_version: Some("3".into()),
                target_version: "4".into(),
            }]
        );
    }

    let missing = discover(&cd, "d-DOESNOTEXIST", &DiscoverySettings::default())
        .await
        .unwrap_err();
    assert!(
        missing.to_string().contains("GetDeployment(d-DOESNOTEXIST) failed"),
        "{missing}"
    );
}
