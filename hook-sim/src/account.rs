//! The account and region hook-sim claims to be, in every ARN it makes.

/// The region hook-sim claims to be.
pub const REGION: &str = "us-east-1";
/// The account id in the ARNs hook-sim makes.
pub const ACCOUNT_ID: &str = "123456789012";
