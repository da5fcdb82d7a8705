//! The AWS clients a hook uses, the check engine's included.

/// The AWS clients a hook uses.
#[derive(Debug, Clone)]
pub struct Clients {
    /// For discovery (standard retries).
    pub codedeploy: aws_sdk_codedeploy::Client,
    /// For the status report: retries are the SDK's own, so the client's should be off.
    pub status: aws_sdk_codedeploy::Client,
    /// For invoking targets.
    pub lambda: aws_sdk_lambda::Client,
    /// For HTTP checks; `None`: the default client, made on the first HTTP check.
    #[cfg(feature = "checks")]
    pub http: Option<reqwest::Client>,
    /// For metrics checks; `None`: made from [`sdk_config`](Self::sdk_config) when a spec
    /// with a metrics check runs, and without one they fail as a set-up error.
    #[cfg(feature = "metrics")]
    pub cloudwatch: Option<aws_sdk_cloudwatch::Client>,
    /// The configuration the clients above came from, for the clients made only when needed
    /// (CloudWatch: most hooks read no metrics, and making a client costs a cold hook its
    /// endpoint rules and set-up).
    pub sdk_config: Option<aws_config::SdkConfig>,
}

impl Clients {
    /// Clients from an SDK config, with the status client's retries off.
    pub fn from_conf(config: &aws_config::SdkConfig) -> Self {
        let status = aws_sdk_codedeploy::config::Builder::from(config)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Clients {
            codedeploy: aws_sdk_codedeploy::Client::new(config),
            status: aws_sdk_codedeploy::Client::from_conf(status),
            lambda: aws_sdk_lambda::Client::new(config),
            #[cfg(feature = "checks")]
            http: None,
            #[cfg(feature = "metrics")]
            cloudwatch: None,
            sdk_config: Some(config.clone()),
        }
    }
}
