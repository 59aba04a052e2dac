//! moto: Secrets Manager through the real AWS SDK, with exact call counts.

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use kseal_testenv::TestEnv;

#[tokio::test]
async fn moto_serves_secrets_manager_and_counts_calls() {
    let env = TestEnv::get().await;
    let account = env.aws_account();
    let client = account.secretsmanager_client().await;

    for (name, value) in [("db/password", "hunter2"), ("db/user", "admin")] {
        client
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
    let read = client
        .get_secret_value()
        .secret_id("db/password")
        .send()
        .await
        .unwrap();
    assert_eq!(read.secret_string(), Some("hunter2"));
    assert!(read.arn().unwrap().contains(account.account_id()));

    let batch = client
        .batch_get_secret_value()
        .secret_id_list("db/password")
        .secret_id_list("db/user")
        .send()
        .await
        .unwrap();
    let mut values: Vec<(&str, &str)> = batch
        .secret_values()
        .iter()
        .map(|v| (v.name().unwrap(), v.secret_string().unwrap()))
        .collect();
    values.sort();
    assert_eq!(values, [("db/password", "hunter2"), ("db/user", "admin")]);

    let missing = client
        .get_secret_value()
        .secret_id("absent")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("ResourceNotFoundException"));

    let counts = account.call_counts().await;
    assert_eq!(counts.get("CreateSecret"), Some(&2), "{counts:?}");
    assert_eq!(counts.get("GetSecretValue"), Some(&2), "{counts:?}");
    assert_eq!(counts.get("BatchGetSecretValue"), Some(&1), "{counts:?}");
    assert_eq!(counts.len(), 3, "{counts:?}");
}

#[tokio::test]
async fn moto_accounts_are_isolated() {
    let env = TestEnv::get().await;
    let (first, second) = (env.aws_account(), env.aws_account());
    first
        .secretsmanager_client()
        .await
        .create_secret()
        .name("only-in-first")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    let listed = second
        .secretsmanager_client()
        .await
        .list_secrets()
        .send()
        .await
        .unwrap();
    assert!(listed.secret_list().is_empty());
    assert_eq!(second.call_count("CreateSecret").await, 0);
    assert_eq!(first.call_count("CreateSecret").await, 1);
}
