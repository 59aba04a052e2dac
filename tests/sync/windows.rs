//! `spec.syncWindows`: windows hold back periodic refreshes (kind `deny` while one is open, kind
//! `allow` while none is), never a first sync or a `force-sync`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{World, text_data};

/// An ExternalSecret `name` refreshing every second from remote `remote`, with `windows` (YAML lines
/// under `spec`, 2 spaces deep) and annotation `force-sync: force`.
fn external_secret(name: &str, remote: &str, force: &str, windows: &str) -> String {
    format!(
        r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: {name}
  annotations: {{force-sync: "{force}"}}
spec:
  refreshInterval: 1s
  secretStoreRef: {{name: aws}}
{windows}
  data:
    - secretKey: value
      remoteRef: {{key: {remote}}}
"#
    )
}

/// Windows of `kind` open at every instant. One `* * * * *` window alone is closed for a second
/// after each `firing + duration` (ESO's rule: only the first firing after `now − duration − 1s`
/// counts); a second one, closed at other seconds, covers those gaps.
fn always_open(kind: &str) -> String {
    format!(
        "  syncWindows:\n    kind: {kind}\n    windows:\n      - {{schedule: \"* * * * *\", duration: 2h}}\n      - {{schedule: \"* * * * *\", duration: 2h30s}}"
    )
}

async fn value(world: &World, name: &str) -> Option<String> {
    text_data(&world.secret(name).await?).get("value").cloned()
}

/// `status.refreshTime` of ExternalSecret `name`.
async fn refreshed_at(world: &World, name: &str) -> Option<SystemTime> {
    let time = world.status(name).await?.refresh_time?;
    Some(SystemTime::from(time.0))
}

#[tokio::test]
async fn deny_windows_hold_back_periodic_refreshes_until_force_sync() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    world.put_remote("shared", "one").await;
    world
        .apply(&external_secret(
            "denied",
            "shared",
            "0",
            &always_open("deny"),
        ))
        .await;
    world
        .apply(&external_secret(
            "allowed",
            "shared",
            "0",
            &always_open("allow"),
        ))
        .await;
    // The first sync is not held back.
    for name in ["denied", "allowed"] {
        world
            .wait_secret(name, |s| text_data(s)["value"] == "one")
            .await;
        world.wait_ready(name, "SecretSynced").await;
    }

    world.put_remote("shared", "two").await;
    world
        .wait_secret("allowed", |s| text_data(s)["value"] == "two")
        .await;
    let changed = refreshed_at(&world, "allowed").await.expect("refreshTime");
    let denied_at = refreshed_at(&world, "denied").await;
    // Three more periodic refreshes of `allowed`; `denied` refreshes none.
    kseal_testenv::eventually("three more refreshes of allowed", || async {
        assert_eq!(
            value(&world, "denied").await.as_deref(),
            Some("one"),
            "a deny window holds the periodic refresh back"
        );
        assert_eq!(refreshed_at(&world, "denied").await, denied_at);
        let latest = refreshed_at(&world, "allowed").await?;
        (latest >= changed + Duration::from_secs(3)).then_some(())
    })
    .await;
    let ready = world.wait_ready("denied", "SecretSynced").await;
    assert_eq!(ready.status, "True", "held back is not an error");

    // A force-sync is a change of the ExternalSecret: windows do not hold it back.
    world
        .apply(&external_secret(
            "denied",
            "shared",
            "1",
            &always_open("deny"),
        ))
        .await;
    world
        .wait_secret("denied", |s| text_data(s)["value"] == "two")
        .await;
}

#[tokio::test]
async fn a_closed_allow_window_keeps_the_secret_unchanged() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    world.put_remote("closed-key", "one").await;
    // Open one minute a day, twelve hours from now.
    let hour = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600
        % 24;
    let windows = format!(
        "  syncWindows:\n    kind: allow\n    windows:\n      - {{schedule: \"0 {} * * *\", duration: 1m}}",
        (hour + 12) % 24
    );
    world
        .apply(&external_secret("closed", "closed-key", "0", &windows))
        .await;
    world
        .apply(&external_secret("open", "closed-key", "0", ""))
        .await;
    for name in ["closed", "open"] {
        world
            .wait_secret(name, |s| text_data(s)["value"] == "one")
            .await;
    }

    world.put_remote("closed-key", "two").await;
    world
        .wait_secret("open", |s| text_data(s)["value"] == "two")
        .await;
    let changed = refreshed_at(&world, "open").await.expect("refreshTime");
    kseal_testenv::eventually("three more refreshes of open", || async {
        assert_eq!(
            value(&world, "closed").await.as_deref(),
            Some("one"),
            "no periodic refresh while no allow window is open"
        );
        let latest = refreshed_at(&world, "open").await?;
        (latest >= changed + Duration::from_secs(3)).then_some(())
    })
    .await;
    world.wait_ready("closed", "SecretSynced").await;
}

#[tokio::test]
async fn a_window_duration_that_is_not_a_go_duration_is_invalid() {
    let world = World::new().await;
    world.apply(&world.aws_store("aws")).await;
    world.put_remote("bad-duration", "one").await;
    let windows = "  syncWindows:\n    kind: deny\n    windows:\n      - {schedule: \"@daily\", duration: 1h}\n      - {schedule: \"@daily\", duration: 1 day}";
    world
        .apply(&external_secret("bad", "bad-duration", "0", windows))
        .await;
    let ready = world.wait_ready("bad", "SecretSyncedError").await;
    assert_eq!(ready.status, "False");
    let message = ready.message.unwrap_or_default();
    assert!(
        message.contains("spec.syncWindows.windows[1].duration"),
        "{message}"
    );
    assert!(world.secret("bad").await.is_none(), "nothing is synced");
}
