//! Migration from ESO to kseal in one namespace, in a private environment (its CRDs are replaced):
//! ESO is installed as a platform team has it (ESO's own CRDs from its bundle) and syncs
//! ExternalSecrets; ESO is killed (uninstalled: its CRDs stay, as Helm keeps them); kseal's CRDs are
//! applied over ESO's (server-side, forced, as `docs/migration-from-eso.md` says); kseal's sync starts.
//! Every Secret keeps its uid and its bytes, the ExternalSecrets are reconciled by kseal and `Ready`, a
//! remote change reaches the same Secret, and deleting an ExternalSecret completes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kseal_testenv::{TestEnv, eventually};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};

use crate::controller::{ESO_CRDS, Eso, eso_crd};
use crate::{MANAGER, external_secrets, ready_condition, start_kseal};

/// The Secrets the ExternalSecrets of the test write.
const SECRETS: &[&str] = &["owned", "templated", "merge-target"];

#[tokio::test]
async fn a_namespace_synced_by_eso_moves_to_kseal_without_recreating_secrets() {
    let env = TestEnv::isolated().await;
    let crds: Vec<_> = ESO_CRDS.iter().map(|file| eso_crd(file)).collect();
    env.install_crds(&crds).await;
    let client = env.client().await;
    let namespace = env.namespace().await;
    let account = env.aws_account();
    let sm = account.secretsmanager_client().await;
    for (name, value) in [
        ("mig/db", r#"{"username":"admin","password":"pw"}"#),
        ("mig/token", "t0"),
    ] {
        sm.create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
    let apply = |yaml: String| {
        let client = client.clone();
        let namespace = namespace.clone();
        async move { kseal_testenv::apply_yaml(&client, &namespace, MANAGER, &yaml).await }
    };
    apply(account.static_key_store("aws")).await;
    apply(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: merge-target\n  labels: {app: web}\nstringData:\n  keep: me\n"
            .to_owned(),
    )
    .await;
    apply(
        r#"
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: owned
spec:
  refreshInterval: 1h
  secretStoreRef: {name: aws, kind: SecretStore}
  data:
    - {secretKey: token, remoteRef: {key: mig/token}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: templated
spec:
  refreshInterval: 1h
  secretStoreRef: {name: aws, kind: SecretStore}
  target:
    template:
      type: kubernetes.io/basic-auth
      metadata:
        labels: {app: web}
      data:
        username: "{{ .username }}"
        password: "{{ .password }}"
        url: "postgres://{{ .username }}:{{ .password }}@db/app"
  dataFrom:
    - extract: {key: mig/db}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: merged
spec:
  refreshInterval: 1h
  secretStoreRef: {name: aws, kind: SecretStore}
  target: {name: merge-target, creationPolicy: Merge}
  data:
    - {secretKey: username, remoteRef: {key: mig/db, property: username}}
"#
        .to_owned(),
    )
    .await;

    // ESO syncs.
    let mut eso = Eso::start(&env, &namespace, &format!("eso-migration-{namespace}"), 4);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    for name in ["owned", "templated", "merged"] {
        eventually(&format!("{name} Ready under ESO"), || async {
            (ready_condition(&client, &namespace, name).await?.0 == "True").then_some(())
        })
        .await;
    }
    let merged = eventually("merge-target merged by ESO", || async {
        let secret = secrets.get_opt("merge-target").await.ok()??;
        kseal_testenv::secret_text(&secret)
            .contains_key("username")
            .then_some(secret)
    })
    .await;
    assert_eq!(kseal_testenv::secret_text(&merged)["keep"], "me");
    let before = snapshot(&secrets).await;
    assert_eq!(before["owned"].1["token"], b"t0");
    let es_api = external_secrets(&client, &namespace);
    let finalizers: BTreeMap<String, Vec<String>> = {
        let mut map = BTreeMap::new();
        for name in ["owned", "templated", "merged"] {
            let es = es_api.get(name).await.unwrap();
            map.insert(name.to_owned(), es.metadata.finalizers.unwrap_or_default());
        }
        map
    };
    println!("finalizers ESO left on the ExternalSecrets: {finalizers:?}");

    // ESO uninstalled; kseal's CRDs applied over ESO's, which stayed.
    eso.kill();
    env.install_crds(&kseal_controller::crd::crds()).await;
    for name in ["owned", "templated", "merged"] {
        assert!(
            es_api.get_opt(name).await.unwrap().is_some(),
            "{name} survives the CRD replacement"
        );
    }
    let kseal = start_kseal(client.clone(), &namespace, env.moto_endpoint());

    // kseal reconciles each ExternalSecret (its ESO-compatible sync counter) and reports it Ready.
    for name in ["owned", "templated", "merged"] {
        eventually(&format!("{name} reconciled by kseal"), || async {
            let text = kseal.metrics_text();
            (sync_calls(&text, &namespace, name) >= 1.0).then_some(())
        })
        .await;
        eventually(&format!("{name} Ready under kseal"), || async {
            let (status, reason) = ready_condition(&client, &namespace, name).await?;
            (status == "True" && reason == "SecretSynced").then_some(())
        })
        .await;
    }
    let after = snapshot(&secrets).await;
    for name in SECRETS {
        assert_eq!(
            before[*name].0, after[*name].0,
            "{name} keeps its uid (not recreated)"
        );
        assert_eq!(before[*name].1, after[*name].1, "{name} keeps its bytes");
    }

    // A remote change after the migration reaches the same Secret.
    sm.put_secret_value()
        .secret_id("mig/token")
        .secret_string("t1")
        .send()
        .await
        .unwrap();
    es_api
        .patch(
            "owned",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"annotations": {"force-sync": "1"}}})),
        )
        .await
        .unwrap();
    let owned = eventually("owned refreshed by kseal", || async {
        let secret = secrets.get_opt("owned").await.ok()??;
        (kseal_testenv::secret_text(&secret)["token"] == "t1").then_some(secret)
    })
    .await;
    assert_eq!(owned.metadata.uid, before["owned"].0, "updated in place");

    // Deleting an ExternalSecret completes (nothing keeps it in Terminating).
    es_api
        .delete("templated", &DeleteParams::default())
        .await
        .unwrap();
    eventually("templated deleted", || async {
        es_api
            .get_opt("templated")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    kseal.abort();
}

/// uid and data of each of [`SECRETS`].
async fn snapshot(
    secrets: &Api<Secret>,
) -> BTreeMap<String, (Option<String>, BTreeMap<String, Vec<u8>>)> {
    let mut map = BTreeMap::new();
    for name in SECRETS {
        let secret = secrets.get(name).await.unwrap();
        let data = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        map.insert((*name).to_owned(), (secret.metadata.uid, data));
    }
    map
}

/// `externalsecret_sync_calls_total` of one ExternalSecret in the metrics text (0 when absent).
fn sync_calls(text: &str, namespace: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with("externalsecret_sync_calls_total{"))
        .filter(|line| {
            line.contains(&format!("name=\"{name}\""))
                && line.contains(&format!("namespace=\"{namespace}\""))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
